"""The command line as a user runs it: train, then evaluate in a fresh process; and every refusal.

The end-to-end test starts real processes (``python -m classicnets`` and the ``classicnets`` console script)
so that what it checks is what a user gets. The refusals call :func:`classicnets.cli.main` in-process: they
fail before any training, and each one checks the message names the problem and the fix, and that nothing
already saved was touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file

from classicnets.cli import build_parser, main

DIGITS_RECIPE = [
    "--hidden-sizes", "64", "--epochs", "15", "--per-device-train-batch-size", "32", "--learning-rate", "3e-3",
    "--lr-scheduler", "one_cycle", "--seed", "0", "--data-source", "offline", "--disable-tqdm",
]
CONSOLE_SCRIPT = Path(sys.executable).with_name("classicnets")


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env, check=False)


def last_json(stdout: str) -> dict:
    """The JSON object the CLI prints (pretty-printed, possibly after other lines)."""
    start = stdout.index("{")
    return json.JSONDecoder().raw_decode(stdout[start:])[0]


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> tuple[Path, dict]:
    """An MLP trained on digits by ``python -m classicnets train`` (the run the refusal tests protect)."""
    out = tmp_path_factory.mktemp("cli") / "mlp-digits"
    done = run(sys.executable, "-m", "classicnets", "train", "mlp", "--dataset", "digits", "--output-dir", str(out),
               *DIGITS_RECIPE)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, last_json(done.stdout)


def test_train_saves_a_complete_model_folder(trained_run):
    out, metrics = trained_run
    files = {p.name for p in out.iterdir()}
    assert {
        "config.json", "model.safetensors", "configuration_mlp.py", "modeling_mlp.py", "preprocessor_config.json",
        "image_processing_classicnets.py", "README.md", "learning_curves.png", "metrics.json", "training_args.json",
        "run.json", "checkpoints",
    } <= files, files
    assert not [f for f in files if f.startswith(".")], files  # no temporary export folder left behind
    # A model folder is for sharing: every file gets what a plain open() would give it (0o644 under umask 022),
    # not the owner-only mode of temporary files.
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in out.iterdir() if p.is_file()}
    assert set(modes.values()) == {oct(0o666 & ~umask)}, modes
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == metrics
    # 64 hidden units, 15 epochs on 1,347 digits: ~97% of the 450 test digits (a linear model gets ~95%).
    assert metrics["test_accuracy"] >= 0.96 and metrics["num_processes"] == 1 and metrics["global_step"] == 15 * 43
    # The card's model-index carries exactly the measured numbers.
    card = ModelCard.load(out / "README.md")
    indexed = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert indexed == {"accuracy": metrics["test_accuracy"], "loss": metrics["test_loss"]}
    assert card.data.library_name == "classicnets" and card.data.pipeline_tag == "image-classification"
    args = json.loads((out / "training_args.json").read_text())
    assert args["learning_rate"] == 3e-3 and args["lr_scheduler_type"] == "one_cycle" and args["seed"] == 0
    # The final checkpoint holds the same weights as the exported model.
    final = load_file(out / "checkpoints" / f"checkpoint-{metrics['global_step']}" / "model.safetensors")
    exported = load_file(out / "model.safetensors")
    assert final.keys() == exported.keys() and all(torch.equal(final[k], exported[k]) for k in final)


def test_console_script_evaluates_in_a_fresh_process(trained_run):
    out, metrics = trained_run
    done = run(str(CONSOLE_SCRIPT), "evaluate", str(out), "--dataset", "digits", "--data-source", "offline")
    assert done.returncode == 0, done.stderr[-3000:]
    result = last_json(done.stdout)
    # Loaded with transformers.AutoModelForImageClassification in another process: the very same numbers.
    assert result["model_class"] == "MLPForImageClassification" and result["num_examples"] == 450
    assert result["accuracy"] == metrics["test_accuracy"]
    assert result["loss"] == pytest.approx(metrics["test_loss"], rel=1e-6)
    assert result["accuracy_at_training"] == metrics["test_accuracy"] and result["matches_training"] is True


def test_every_flag_is_explained():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 (argparse has no public accessor)
    nested = commands["data"]._subparsers._group_actions[0].choices  # noqa: SLF001
    for name, sub in {**commands, **{f"data {k}": v for k, v in nested.items()}}.items():
        for action in sub._actions:  # noqa: SLF001
            if action.dest in ("help", "command", "data_command"):
                continue
            assert action.help and len(action.help) > 10, f"`classicnets {name}` {action.option_strings or action.dest}"


# ------------------------------------------------------------------------------------------- refusals
def refused(capsys, *argv: str) -> str:
    """Runs the CLI in-process; returns stderr after checking it exited with status 2."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    return err


def test_unknown_dataset_and_architecture_are_refused_by_the_parser(capsys, tmp_path):
    for argv, bad in ((["train", "mlp", "--dataset", "cifar100"], "cifar100"), (["train", "lstm", "--dataset", "mnist"], "lstm")):
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, "--output-dir", str(tmp_path / "x")])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert f"invalid choice: '{bad}'" in err and "choose from" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mlp", "--hidden-sizes", "64", "-3"], r"hidden_sizes must hold positive ints, got \(64, -3\)"),
        (["mlp", "--hidden-act", "swish"], "hidden_act='swish' is not supported; choose one of sigmoid, tanh"),
        (["cnn", "--preset", "lenet5"], r"the lenet5 preset cannot read the 8x8 images of --dataset digits: .*"
                                         r"Choose a dataset with larger images"),
        # The dataset decides the input shape and the labels; unknown fields are typos or the wrong architecture.
        (["cnn", "--config-overrides", "num_labels=5"], "num_labels cannot be overridden: --dataset digits decides"),
        (["cnn", "--config-overrides", "num_channels=3"], "num_channels cannot be overridden"),
        (["mlp", "--config-overrides", "bogus_field=4"], "MLPConfig has no field 'bogus_field'.*hidden_sizes"),
        (["mlp", "--pooling", "max"], "MLPConfig has no field 'pooling'"),
        (["mlp", "--per-device-train-batch-size", "0"], "--per-device-train-batch-size must be > 0"),
        (["mlp", "--config-overrides", "hidden_sizes"], "is not KEY=VALUE"),
    ],
)
def test_invalid_model_and_training_values(capsys, tmp_path, argv, message):
    import re

    err = refused(capsys, "train", *argv, "--dataset", "digits", "--output-dir", str(tmp_path / "run"),
                  "--data-source", "offline")
    assert re.search(message, err, re.S), err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_folder_holding_another_run_is_never_touched(capsys, trained_run):
    out, _ = trained_run
    before = folder_digest(out)
    err = refused(capsys, "train", "cnn", "--dataset", "digits", "--output-dir", str(out),
                  "--config-overrides", "hidden_sizes=[4],depths=[1],kernel_sizes=[3],paddings=[1]",
                  "--data-source", "offline", "--disable-tqdm")
    assert "already holds a different run (mlp on digits, not cnn on digits)" in err and "--overwrite-output-dir" in err
    assert "--resume-from-checkpoint" not in err  # resuming cannot continue another architecture
    err = refused(capsys, "train", "mlp", "--dataset", "digits", "--output-dir", str(out), "--hidden-sizes", "32",
                  "--data-source", "offline", "--disable-tqdm")
    assert "already holds a mlp on digits run with another config (hidden_sizes: [64] -> [32])" in err
    err = refused(capsys, "train", "cnn", "--dataset", "digits", "--output-dir", str(out), "--resume-from-checkpoint",
                  "latest", "--config-overrides", "hidden_sizes=[4],depths=[1],kernel_sizes=[3],paddings=[1]",
                  "--data-source", "offline", "--disable-tqdm")
    assert "holds a different run" in err and "same architecture, dataset and model flags" in err
    assert folder_digest(out) == before


def test_a_folder_classicnets_did_not_write_is_refused(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    err = refused(capsys, "train", "mlp", "--dataset", "digits", "--output-dir", str(tmp_path), "--overwrite-output-dir",
                  "--data-source", "offline", "--disable-tqdm")
    assert "holds no classicnets run; refusing to write into it" in err
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"] and (tmp_path / "notes.txt").read_text() == "mine"


def test_a_run_refused_before_its_first_checkpoint_does_not_block_the_next(tmp_path):
    from classicnets.training import TrainingArguments
    from classicnets.training.runner import RUN_FILE, prepare_output_dir

    out = tmp_path / "run"
    out.mkdir()
    (out / RUN_FILE).write_text(json.dumps({"architecture": "cnn", "dataset": "mnist", "config": {}}))
    signature = {"architecture": "mlp", "dataset": "digits", "config": {"hidden_sizes": [8]}}
    prepare_output_dir(str(out), signature, TrainingArguments(output_dir=str(out)))
    assert json.loads((out / RUN_FILE).read_text()) == signature


def test_resume_with_nothing_to_resume(capsys, tmp_path):
    err = refused(capsys, "train", "mlp", "--dataset", "digits", "--output-dir", str(tmp_path / "new"),
                  "--resume-from-checkpoint", "latest", "--data-source", "offline", "--disable-tqdm")
    assert "holds no classicnets run to resume" in err and "Start without --resume-from-checkpoint" in err


def test_evaluate_refuses_broken_and_foreign_folders(capsys, trained_run, tmp_path):
    out, _ = trained_run
    broken = tmp_path / "broken"
    shutil.copytree(out, broken, ignore=shutil.ignore_patterns("checkpoints"))
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    err = refused(capsys, "evaluate", str(broken), "--dataset", "digits", "--data-source", "offline")
    assert "truncated or corrupted" in err and "re-run training" in err
    err = refused(capsys, "evaluate", str(out / "checkpoints"), "--dataset", "digits", "--data-source", "offline")
    assert "is not a model checkpoint: it has no config.json" in err
    err = refused(capsys, "evaluate", str(out), "--dataset", "mnist", "--data-source", "offline")
    assert "reads 1x8x8 images but mnist has 1x28x28" in err and "the dataset it was trained for" in err


def test_evaluate_refuses_other_labels_and_foreign_weights(capsys, tmp_path):
    from transformers import ViTConfig, ViTForImageClassification

    from classicnets import CNNConfig, CNNForImageClassification, MLPConfig, MLPForImageClassification
    from classicnets.data import DATASETS, make_image_processor

    # An MNIST LeNet-5 evaluated on Fashion-MNIST: same image shape, other classes.
    lenet = tmp_path / "lenet"
    CNNForImageClassification(CNNConfig.lenet5(num_labels=10, id2label=DATASETS["mnist"].id2label)).save_pretrained(lenet)
    make_image_processor("mnist").save_pretrained(lenet)
    err = refused(capsys, "evaluate", str(lenet), "--dataset", "fashion_mnist", "--data-source", "offline")
    assert "was trained for the classes ['0', '1', '2', '3']" in err and "T-shirt/top" in err
    # Weights of another architecture under this config.json: named as such, not as an ignore_mismatched_sizes hint.
    mixed = tmp_path / "mixed"
    shutil.copytree(lenet, mixed)
    MLPForImageClassification(MLPConfig(image_size=28, hidden_sizes=(6, 16), num_labels=10)).save_pretrained(tmp_path / "mlp")
    shutil.copy(tmp_path / "mlp" / "model.safetensors", mixed / "model.safetensors")
    err = refused(capsys, "evaluate", str(mixed), "--dataset", "mnist", "--data-source", "offline")
    assert "do not fit the model its config.json describes" in err and "another architecture or config" in err
    # A transformers ViT (its image_size is one int) is evaluated like any image classifier.
    vit = tmp_path / "vit"
    config = ViTConfig(image_size=28, patch_size=7, num_channels=1, hidden_size=16, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=16, num_labels=10)
    torch.manual_seed(0)
    model = ViTForImageClassification(config).eval()
    model.save_pretrained(vit)
    assert main(["evaluate", str(vit), "--dataset", "mnist", "--data-source", "offline"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["model_class"] == "ViTForImageClassification" and result["num_examples"] == 10000
    # Without a saved processor, the dataset's own standardisation is used: recompute the accuracy directly.
    from classicnets.data import image_tensors, load_dataset

    x, y = image_tensors(load_dataset("mnist", source="offline")["test"])
    spec = DATASETS["mnist"]
    with torch.no_grad():
        predictions = torch.cat([model(pixel_values=(x[i:i + 1000].float() / 255 - spec.mean[0]) / spec.std[0]).logits
                                 .argmax(-1) for i in range(0, len(y), 1000)])
    assert result["accuracy"] == pytest.approx((predictions == y).double().mean().item(), abs=1e-12)
    assert "accuracy_at_training" not in result


def test_evaluate_reads_the_dataset_from_the_run(capsys, trained_run):
    out, metrics = trained_run
    assert main(["evaluate", str(out), "--data-source", "offline"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["dataset"] == "digits" and result["accuracy"] == metrics["test_accuracy"]
