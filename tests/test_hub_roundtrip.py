"""Sharing through the loopback Hub (tests/hub_server.py) with the unchanged huggingface_hub client.

push (Python and CLI) -> the repo holds the folder minus training states -> download / from_pretrained(repo_id)
bit-identical, with classicnets and as remote code without it -> the server stops -> the same loads from the
cache with HF_HUB_OFFLINE=1. Also revisions, missing repos and revisions, train --push-to-hub and
train --init-from REPO_ID.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hub_server import DUMMY_TOKEN, USERNAME, hub_env, run_python
from huggingface_hub import ModelCard

from classicnets import hub
from classicnets.cli import main


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def shared_files(folder: Path) -> dict[str, bytes]:
    """What a push sends: every file except the resumable training states under checkpoints/."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.relative_to(folder).as_posix().startswith("checkpoints/")}


@pytest.fixture
def fresh_probe(monkeypatch):
    monkeypatch.setattr(hub, "_probe_results", {})


# Loads the repo with the Auto class in a fresh process and reports whether every tensor equals the local weights.
# With "refuse" classicnets is unimportable, so only the repo's own code (trust_remote_code) can build the model.
def load_in_subprocess(repo_id: str, weights: Path, env: dict, mode: str) -> dict:
    code = f'''
        import importlib.abc, json, sys
        if {mode!r} == "refuse":
            class Refuse(importlib.abc.MetaPathFinder):
                def find_spec(self, name, path=None, target=None):
                    if name == "classicnets" or name.startswith("classicnets."):
                        raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            sys.meta_path.insert(0, Refuse())
        else:
            import classicnets
        from safetensors.torch import load_file
        from transformers import AutoModelForImageClassification
        model = AutoModelForImageClassification.from_pretrained({repo_id!r}, trust_remote_code={mode == "refuse"})
        local = load_file({str(weights)!r})
        state = model.state_dict()
        print("RESULT " + json.dumps({{"identical": sorted(state) == sorted(local) and all(
            state[k].equal(local[k]) for k in local), "module": type(model).__module__}}))
    '''
    done = run_python(code, env, timeout=180, check=True)
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))


def test_push_then_load_anywhere_then_offline_from_the_cache(digits_run, online_hub, fresh_probe, tmp_path):
    before = digest(digits_run)
    url = hub.push_to_hub(digits_run, "me/mlp-digits", token=DUMMY_TOKEN)
    assert "me/mlp-digits" in url and "/commit/" in url
    assert digest(digits_run) == before  # a push only reads the folder

    # One commit holding the whole folder but checkpoints/: weights, config, code, processor, card, picture.
    pushed = online_hub.repo_files("me/mlp-digits")
    local = shared_files(digits_run)
    assert set(pushed) == set(local)
    for required in ("model.safetensors", "config.json", "modeling_mlp.py", "configuration_mlp.py",
                     "image_processing_classicnets.py", "preprocessor_config.json", "README.md",
                     "learning_curves.png", "run.json"):
        assert required in pushed, required
    assert all(pushed[k] == local[k] for k in local if k != "README.md")
    assert len(online_hub.commits) == 1 and online_hub.saw_token(DUMMY_TOKEN)
    assert not any(DUMMY_TOKEN.encode() in content for content in pushed.values())

    # The pushed card loads the repo id and keeps every metric of the run.
    card = ModelCard(pushed["README.md"].decode())
    assert 'from_pretrained("me/mlp-digits")' in card.text
    metrics = json.loads(local["metrics.json"])
    indexed = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert indexed == {"accuracy": metrics["test_accuracy"], "loss": metrics["test_loss"]}
    assert card.data.library_name == "classicnets" and card.data.pipeline_tag == "image-classification"

    # A second push of the unchanged folder sends nothing (the client compares blob ids).
    hub.push_to_hub(digits_run, "me/mlp-digits", token=DUMMY_TOKEN)
    assert len(online_hub.commits) == 1

    # download() fills the cache with the same bytes.
    folder = hub.download("me/mlp-digits")
    assert shared_files(folder) == pushed

    # Fresh processes with HF_ENDPOINT set: with classicnets, and as remote code without it.
    home = tmp_path / "hf-home"
    env = hub_env(online_hub.endpoint, home)
    weights = digits_run / "model.safetensors"
    assert load_in_subprocess("me/mlp-digits", weights, env, "import") == {
        "identical": True, "module": "classicnets.models.mlp.modeling_mlp"}
    remote = load_in_subprocess("me/mlp-digits", weights, env, "refuse")
    assert remote["identical"] and remote["module"].startswith("transformers_modules.")

    # `classicnets evaluate REPO_ID` downloads the whole repo; run.json names the dataset, metrics.json the
    # accuracy measured at training.
    evaluate = '''
        from classicnets.cli import main
        raise SystemExit(main(["evaluate", "me/mlp-digits", "--data-source", "offline"]))
    '''
    for environment in (env, "offline"):
        if environment == "offline":  # the Hub goes away: the same loads come from the cache with HF_HUB_OFFLINE=1
            online_hub.stop()
            environment = hub_env(online_hub.endpoint, home, offline=True)
            assert load_in_subprocess("me/mlp-digits", weights, environment, "import")["identical"]
        done = run_python(evaluate, environment, timeout=180, check=True)
        result = json.loads(done.stdout[done.stdout.index("{"):])
        assert result["dataset"] == "digits" and result["matches_training"] is True


def test_revisions_and_missing_things(digits_run, online_hub, fresh_probe, capsys):
    url = hub.push_to_hub(digits_run, "me/rev", token=DUMMY_TOKEN, revision="experiment")
    assert "me/rev" in url
    assert "config.json" in online_hub.repo_files("me/rev", revision="experiment")
    assert "config.json" not in online_hub.repo_files("me/rev", revision="main")  # main keeps its empty start
    folder = hub.download("me/rev", revision="experiment")
    assert (folder / "model.safetensors").read_bytes() == (digits_run / "model.safetensors").read_bytes()
    sha = online_hub.resolve("me/rev", "experiment")
    assert hub.download("me/rev", revision=sha) == folder

    with pytest.raises(FileNotFoundError, match="has no revision 'nope'"):
        hub.download("me/rev", revision="nope")
    with pytest.raises(FileNotFoundError, match="There is no model repo me/missing"):
        hub.download("me/missing")
    assert main(["evaluate", "me/missing"]) == 2
    assert "me/missing is not a local folder, and there is no model repo me/missing" in capsys.readouterr().err
    assert online_hub.unknown_requests == [] and online_hub.failures == []


def test_cli_push_and_train_push_to_hub_and_init_from_a_repo(digits_run, online_hub, fresh_probe, tmp_path, capsys):
    assert main(["push", str(digits_run), "--repo-id", "mlp-digits-cli", "--commit-message", "first"]) == 0
    assert f"{USERNAME}/mlp-digits-cli" in capsys.readouterr().out  # a bare name goes to the token owner
    assert "config.json" in online_hub.repo_files(f"{USERNAME}/mlp-digits-cli")
    assert main(["push", str(digits_run), "--repo-id", "me/bad name"]) == 2
    assert "is not a valid Hub repo id" in capsys.readouterr().err

    out = tmp_path / "pushed"
    quick = ["--data-source", "offline", "--disable-tqdm", "--max-steps", "5", "--hidden-sizes", "16"]
    assert main(["train", "mlp", "--dataset", "digits", "--output-dir", str(out), *quick, "--push-to-hub",
                 "--hub-model-id", "me/pushed", "--hub-token", DUMMY_TOKEN]) == 0
    printed = capsys.readouterr().out
    assert "hub_commit_url" in printed and DUMMY_TOKEN not in printed
    pushed = online_hub.repo_files("me/pushed")
    assert pushed["model.safetensors"] == (out / "model.safetensors").read_bytes()
    assert 'from_pretrained("me/pushed")' in (out / "README.md").read_text()  # written for its repo from the start
    assert not any(DUMMY_TOKEN.encode() in content for content in pushed.values())
    assert not any(DUMMY_TOKEN in p.read_text(errors="ignore") for p in out.rglob("*.json"))

    # Fine-tune from the repo id: the card names it as the Hub base model.
    ft = tmp_path / "ft"
    assert main(["train", "mlp", "--dataset", "digits", "--output-dir", str(ft), "--init-from", "me/pushed",
                 "--freeze-backbone", "--data-source", "offline", "--disable-tqdm", "--max-steps", "5"]) == 0
    card = ModelCard.load(ft / "README.md")
    assert card.data.base_model == "me/pushed" and "Initialised from `me/pushed`" in card.text
    assert online_hub.unknown_requests == [] and online_hub.failures == []


def test_a_failed_push_leaves_the_folder_and_says_how_to_retry(digits_run, online_hub, fresh_probe, tmp_path,
                                                               capsys):
    from huggingface_hub.errors import HfHubHTTPError

    online_hub.refuse_commits = "You don't have the rights to create a commit in this repo"  # as a read-only token
    before = digest(digits_run)
    with pytest.raises(HfHubHTTPError, match="403") as err:
        hub.push_to_hub(digits_run, "me/fails", token=DUMMY_TOKEN)
    assert DUMMY_TOKEN not in str(err.value)
    assert digest(digits_run) == before and online_hub.commits == []

    out = tmp_path / "trained"
    assert main(["train", "mlp", "--dataset", "digits", "--output-dir", str(out), "--data-source", "offline",
                 "--disable-tqdm", "--max-steps", "3", "--push-to-hub", "--hub-model-id", "me/fails"]) == 2
    err = capsys.readouterr().err
    assert f"the model is saved in {out}" in err and f"classicnets push {out} --repo-id me/fails" in err
    assert "403" in err and DUMMY_TOKEN not in err
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()


def test_push_a_model_object_and_refuse_an_incomplete_repo(online_hub, fresh_probe):
    import torch
    from huggingface_hub import HfApi
    from transformers import AutoModelForImageClassification

    from classicnets import CNNConfig, CNNForImageClassification
    from classicnets.data import DATASETS, make_image_processor
    from classicnets.loading import load_pretrained

    torch.manual_seed(0)
    model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10, id2label=DATASETS["mnist"].id2label))
    hub.push_to_hub(model, "me/object", token=DUMMY_TOKEN, processor=make_image_processor("mnist"),
                    card_kwargs={"model_name": "lenet5-untrained", "dataset_name": "MNIST"})
    files = online_hub.repo_files("me/object")
    assert {"config.json", "model.safetensors", "modeling_cnn.py", "preprocessor_config.json", "README.md"} <= set(files)
    card = ModelCard(files["README.md"].decode())
    assert card.data.model_name == "lenet5-untrained" and 'from_pretrained("me/object")' in card.text
    loaded = load_pretrained("me/object", AutoModelForImageClassification, expected_model_type="classicnets_cnn")
    assert all(loaded.state_dict()[k].equal(v) for k, v in model.state_dict().items())

    # A repo without weights is refused by name, not loaded with random weights.
    HfApi(token=DUMMY_TOKEN).create_repo("me/incomplete")
    HfApi(token=DUMMY_TOKEN).upload_file(path_or_fileobj=files["config.json"], path_in_repo="config.json",
                                         repo_id="me/incomplete")
    with pytest.raises(FileNotFoundError, match="has no model.safetensors"):
        load_pretrained("me/incomplete")
    assert online_hub.unknown_requests == [] and online_hub.failures == []


def test_pushed_cards_load_what_was_pushed_and_private_is_never_ignored(digits_run, online_hub, fresh_probe,
                                                                        caplog, capsys, tmp_path):
    # A bare name lands in the token owner's namespace, and the card says so.
    hub.push_to_hub(digits_run, "bare", token=DUMMY_TOKEN)
    card = online_hub.repo_files(f"{USERNAME}/bare")["README.md"].decode()
    assert f'from_pretrained("{USERNAME}/bare")' in card and 'from_pretrained("bare"' not in card
    # A branch: the card loads that revision.
    hub.push_to_hub(digits_run, "me/branchy", token=DUMMY_TOKEN, revision="exp")
    card = online_hub.repo_files("me/branchy", revision="exp")["README.md"].decode()
    assert 'from_pretrained("me/branchy", revision="exp")' in card
    # Pushing the same files again commits nothing and says so.
    with caplog.at_level("INFO", logger="classicnets.hub"):
        hub.push_to_hub(digits_run, "me/branchy", token=DUMMY_TOKEN, revision="exp")
    assert "already holds the files" in caplog.text
    # --private on an existing public repo: refused before anything is sent, never silently public.
    commits = len(online_hub.commits)
    with pytest.raises(ValueError, match="already exists and is public.*Nothing was pushed"):
        hub.push_to_hub(digits_run, f"{USERNAME}/bare", token=DUMMY_TOKEN, private=True)
    assert len(online_hub.commits) == commits
    hub.push_to_hub(digits_run, "me/secret", token=DUMMY_TOKEN, private=True)  # a new repo is created private
    from huggingface_hub import HfApi

    assert HfApi(token=DUMMY_TOKEN).model_info("me/secret").private is True
    # Fine-tune from a branch of a repo.
    ft = tmp_path / "ft"
    assert main(["train", "mlp", "--dataset", "digits", "--output-dir", str(ft), "--init-from", "me/branchy",
                 "--init-from-revision", "exp", "--data-source", "offline", "--disable-tqdm", "--max-steps", "2"]) == 0
    assert main(["evaluate", "me/branchy", "--revision", "nope", "--data-source", "offline"]) == 2
    assert "me/branchy has no revision 'nope'" in capsys.readouterr().err


def test_evaluate_names_the_local_folder_it_could_not_find(tmp_path, monkeypatch, capsys, online_hub, fresh_probe):
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "runs/typo"]) == 2
    err = capsys.readouterr().err
    assert "runs/typo is not a local folder, and there is no model repo runs/typo" in err
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("not a model")
    assert main(["evaluate", "notes"]) == 2
    assert "is not a model checkpoint: it has no config.json" in capsys.readouterr().err
