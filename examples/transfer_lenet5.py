"""Transfer learning: a LeNet-5 pretrained on MNIST, fine-tuned on a few hundred Fashion-MNIST images.

The question of Yosinski et al. (2014, "How transferable are features in deep neural networks?") on a small
scale: do features learned on handwritten digits help to classify clothing when only a few hundred labelled
images exist, and should the pretrained layers be frozen, fine-tuned, or fine-tuned more slowly?

1. Pretrain LeNet-5 on all 60,000 MNIST digits with the README's recipe (8 epochs, about a minute), or
   reuse a folder given with ``--pretrained``.
2. For each number of labelled Fashion-MNIST images N and each seed, train on the same N images (a seeded
   sample of the training set) with the same recipe and budget, five ways:
   ``scratch`` (random initialisation), ``fine-tune`` (every layer from the MNIST weights),
   ``fine-tune, trunk lr x0.1`` (discriminative learning rates: the pretrained trunk at a tenth of the
   head's), ``frozen convolutions`` (the two conv stages frozen, F5, F6 and the new head trained) and
   ``linear probe`` (the whole trunk frozen, only the new 10-way output layer trained).
3. Evaluate every model on the official 10,000 Fashion-MNIST test images; print one JSON line per run and
   a table of mean +- standard deviation over the seeds, also written to ``results.md`` / ``results.json``.

Run (about 4 minutes on two CPU cores; each fine-tuning run takes a few seconds):

    python examples/transfer_mnist_fashion.py --num-examples 100 300 --seeds 0 1 2 3 4

The same fine-tuning from the command line, for one seed:

    classicnets train cnn --init-from runs/lenet5-mnist --dataset fashion_mnist --train-subset 300 \
        --max-steps 400 --per-device-train-batch-size 32 --learning-rate 3e-3 --lr-scheduler one_cycle \
        --weight-decay 0.05 --augment shift --eval-steps 400 --save-steps 400 --output-dir runs/lenet5-fashion-ft
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from transformers.utils import logging as hf_logging

from classicnets.training import TrainingArguments, run_training

hf_logging.disable_progress_bar()

PRETRAIN = {"num_train_epochs": 8, "learning_rate": 5e-3, "lr_scheduler_type": "one_cycle", "weight_decay": 0.05,
            "label_smoothing": 0.1, "augment": "shift", "max_shift": 2, "per_device_train_batch_size": 128}
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


def pretrain(output_dir: Path) -> Path:
    out = output_dir / "lenet5-mnist"
    if (out / "config.json").is_file():
        print(f"reusing the pretrained model in {out}", flush=True)
        return out
    args = TrainingArguments(output_dir=str(out), overwrite_output_dir=True, seed=0, disable_tqdm=True, **PRETRAIN)
    metrics = run_training("cnn", "mnist", args, preset="lenet5", data_source="offline")
    print(json.dumps({"pretrained": str(out), "mnist_test_accuracy": metrics["test_accuracy"]}), flush=True)
    return out


def fine_tune(method: str, pretrained: Path, n: int, seed: int, output_dir: Path) -> dict:
    options = dict(METHODS[method])
    if options.pop("init_from", False):
        options["init_from"] = str(pretrained)
    slug = method.replace(",", "").replace(" ", "-").replace(".", "")
    out = output_dir / f"n{n}" / slug / f"seed-{seed}"
    args = TrainingArguments(output_dir=str(out), overwrite_output_dir=True, seed=seed, disable_tqdm=True,
                             train_subset=n, **FINETUNE, **options)
    metrics = run_training("cnn", "fashion_mnist", args, preset=None if "init_from" in options else "lenet5",
                           data_source="offline")
    row = {"method": method, "num_examples": n, "seed": seed, "test_accuracy": metrics["test_accuracy"],
           "train_runtime_s": round(metrics["train_runtime"], 2)}
    print(json.dumps(row), flush=True)
    return row


def summarise(rows: list[dict], sizes: list[int]) -> tuple[list[dict], str]:
    summary, lines = [], []
    header = "| method | " + " | ".join(f"N = {n}" for n in sizes) + " |"
    lines += [header, "|---|" + "---|" * len(sizes)]
    for method in METHODS:
        cells = []
        for n in sizes:
            acc = [r["test_accuracy"] for r in rows if r["method"] == method and r["num_examples"] == n]
            mean, std = statistics.mean(acc), statistics.stdev(acc) if len(acc) > 1 else 0.0
            summary.append({"method": method, "num_examples": n, "seeds": len(acc), "test_accuracy_mean": round(mean, 4),
                            "test_accuracy_std": round(std, 4), "test_accuracy_min": min(acc),
                            "test_accuracy_max": max(acc)})
            cells.append(f"{100 * mean:.2f} +- {100 * std:.2f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return summary, "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-examples", type=int, nargs="+", default=[100, 300],
                        help="labelled Fashion-MNIST training images per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--pretrained", default=None, help="an MNIST LeNet-5 folder to reuse (default: pretrain one)")
    parser.add_argument("--output-dir", default="runs/examples/transfer")
    ns = parser.parse_args()
    output_dir = Path(ns.output_dir)
    pretrained = Path(ns.pretrained) if ns.pretrained else pretrain(output_dir)
    rows = [fine_tune(method, pretrained, n, seed, output_dir)
            for n in ns.num_examples for method in METHODS for seed in ns.seeds]
    summary, table = summarise(rows, ns.num_examples)
    (output_dir / "results.json").write_text(json.dumps({"runs": rows, "summary": summary}, indent=2))
    (output_dir / "results.md").write_text(
        f"Fashion-MNIST test accuracy (%), 10,000 test images, mean +- std over seeds {ns.seeds}:\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
