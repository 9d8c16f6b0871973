"""Benchmark: ``generate`` with the recurrent state carried between steps against re-running the whole prefix.

An RNN language model needs only its state ``h_t`` (and ``c_t``) to go on: with ``use_cache=True`` every step reads
one new token from the carried `RNNCache` (O(n) for n new tokens). With ``use_cache=False`` every step re-reads the
prompt and everything generated so far (O(n^2)). Both give the same tokens; this script checks that on every run
and reports median(recompute) / median(carried), alternating the two in one process. The target is >= 20 for 300
new tokens.

The model is a character-level LSTM language model of the usual size for that task (Karpathy's char-rnn default
is 2 x 128 to 512; here 2 layers of 512 on a 96-symbol vocabulary), greedy, batch 1, prompt of 20 characters, one
intra-op thread (``--threads``).

What bounds the ratio (measured with torch 2.13 on this two-core machine): a carried step reads every recurrent
weight once for one time step, ~16 MB for 2 x 512, and is memory bound at ~0.9 ms plus ~0.5 ms of generate's own
bookkeeping; recomputation runs the whole prefix in one call per layer, where the input projections of all steps are
one matrix product, ~0.1 ms per layer and step. So the ratio grows with the prefix: 11-19x with the 20-character
prompt (the carried step, being memory bound, suffers most when another process runs), ~26x with a 200-character one
(``--prompt-length 200``), ~6x for a small 2 x 128 model whose step cost is mostly fixed overhead. Single steps run on torch's own kernels, sequences on oneDNN (see
``run_fused_layer``): oneDNN's per-call set-up made a single step 10x slower, and running the recomputation on torch's
kernels too would inflate the ratio to ~30x by slowing the baseline.

Run: ``python benchmarks/rnn_generate.py`` (about a minute on two CPU cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from transformers.utils import logging as hf_logging

from classicnets import RNNConfig, RNNForCausalLM

TARGET = 20.0


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell-type", default="lstm", choices=("rnn", "lstm", "gru"))
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=96)
    parser.add_argument("--prompt-length", type=int, default=20)
    parser.add_argument("--new-tokens", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each kind, alternating")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads for both kinds (1: on a shared machine, oneDNN's spinning threads made "
                             "the timings swing by 2-6x whenever another process ran)")
    ns = parser.parse_args()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(ns.threads)

    torch.manual_seed(0)
    config = RNNConfig(cell_type=ns.cell_type, vocab_size=ns.vocab_size, hidden_size=ns.hidden_size,
                       num_layers=ns.num_layers)
    model = RNNForCausalLM(config).eval()
    prompt = torch.randint(0, ns.vocab_size, (1, ns.prompt_length), generator=torch.Generator().manual_seed(0))
    kwargs = {"max_new_tokens": ns.new_tokens, "min_new_tokens": ns.new_tokens, "do_sample": False}

    def run(use_cache: bool) -> tuple[float, torch.Tensor]:
        start = time.perf_counter()
        tokens = model.generate(prompt, use_cache=use_cache, **kwargs)
        return time.perf_counter() - start, tokens

    run(True)  # warm-up: lazy imports and first-call set-up
    times = {True: [], False: []}
    for _ in range(ns.repeats):
        for use_cache in (True, False):
            seconds, tokens = run(use_cache)
            times[use_cache].append(seconds)
            if use_cache:
                carried_tokens = tokens
            else:
                assert torch.equal(tokens, carried_tokens), "carried state and recomputation gave different tokens"
    assert carried_tokens.shape[1] == ns.prompt_length + ns.new_tokens
    carried, recomputed = statistics.median(times[True]), statistics.median(times[False])
    ratio = recomputed / carried
    summary = {
        "benchmark": "rnn_generate", "model": f"{ns.cell_type} {ns.num_layers}x{ns.hidden_size} vocab {ns.vocab_size}",
        "prompt_length": ns.prompt_length, "new_tokens": ns.new_tokens, "threads": ns.threads, "carried_s": round(carried, 3), "recompute_s": round(recomputed, 3),
        "carried_ms_per_token": round(1000 * carried / ns.new_tokens, 2), "same_tokens": True,
        "ratio": round(ratio, 1), "target": f">= {TARGET:g}", "met": ratio >= TARGET,
    }
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
