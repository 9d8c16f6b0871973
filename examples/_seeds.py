"""Shared by the examples: train one recipe over several seeds, reload each model, summarise the spread."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from transformers.utils import logging as hf_logging

from classicnets.evaluation import evaluate_folder
from classicnets.training import TrainingArguments, run_training

hf_logging.disable_progress_bar()  # one JSON line per run is the output; no "Loading weights" bars


def run_seeds(arch: str, dataset: str, seeds: list[int], output_root: str, preset: str | None = None,
              config_overrides: dict | None = None, **training_kwargs) -> dict:
    """Trains ``arch`` on ``dataset`` once per seed into ``output_root/seed-<s>``; returns the summary.

    Every saved folder is loaded back with ``AutoModelForImageClassification`` and evaluated again, and the
    example fails if that does not reproduce the accuracy measured at the end of training.
    """
    runs = []
    for seed in seeds:
        out = Path(output_root) / f"seed-{seed}"
        args = TrainingArguments(output_dir=str(out), overwrite_output_dir=True, seed=seed, disable_tqdm=True,
                                 **training_kwargs)
        metrics = run_training(arch, dataset, args, preset=preset, config_overrides=config_overrides,
                               data_source="offline")
        reloaded = evaluate_folder(str(out), dataset, data_source="offline")
        if reloaded["accuracy"] != metrics["test_accuracy"]:
            raise RuntimeError(f"{out}: reloaded accuracy {reloaded['accuracy']} != {metrics['test_accuracy']}")
        runs.append({"seed": seed, "test_accuracy": metrics["test_accuracy"], "test_loss": metrics["test_loss"],
                     "train_runtime_s": metrics["train_runtime"], "folder": str(out)})
        print(json.dumps(runs[-1]), flush=True)
    accuracies = [r["test_accuracy"] for r in runs]
    summary = {
        "arch": arch, "preset": preset, "dataset": dataset, "seeds": seeds,
        "test_accuracy_mean": round(statistics.mean(accuracies), 5),
        "test_accuracy_std": round(statistics.stdev(accuracies), 5) if len(runs) > 1 else 0.0,
        "test_accuracy_min": min(accuracies),
        "train_runtime_s_max": max(r["train_runtime_s"] for r in runs),
    }
    print(json.dumps(summary), flush=True)
    return summary


def main(doc: str, arch: str, dataset: str, default_output: str, **kwargs) -> dict:
    """The examples' command line: ``--seeds`` and ``--output-dir``, then :func:`run_seeds` with ``kwargs``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output-dir", default=default_output)
    ns = parser.parse_args()
    return run_seeds(arch, dataset, ns.seeds, ns.output_dir, **kwargs)
