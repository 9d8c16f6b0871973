"""``accelerate launch`` for real: one process, two data-parallel CPU processes, and the refused duplicates.

Two processes with ``--per-device-train-batch-size 32`` see, at every update, the two halves of the batch of
64 that one process sees: Accelerate's seedable sampler draws one permutation, hands consecutive batches to
the processes in turn, and DDP averages their gradients. Without dropout or augmentation the two runs must
therefore end with the same weights (up to the order of float additions) and the same test accuracy. That
also checks the scheduler policy: the loop steps the schedule once per update on every process, so both
runs follow the same one-cycle curve; a scheduler stepped once per process would end elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.multiprocess

ACCELERATE = str(Path(sys.executable).with_name("accelerate"))
# 1,280 of the 1,347 digits: 20 updates of 64 per epoch, with no ragged last batch for even_batches to pad.
RECIPE = [
    "train", "mlp", "--dataset", "digits", "--data-source", "offline", "--hidden-sizes", "64",
    "--train-subset", "1280", "--epochs", "10", "--learning-rate", "3e-3", "--lr-scheduler", "one_cycle",
    "--seed", "3", "--disable-tqdm",
]


def launch(*launcher_args: str, output_dir: Path, batch_size: int, extra_env=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "ACCELERATE_USE_CPU")}
    env.update(HF_HUB_OFFLINE="1", **(extra_env or {}))
    cmd = [ACCELERATE, "launch", *launcher_args, "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "classicnets", *RECIPE, "--output-dir", str(output_dir),
           "--per-device-train-batch-size", str(batch_size)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)


def test_two_cpu_processes_match_one(tmp_path):
    one = launch("--num_processes", "1", output_dir=tmp_path / "one", batch_size=64)
    assert one.returncode == 0, one.stderr[-3000:]
    two = launch("--multi_gpu", "--num_processes", "2", output_dir=tmp_path / "two", batch_size=32,
                 extra_env={"ACCELERATE_USE_CPU": "1"})
    assert two.returncode == 0, two.stderr[-3000:]

    m1 = json.loads((tmp_path / "one" / "metrics.json").read_text())
    m2 = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert m1["num_processes"] == 1 and m2["num_processes"] == 2  # really two ranks in one group
    assert m1["global_step"] == m2["global_step"] == 10 * 20
    w1 = load_file(tmp_path / "one" / "model.safetensors")
    w2 = load_file(tmp_path / "two" / "model.safetensors")
    assert w1.keys() == w2.keys()
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], rtol=1e-4, atol=1e-5, msg=name)
    assert m1["test_accuracy"] >= 0.9
    assert abs(m1["test_accuracy"] - m2["test_accuracy"]) <= 1 / 450  # at most one of 450 test digits differs
    # Only the main process wrote the folder, once: one checkpoint series, rank files for both processes.
    final = tmp_path / "two" / "checkpoints" / f"checkpoint-{m2['global_step']}"
    assert sorted(p.name for p in final.glob("rng_state_*")) == ["rng_state_0.safetensors", "rng_state_1.safetensors"]


def test_independent_duplicates_are_refused(tmp_path):
    # Plain --multi_gpu on a machine without GPUs: WORLD_SIZE=2, but each process would be alone.
    done = launch("--multi_gpu", "--num_processes", "2", output_dir=tmp_path / "dup", batch_size=32)
    assert done.returncode != 0
    assert "would train as independent duplicates" in done.stderr
    assert "ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2" in done.stderr
    assert not (tmp_path / "dup").exists()  # refused before the output folder was created


def test_bf16_training_reports_the_saved_full_precision_weights(tmp_path):
    """Under ``--mixed-precision bf16`` Accelerate wraps the model's forward in autocast. The metrics written at
    the end must still describe the fp32 weights that are saved and that ``from_pretrained`` loads."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import classicnets  # noqa: F401  (registers the architectures with the Auto classes)
    from classicnets.data import load_dataset
    from classicnets.evaluation import evaluate_folder

    out = tmp_path / "bf16"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "ACCELERATE_USE_CPU")}
    cmd = [ACCELERATE, "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "bf16",
           "--dynamo_backend", "no", "-m", "classicnets", "train", "rnn", "--dataset", "tiny_shakespeare",
           "--data-source", "offline", "--hidden-size", "32", "--block-size", "32", "--max-steps", "20",
           "--per-device-train-batch-size", "16", "--mixed-precision", "bf16", "--seed", "0", "--disable-tqdm",
           "--output-dir", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**env, "HF_HUB_OFFLINE": "1"}, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    recorded = json.loads((out / "metrics.json").read_text())["validation_loss"]
    again = evaluate_folder(str(out), "tiny_shakespeare", split="validation", data_source="offline")
    assert again["matches_training"] and again["loss"] == pytest.approx(recorded, rel=1e-6)
    # The premise: bf16 autocast moves this loss (by ~8e-6 relative on these weights) beyond evaluate's 1e-6
    # tolerance, so an evaluation left under autocast would not match.
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    text = load_dataset("tiny_shakespeare", source="offline")["validation"][0]["text"][:4096]
    ids = AutoTokenizer.from_pretrained(out)(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        full = model(input_ids=ids, labels=ids).loss.item()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(input_ids=ids, labels=ids).loss.item()
    assert abs(full - half) > 2e-6 * full
