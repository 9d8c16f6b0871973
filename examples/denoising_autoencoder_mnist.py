"""A denoising autoencoder against a plain one of the same size: which one cleans up corrupted MNIST digits?

Vincent, Larochelle, Bengio & Manzagol (ICML 2008) train an autoencoder to rebuild the clean image ``x`` from a
corrupted copy ``x~`` (here masking noise: each pixel is set to 0 with probability 0.3). This script trains two
784-256-32 ReLU autoencoders with a Bernoulli (bce) reconstruction loss under the same recipe and seed, one on clean
inputs and one with masking noise, both with ``classicnets train autoencoder`` from Python
(:func:`classicnets.training.run_training`). It then feeds both the 10,000 test digits corrupted with a fixed seed
and measures how far each reconstruction is from the *clean* digit (squared error per pixel), beside the error of
the corrupted input itself. It also measures both on clean test digits, the price the denoiser pays there.

The command line equivalent of the denoising run::

    classicnets train autoencoder --dataset mnist --output-dir runs/dae-mnist --latent-size 32 --hidden-sizes 256 \\
        --config-overrides "corruption=masking,corruption_level=0.3,reconstruction_loss=bce" --epochs 10 \\
        --per-device-train-batch-size 128 --learning-rate 1e-3 --seed 0

Usage: ``python examples/denoising_autoencoder_mnist.py [--epochs 10] [--output-root runs/examples/dae]``; prints
one JSON line per model and a summary, and writes ``denoising.png`` (rows: clean, corrupted, plain autoencoder,
denoising autoencoder) under the output root.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import AutoModel
from transformers.utils import logging as hf_logging

from classicnets.data import image_tensors, load_dataset
from classicnets.plots import plot_image_grid
from classicnets.training import TrainingArguments, run_training

hf_logging.disable_progress_bar()

TEST_CORRUPTION_SEED = 1234  # the same corrupted test set for both models and every run


@torch.no_grad()
def squared_error_per_pixel(model, inputs: torch.Tensor, clean: torch.Tensor, batch_size: int = 1000) -> float:
    """Mean over images and pixels of (reconstruction of ``inputs`` - ``clean``)^2; intensities in [0, 1]."""
    total = 0.0
    for start in range(0, len(inputs), batch_size):
        rebuilt = model.reconstruct(inputs[start:start + batch_size])
        total += (rebuilt - clean[start:start + batch_size]).pow(2).sum().item()
    return total / clean.numel()


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--noise", type=float, default=0.3, help="masking probability, in training and at test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-root", default="runs/examples/dae")
    ns = parser.parse_args()
    root = Path(ns.output_root)
    common = {"hidden_sizes": [256], "latent_size": 32, "hidden_act": "relu", "reconstruction_loss": "bce"}
    variants = {"plain": {**common, "corruption": "none"},
                "denoising": {**common, "corruption": "masking", "corruption_level": ns.noise}}

    split = load_dataset("mnist", source="offline")["test"]
    clean = image_tensors(split)[0].float() / 255.0  # (10000, 1, 28, 28) in [0, 1]
    keep = torch.rand(clean.shape, generator=torch.Generator().manual_seed(TEST_CORRUPTION_SEED)) >= ns.noise
    corrupted = clean * keep

    rows, models = [], {}
    for name, overrides in variants.items():
        out = root / name
        args = TrainingArguments(output_dir=str(out), overwrite_output_dir=True, seed=ns.seed,
                                 num_train_epochs=ns.epochs, per_device_train_batch_size=128, learning_rate=1e-3,
                                 logging_steps=500, disable_tqdm=True)
        start = time.perf_counter()
        metrics = run_training("autoencoder", "mnist", args, config_overrides=overrides, data_source="offline")
        model = AutoModel.from_pretrained(out).eval()  # the saved folder, as a user loads it
        models[name] = model
        row = {"model": name, "corruption": overrides["corruption"], "epochs": ns.epochs,
               "test_bce_clean_inputs": round(metrics["test_loss"], 3),
               "mse_clean_inputs": round(squared_error_per_pixel(model, clean, clean), 5),
               "mse_corrupted_inputs": round(squared_error_per_pixel(model, corrupted, clean), 5),
               "train_runtime_s": metrics["train_runtime"], "total_s": round(time.perf_counter() - start, 1),
               "folder": str(out)}
        rows.append(row)
        print(json.dumps(row), flush=True)

    by = {r["model"]: r for r in rows}
    summary = {
        "test_corruption": f"masking {ns.noise} (seed {TEST_CORRUPTION_SEED})",
        "mse_of_the_corrupted_input_itself": round((corrupted - clean).pow(2).mean().item(), 5),
        "plain_on_corrupted": by["plain"]["mse_corrupted_inputs"],
        "denoising_on_corrupted": by["denoising"]["mse_corrupted_inputs"],
        "denoising_beats_plain_on_corrupted": by["denoising"]["mse_corrupted_inputs"]
        < by["plain"]["mse_corrupted_inputs"],
    }
    picked = torch.arange(10) * 7  # ten test digits
    with torch.no_grad():
        grid = torch.cat([clean[picked], corrupted[picked], models["plain"].reconstruct(corrupted[picked]),
                          models["denoising"].reconstruct(corrupted[picked])])
    plot_image_grid(grid, root / "denoising.png", ncol=10,
                    row_labels=["clean", "corrupted", "plain AE", "denoising AE"],
                    title=f"Masking noise {ns.noise}: reconstructions of the corrupted digits")
    summary["picture"] = str(root / "denoising.png")
    print(json.dumps({"summary": summary}), flush=True)
    return summary


if __name__ == "__main__":
    main()
