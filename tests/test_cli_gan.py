"""``classicnets train gan`` and ``classicnets sample`` as a user runs them: a short real-data run writes a folder
that transformers loads, whose seeded samples are exactly the saved grid and whose recorded metrics are recomputed
from the saved weights; and every refusal happens before anything is written."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import AutoModel

import classicnets  # noqa: F401  registers the architectures
from classicnets.cli import main
from classicnets.data import image_tensors, load_dataset
from classicnets.training.gan_runner import evaluate_gan, latent_interpolation, slerp

SHORT = ["--dataset", "mnist", "--data-source", "offline", "--train-subset", "2048", "--per-device-train-batch-size",
         "64", "--seed", "0", "--disable-tqdm"]
SMALL_MLP = "latent_size=32,generator_hidden_sizes=[128],discriminator_hidden_sizes=[128]"
SMALL_DCGAN = "latent_size=16,generator_hidden_sizes=[16,8],discriminator_hidden_sizes=[8,16]"


@pytest.fixture
def one_thread():
    """These tiny networks are fastest on one intra-op thread on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train(tmp_path, name: str, *argv: str, reference=None) -> tuple:
    out = tmp_path / name
    extra = ["--reference-classifier", str(reference.path)] if reference is not None else []
    code = main(["train", "gan", "--output-dir", str(out), *SHORT, *extra, *argv])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory, mnist_reference):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(tmp_path_factory.mktemp("gan"), "cgan", "--preset", "conditional", "--config-overrides",
                     f"architecture=mlp,{SMALL_MLP}", "--max-steps", "150", "--logging-steps", "50",
                     "--num-eval-samples", "1000", reference=mnist_reference)
    finally:
        torch.set_num_threads(threads)


def test_conditional_run_saves_a_loadable_folder_whose_samples_are_the_grid(conditional_run):
    out, metrics = conditional_run
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "configuration_gan.py", "modeling_gan.py", "README.md", "samples.png",
            "samples.safetensors", "samples.json", "interpolation.png", "learning_curves.png", "training_log.json",
            "metrics.json", "training_args.json", "run.json"} <= files, files
    assert not [f for f in files if f.startswith(".")]  # no temporary export folder left behind
    model = AutoModel.from_pretrained(out)
    assert type(model).__name__ == "GANModel" and model.config.conditional and model.config.architecture == "mlp"
    saved = load_file(out / "samples.safetensors")
    record = json.loads((out / "samples.json").read_text())
    # One row per class: ten 0s, ten 1s, ...
    assert saved["labels"].tolist() == [k for k in range(10) for _ in range(10)] == record["labels"]
    again = model.sample(100, labels=saved["labels"], generator=torch.Generator().manual_seed(record["seed"]))
    assert torch.equal(again, saved["pixel_values"])
    assert (out / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    args = json.loads((out / "training_args.json").read_text())
    assert args["learning_rate"] == 2e-4 and args["max_steps"] == 150  # the DCGAN learning rate by default


def test_slerp_keeps_the_ends_and_the_norm_of_orthogonal_latents():
    z0 = torch.tensor([[3.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    z1 = torch.tensor([[0.0, 3.0, 0.0], [2.0, 4.0, 4.0]])  # row 1: parallel endpoints (angle 0)
    path = slerp(z0, z1, torch.linspace(0, 1, 5))  # (2, 5, 3)
    assert path.shape == (2, 5, 3) and torch.isfinite(path).all()
    assert torch.allclose(path[:, 0], z0, atol=1e-6) and torch.allclose(path[:, -1], z1, atol=1e-6)
    # Orthogonal endpoints of norm 3: every point stays on the circle of radius 3 (a straight line dips to 2.12)
    # and the midpoint is their bisector.
    assert torch.allclose(path[0].norm(dim=-1), torch.full((5,), 3.0), atol=1e-5)
    assert torch.allclose(path[0, 2], torch.tensor([1.0, 1.0, 0.0]) * 3 / 2**0.5, atol=1e-5)
    # Parallel endpoints: the straight line, no 0/0.
    assert torch.allclose(path[1, 2], (z0[1] + z1[1]) / 2, atol=1e-6)


def test_the_interpolation_picture_walks_between_seeded_latents_one_class_per_row(conditional_run):
    out, _ = conditional_run
    model = AutoModel.from_pretrained(out)
    images, labels = latent_interpolation(model, rows=3, steps=4, seed=7)
    assert images.shape == (12, 1, 28, 28) and labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    draw = torch.Generator().manual_seed(7)
    z0, z1 = torch.randn(3, 32, generator=draw), torch.randn(3, 32, generator=draw)
    ends = model.eval().generate_images(torch.cat([z0, z1]), torch.tensor([0, 1, 2, 0, 1, 2]))
    assert torch.allclose(images[0::4], ends[:3], atol=1e-5) and torch.allclose(images[3::4], ends[3:], atol=1e-5)
    assert not torch.allclose(images[1], images[0], atol=1e-3)  # the inner steps move
    assert model.training is False and latent_interpolation(model.train(), 1, 2, 0)[0].shape[0] == 2
    assert model.generator.training  # the mode is restored


def test_recorded_metrics_are_measured_on_the_saved_weights(conditional_run, mnist_reference):
    out, metrics = conditional_run
    assert metrics["global_step"] == 150 and metrics["num_eval_samples"] == 1000
    for key in ("test_frechet_distance", "real_data_frechet_distance", "test_conditional_accuracy", "train_diversity"):
        assert math.isfinite(metrics[key]), key
    # 150 steps make blurry digits: far from real data, which is close to itself at the same sample size.
    assert metrics["test_frechet_distance"] > 3 * metrics["real_data_frechet_distance"] > 0
    assert 0.0 <= metrics["test_conditional_accuracy"] <= 1.0
    # Recomputed from the folder as a user loads it: the same numbers, so they belong to these weights.
    model = AutoModel.from_pretrained(out).eval()
    split = load_dataset("mnist", source="offline")
    from classicnets.training.runner import split_train

    x, _ = image_tensors(split["train"])
    idx, _ = split_train(len(x), 0.0, 2048, 0)
    again = evaluate_gan(model, mnist_reference, image_tensors(split["test"])[0], x[idx], 1000, seed=1)
    for key, value in again.items():
        assert value == pytest.approx(metrics[key], rel=1e-9), key
    # The history logs the mode-collapse indicator; the card carries the measured numbers.
    history = json.loads((out / "training_log.json").read_text())
    assert [r["step"] for r in history] == [50, 100, 150]
    assert all(0 < r["diversity"] < 5 for r in history) and history[-1]["diversity"] == metrics["train_diversity"]
    card = ModelCard.load(out / "README.md")
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {"frechet_distance": metrics["test_frechet_distance"],
                       "conditional_accuracy": metrics["test_conditional_accuracy"]}
    assert card.data.pipeline_tag == "unconditional-image-generation" and "class-conditional" in card.data.tags
    assert "samples.png" in card.text and "interpolation.png" in card.text and "Real-data floor" in card.text
    assert "Conditional Generative Adversarial Nets" in card.text  # the conditional GAN's paper is cited


def test_evaluate_recomputes_the_recorded_metrics_from_the_folder(conditional_run, capsys):
    out, metrics = conditional_run
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data-source", "offline"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_class"] == "GANModel" and result["dataset"] == "mnist"
    assert result["split"] == "test" and not any(k.startswith("test_") for k in result)
    assert result["frechet_distance"] == metrics["test_frechet_distance"]
    assert result["conditional_accuracy"] == metrics["test_conditional_accuracy"]
    assert result["at_training"] == {"frechet_distance": metrics["test_frechet_distance"],
                                     "conditional_accuracy": metrics["test_conditional_accuracy"]}
    assert result["matches_training"] is True
    assert main(["evaluate", str(out), "--split", "train", "--data-source", "offline"]) == 2
    assert "measured against the test images" in capsys.readouterr().err


def test_unconditional_dcgan_and_the_sample_command(tmp_path, mnist_reference, capsys, one_thread):
    out, metrics = train(tmp_path, "dcgan", "--preset", "dcgan", "--config-overrides", SMALL_DCGAN, "--max-steps", "4",
                         "--logging-steps", "2", "--num-eval-samples", "300", reference=mnist_reference)
    assert "test_conditional_accuracy" not in metrics and metrics["num_eval_samples"] == 300
    saved = load_file(out / "samples.safetensors")
    assert set(saved) == {"pixel_values"} and saved["pixel_values"].shape == (100, 1, 28, 28)
    model = AutoModel.from_pretrained(out)
    assert model.config.architecture == "dcgan" and not model.config.conditional
    assert torch.equal(model.sample(100, generator=torch.Generator().manual_seed(0)), saved["pixel_values"])
    capsys.readouterr()
    assert main(["sample", str(out), "--output", str(tmp_path / "grid.png"), "--num-samples", "12"]) == 0
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Labels for an unconditional model: a clear refusal, no picture.
    assert main(["sample", str(out), "--output", str(tmp_path / "no.png"), "--labels", "3"]) == 2
    assert "is an unconditional GAN: it cannot be asked for classes. Drop --labels" in capsys.readouterr().err
    assert not (tmp_path / "no.png").exists()


def test_an_interrupted_gan_run_resumes_to_the_uninterrupted_weights(tmp_path, mnist_reference, one_thread):
    """`train gan --max-steps 6` stopped after 4 steps (its checkpoint at step 4, as a killed run leaves it) and
    continued with --resume-from-checkpoint latest ends with the weights, samples and metrics of an uninterrupted
    6-step run."""
    flags = ["--preset", "dcgan", "--config-overrides", SMALL_DCGAN, "--logging-steps", "2", "--num-eval-samples",
             "300", "--save-steps", "2"]
    straight, straight_metrics = train(tmp_path, "straight", *flags, "--max-steps", "6", reference=mnist_reference)
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == ["checkpoint-4", "checkpoint-6"]  # limit 2
    partial, _ = train(tmp_path, "partial", *flags, "--max-steps", "4", reference=mnist_reference)
    resumed, resumed_metrics = train(tmp_path, "partial", *flags, "--max-steps", "6", "--resume-from-checkpoint",
                                     "latest", reference=mnist_reference)
    assert resumed == partial
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert load_file(resumed / "samples.safetensors")["pixel_values"].equal(
        load_file(straight / "samples.safetensors")["pixel_values"])
    for key in ("global_step", "test_frechet_distance", "train_diversity"):
        assert resumed_metrics[key] == straight_metrics[key], key
    assert resumed_metrics["global_step"] == 6


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "conditional", "--config-overrides", "conditional=false"],
         "--preset conditional builds a class-conditional GAN; drop conditional=false"),
        (["--preset", "lenet5"], "Unknown preset 'lenet5' for gan; available: conditional, dcgan, mlp"),
        (["--lr-scheduler", "cosine", "--max-grad-norm", "1"], "--lr-scheduler, --max-grad-norm: not used by GAN"),
        (["--weight-decay", "0.1"], "--weight-decay: not used by GAN training.*drop it"),
        (["--resume-from-checkpoint", "latest"], "holds no classicnets run to resume"),
        (["--config-overrides", "hidden_sizes=[3]"], "GANConfig has no field 'hidden_sizes'"),
        (["--num-eval-samples", "1"], "--num-eval-samples must be an int >= 2"),
        (["--train-subset", "100", "--per-device-train-batch-size", "128"],
         "100 training images cannot fill one batch of 128.*lower .*--per-device-train-batch-size"),
    ],
)
def test_bad_gan_flags_are_refused_before_anything_is_written(capsys, tmp_path, argv, message):
    code = main(["train", "gan", "--dataset", "mnist", "--output-dir", str(tmp_path / "run"), "--data-source",
                 "offline", *argv])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err), err
    assert not (tmp_path / "run").exists()


def test_wrong_datasets_and_judges_are_refused(capsys, tmp_path, conditional_run):
    def refused(*argv):
        code = main(["train", *argv, "--output-dir", str(tmp_path / "run"), "--data-source", "offline"])
        err = capsys.readouterr().err
        assert code == 2 and not (tmp_path / "run").exists(), err
        return err

    err = refused("gan", "--dataset", "tiny_shakespeare")
    assert "tiny_shakespeare is a text-generation dataset, which gan does not train" in err
    assert "classicnets builds its own only for mnist, fashion_mnist" in refused("gan", "--dataset", "digits")
    # A GAN folder cannot judge samples: it is no classifier.
    gan_folder = str(conditional_run[0])
    assert "holds a 'classicnets_gan' model, not an image classifier" in refused(
        "gan", "--dataset", "mnist", "--reference-classifier", gan_folder)
    assert "GAN evaluation flags; drop them for cnn" in refused("cnn", "--dataset", "mnist", "--num-eval-samples", "5")


def test_sample_on_a_vae_folder_says_how_to_draw_from_a_vae(capsys, tmp_path):
    from classicnets import VAEConfig, VAEModel

    VAEModel(VAEConfig(latent_size=4, hidden_sizes=[8])).save_pretrained(tmp_path / "vae")
    assert main(["sample", str(tmp_path / "vae"), "--output", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err
    assert "is a VAE; `classicnets sample` draws from GAN folders" in err and ".sample(n" in err, err
    assert not (tmp_path / "s.png").exists()
