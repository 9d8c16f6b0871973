"""Runs every benchmark, one after the other, and prints a table of their ratios against their targets.

Each benchmark is a separate process (so one's warm caches or threads cannot help another) and prints JSON
lines; the last line of each is its summary. Run: ``make bench`` or ``python benchmarks/run_all.py``
(about 12 minutes on two CPU cores). ``--only NAME ...`` runs a subset.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# name -> (script arguments, what it measures)
BENCHMARKS = {
    "train_step": ([], "(a) training-step throughput, classicnets train vs a hand-written loop (>= 0.97)"),
    "train_step_no_augment": (["--max-shift", "0"], "(a) the same without augmentation: the loop's own cost"),
    "from_pretrained": ([], "(b) from_pretrained vs a bare safetensors load into a built model (<= 1.3)"),
    "time_to_accuracy": ([], "(c) LeNet-5 time to 99.3% MNIST test accuracy, CLI vs hand-written (<= 1.1)"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    ns = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    summaries = []
    for name in ns.only:
        arguments, what = BENCHMARKS[name]
        print(f"== {name}: {what}", flush=True)
        script = HERE / f"{name.removesuffix('_no_augment')}.py"
        done = subprocess.run([sys.executable, str(script), *arguments], env=env, capture_output=True, text=True,
                              check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        print("\n".join(lines), flush=True)
        if done.returncode != 0 or not lines:
            print(done.stderr[-3000:], file=sys.stderr)
            summaries.append({"benchmark": name, "met": False, "error": f"exit status {done.returncode}"})
            continue
        # from_pretrained prints one summary per model size; the others one summary at the end.
        results = [json.loads(line) for line in lines if "met" in json.loads(line)]
        summaries.extend(results)
    print("\n== summary")
    for s in summaries:
        label = s["benchmark"] + (f" [{s['model']}]" if "model" in s else "")
        label += " (no augmentation)" if s.get("max_shift") == 0 else ""
        ratio = s.get("ratio", s.get("ratio_median"))
        print(f"{label:40s} ratio {ratio!s:>8s}  target {s.get('target', '-'):>8s}  met: {s['met']}")
    return 0 if all(s["met"] for s in summaries) else 1


if __name__ == "__main__":
    raise SystemExit(main())
