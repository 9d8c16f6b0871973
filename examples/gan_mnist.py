r"""GANs on MNIST (and Fashion-MNIST): the MLP GAN against DCGAN at the same training budget, and how often the
class-conditional GAN draws the digit it is asked for. The numbers in model_cards/gan.md come from this script.

Every run is ``classicnets train gan`` from Python (:func:`classicnets.training.gan_runner.run_gan_training`): the
same number of steps, batch size, Adam settings (--learning-rate, 2e-4 by default; betas 0.5/0.999) and seed for every
preset, then the Fréchet distance between 10,000 samples and the 10,000 test images in the feature space of the library's own LeNet-5
reference classifier (built once, cached; no download), the real-data floor (10,000 training images against the
test images), and for the conditional GAN the fraction of class-balanced samples that the reference classifier
assigns to the requested class. The script prints one JSON line per run and a summary with the two checks of
the project's targets: DCGAN's distance below the MLP GAN's, and the conditional accuracy >= 0.95.

Run (CPU, one thread per run; on a 2-core machine shared with one other job, 5,000 steps take ~11 min for the
DCGAN, ~6 min for the MLP GAN and the conditional DCGAN):

    python examples/gan_mnist.py --datasets mnist --max-steps 5000 --curve-every 2500
    python examples/gan_mnist.py --datasets mnist --presets mlp dcgan --learning-rate 5e-4 --curve-every 2500
    python examples/gan_mnist.py --datasets fashion_mnist

(At Radford et al.'s 2e-4 the MLP GAN is the closer one on MNIST from 5,000 steps on; at 5e-4 for both, the DCGAN
is, at 2,500 and 5,000 steps; see the card.)

The DCGANs are narrower than the presets' defaults to fit a CPU budget: the unconditional DCGAN has G 128-64 (the
preset's D, 64-128), the conditional one G 64-32 and D 32-64; pass ``--config-overrides '{}'`` for the presets' own
widths. ``--curve-every N`` also measures every N-th step's checkpoint, which gives the comparison at every budget.

The same runs from the command line:

    classicnets train gan --preset dcgan --dataset mnist --output-dir runs/dcgan-mnist --max-steps 5000 \
        --per-device-train-batch-size 64 --config-overrides "generator_hidden_sizes=[128,64]"
    classicnets train gan --preset conditional --dataset mnist --output-dir runs/cgan-mnist --max-steps 5000 \
        --per-device-train-batch-size 64 --config-overrides "generator_hidden_sizes=[64,32],discriminator_hidden_sizes=[32,64]"
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from transformers.utils import logging as hf_logging

from classicnets.generative_metrics import load_reference_classifier
from classicnets.training import TrainingArguments
from classicnets.training.gan_runner import run_gan_training

hf_logging.disable_progress_bar()

# DCGAN widths that fit a CPU budget (the presets' defaults, G 256-128 and D 64-128, are ~2x slower per step than
# G 128-64 and ~5x slower than G 64-32 / D 32-64).
DEFAULT_OVERRIDES = {
    "dcgan": {"generator_hidden_sizes": [128, 64]},
    "conditional": {"generator_hidden_sizes": [64, 32], "discriminator_hidden_sizes": [32, 64]},
}


def distance_curve(folder: Path, dataset: str, reference, num_samples: int, seed: int) -> dict[int, float]:
    """The Frechet distance of the weights in each of the run's checkpoints, measured exactly as the final one
    (same samples' seed, same test and training images)."""
    from safetensors.torch import load_file
    from transformers import AutoModel

    from classicnets.data import image_tensors, load_dataset
    from classicnets.training.checkpointing import list_checkpoints
    from classicnets.training.gan_runner import evaluate_gan

    splits = load_dataset(dataset, source="offline")
    train, test = image_tensors(splits["train"])[0], image_tensors(splits["test"])[0]
    model = AutoModel.from_pretrained(folder)
    curve = {}
    for checkpoint in list_checkpoints(folder / "checkpoints"):
        model.load_state_dict(load_file(checkpoint / "model.safetensors"))
        step = int(checkpoint.name.split("-")[1])
        metrics = evaluate_gan(model.eval(), reference, test, train, num_samples, seed=seed + 1)
        curve[step] = round(metrics["test_frechet_distance"], 3)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["mnist"], choices=("mnist", "fashion_mnist"))
    parser.add_argument("--presets", nargs="+", default=["mlp", "dcgan", "conditional"],
                        choices=("mlp", "dcgan", "conditional"))
    parser.add_argument("--max-steps", type=int, default=5000, help="GAN steps (one D and one G update each)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-eval-samples", type=int, default=10_000)
    parser.add_argument("--config-overrides", default=json.dumps(DEFAULT_OVERRIDES),
                        help='JSON {preset: {field: value}} applied to the presets, e.g. \'{"dcgan": '
                             '{"generator_hidden_sizes": [128, 64]}}\'')
    parser.add_argument("--output-root", default="runs/examples/gan")
    parser.add_argument("--curve-every", type=int, default=0,
                        help="also keep a checkpoint every N steps and measure the Frechet distance at each: the "
                             "curve of distance against training budget (0: only at the end)")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads; these small networks run fastest on one thread of a busy 2-core CPU")
    ns = parser.parse_args()
    torch.set_num_threads(ns.threads)
    overrides = json.loads(ns.config_overrides) if ns.config_overrides else {}

    results = []
    for dataset in ns.datasets:
        start = time.perf_counter()
        reference = load_reference_classifier(dataset, data_source="offline")
        print(json.dumps({"dataset": dataset, "reference_classifier": str(reference.path),
                          "reference_test_accuracy": reference.test_accuracy,
                          "seconds": round(time.perf_counter() - start, 1)}), flush=True)
        for preset in ns.presets:
            out = Path(ns.output_root) / f"{preset}-{dataset}"
            curve = {}
            saving = (dict(save_steps=ns.curve_every, save_total_limit=max(1, ns.max_steps // ns.curve_every))
                      if ns.curve_every else {})
            args = TrainingArguments(output_dir=str(out), overwrite_output_dir=True, seed=ns.seed,
                                     max_steps=ns.max_steps, per_device_train_batch_size=ns.batch_size,
                                     learning_rate=ns.learning_rate, logging_steps=100, disable_tqdm=True, **saving)
            metrics = run_gan_training(dataset, args, preset=preset, config_overrides=overrides.get(preset),
                                       data_source="offline", num_eval_samples=ns.num_eval_samples)
            if ns.curve_every:
                curve = distance_curve(out, dataset, reference, ns.num_eval_samples, ns.seed)
            row = {"dataset": dataset, "preset": preset, "max_steps": ns.max_steps, "batch_size": ns.batch_size,
                   "frechet_distance": round(metrics["test_frechet_distance"], 3),
                   "real_data_floor": round(metrics["real_data_frechet_distance"], 3),
                   "conditional_accuracy": metrics.get("test_conditional_accuracy"),
                   "diversity": round(metrics["train_diversity"], 3),
                   "train_runtime_s": metrics["train_runtime"], "folder": str(out)}
            if curve:
                row["frechet_distance_by_step"] = curve
            results.append(row)
            print(json.dumps(row), flush=True)

    summary = {}
    for dataset in ns.datasets:
        by_preset = {r["preset"]: r for r in results if r["dataset"] == dataset}
        if "mlp" in by_preset and "dcgan" in by_preset:
            summary[f"{dataset}_dcgan_beats_mlp"] = (by_preset["dcgan"]["frechet_distance"]
                                                    < by_preset["mlp"]["frechet_distance"])
            dcgan_curve = by_preset["dcgan"].get("frechet_distance_by_step", {})
            mlp_curve = by_preset["mlp"].get("frechet_distance_by_step", {})
            if dcgan_curve and mlp_curve:  # the same comparison at every budget both curves measured
                summary[f"{dataset}_dcgan_beats_mlp_by_step"] = {
                    step: dcgan_curve[step] < mlp_curve[step] for step in dcgan_curve if step in mlp_curve}
        if "conditional" in by_preset:
            summary[f"{dataset}_conditional_accuracy_at_least_0.95"] = (
                by_preset["conditional"]["conditional_accuracy"] >= 0.95)
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
