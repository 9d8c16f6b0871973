"""Sharing checkpoints on the Hugging Face Hub and getting them back, through ``huggingface_hub``.

``push_to_hub(folder, "me/lenet5-mnist")`` sends a checkpoint folder (config, safetensors weights, the image
processor or tokenizer, the model's own code named by a full ``auto_map``, the model card and the pictures it
shows) to the Hub in one commit; ``download("me/lenet5-mnist")`` brings a repo into the local cache and
returns its folder. Loading itself is transformers' ``from_pretrained("me/lenet5-mnist")``, which needs
nothing from this module.

What this module adds to the plain client:

* **A bounded, clear failure without network.** The client retries for ~24 s when the Hub is down and can
  hang for minutes behind a firewall that drops packets. Every call here first probes the endpoint once per
  process (:func:`hub_reachable`, at most :data:`HUB_PROBE_TIMEOUT` seconds) and stops with a
  :class:`HubUnreachableError` that says what to do. Downloads fall back to the local cache when the Hub is
  unreachable and the repo is cached; ``HF_HUB_OFFLINE=1`` skips the probe and uses the cache only.
* **Checks before anything is sent.** An invalid repo id, a folder that is not a checkpoint, a checkpoint
  without a model card, or no token are refused before the first request. A failed push never modifies the
  local folder: nothing in it is written, only read.
* **No secrets in logs or cards.** The token is passed to ``huggingface_hub`` only; it never appears in a
  message, a log line or a file. Resumable training states (``checkpoints/``, which hold pickled optimizer
  state) are never pushed.

``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` are read by ``huggingface_hub`` when it is imported; set them in the
environment before Python starts (or pass ``endpoint=`` to the functions here).

Example:
    >>> from classicnets.hub import push_to_hub
    >>> url = push_to_hub("runs/lenet5-mnist", "me/lenet5-mnist")   # doctest: +SKIP
    >>> from transformers import AutoModelForImageClassification
    >>> model = AutoModelForImageClassification.from_pretrained("me/lenet5-mnist")   # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

HUB_PROBE_TIMEOUT = 3.0
"""Seconds the reachability probe waits for the Hub to answer."""

# Never pushed: resumable training states (pickled optimizer/RNG state, large), hidden and temporary files, byte
# code. (run.json travels: it names the dataset, so `classicnets evaluate REPO_ID` needs no --dataset.)
PUSH_IGNORE_PATTERNS = ("checkpoints/*", ".*", "*/.*", "*.tmp", "__pycache__/*", "*/__pycache__/*")


class HubUnreachableError(ConnectionError):
    """The Hub endpoint did not answer (or offline mode is on) and there is no local copy to use instead."""


# ------------------------------------------------------------------------------------------ reachability
_probe_lock = threading.Lock()
_probe_results: dict[str, bool] = {}


def hub_offline_mode() -> bool:
    """Whether the user asked for offline mode (``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE``)."""
    from huggingface_hub import constants

    truthy = {"1", "ON", "YES", "TRUE"}
    return bool(constants.HF_HUB_OFFLINE) or any(
        os.environ.get(var, "").upper() in truthy for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def hub_endpoint() -> str:
    """The Hub endpoint ``huggingface_hub`` uses (``HF_ENDPOINT``, read when it was imported)."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_reachable(endpoint: str | None = None, timeout: float = HUB_PROBE_TIMEOUT, refresh: bool = False) -> bool:
    """Whether the Hub answers an HTTP ``HEAD`` within ``timeout`` seconds; cached once per process.

    The request goes through ``huggingface_hub``'s own HTTP client, in a daemon thread that is joined with
    ``timeout``, so the call returns in time even behind a firewall that silently drops packets (the
    thread is then abandoned). Offline mode (:func:`hub_offline_mode`) answers ``False`` without probing.

    Args:
        endpoint: the server to probe; defaults to :func:`hub_endpoint`.
        timeout: the most seconds to wait.
        refresh: probe again even if this endpoint was probed before in this process.

    Returns:
        ``True`` if the server answered with a status below 500.

    Example:
        >>> hub_reachable("http://127.0.0.1:9", timeout=0.5)
        False
    """
    if hub_offline_mode():
        return False
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    with _probe_lock:
        if not refresh and endpoint in _probe_results:
            return _probe_results[endpoint]
    answer: list[bool] = []

    def probe() -> None:
        from huggingface_hub.utils import get_session

        try:
            response = get_session().head(endpoint, timeout=timeout, follow_redirects=False)
            answer.append(response.status_code < 500)
        except Exception:  # noqa: BLE001 (any transport error, httpx-style or OSError, means "unreachable")
            answer.append(False)

    thread = threading.Thread(target=probe, name="classicnets-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    reachable = bool(answer and answer[0])
    with _probe_lock:
        _probe_results[endpoint] = reachable
    return reachable


def require_reachable(endpoint: str, action: str, outcome: str = "", hint: str = "") -> None:
    """Raises :class:`HubUnreachableError` (saying ``outcome`` and ``hint``) unless ``endpoint`` answers the probe."""
    if hub_offline_mode():
        raise HubUnreachableError(
            f"Offline mode is on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE), so classicnets cannot {action}.{outcome} "
            f"Unset the variable when the Hub at {endpoint} is reachable.{hint}"
        )
    if not hub_reachable(endpoint):
        raise HubUnreachableError(
            f"The Hub at {endpoint} is unreachable (no answer within {HUB_PROBE_TIMEOUT:g} s), so classicnets cannot "
            f"{action}.{outcome} Check the network (or HF_ENDPOINT) and retry.{hint}"
        )


# ------------------------------------------------------------------------------------------ validation
def check_repo_id(repo_id: Any) -> str:
    """Returns ``repo_id`` if it is a valid Hub model id (``name`` or ``namespace/name``), else a ``ValueError``.

    Example:
        >>> check_repo_id("me/lenet5-mnist")
        'me/lenet5-mnist'
        >>> check_repo_id("me/lenet 5")
        Traceback (most recent call last):
        ...
        ValueError: 'me/lenet 5' is not a valid Hub repo id: ...
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        reason = str(err).replace(" Use `repo_type` argument if needed.", "")
        raise ValueError(
            f"{repo_id!r} is not a valid Hub repo id: {reason} Use NAME or NAMESPACE/NAME with letters, digits, '-', '_' "
            f"and '.' (e.g. me/lenet5-mnist)."
        ) from None
    if not repo_id:
        raise ValueError("The repo id is empty; use NAME or NAMESPACE/NAME (e.g. me/lenet5-mnist).")
    return repo_id


def looks_like_repo_id(text: str | os.PathLike) -> bool:
    """Whether ``text`` is not an existing local path and has the shape of a Hub repo id (``namespace/name``)."""
    text = os.fspath(text)
    if os.path.exists(text) or text.startswith((".", "/", "~")) or os.sep + os.sep in text:
        return False
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]*[A-Za-z0-9_]", text)) and ".." not in text and "--" not in text


def resolve_token(token: str | None = None) -> str:
    """The token to write with: ``token``, else ``HF_TOKEN`` / the one saved by ``hf auth login``.

    Raises:
        ValueError: no token anywhere; the message says how to provide one (the token itself is never shown).
    """
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise ValueError(
            "Pushing needs a Hugging Face token with write access: run `hf auth login`, set HF_TOKEN, or pass one "
            "(token=... in Python, --token for `classicnets push`, --hub-token for `classicnets train`). Nothing was "
            "pushed."
        )
    return token


def _ignored(relative: str) -> bool:
    return any(fnmatch.fnmatch(relative, pattern) for pattern in PUSH_IGNORE_PATTERNS)


def check_pushable_folder(folder: str | os.PathLike) -> dict:
    """Checks that ``folder`` is a complete checkpoint that loads from the Hub; returns its config as a dict.

    A pushable folder has a valid ``config.json`` and ``model.safetensors``, every code file its ``auto_map``
    names (so plain transformers can load it with ``trust_remote_code=True``), and a model card
    (``README.md``) that ``huggingface_hub`` parses.

    Raises:
        FileNotFoundError: the folder, its config, weights, code files or model card are missing.
        ValueError: a corrupted config/weights file or a model card that does not parse.
    """
    from huggingface_hub import ModelCard

    from .loading import check_checkpoint_folder

    folder = Path(folder)
    config = check_checkpoint_folder(folder)
    auto_map = config.get("auto_map") or {}
    refs = [ref for value in auto_map.values() for ref in (value if isinstance(value, (list, tuple)) else [value])]
    # "module.Class", or "repo--module.Class" for code that lives in another repo (nothing to ship then).
    code_files = sorted({ref.rsplit(".", 1)[0] + ".py" for ref in refs if isinstance(ref, str) and "--" not in ref})
    missing = [name for name in code_files if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} names {', '.join(missing)} in its config's auto_map but does not contain them, so the "
            f"checkpoint would not load without classicnets. Re-save it with save_pretrained."
        )
    card = folder / "README.md"
    if not card.is_file():
        raise FileNotFoundError(
            f"{folder} has no model card (README.md). A shared model needs one: re-run `classicnets train`, or write "
            f"it with classicnets.cards.write_model_card(folder, ...) before pushing."
        )
    try:
        ModelCard.load(card)
    except Exception as err:  # noqa: BLE001 (YAML and validation errors of several types)
        raise ValueError(f"The model card {card} does not parse ({err}); fix its YAML front matter.") from err
    return config


# ------------------------------------------------------------------------------------------ push
def _stage_model(model, processor, folder: Path, card_kwargs: dict | None, repo_id: str) -> None:
    """Writes ``model`` (and ``processor``) with ``save_pretrained`` and a model card into ``folder``."""
    from .cards import FAMILIES, write_model_card

    model.save_pretrained(folder)
    if processor is not None:
        processor.save_pretrained(folder)
    family = str(getattr(model.config, "model_type", "")).removeprefix("classicnets_")
    if family not in FAMILIES:
        raise ValueError(f"{type(model).__name__} is not a classicnets model; push its folder with a model card instead.")
    kwargs = {"family": family, "model_name": repo_id.split("/")[-1], "dataset_name": "unspecified",
              "dataset_id": None, "metrics": {}, "hyperparameters": {}, "config": model.config.to_dict()}
    kwargs.update(card_kwargs or {})
    write_model_card(folder, **kwargs)


def push_to_hub(
    model_or_folder,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    endpoint: str | None = None,
    processor=None,
    card_kwargs: dict | None = None,
) -> str:
    """Pushes a checkpoint folder (or a model) to the Hub repo ``repo_id`` in one commit; returns the commit URL.

    The repo is created if needed (``private`` applies then); ``revision`` names a branch, created from the
    default branch when it does not exist yet. Every file of the folder is sent except resumable training
    states (``checkpoints/``) and hidden files; the model card's usage snippets are pointed at
    ``repo_id`` in the pushed copy. Files the repo already holds unchanged are not uploaded again.

    Args:
        model_or_folder: a folder written by ``classicnets train`` or ``save_pretrained`` (with a model card),
            or a classicnets model, which is saved to a temporary folder with a card built from its config
            (``card_kwargs`` go to :func:`classicnets.cards.write_model_card`, e.g. metrics and dataset).
        repo_id: ``NAMESPACE/NAME`` (or ``NAME`` in the token owner's namespace).
        token: a write token; defaults to ``HF_TOKEN`` or the one saved by ``hf auth login``.
        private: create the repo as private (ignored when it exists).
        revision: the branch to commit to (default: the repo's default branch).
        commit_message: defaults to "Upload <name> with classicnets".
        endpoint: the Hub server; defaults to ``HF_ENDPOINT``.
        processor: an image processor or tokenizer saved beside a model passed as an object.
        card_kwargs: card fields for a model passed as an object.

    Returns:
        The URL of the commit.

    Raises:
        ValueError: an invalid repo id, no token, a card that does not parse.
        FileNotFoundError: not a checkpoint folder, or no model card.
        HubUnreachableError: offline mode or no answer from the endpoint; nothing was pushed.
        huggingface_hub.errors.HfHubHTTPError: the Hub refused the request (e.g. a token without write access).

    Example:
        >>> push_to_hub("runs/lenet5-mnist", "me/lenet5-mnist", private=True)  # doctest: +SKIP
        'https://huggingface.co/me/lenet5-mnist/commit/0f3c...'
    """
    repo_id = check_repo_id(repo_id)
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    if isinstance(model_or_folder, (str, os.PathLike)):
        return _push_folder(Path(model_or_folder), repo_id, token, private, revision, commit_message, endpoint)
    with tempfile.TemporaryDirectory(prefix="classicnets-push-") as tmp:
        _stage_model(model_or_folder, processor, Path(tmp), card_kwargs, repo_id)
        return _push_folder(Path(tmp), repo_id, token, private, revision, commit_message, endpoint)


def _push_folder(folder: Path, repo_id: str, token, private, revision, commit_message, endpoint: str) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi

    from .cards import retarget_usage

    check_pushable_folder(folder)
    token = resolve_token(token)
    require_reachable(endpoint, f"push {folder} to {repo_id}", " Nothing was pushed; the folder is unchanged.")

    api = HfApi(endpoint=endpoint, token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model").repo_id or repo_id
    if private:
        # create_repo(exist_ok=True) ignores `private` for an existing repo: never push into a public one believing
        # it private.
        if not api.model_info(repo_id).private:
            raise ValueError(
                f"{repo_id} already exists and is public; --private (private=True) only applies when a repo is "
                f"created. Nothing was pushed. Make the repo private in its settings on the Hub (or with "
                f"HfApi().update_repo_settings(repo_id, private=True)), or push without --private."
            )
    if revision:
        api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
    head = api.model_info(repo_id, revision=revision).sha

    operations = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if _ignored(relative):
            continue
        if relative == "README.md":  # the pushed card loads repo_id (at revision); the local card is not touched
            content = retarget_usage(path.read_text(encoding="utf-8"), repo_id, revision).encode("utf-8")
            operations.append(CommitOperationAdd(path_in_repo=relative, path_or_fileobj=content))
        else:
            operations.append(CommitOperationAdd(path_in_repo=relative, path_or_fileobj=str(path)))
    commit = api.create_commit(
        repo_id, operations, commit_message=commit_message or f"Upload {folder.name} with classicnets",
        revision=revision, repo_type="model",
    )
    where = repo_id + (f"@{revision}" if revision else "")
    if commit.oid == head:
        logger.info("%s already holds the files of %s: nothing was committed (%s)", where, folder, commit.commit_url)
    else:
        logger.info("Pushed %s to %s in one commit: %s", folder, where, commit.commit_url)
    return commit.commit_url


# ------------------------------------------------------------------------------------------ download
def download(
    repo_id: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Downloads the Hub repo ``repo_id`` into the local cache (``HF_HOME``) and returns its folder.

    Files already in the cache are not downloaded again. With ``HF_HUB_OFFLINE=1``, or when the Hub does not
    answer the probe, the cached snapshot is used if there is one (with a warning in the second case).

    Raises:
        ValueError: an invalid repo id.
        FileNotFoundError: the repo or the revision does not exist (or is private and no token was given).
        HubUnreachableError: no answer (or offline mode) and the repo is not in the cache.

    Example:
        >>> folder = download("me/lenet5-mnist")  # doctest: +SKIP
        >>> sorted(p.name for p in folder.iterdir())[:2]  # doctest: +SKIP
        ['README.md', 'config.json']
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_id = check_repo_id(repo_id)
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    where = f"{repo_id}" + (f"@{revision}" if revision else "")
    kwargs = {"repo_id": repo_id, "revision": revision, "cache_dir": cache_dir, "repo_type": "model"}
    if hub_offline_mode() or not hub_reachable(endpoint):
        try:
            folder = snapshot_download(**kwargs, local_files_only=True)
        except (LocalEntryNotFoundError, FileNotFoundError, OSError):
            require_reachable(endpoint, f"download {where}", f" {where} is not in the local cache either.",
                               " Or pass a local checkpoint folder instead of a repo id.")
            raise
        if not hub_offline_mode():
            logger.warning("The Hub at %s is unreachable; using the cached copy of %s (set HF_HUB_OFFLINE=1 to skip "
                           "this check).", endpoint, where)
        return Path(folder)
    try:
        folder = snapshot_download(**kwargs, token=token, endpoint=endpoint)
    except RevisionNotFoundError:
        raise FileNotFoundError(
            f"{repo_id} has no revision {revision!r} at {endpoint}; pass an existing branch, tag or commit sha (or "
            f"none for the default branch)."
        ) from None
    except RepositoryNotFoundError:
        raise FileNotFoundError(
            f"There is no model repo {repo_id} at {endpoint} (or it is private and no token with access was "
            f"given: run `hf auth login` or set HF_TOKEN). Check the spelling."
        ) from None
    return Path(folder)


def resolve_checkpoint(path_or_repo_id: str | os.PathLike, *, revision: str | None = None,
                       token: str | None = None) -> Path:
    """A local checkpoint folder for ``path_or_repo_id``: the folder itself, or the Hub repo downloaded.

    Raises:
        FileNotFoundError: neither an existing folder nor something shaped like a Hub repo id.
    """
    if os.path.isdir(path_or_repo_id):
        return Path(path_or_repo_id)
    text = os.fspath(path_or_repo_id)
    if looks_like_repo_id(text):
        try:
            return download(text, revision=revision, token=token)
        except FileNotFoundError as err:
            if "There is no model repo" not in str(err):
                raise
            raise FileNotFoundError(
                f"{text} is not a local folder, and {str(err)[0].lower()}{str(err)[1:]} If you meant a folder, check "
                f"the path (or write it as ./{text})."
            ) from None
        except HubUnreachableError as err:  # e.g. a mistyped runs/NAME read as a repo id while offline
            raise HubUnreachableError(
                f"There is no local folder {text}, so it was read as a Hub repo id: {err} If you meant a folder, "
                f"check the path (ls {os.path.dirname(text) or '.'})."
            ) from None
    if os.path.exists(text):
        raise FileNotFoundError(f"{text} is a file, not a checkpoint folder.")
    raise FileNotFoundError(
        f"{text} is neither a local folder nor a Hub repo id (NAMESPACE/NAME). Pass the --output-dir of a finished "
        f"run or a repo such as me/lenet5-mnist."
    )


__all__ = [
    "HUB_PROBE_TIMEOUT",
    "HubUnreachableError",
    "PUSH_IGNORE_PATTERNS",
    "check_pushable_folder",
    "check_repo_id",
    "download",
    "hub_endpoint",
    "hub_offline_mode",
    "hub_reachable",
    "looks_like_repo_id",
    "push_to_hub",
    "require_reachable",
    "resolve_checkpoint",
    "resolve_token",
]
