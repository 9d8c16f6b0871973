"""Benchmark: ``generate`` with the recurrent state carried between steps against re-running the whole prefix.

An RNN language model needs only its state ``h_t`` (and ``c_t``) to go on: with ``use_cache=True`` every step reads
one new token from the carried `RNNCache` (O(n) for n new tokens). With ``use_cache=False`` every step re-reads the
prompt and everything generated so far (O(n^2)). Both give the same tokens; this script checks that on every run
and reports median(recompute) / median(carried), alternating the two in one process. The target is >= 20 for 300
new tokens.

The models are the character-level LSTM language models classicnets trains on tiny-shakespeare: 2 layers of 256 and
of 512 on its 65-character vocabulary, greedy, batch 1, prompt of 20 characters, one intra-op thread (``--threads``).
One summary per size.

Measured (torch 2.13, transformers 5.25, two shared CPU cores, median of 9 carried and 3 recomputed runs, load average
1.5-2, i.e. one other process running): 2x256 25.7x (carried 0.40 ms/token), 2x512 16.5x (2.1 ms/token); with two
threads 10.9x and 10.0x. The 2x384 model of examples/char_lstm_shakespeare.py, on a quiet machine (load 0.6): 37.6x
(carried 0.57 ms/token, recomputed 6.4 s for the 300 tokens). What bounds the ratio:

- a carried step reads every recurrent weight once, 4 MB (2x256) or 16 MB (2x512). The bare cell kernels alone
  (``torch.lstm_cell`` on both layers and the output layer, no generate, no model code) took 0.18 and 1.4-1.6 ms per
  token at that load, and 0.15 and ~0.5 ms on an idle machine: 16 MB stays in the 32 MB L3 only while no neighbour
  uses it. What the library and generate add is now ~0.15 and ~0.07 ms per token (it was ~0.35 + 0.2 before
  `step_layer` and the RNN's own ``prepare_inputs_for_generation``).
- recomputation runs each prefix in one oneDNN call per layer, where the input projections of all steps are one matrix
  product; with two threads oneDNN uses both cores and halves it, while a one-row step gains nothing from a second
  thread. Two threads therefore give ~10x at both sizes.
- under heavier load (load average 4-8) every timing swings by 2-5x, carried steps (memory bound) most: 2x256 gave
  19-21x, 2x512 12-13x, two threads 7-8x.

Run: ``python benchmarks/rnn_generate.py`` (about a minute on two CPU cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from transformers.utils import logging as hf_logging

from classicnets import RNNConfig, RNNForCausalLM

TARGET = 20.0


def measure(ns, hidden_size: int) -> dict:
    """Times generate with and without the carried state for one model size; returns the summary."""
    torch.manual_seed(0)
    config = RNNConfig(cell_type=ns.cell_type, vocab_size=ns.vocab_size, hidden_size=hidden_size,
                       num_layers=ns.num_layers)
    model = RNNForCausalLM(config).eval()
    prompt = torch.randint(0, ns.vocab_size, (1, ns.prompt_length), generator=torch.Generator().manual_seed(0))
    kwargs = {"max_new_tokens": ns.new_tokens, "min_new_tokens": ns.new_tokens, "do_sample": False}

    def run(use_cache: bool) -> tuple[float, torch.Tensor]:
        start = time.perf_counter()
        tokens = model.generate(prompt, use_cache=use_cache, **kwargs)
        return time.perf_counter() - start, tokens

    _, carried_tokens = run(True)  # warm-up: lazy imports and first-call set-up
    load_before = os.getloadavg()[0]
    times = {True: [], False: []}
    for _ in range(ns.repeats):
        # A carried run is 20-50x shorter than a recomputation, so it is sampled several times around each one:
        # a neighbour's burst then moves one of several carried samples instead of the whole median.
        for use_cache in [True] * ns.carried_per_repeat + [False]:
            seconds, tokens = run(use_cache)
            times[use_cache].append(seconds)
            assert torch.equal(tokens, carried_tokens), "carried state and recomputation gave different tokens"
    assert carried_tokens.shape[1] == ns.prompt_length + ns.new_tokens
    carried, recomputed = statistics.median(times[True]), statistics.median(times[False])
    ratio = recomputed / carried
    return {
        "benchmark": "rnn_generate", "model": f"{ns.cell_type} {ns.num_layers}x{hidden_size} vocab {ns.vocab_size}",
        "prompt_length": ns.prompt_length, "new_tokens": ns.new_tokens, "threads": ns.threads,
        "carried_s": round(carried, 3), "carried_spread_s": [round(min(times[True]), 3), round(max(times[True]), 3)],
        "recompute_s": round(recomputed, 3),
        "recompute_spread_s": [round(min(times[False]), 3), round(max(times[False]), 3)],
        "carried_ms_per_token": round(1000 * carried / ns.new_tokens, 2), "same_tokens": True,
        # the 1-minute load average: above ~1 other processes shared the two cores (and the caches) with this one
        "load_avg": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        # the least disturbed run of each kind: what a quiet machine gives (informative; "met" reads the medians)
        "ratio_of_minima": round(min(times[False]) / min(times[True]), 1),
        "ratio": round(ratio, 1), "target": f">= {TARGET:g}", "met": ratio >= TARGET,
    }


def main() -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell-type", default="lstm", choices=("rnn", "lstm", "gru"))
    parser.add_argument("--hidden-sizes", type=int, nargs="+", default=[256, 512],
                        help="one summary per size (default: the range of the tiny-shakespeare character model)")
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=65, help="65: the characters of tiny-shakespeare")
    parser.add_argument("--prompt-length", type=int, default=20)
    parser.add_argument("--new-tokens", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="timed recomputations per size")
    parser.add_argument("--carried-per-repeat", type=int, default=3, help="timed carried runs before each recomputation")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads for both kinds (1: on a shared machine, oneDNN's spinning threads made "
                             "the timings swing by 2-6x whenever another process ran)")
    ns = parser.parse_args()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(ns.threads)
    summaries = []
    for hidden_size in ns.hidden_sizes:
        summaries.append(measure(ns, hidden_size))
        print(json.dumps(summaries[-1]), flush=True)
    return summaries


if __name__ == "__main__":
    main()
