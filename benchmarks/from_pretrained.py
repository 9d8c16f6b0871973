"""Benchmark (b): ``from_pretrained`` against a bare safetensors load into an already built model.

For each model size, one checkpoint folder is written with ``save_pretrained``; then, alternately and
``--repeats`` times each, in the same process:

- **from_pretrained**: ``AutoModelForImageClassification.from_pretrained(folder)``, what users call. It reads
  ``config.json``, builds the model (on the meta device in transformers 5), and loads ``model.safetensors``.
- **bare load**: ``model.load_state_dict(safetensors.torch.load_file(folder / "model.safetensors"))`` into a
  model that already exists: the least work that gets the weights into a model.

The first ``from_pretrained`` of a process pays about a second of one-off set-up (lazy imports, the
Auto-class tables); a warm-up call absorbs it, as it would in any process that loads more than once. The
ratio is median(from_pretrained) / median(bare load); the target is <= 1.3. Small models are dominated by the
fixed cost of reading a config and building modules (milliseconds), large ones by reading the weights, so the
ratio is reported per size together with the fixed cost in milliseconds.

Run: ``python benchmarks/from_pretrained.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageClassification
from transformers.utils import logging as hf_logging

from classicnets import CNNConfig, CNNForImageClassification, MLPConfig, MLPForImageClassification

TARGET = 1.3

MODELS = {
    # LeNet-5 (61.7k parameters, 0.25 MB): the demo's model.
    "lenet5": lambda: CNNForImageClassification(CNNConfig.lenet5(num_labels=10)),
    # The 784-800-800-10 MLP of the MNIST tables (1.28M parameters, 5 MB).
    "mlp_800x800": lambda: MLPForImageClassification(MLPConfig(image_size=28, hidden_sizes=(800, 800), num_labels=10)),
    # A wide VGG-style net on 32x32 RGB images (~27M parameters, ~108 MB): reading weights dominates.
    "vgg_style_wide": lambda: CNNForImageClassification(
        CNNConfig.vgg_style(num_labels=10, image_size=32, num_channels=3, hidden_sizes=(128, 256, 512, 1024),
                            depths=(2, 2, 2, 2), fc_hidden_sizes=(4096,))
    ),
}


def timed(fn) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(name: str, repeats: int) -> dict:
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    num_parameters = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model.save_pretrained(folder)
        size_mb = (folder / "model.safetensors").stat().st_size / 1e6
        target = MODELS[name]().eval()

        def auto_load():
            return AutoModelForImageClassification.from_pretrained(folder)

        def bare_load():
            target.load_state_dict(load_file(str(folder / "model.safetensors")))

        loaded = auto_load()  # warm-up, and a check that both sides load the same numbers
        bare_load()
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value) and torch.equal(target.state_dict()[key], value)
        auto_times, bare_times = [], []
        for r in range(repeats):
            pairs = [(auto_times, auto_load), (bare_times, bare_load)]
            for times, fn in pairs if r % 2 == 0 else reversed(pairs):
                times.append(timed(fn))
    auto, bare = statistics.median(auto_times), statistics.median(bare_times)
    return {
        "model": name,
        "parameters": num_parameters,
        "weights_mb": round(size_mb, 2),
        "from_pretrained_ms": round(auto * 1e3, 2),
        "bare_load_ms": round(bare * 1e3, 2),
        "overhead_ms": round((auto - bare) * 1e3, 2),
        "ratio": round(auto / bare, 3),
        "target": f"<= {TARGET}",
        "met": auto / bare <= TARGET,
    }


def main() -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed loads of each kind per model")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ns = parser.parse_args()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    results = []
    for name in ns.models:
        results.append(measure(name, ns.repeats))
        print(json.dumps({"benchmark": "from_pretrained", **results[-1]}), flush=True)
    return results


if __name__ == "__main__":
    main()
