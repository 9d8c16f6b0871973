"""classicnets.hub: refusals before anything is sent, bounded failure without network, nothing local lost.

The round trips through the loopback Hub (push, download, from_pretrained by repo id, remote code, revisions,
the offline cache) are in ``test_hub_roundtrip.py``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from classicnets import hub
from classicnets.training import TrainingArguments


def folder_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def trained_folder(digits_run) -> Path:
    return digits_run


@pytest.fixture
def online(monkeypatch):
    """Leaves offline mode (the suite's conftest sets HF_HUB_OFFLINE=1) and forgets earlier probe results."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_probe_results", {})


@pytest.fixture
def silent_endpoint(silent_hub) -> str:
    """A server that accepts connections and never answers (a firewall that drops packets looks like this)."""
    return silent_hub.endpoint


@pytest.mark.parametrize("bad", ["me/lenet 5", "me/a/b", "me/x--y", "-me/x", "", "me/x.git"])
def test_invalid_repo_ids_are_refused_with_the_rule(bad):
    with pytest.raises(ValueError, match="is not a valid Hub repo id|is empty") as err:
        hub.check_repo_id(bad)
    assert "NAMESPACE/NAME" in str(err.value)


def test_repo_ids_and_local_paths_are_told_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "lenet5").mkdir(parents=True)
    assert hub.looks_like_repo_id("me/lenet5-mnist")
    assert not hub.looks_like_repo_id("runs/lenet5")  # an existing folder wins
    assert not hub.looks_like_repo_id("./me/x") and not hub.looks_like_repo_id("/abs/x")
    assert not hub.looks_like_repo_id("lenet5") and not hub.looks_like_repo_id("a/b/c")
    with pytest.raises(FileNotFoundError, match="neither a local folder nor a Hub repo id"):
        hub.resolve_checkpoint("not-a-folder")
    assert hub.resolve_checkpoint("runs/lenet5") == Path("runs/lenet5")
    # A mistyped runs/NAME is shaped like a repo id: offline, the error says no such folder exists first.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.HubUnreachableError, match=r"There is no local folder runs/lenet6, so it was read as a Hub "
                                                      r"repo id: .*Offline mode is on.*check the path \(ls runs\)"):
        hub.resolve_checkpoint("runs/lenet6")


def test_push_refuses_what_is_not_a_shareable_checkpoint(tmp_path, trained_folder, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_dummy_token_0123456789")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        hub.push_to_hub(tmp_path / "missing", "me/x")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        hub.push_to_hub(trained_folder / "checkpoints", "me/x")
    # Without a card: refused, and the advice names how to write one.
    no_card = tmp_path / "no-card"
    no_card.mkdir()
    for f in trained_folder.iterdir():
        if f.is_file() and f.name != "README.md":
            (no_card / f.name).write_bytes(f.read_bytes())
    with pytest.raises(FileNotFoundError, match="no model card.*write_model_card"):
        hub.push_to_hub(no_card, "me/x")
    # Without the code its auto_map names, plain transformers could not load it.
    (no_card / "README.md").write_bytes((trained_folder / "README.md").read_bytes())
    (no_card / "modeling_mlp.py").unlink()
    with pytest.raises(FileNotFoundError, match="modeling_mlp.py"):
        hub.push_to_hub(no_card, "me/x")
    # A card whose YAML is broken.
    (no_card / "modeling_mlp.py").write_bytes((trained_folder / "modeling_mlp.py").read_bytes())
    (no_card / "README.md").write_text("---\nlicense: [unclosed\n---\n# card\n")
    with pytest.raises(ValueError, match="does not parse"):
        hub.push_to_hub(no_card, "me/x")


def test_push_without_a_token_says_how_to_get_one(trained_folder, monkeypatch, online):
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    before = folder_digest(trained_folder)
    with pytest.raises(ValueError, match="hf auth login.*HF_TOKEN.*Nothing was pushed"):
        hub.push_to_hub(trained_folder, "me/x")
    assert folder_digest(trained_folder) == before


def test_push_and_download_fail_fast_when_the_hub_never_answers(trained_folder, silent_endpoint, online,
                                                                 monkeypatch):
    token = "hf_secret_value_that_must_not_leak"
    before = folder_digest(trained_folder)
    start = time.perf_counter()
    with pytest.raises(hub.HubUnreachableError) as err:
        hub.push_to_hub(trained_folder, "me/x", token=token, endpoint=silent_endpoint)
    assert time.perf_counter() - start < hub.HUB_PROBE_TIMEOUT + 2
    message = str(err.value)
    assert silent_endpoint in message and "Nothing was pushed; the folder is unchanged" in message
    assert token not in message
    assert folder_digest(trained_folder) == before

    start = time.perf_counter()
    with pytest.raises(hub.HubUnreachableError, match="not in the local cache either.*local checkpoint folder"):
        hub.download("me/never-downloaded", endpoint=silent_endpoint, cache_dir=trained_folder.parent / "hf-cache")
    assert time.perf_counter() - start < 2  # the endpoint's probe result is reused: no second wait


def test_offline_mode_refuses_to_push_without_probing(trained_folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_probe(*args, **kwargs):
        raise AssertionError("offline mode must not probe the Hub")

    monkeypatch.setattr(hub.threading, "Thread", no_probe)
    with pytest.raises(hub.HubUnreachableError, match="Offline mode is on.*Nothing was pushed"):
        hub.push_to_hub(trained_folder, "me/x", token="hf_dummy_token_0123456789")
    with pytest.raises(hub.HubUnreachableError, match="Offline mode is on"):
        hub.download("me/never-downloaded", cache_dir=trained_folder.parent / "hf-cache")


def test_the_pushed_card_loads_the_repo_and_the_local_card_is_untouched(trained_folder):
    from huggingface_hub import ModelCard

    from classicnets.cards import retarget_usage

    local = (trained_folder / "README.md").read_text()
    pushed = retarget_usage(local, "me/mlp-digits")
    assert 'from_pretrained("me/mlp-digits")' in pushed
    assert 'from_pretrained("me/mlp-digits", trust_remote_code=True)' in pushed
    assert 'from_pretrained("mlp-digits"' in local and 'from_pretrained("mlp-digits"' not in pushed
    # Only the usage lines change: the metadata (and so every metric) is the same.
    assert ModelCard(pushed).data.to_dict() == ModelCard(local).data.to_dict()


def test_training_args_never_hold_the_token():
    args = TrainingArguments(output_dir="x", push_to_hub=True, hub_token="hf_secret_value_that_must_not_leak")
    assert "hub_token" not in args.to_dict()
    assert "hf_secret" not in repr(args)


def test_push_flags_are_checked_before_training(tmp_path, monkeypatch, capsys):
    from classicnets.cli import main

    out = tmp_path / "run"
    base = ["train", "mlp", "--dataset", "digits", "--output-dir", str(out), "--data-source", "offline",
            "--max-steps", "1", "--disable-tqdm", "--push-to-hub"]
    assert main([*base, "--hub-model-id", "me/bad id"]) == 2
    assert "is not a valid Hub repo id" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_dummy_token_0123456789")
    assert main([*base, "--hub-model-id", "me/ok"]) == 2
    err = capsys.readouterr().err
    assert "Offline mode is on" in err and "Nothing was trained" in err
    assert not out.exists()  # refused before training: no folder, nothing to clean up
    assert main(["train", "mlp", "--dataset", "digits", "--output-dir", str(out), "--hub-model-id", "me/x"]) == 2
    assert "need --push-to-hub" in capsys.readouterr().err
