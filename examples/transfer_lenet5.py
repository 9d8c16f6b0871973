"""Transfer learning with LeNet-5: pretrained features against training from scratch on a few hundred images.

The question of Yosinski et al. (2014, "How transferable are features in deep neural networks?") on a small
scale, in two experiments:

* ``digits``: split MNIST's classes in two, as Yosinski et al. split ImageNet's. Pretrain LeNet-5 on all
  training images of the digits 0-4 (30,596), then learn the digits 5-9 from N labelled images; test on
  the 4,861 official test images of 5-9. Same kind of images, new classes.
* ``fashion``: pretrain LeNet-5 on all 60,000 MNIST digits, then learn Fashion-MNIST's 10 clothing classes
  from N labelled images; test on its 10,000 test images. Same image format, another domain.

For each N and seed, the same N images (a seeded sample) and the same recipe and budget train five ways:
``scratch`` (random initialisation), ``fine-tune`` (every layer from the pretrained weights, with a new
output layer), ``fine-tune, trunk lr x0.1`` (discriminative learning rates: the pretrained trunk at a
tenth of the head's), ``frozen convolutions`` (conv stages frozen; F5, F6 and the new head trained) and
``linear probe`` (the whole trunk frozen; only the new output layer trained). The script prints one JSON
line per run and a table of mean +- standard deviation over the seeds, and writes ``results.md`` and
``results.json``; model_cards/cnn.md reports the numbers.

Run (about 12 minutes on two CPU cores; each fine-tuning run takes a few seconds):

    python examples/transfer_lenet5.py --experiments digits fashion --num-examples 100 300 \
        --seeds 0 1 2 3 4

The ``digits`` experiment from the command line, for one seed and N = 100:

    classicnets train cnn --preset lenet5 --dataset mnist --classes 0 1 2 3 4 --epochs 4 \
        --learning-rate 5e-3 --lr-scheduler one_cycle --weight-decay 0.05 --label-smoothing 0.1 \
        --augment shift --output-dir runs/lenet5-mnist-0to4
    classicnets train cnn --init-from runs/lenet5-mnist-0to4 --dataset mnist --classes 5 6 7 8 9 \
        --train-subset 100 --max-steps 400 --per-device-train-batch-size 32 --learning-rate 3e-3 \
        --lr-scheduler one_cycle --weight-decay 0.05 --augment shift --eval-steps 400 --save-steps 400 \
        --output-dir runs/lenet5-mnist-5to9-ft
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from transformers.utils import logging as hf_logging

from classicnets.training import TrainingArguments, run_training

hf_logging.disable_progress_bar()

PRETRAIN = {"learning_rate": 5e-3, "lr_scheduler_type": "one_cycle", "weight_decay": 0.05, "label_smoothing": 0.1,
            "augment": "shift", "max_shift": 2, "per_device_train_batch_size": 128}
# name -> (dataset and classes to pretrain on, epochs, dataset and classes of the new task)
EXPERIMENTS = {
    "digits": (("mnist", (0, 1, 2, 3, 4)), 4, ("mnist", (5, 6, 7, 8, 9))),
    "fashion": (("mnist", None), 8, ("fashion_mnist", None)),
}
# One recipe and one budget for every method: 400 updates of 32 images (43 epochs of 300 images). With a few
# hundred images an epoch is a few updates, so evaluation and checkpoints happen once, at the end, not per epoch.
FINETUNE = {"max_steps": 400, "per_device_train_batch_size": 32, "learning_rate": 3e-3, "lr_scheduler_type": "one_cycle",
            "weight_decay": 0.05, "augment": "shift", "max_shift": 2, "eval_steps": 400, "save_steps": 400}
METHODS = {
    "scratch": {},
    "fine-tune": {"init_from": True},
    "fine-tune, trunk lr x0.1": {"init_from": True, "backbone_lr_scale": 0.1},
    "frozen convolutions": {"init_from": True, "freeze_up_to": "cnn.stages.1"},
    "linear probe": {"init_from": True, "freeze_backbone": True},
}


def pretrain(experiment: str, output_dir: Path) -> Path:
    (dataset, classes), epochs, _ = EXPERIMENTS[experiment]
    out = output_dir / "pretrained"
    if (out / "config.json").is_file():
        print(f"reusing the pretrained model in {out}", flush=True)
        return out
    args = TrainingArguments(output_dir=str(out), overwrite_output_dir=True, seed=0, disable_tqdm=True,
                             num_train_epochs=epochs, classes=classes, **PRETRAIN)
    metrics = run_training("cnn", dataset, args, preset="lenet5", data_source="offline")
    print(json.dumps({"experiment": experiment, "pretrained": str(out), "test_accuracy": metrics["test_accuracy"]}),
          flush=True)
    return out


def fine_tune(experiment: str, method: str, pretrained: Path, n: int, seed: int, output_dir: Path) -> dict:
    _, _, (dataset, classes) = EXPERIMENTS[experiment]
    options = dict(METHODS[method])
    if options.pop("init_from", False):
        options["init_from"] = str(pretrained)
    slug = method.replace(",", "").replace(" ", "-").replace(".", "")
    out = output_dir / f"n{n}" / slug / f"seed-{seed}"
    args = TrainingArguments(output_dir=str(out), overwrite_output_dir=True, seed=seed, disable_tqdm=True,
                             train_subset=n, classes=classes, **FINETUNE, **options)
    metrics = run_training("cnn", dataset, args, preset=None if "init_from" in options else "lenet5",
                           data_source="offline")
    row = {"experiment": experiment, "method": method, "num_examples": n, "seed": seed,
           "test_accuracy": metrics["test_accuracy"], "train_runtime_s": round(metrics["train_runtime"], 2)}
    print(json.dumps(row), flush=True)
    return row


def summarise(rows: list[dict], sizes: list[int]) -> tuple[list[dict], str]:
    """Mean, spread and the mean paired difference to ``scratch`` (same seed, same images) per method and N."""
    summary, lines = [], []
    lines += ["| method | " + " | ".join(f"N = {n}" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for method in METHODS:
        cells = []
        for n in sizes:
            runs = {r["seed"]: r["test_accuracy"] for r in rows if r["method"] == method and r["num_examples"] == n}
            scratch = {r["seed"]: r["test_accuracy"] for r in rows if r["method"] == "scratch" and r["num_examples"] == n}
            acc = list(runs.values())
            mean, std = statistics.mean(acc), statistics.stdev(acc) if len(acc) > 1 else 0.0
            gains = [runs[s] - scratch[s] for s in runs if s in scratch]
            summary.append({"method": method, "num_examples": n, "seeds": len(acc), "test_accuracy_mean": round(mean, 4),
                            "test_accuracy_std": round(std, 4), "test_accuracy_min": min(acc),
                            "test_accuracy_max": max(acc), "gain_over_scratch_mean": round(statistics.mean(gains), 4),
                            "beats_scratch_in_seeds": sum(g > 0 for g in gains)})
            cell = f"{100 * mean:.2f} +- {100 * std:.2f}"
            if method != "scratch":
                cell += f" ({100 * statistics.mean(gains):+.2f}; {sum(g > 0 for g in gains)}/{len(gains)})"
            cells.append(cell)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return summary, "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", nargs="+", choices=tuple(EXPERIMENTS), default=list(EXPERIMENTS))
    parser.add_argument("--num-examples", type=int, nargs="+", default=[100, 300],
                        help="labelled training images of the new task per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--output-dir", default="runs/examples/transfer")
    ns = parser.parse_args()
    report = []
    for experiment in ns.experiments:
        output_dir = Path(ns.output_dir) / experiment
        pretrained = pretrain(experiment, output_dir)
        rows = [fine_tune(experiment, method, pretrained, n, seed, output_dir)
                for n in ns.num_examples for method in METHODS for seed in ns.seeds]
        summary, table = summarise(rows, ns.num_examples)
        (output_dir / "results.json").write_text(json.dumps({"runs": rows, "summary": summary}, indent=2))
        (_, _, (dataset, classes)) = EXPERIMENTS[experiment]
        what = f"{dataset}" + (f" classes {list(classes)}" if classes else "")
        text = (f"### {experiment}: test accuracy (%) on {what}, mean +- std over seeds {ns.seeds}\n"
                f"(in brackets: mean gain over scratch on the same seed and images; seeds where it is positive)\n\n"
                f"{table}\n")
        (output_dir / "results.md").write_text(text)
        report.append(text)
    print("\n".join(report))


if __name__ == "__main__":
    main()
