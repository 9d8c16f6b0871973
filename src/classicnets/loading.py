"""Loading a checkpoint folder with checks that transformers leaves to the user.

transformers 5 loads a checkpoint into a class with different parameter names without raising (it logs a
report and returns randomly initialised weights). For a library whose users compare architectures that is
a silent wrong answer, so every classicnets entry point loads through ``load_pretrained``, which refuses:
a folder that is not a checkpoint, a truncated or corrupted weights file, a checkpoint of another
architecture, and weights that do not fit the configured model.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open


def check_checkpoint_folder(path: str | os.PathLike) -> dict:
    """Validates the files of a local checkpoint folder and returns its ``config.json`` as a dict.

    Raises:
        FileNotFoundError: the folder or its config / weights is missing.
        ValueError: the config or the safetensors file cannot be read (truncated, corrupted).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder. Pass the --output-dir of a finished training run.")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{folder} is not a model checkpoint: it has no config.json. Pass the --output-dir of a finished run "
            f"(resumable training states live in its checkpoints/ sub-folder and are not models)."
        )
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_file} is not valid JSON ({err}); the checkpoint is corrupted.") from err
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(
            f"{folder} has no model.safetensors. classicnets saves weights only as safetensors; re-save the model "
            f"with save_pretrained or re-run training."
        )
    try:
        with safe_open(str(weights), framework="pt") as f:
            for key in f.keys():
                f.get_slice(key)  # reads the header entry; the size check covers truncated data
    except (SafetensorError, OSError) as err:
        raise ValueError(
            f"{weights} is truncated or corrupted ({err}). Re-download the checkpoint or re-run training; the file "
            f"cannot be repaired."
        ) from err
    return config


def _drop_load_report(record: logging.LogRecord) -> bool:
    return "LOAD REPORT" not in record.getMessage()


def load_pretrained(path: str | os.PathLike, auto_class=None, expected_model_type: str | None = None,
                    revision: str | None = None, token: str | None = None, **kwargs):
    """``auto_class.from_pretrained(path)`` for a checkpoint folder or Hub repo, refusing anything that would load
    wrongly.

    Args:
        path: a checkpoint folder written by ``save_pretrained``, or a Hub repo id (downloaded into the cache
            first with :func:`classicnets.hub.download`, which fails fast and clearly without network).
        revision, token: the branch/tag/commit and the token for a Hub repo.
        auto_class: the transformers Auto class (default ``AutoModelForImageClassification``).
        expected_model_type: e.g. ``"classicnets_cnn"``; a checkpoint of another architecture is an error.
        **kwargs: passed to ``from_pretrained``.

    Raises:
        ValueError: the checkpoint belongs to another architecture, or its weights do not match the model.
    """
    from transformers import AutoModelForImageClassification

    import classicnets  # noqa: F401  registers the Auto classes

    from .hub import resolve_checkpoint

    auto_class = auto_class or AutoModelForImageClassification
    name = os.fspath(path) + (f"@{revision}" if revision else "")  # as the caller wrote it, for messages
    path = resolve_checkpoint(path, revision=revision, token=token)
    config = check_checkpoint_folder(path)
    model_type = config.get("model_type")
    if expected_model_type and model_type != expected_model_type:
        raise ValueError(
            f"{name} holds a {model_type!r} checkpoint, not {expected_model_type!r}. Pick the matching architecture "
            f"or another checkpoint."
        )
    # Load with ignore_mismatched_sizes so that transformers reports clashing shapes instead of raising with advice
    # to pass that flag; unless the caller asked for it, a clash is refused below with what it means.
    # transformers' own load report is held back: every problem it lists is refused below with what it means.
    allow_mismatch = kwargs.pop("ignore_mismatched_sizes", False)
    modeling_logger = logging.getLogger("transformers.modeling_utils")
    modeling_logger.addFilter(_drop_load_report)
    try:
        model, info = auto_class.from_pretrained(path, output_loading_info=True, ignore_mismatched_sizes=True, **kwargs)
    finally:
        modeling_logger.removeFilter(_drop_load_report)
    clashes = [] if allow_mismatch else list(info.get("mismatched_keys") or [])
    if clashes:
        shown = "; ".join(f"{key}: stored {tuple(stored)}, expected {tuple(expected)}"
                          for key, stored, expected in sorted(clashes, key=str)[:3])
        raise ValueError(
            f"The weights in {name} do not fit the model its config.json describes ({shown}"
            f"{' ...' if len(clashes) > 3 else ''}). They were written by another architecture or config: use the "
            f"config.json saved with them, or the checkpoint that belongs to this config."
        )
    problems = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys") and v}
    if problems:
        summary = "; ".join(f"{k}: {sorted(map(str, v))[:4]}" for k, v in problems.items())
        raise ValueError(
            f"The weights in {name} do not match {type(model).__name__} ({summary}). The checkpoint was written by "
            f"another architecture or config; load it with the class it was saved from."
        )
    return model


__all__ = ["check_checkpoint_folder", "load_pretrained"]
