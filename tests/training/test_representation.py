"""Autoencoders and VAEs in the common loop: the tasks against the models' own objectives, the binarizations, a
short `classicnets train vae` run that learns and that `classicnets evaluate` reproduces in a fresh process, the
pictures and the card, and the refusals of bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import pytest
import torch
from huggingface_hub import ModelCard

from classicnets import AutoencoderConfig, AutoencoderModel, VAEConfig, VAEModel
from classicnets.cli import main
from classicnets.data import image_tensors, load_dataset
from classicnets.training.tasks import (
    ELBO_NOISE_SEED,
    ReconstructionTask,
    VAETask,
    bernoulli_binarize,
    collate_batch,
    fixed_binarization,
)


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits", source="offline")
    return image_tensors(data["train"]), image_tensors(data["test"])


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_vae(**kw) -> VAEModel:
    torch.manual_seed(0)
    return VAEModel(VAEConfig(image_size=8, hidden_sizes=(32,), latent_size=4, **kw))


# ------------------------------------------------------------------------------------------- the tasks' numbers
@pytest.mark.parametrize("beta", [1.0, 2.5])
def test_vae_training_loss_is_the_models_negative_elbo_on_dynamically_binarized_images(digits, beta):
    (images, _), _ = digits
    model = small_vae(beta=beta).train()
    task = VAETask(latent_size=4, beta=beta, binarize="dynamic")
    batch = {"images": images[:64]}
    inputs = task.model_inputs(batch, train=True, generator=seeded(3), device="cpu")
    loss = task.loss(model(**inputs), inputs)

    # The same generator, consumed in the same order: first the binarization, then the reparameterization noise.
    generator = seeded(3)
    x = bernoulli_binarize(images[:64].float() / 255, generator)
    assert torch.equal(inputs["pixel_values"], x) and set(x.unique().tolist()) == {0.0, 1.0}
    elbo = model.elbo(x, generator=generator)  # one sample per image, beta not applied
    kl = model.kl_divergence(*model.encode(x))
    expected = (-elbo + (beta - 1.0) * kl).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-5)


def test_vae_evaluation_is_the_models_elbo_with_fixed_noise_whatever_the_batch_size(digits):
    _, (images, labels) = digits
    model = small_vae().eval()
    task = VAETask(latent_size=4, binarize="dynamic", importance_samples=50)
    dataset = task.eval_dataset(images, labels)

    def evaluate(batch_size):
        parts = []
        for batch in torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate_batch):
            inputs = task.model_inputs(batch, train=False, generator=None, device="cpu")
            with torch.no_grad():
                parts.append(task.eval_tensors(task.eval_forward(model, inputs), inputs))
        return task.compute_metrics(*[torch.cat(c) for c in zip(*parts, strict=True)])

    metrics = evaluate(100)
    x = fixed_binarization(images).float() / 255
    with torch.no_grad():
        elbo = model.elbo(x, generator=seeded(ELBO_NOISE_SEED))  # the same eps, drawn for the whole split at once
        kl = model.kl_divergence(*model.encode(x))
    assert metrics["elbo"] == pytest.approx(elbo.double().mean().item(), rel=1e-6)
    assert metrics["kl"] == pytest.approx(kl.double().mean().item(), rel=1e-6)
    assert metrics["loss"] == pytest.approx(-metrics["elbo"], rel=1e-12)
    assert metrics["reconstruction"] == pytest.approx(metrics["loss"] - metrics["kl"], rel=1e-12)
    other = evaluate(450)
    assert all(other[k] == pytest.approx(v, rel=1e-6) for k, v in metrics.items())
    # The importance-sampled NLL tightens the bound: below -ELBO with 50 samples; and it is reproducible.
    nll = task.final_metrics(model, dataset)
    assert nll["nll_samples"] == 50 and nll["nll"] < -metrics["elbo"]
    assert task.final_metrics(model, dataset) == nll


def test_autoencoder_training_loss_is_the_models_objective_on_corrupted_inputs(digits):
    (images, labels), _ = digits
    torch.manual_seed(0)
    model = AutoencoderModel(AutoencoderConfig(image_size=8, hidden_sizes=(16,), latent_size=4, corruption="masking",
                                               corruption_level=0.4, sparsity="l1", sparsity_weight=0.01,
                                               reconstruction_loss="bce")).train()
    task = ReconstructionTask("bce")
    x = images[:32].float() / 255
    inputs = task.model_inputs({"images": images[:32]}, train=True, generator=seeded(5), device="cpu")
    loss = task.loss(model(**inputs), inputs)
    x_tilde = model.corrupt(x, seeded(5))
    assert (x_tilde == 0).float().mean() > (x == 0).float().mean() + 0.1  # 40% of the (half non-zero) pixels masked
    h = model.encode(x_tilde)
    expected = model.reconstruction_error(model.decode(h), x).mean() + model.sparsity_penalty(h)
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)

    # Evaluation: no corruption, the reconstruction error alone, per image.
    model.eval()
    eval_inputs = task.model_inputs({"images": images[:32]}, train=False, generator=None, device="cpu")
    with torch.no_grad():
        metrics = task.compute_metrics(*task.eval_tensors(model(**eval_inputs), eval_inputs))
        clean = model.reconstruction_error(model.decode(model.encode(x)), x).mean().item()
        mse = (model.reconstruct(x) - x).pow(2).mean().item()
    assert metrics["loss"] == pytest.approx(clean, rel=1e-6) and metrics["mse"] == pytest.approx(mse, rel=1e-6)


# ------------------------------------------------------------------------------------------- binarizations
def test_dynamic_binarization_is_seeded_bernoulli_and_new_every_epoch(digits):
    (images, _), _ = digits
    task = VAETask(latent_size=4, binarize="dynamic")
    batch = {"images": images[:200]}

    def two_epochs(seed):
        generator = seeded(seed)
        return [task.model_inputs(batch, train=True, generator=generator, device="cpu")["pixel_values"]
                for _ in range(2)]

    first, second = two_epochs(7)
    again = two_epochs(7)
    assert torch.equal(first, again[0]) and torch.equal(second, again[1])  # reproducible with the seed
    assert (first != second).float().mean() > 0.02  # each epoch sees other binary images
    x = images[:200].float() / 255
    assert torch.all(first[x == 0] == 0) and torch.all(first[x == 1] == 1)
    # Bernoulli(x): over 400 draws the mean of each pixel is its intensity (binomial std <= 0.025).
    generator = seeded(8)
    mean = torch.stack([bernoulli_binarize(x[:20], generator) for _ in range(400)]).mean(0)
    assert (mean - x[:20]).abs().max() < 0.12 and (mean - x[:20]).abs().mean() < 0.02


def test_a_resumed_vae_run_replays_the_same_binarizations_and_noise(digits, tmp_path):
    """Dynamic binarization and the reparameterization noise come from the loop's saved generator: a run interrupted
    mid-epoch and resumed ends with bit-identical weights."""
    from classicnets.training import Trainer, TrainerCallback, TrainingArguments

    (x, y), (xt, yt) = digits

    class Interrupt(TrainerCallback):
        def on_step_end(self, trainer, state):
            if state["global_step"] == 15:
                raise KeyboardInterrupt

    def trainer(out, callbacks=(), **kw):
        task = VAETask(latent_size=4, binarize="dynamic", importance_samples=0)
        model = small_vae()
        args = TrainingArguments(output_dir=str(out), num_train_epochs=2, per_device_train_batch_size=64, seed=3,
                                 save_steps=15, disable_tqdm=True, **kw)
        return Trainer(model, args, task, task.train_dataset(x, y), test_dataset=task.eval_dataset(xt, yt),
                       callbacks=callbacks), model

    full, model_full = trainer(tmp_path / "full")
    metrics = full.train().metrics
    crashed, _ = trainer(tmp_path / "resumed", callbacks=[Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        crashed.train()
    resumed, model_resumed = trainer(tmp_path / "resumed", resume_from_checkpoint="latest")
    assert resumed.train().metrics["test_elbo"] == metrics["test_elbo"]
    a, b = model_full.state_dict(), model_resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # 15 of 22 updates per epoch: the interruption was mid-epoch.
    assert len(full.train_dataset) // 64 + 1 == 22


def test_fixed_test_binarization_is_the_same_in_every_run_and_every_subset(digits):
    _, (images, labels) = digits
    once = fixed_binarization(images)
    assert torch.equal(once, fixed_binarization(images.clone()))
    assert set(once.unique().tolist()) == {0, 255} and not torch.equal(once, (images >= 128).to(torch.uint8) * 255)
    # What a run evaluates does not depend on its seed, latent size, or the subset / classes it keeps.
    rows = torch.tensor([3, 17, 200, 449])
    full = VAETask(latent_size=4).eval_dataset(images, labels)
    part = VAETask(latent_size=4, binarize="fixed").eval_dataset(images, labels[rows], index=rows)
    assert torch.equal(part.tensors["images"], full.tensors["images"][rows])
    assert torch.equal(part.tensors["eps"], full.tensors["eps"][rows])
    none = VAETask(latent_size=4, binarize="none").eval_dataset(images, labels)
    assert torch.equal(none.tensors["images"], images)


def test_latent_2d_is_the_code_or_its_principal_components():
    from sklearn.decomposition import PCA

    from classicnets.latent_plots import latent_2d

    codes = torch.randn(300, 6, generator=seeded(9), dtype=torch.float64) * torch.tensor([5.0, 3, 1, 0.5, 0.2, 0.1])
    xy, axes = latent_2d(codes)
    expected = PCA(n_components=2).fit(codes.numpy())
    reference = torch.from_numpy(expected.transform(codes.numpy()))
    signs = torch.sign((xy * reference).sum(0))  # a principal direction is defined up to its sign
    torch.testing.assert_close(xy * signs, reference, rtol=1e-9, atol=1e-9)
    assert axes[0] == f"PC 1 ({100 * expected.explained_variance_ratio_[0]:.0f}% of variance)"
    two = torch.randn(10, 2, generator=seeded(10))
    assert torch.equal(latent_2d(two)[0], two.double()) and latent_2d(two)[1] == ("z1", "z2")
    with pytest.raises(ValueError, match="NaN"):
        latent_2d(torch.full((4, 3), float("nan")))


# ------------------------------------------------------------------------------------------- command line
VAE_RUN = ["--dataset", "mnist", "--train-subset", "3000", "--eval-subset", "500", "--epochs", "3",
           "--latent-size", "8", "--hidden-sizes", "256", "--per-device-train-batch-size", "100",
           "--learning-rate", "2e-3", "--importance-samples", "20", "--seed", "0", "--data-source", "offline",
           "--disable-tqdm"]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "vae-mnist"
    assert main(["train", "vae", "--output-dir", str(out), *VAE_RUN]) == 0
    return out, json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_a_short_vae_run_learns_and_evaluate_reproduces_it_in_a_fresh_process(vae_run):
    from accelerate.utils import set_seed

    from classicnets.data import DATASETS
    from classicnets.training.representation import evaluate_representation_folder

    out, metrics = vae_run
    # The same model at initialisation (run_training seeds before building it), on the whole binarized test split.
    set_seed(0)
    initial = VAEModel(VAEConfig(latent_size=8, hidden_sizes=(256,)))
    folder_config = json.loads((out / "config.json").read_text())
    assert folder_config["latent_size"] == 8 and folder_config["hidden_sizes"] == [256]
    with tempfile.TemporaryDirectory() as tmp:
        initial.save_pretrained(tmp)
        start = evaluate_representation_folder(tmp, DATASETS["mnist"], data_source="offline", importance_samples=0)
    assert start["elbo"] < -500  # ~ -784 ln 2 = -543: a decoder that knows nothing
    # 90 updates on 3,000 images: the test ELBO climbs by more than 300 nats.
    assert metrics["test_elbo"] > -190 and metrics["test_elbo"] > start["elbo"] + 300, metrics
    assert metrics["test_nll"] < -metrics["test_elbo"] and metrics["test_nll_samples"] == 20
    assert metrics["test_kl"] > 5  # the latent code is used
    args = json.loads((out / "training_args.json").read_text())
    assert args["binarize"] == "dynamic" and args["importance_samples"] == 20

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "classicnets", "evaluate", str(out), "--data-source", "offline"],
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout[done.stdout.index("{"):])
    assert result["model_class"] == "VAEModel" and result["num_examples"] == 500
    assert result["binarization"] == "fixed (seed 0)" and result["matches_training"] is True
    assert set(result["at_training"]) == {"loss", "elbo", "reconstruction", "kl", "nll"}
    assert result["nll"] == pytest.approx(metrics["test_nll"], rel=1e-6)


@pytest.mark.slow
def test_the_vae_folder_has_pictures_a_card_and_a_feature_extraction_pipeline(vae_run):
    import numpy as np
    import PIL.Image
    from transformers import AutoModel, pipeline

    out, metrics = vae_run
    pictures = ("reconstructions.png", "samples.png", "interpolation.png", "latent_space.png")
    for name in pictures:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    text = (out / "README.md").read_text()
    card = ModelCard.load(out / "README.md")
    assert card.data.pipeline_tag == "image-feature-extraction"
    assert all(f"]({name})" in text for name in pictures)
    assert "dynamically binarized" in text and "k = 20" in text and "first two principal components" in text
    indexed = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert indexed["elbo"] == metrics["test_elbo"] and indexed["nll"] == metrics["test_nll"]
    assert "nll_samples" not in indexed  # k is a setting (said in the text), not a result
    assert "Radford" not in text and "Importance Weighted Autoencoders" in text  # the VAE's own references

    model = AutoModel.from_pretrained(out)
    assert type(model) is VAEModel
    digit = np.array(load_dataset("mnist", source="offline")["test"][0]["image"], dtype=np.uint8)
    features = torch.tensor(pipeline("image-feature-extraction", model=str(out), device="cpu")(PIL.Image.fromarray(digit)))
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(digit).float()[None, None] / 255)  # intensities in [0, 1], as trained
    torch.testing.assert_close(features.reshape(1, -1), mu, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_a_denoising_autoencoder_run_on_digits(tmp_path, digits):
    from classicnets.evaluation import evaluate_folder

    out = tmp_path / "dae"
    code = main(["train", "autoencoder", "--dataset", "digits", "--output-dir", str(out), "--latent-size", "8",
                 "--hidden-sizes", "64", "--config-overrides", "corruption=masking,corruption_level=0.3,"
                 "reconstruction_loss=bce", "--epochs", "4", "--per-device-train-batch-size", "64",
                 "--learning-rate", "1e-2", "--seed", "0", "--data-source", "offline", "--disable-tqdm"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # The baseline without a code: every pixel predicted by its mean training intensity (27.2 nats, MSE 0.074).
    (train, _), (test, _) = digits
    p = (train.double() / 255).mean(0).clamp(1e-4, 1 - 1e-4)
    x = test.double() / 255
    baseline = -(x * p.log() + (1 - x) * (1 - p).log()).sum(dim=(1, 2, 3)).mean().item()
    baseline_mse = (x - p).pow(2).mean().item()
    # 88 updates with an 8-unit code, trained on masked inputs, reconstruct the clean test digits far better
    # (measured: 20.8 nats, MSE 0.034).
    assert metrics["test_loss"] < baseline - 4 and metrics["test_mse"] < 0.6 * baseline_mse, (metrics, baseline)
    files = {p.name for p in out.iterdir()}
    assert {"reconstructions.png", "interpolation.png", "latent_space.png"} <= files and "samples.png" not in files
    result = evaluate_folder(str(out), "digits", data_source="offline")
    assert result["model_class"] == "AutoencoderModel" and result["matches_training"] is True
    text = (out / "README.md").read_text()
    assert "masking noise" in text and "binary cross-entropy" in text


# ------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["vae", "--dataset", "digits", "--latent-size", "0"], "latent_size must be a positive int .* got 0"),
        (["autoencoder", "--dataset", "tiny_shakespeare"],
         "tiny_shakespeare is a text-generation dataset, which autoencoder does not train"),
        (["autoencoder", "--dataset", "digits", "--binarize", "dynamic"], "--binarize and --importance-samples are for vae"),
        (["cnn", "--dataset", "digits", "--importance-samples", "10"], "--binarize and --importance-samples are for vae"),
        (["vae", "--dataset", "digits", "--binarize", "fixed", "--config-overrides", "decoder_distribution=gaussian"],
         "--binarize fixed makes the images binary.*use --binarize none"),
        (["vae", "--dataset", "digits", "--augment", "shift"], "drop --augment shift"),
        (["vae", "--dataset", "digits", "--importance-samples", "-1"], "--importance-samples must be an int >= 0"),
        (["autoencoder", "--dataset", "mnist", "--config-overrides", "architecture=conv,conv_channels=[8,16,32]"],
         "cannot be reproduced by the convolutional decoder"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(capsys, tmp_path, argv, message):
    out = tmp_path / "never"
    code = main(["train", *argv, "--output-dir", str(out), "--data-source", "offline", "--disable-tqdm"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert re.search(message, err), err
    assert not out.exists()
