"""`classicnets train ... --init-from`: fine-tuning a pretrained checkpoint on a new dataset, and its refusals.

A short MLP pretraining on MNIST gives the checkpoint; fine-tuning moves it to Fashion-MNIST (same 28x28
input, another label set), so the head must be replaced, and the frozen trunk must come out bit-identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from safetensors.torch import load_file

from classicnets.cli import main

QUICK = ["--data-source", "offline", "--disable-tqdm", "--per-device-train-batch-size", "64", "--eval-subset", "500"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ft") / "mlp-mnist"
    assert main(["train", "mlp", "--dataset", "mnist", "--output-dir", str(out), "--hidden-sizes", "64", "32",
                 "--max-steps", "60", "--learning-rate", "3e-3", "--seed", "0", *QUICK]) == 0
    return out


def fine_tune(out: Path, pretrained: Path, *flags: str) -> int:
    return main(["train", "mlp", "--dataset", "fashion_mnist", "--output-dir", str(out), "--init-from", str(pretrained),
                 "--max-steps", "40", "--learning-rate", "1e-2", "--seed", "1", *QUICK, *flags])


def test_frozen_backbone_keeps_the_trunk_and_replaces_the_head(pretrained, tmp_path):
    out = tmp_path / "probe"
    assert fine_tune(out, pretrained, "--freeze-backbone") == 0
    before, after = load_file(pretrained / "model.safetensors"), load_file(out / "model.safetensors")
    trunk = [k for k in before if not k.startswith("classifier.")]
    assert trunk and all(before[k].equal(after[k]) for k in trunk)  # frozen: bit-identical after 40 updates
    assert not before["classifier.weight"].equal(after["classifier.weight"])
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"]["0"] == "T-shirt/top" and len(config["id2label"]) == 10  # Fashion-MNIST's labels
    card = ModelCard.load(out / "README.md")
    assert "## Transfer learning" in card.text and "only the output layer was trained" in card.text
    assert "replaced by a new one for the 10 classes of fashion_mnist" in card.text
    assert "Trainable parameters: 330 of 52,650" in card.text  # 32*10+10 of (784*64+64) + (64*32+32) + 330
    assert card.data.base_model is None  # a local folder is named in the text, never as Hub metadata
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.3  # MNIST features already separate clothing well above chance (0.1)


def test_partial_freezing_and_discriminative_rates(pretrained, tmp_path):
    out = tmp_path / "partial"
    assert fine_tune(out, pretrained, "--freeze-up-to", "mlp.layers.0", "--backbone-lr-scale", "0.1") == 0
    before, after = load_file(pretrained / "model.safetensors"), load_file(out / "model.safetensors")
    first = [k for k in before if k.startswith("mlp.layers.0.")]
    second = [k for k in before if k.startswith("mlp.layers.1.")]
    assert first and all(before[k].equal(after[k]) for k in first)
    assert second and not all(before[k].equal(after[k]) for k in second)
    text = (out / "README.md").read_text()
    assert "up to and including `mlp.layers.0` were frozen" in text and "0.1 x the head's learning rate" in text


def test_same_label_set_keeps_the_head(pretrained, tmp_path):
    out = tmp_path / "continued"
    assert main(["train", "mlp", "--dataset", "mnist", "--output-dir", str(out), "--init-from", str(pretrained),
                 "--max-steps", "1", "--learning-rate", "1e-9", "--optimizer", "sgd", "--momentum", "0", *QUICK]) == 0
    before, after = load_file(pretrained / "model.safetensors"), load_file(out / "model.safetensors")
    assert (before["classifier.weight"] - after["classifier.weight"]).abs().max() < 1e-6  # kept, not re-initialised
    assert "its output layer was kept (mnist has the same classes)" in (out / "README.md").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--freeze-backbone"], "add --init-from"),
        (["--backbone-lr-scale", "0.1"], "add --init-from"),
        (["--init-from", "{pre}", "--hidden-sizes", "8"], "takes the architecture from the checkpoint; drop hidden_sizes"),
        (["--init-from", "{pre}", "--freeze-up-to", "mlp.layers.7"], "--freeze-up-to mlp.layers.7: up_to='mlp.layers.7' is not a backbone block; valid block names: ['mlp.layers.0', 'mlp.layers.1']"),
        (["--init-from", "{pre}", "--backbone-lr-scale", "0"], "use --freeze-backbone"),
        (["--init-from", "{pre}", "--freeze-backbone", "--freeze-up-to", "mlp.layers.0"], "not both"),
        (["--init-from", "{pre}", "--freeze-backbone", "--backbone-lr-scale", "0.1"], "would have no effect"),
        (["--init-from-revision", "v2"], "--init-from-revision needs --init-from"),
        (["--init-from", "no/such-repo-here"], "Offline mode is on"),
        (["--init-from", "./missing-folder"], "neither a local folder nor a Hub repo id"),
    ],
)
def test_bad_fine_tuning_flags(pretrained, tmp_path, capsys, flags, message):
    out = tmp_path / "x"
    flags = [f.replace("{pre}", str(pretrained)) for f in flags]
    assert main(["train", "mlp", "--dataset", "fashion_mnist", "--output-dir", str(out), "--max-steps", "1",
                 *QUICK, *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (out / "config.json").exists()


def test_another_architecture_or_input_shape_is_refused(pretrained, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in pretrained.iterdir() if p.is_file()}
    assert main(["train", "cnn", "--dataset", "fashion_mnist", "--output-dir", str(tmp_path / "a"),
                 "--init-from", str(pretrained), "--max-steps", "1", *QUICK]) == 2
    assert "holds a 'classicnets_mlp' checkpoint, not 'classicnets_cnn'" in capsys.readouterr().err
    assert main(["train", "mlp", "--dataset", "digits", "--output-dir", str(tmp_path / "b"),
                 "--init-from", str(pretrained), "--max-steps", "1", *QUICK]) == 2
    err = capsys.readouterr().err
    assert "reads 1x28x28 images but --dataset digits has 1x8x8 images" in err
    assert before == {p.name: p.read_bytes() for p in pretrained.iterdir() if p.is_file()}  # nothing touched


def test_class_split_pretrain_then_fine_tune_on_the_other_classes(tmp_path, capsys):
    from classicnets.data import DATASETS, image_tensors, load_dataset
    from classicnets.evaluation import evaluate_folder

    first, second = tmp_path / "0to4", tmp_path / "5to9"
    quick = ["--data-source", "offline", "--disable-tqdm", "--max-steps", "40", "--hidden-sizes", "32"]
    assert main(["train", "mlp", "--dataset", "digits", "--classes", "0", "1", "2", "3", "4", "--output-dir",
                 str(first), *quick]) == 0
    config = json.loads((first / "config.json").read_text())
    assert config["id2label"] == {str(i): str(i) for i in range(5)}
    # evaluate reads the selection back: only the test digits 0-4, relabelled 0..4, give the training accuracy.
    _, test_labels = image_tensors(load_dataset("digits", source="offline")["test"])
    result = evaluate_folder(str(first), "digits", data_source="offline")
    assert result["classes"] == [0, 1, 2, 3, 4] and result["num_examples"] == int((test_labels < 5).sum())
    assert result["matches_training"] is True
    assert "digits (classes 0, 1, 2, 3, 4)" in (first / "README.md").read_text()

    quick = [q for q in quick if q not in ("--hidden-sizes", "32")]
    assert main(["train", "mlp", "--dataset", "digits", "--classes", "9", "5", "6", "7", "8", "--output-dir",
                 str(second), "--init-from", str(first), *quick]) == 0
    config = json.loads((second / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(5)] == ["9", "5", "6", "7", "8"]  # in the order given
    before, after = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert not before["classifier.weight"].equal(after["classifier.weight"])  # a new head for the new classes
    assert DATASETS["digits"].label_names[9] == "9"


@pytest.mark.parametrize("classes", [["3", "3"], ["0", "12"], ["4"], ["-1", "2"]])
def test_bad_class_selections(tmp_path, capsys, classes):
    assert main(["train", "mlp", "--dataset", "digits", "--classes", *classes, "--output-dir", str(tmp_path / "x"),
                 "--data-source", "offline", "--max-steps", "1"]) == 2
    assert "give at least two distinct label ids of digits, each in 0..9 (0=0, 1=1" in capsys.readouterr().err
