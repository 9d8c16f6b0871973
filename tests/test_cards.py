"""Tests for classicnets.cards: the README parses back with huggingface_hub, carries every metric,
never leaks a token or a local path, and is written atomically."""

import math

import pytest
from huggingface_hub import ModelCard

from classicnets import cards
from classicnets.cards import FAMILIES, build_model_card, write_model_card

TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


def _kwargs(**overrides):
    kwargs = {
        "family": "cnn",
        "model_name": "lenet5-mnist",
        "task": "image-classification",
        "dataset_name": "MNIST",
        "dataset_id": "ylecun/mnist",
        "dataset_split": "test",
        "metrics": {"accuracy": 0.9912345, "loss": 0.02871},
        "hyperparameters": {
            "learning_rate": 3e-4,
            "per_device_train_batch_size": 64,
            "num_train_epochs": 5,
            "seed": 42,
            "betas": (0.9, 0.999),
            "hub_token": TOKEN,
        },
        "config": {"model_type": "classicnets_cnn", "hidden_sizes": [6, 16], "pad_token_id": 0},
        "pictures": ["learning_curves.png"],
        "base_model": "someone/lenet5-base",
        "tags": ["lenet"],
    }
    kwargs.update(overrides)
    return kwargs


def test_card_parses_back_with_every_metric(tmp_path):
    path = write_model_card(tmp_path, **_kwargs())
    assert path == tmp_path / "README.md"
    card = ModelCard.load(path)
    results = {r.metric_type: r for r in card.data.eval_results}
    assert set(results) == {"accuracy", "loss"}
    assert results["accuracy"].metric_value == 0.9912345  # exact, not the rounded table value
    assert results["loss"].metric_value == 0.02871
    for result in results.values():
        assert result.task_type == "image-classification"
        assert result.dataset_type == "ylecun/mnist"
        assert result.dataset_name == "MNIST"
        assert result.dataset_split == "test"
    assert results["accuracy"].metric_name == "Accuracy"
    assert card.data.model_name == "lenet5-mnist"

    data = card.data.to_dict()
    assert data["library_name"] == "classicnets"
    assert data["pipeline_tag"] == "image-classification"
    assert data["license"] == "apache-2.0"
    assert data["tags"] == ["classicnets", "cnn", "image-classification", "mnist", "lenet"]
    assert data["datasets"] == ["ylecun/mnist"]
    assert data["base_model"] == "someone/lenet5-base"
    assert data["model-index"][0]["name"] == "lenet5-mnist"
    assert data["model-index"][0]["results"][0]["dataset"]["split"] == "test"


def test_body_sections(tmp_path):
    text = write_model_card(tmp_path, **_kwargs()).read_text(encoding="utf-8")
    body = text.split("\n---\n", 1)[1]
    for heading in (
        "# lenet5-mnist",
        "## Model description",
        "## Intended uses & limitations",
        "## Training data",
        "### Hyperparameters",
        "## Evaluation results",
        "## How to use",
        "## Configuration",
        "## Citation",
    ):
        assert f"\n{heading}\n" in f"\n{body}", heading
    paper = FAMILIES["cnn"]
    assert paper["title"] in body and paper["url"] in body and "@article{lecun1998gradient" in body
    assert "| learning_rate | 0.0003 |" in body
    assert "| betas | [0.9, 0.999] |" in body
    assert "| Accuracy | 0.9912 | test |" in body
    assert "| Loss | 0.0287 | test |" in body
    assert "![Learning curves](learning_curves.png)" in body
    assert "import classicnets" in body
    assert 'AutoModelForImageClassification.from_pretrained("lenet5-mnist")' in body
    assert 'from_pretrained("lenet5-mnist", trust_remote_code=True)' in body
    assert "<details>" in body and '"hidden_sizes": [' in body
    assert "https://huggingface.co/datasets/ylecun/mnist" in body


def test_secrets_never_reach_the_file(tmp_path):
    kwargs = _kwargs(
        hyperparameters={
            "learning_rate": 0.01,
            "hub_token": TOKEN,
            "token": "plain-secret-value-1",
            "wandb_api_key": "plain-secret-value-2",
            "nested": {"password": "plain-secret-value-3", "depth": 2},
            "looks_harmless": "hf_ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210",
            "pad_token_id": 0,  # a config field, not a secret
        },
        config={"model_type": "classicnets_cnn", "token": TOKEN},
        extra_sections={"Notes": f"pushed with {TOKEN} and plain-secret-value-1"},
    )
    text = write_model_card(tmp_path, **kwargs).read_text(encoding="utf-8")
    for secret in (TOKEN, "hf_ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210", "plain-secret-value"):
        assert secret not in text
    for key in ("hub_token", "wandb_api_key", "password", "looks_harmless"):
        assert key not in text
    assert "| pad_token_id | 0 |" in text
    assert '"depth": 2' in text
    assert "pushed with <redacted> and <redacted>" in text


def test_local_paths_are_reduced_to_basenames(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", "/home/alice")
    run_dir = tmp_path / "runs" / "lenet5-mnist"
    (run_dir).mkdir(parents=True)
    (run_dir / "learning_curves.png").write_bytes(b"png")
    kwargs = _kwargs(
        hyperparameters={
            "output_dir": "/home/alice/runs/lenet5-mnist",
            "data_dir": "/data/mnist/raw",
            "logging_dir": str(tmp_path / "logs"),
            "command": "classicnets train cnn --output-dir /home/alice/runs/lenet5-mnist --seed 1",
        },
        config={"_name_or_path": "/home/alice/runs/base", "model_type": "classicnets_cnn"},
        pictures=[str(run_dir / "learning_curves.png")],
        base_model="/home/alice/runs/base",
        extra_sections={"Notes": "Trained from /Users/bob/projects/x/train.py on a laptop."},
    )
    text = write_model_card(run_dir, **kwargs).read_text(encoding="utf-8")
    assert "/home/alice" not in text and "/Users/bob" not in text and "/data/mnist" not in text
    assert str(tmp_path) not in text
    assert "| output_dir | lenet5-mnist |" in text
    assert "| data_dir | raw |" in text
    assert "--output-dir lenet5-mnist --seed 1" in text
    assert "Trained from train.py on a laptop." in text
    assert '"_name_or_path": "base"' in text
    # The picture inside the checkpoint folder is referenced relative to it.
    assert "![Learning curves](learning_curves.png)" in text
    # A local base model is named in the text only: the Hub's base_model must be a repo id.
    card = ModelCard.load(run_dir / "README.md")
    assert "base_model" not in card.data.to_dict()
    assert "local checkpoint `base`" in text


def test_pictures_are_referenced_relative(tmp_path):
    (tmp_path / "plots").mkdir()
    kwargs = _kwargs(
        pictures=["learning_curves.png", ("plots/samples grid.png", "Test samples"), str(tmp_path / "plots" / "cm.png")]
    )
    text = write_model_card(tmp_path, **kwargs).read_text(encoding="utf-8")
    assert "![Learning curves](learning_curves.png)" in text
    assert "![Test samples](plots/samples%20grid.png)" in text
    assert "![Cm](plots/cm.png)" in text


def test_build_without_optional_fields():
    card = build_model_card(
        family="mlp",
        model_name="mlp-iris",
        task="tabular-classification",
        dataset_name="Iris",
        dataset_id=None,
        metrics={"eval_accuracy": 0.96, "eval_loss": 0.11},
        hyperparameters={},
    )
    data = card.data.to_dict()
    assert "datasets" not in data and "base_model" not in data
    assert data["pipeline_tag"] == "tabular-classification"
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {"accuracy": 0.96, "loss": 0.11}  # eval_ prefix dropped
    assert {r.dataset_type for r in card.data.eval_results} == {"Iris"}
    text = str(card)
    assert "AutoModel.from_pretrained" in text  # no dedicated Auto class for tabular tasks
    assert "## Configuration" not in text and "## Figures" not in text
    assert "No hyperparameters were recorded." in text


def test_non_finite_metric_is_shown_but_not_indexed():
    card = build_model_card(**_kwargs(metrics={"accuracy": 0.1, "loss": math.nan}))
    assert [r.metric_type for r in card.data.eval_results] == ["accuracy"]
    assert "| Loss | nan | test |" in str(card)


def test_numpy_and_torch_scalars_become_plain_numbers():
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    metrics = {"accuracy": np.float32(0.5), "loss": torch.tensor(0.25), "num_samples": np.int64(10000)}
    card = ModelCard(str(build_model_card(**_kwargs(metrics=metrics))))
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == {
        "accuracy": 0.5,
        "loss": 0.25,
        "num_samples": 10000,
    }
    assert isinstance(card.data.eval_results[2].metric_value, int)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Unknown family 'lstm'.*'cnn'"):
        build_model_card(**_kwargs(family="lstm"))
    with pytest.raises(TypeError, match="metric 'accuracy' must be a number"):
        build_model_card(**_kwargs(metrics={"accuracy": "high"}))
    with pytest.raises(ValueError, match="'eval_loss' and 'loss' both name the metric 'loss'"):
        build_model_card(**_kwargs(metrics={"eval_loss": 0.1, "loss": 0.2}))
    with pytest.raises(ValueError, match="model_name must be a non-empty string"):
        build_model_card(**_kwargs(model_name=" "))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_renders(family):
    info = FAMILIES[family]
    for key in (
        "display_name",
        "title",
        "authors",
        "year",
        "url",
        "description",
        "intended_use",
        "limitations",
        "bibtex",
    ):
        assert info[key], (family, key)
    card = build_model_card(**_kwargs(family=family))
    assert info["title"] in str(card)
    assert family in card.data.tags


def test_atomic_write_leaves_no_temp_files(tmp_path):
    write_model_card(tmp_path, **_kwargs())
    write_model_card(tmp_path, **_kwargs(metrics={"accuracy": 0.5}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
    assert [r.metric_value for r in ModelCard.load(tmp_path / "README.md").data.eval_results] == [0.5]


def test_failed_render_leaves_existing_readme_untouched(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("old card\n", encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(cards, "_usage_snippets", broken)
    with pytest.raises(RuntimeError, match="render failed"):
        write_model_card(tmp_path, **_kwargs())
    assert readme.read_text(encoding="utf-8") == "old card\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_failed_write_leaves_existing_readme_untouched(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("old card\n", encoding="utf-8")
    import classicnets.utils

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(classicnets.utils.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_model_card(tmp_path, **_kwargs())
    assert readme.read_text(encoding="utf-8") == "old card\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
