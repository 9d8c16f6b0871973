"""Vanishing gradients made visible: a vanilla RNN, an LSTM and a GRU on a long-range dependency in real text.

The task (the "latching" problem of Bengio, Simard & Frasconi, "Learning long-term dependencies with gradient descent
is difficult", IEEE Trans. Neural Networks 1994, on real data): a window of tiny_shakespeare that starts with one of
the four most frequent lower-case letters (e, t, o, a) is labelled with that first letter; everything after it is
real text, a distractor the net must read without forgetting the first letter. The classifier reads only the state
after the last character. Classes are balanced: chance is 25%. Training windows have random lengths (5 to 100
characters, padded and masked), so short windows teach every model to *write* the letter into its state; the test
windows all have 100 characters, so the test asks it to *hold* the letter for 99 steps of text. Lengths must vary:
with one fixed length a near-linear RNN with orthogonal recurrent weights (the library's initialisation) rotates the
first input by the same ``W_hh^(T-1)`` in every example and a linear read-out decodes it without any memory.

Three models of the same width (64 units, 32-wide embeddings, one layer) are trained with the library's Trainer
under the same budget (Adam 2e-3, batch 64, global clipping at 1.0, 1,000 updates, the same data order per seed);
the GRU's update gate starts at the LSTM's forget-gate bias (see `open_update_gate`). A
:class:`~classicnets.diagnostics.GradientNormRecorder` logs the per-layer gradient norms every 10 updates and the
per-time-step norms ``||dL/dh_t||`` (and the LSTM's ``||dL/dc_t||``) on a fixed batch of 100-character test
windows at the first update, every 300 updates and at the last. The script prints, per model and seed, the test
accuracy against chance and the ratio of the gradient reaching the first step to the one reaching the last (at the
first update and after training), and writes the pictures:

- ``time_steps_init.png`` and ``time_steps_trained.png``: ``||dL/dh_t||`` against ``t`` for the three models;
- ``<cell>-seed<s>/gradient_norms_layers.png`` and ``gradient_norms_time_steps.png`` for each run.

Run (about 3.5 minutes per seed on two busy CPU cores with ``OMP_NUM_THREADS=1``):

    python examples/vanishing_gradients.py --seeds 0
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from transformers.utils import logging as hf_logging

from classicnets import RNNConfig, RNNForSequenceClassification
from classicnets.data import load_dataset
from classicnets.diagnostics import (
    GradientNormRecorder,
    plot_time_step_comparison,
    time_step_gradient_norms,
    write_gradient_plots,
)
from classicnets.training import TensorBatchDataset, Trainer, TrainingArguments
from classicnets.utils import atomic_write_text

hf_logging.disable_progress_bar()
CELLS = ("rnn", "lstm", "gru")
NUM_CLASSES = 4


def first_letter_windows(text: str, chars: list[str], classes: list[str], per_class: int, min_length: int,
                         max_length: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``per_class`` windows per class starting at a random occurrence of the class letter, of random lengths
    in [min_length, max_length], right padded with id 0 and masked."""
    stoi = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in text])
    windows, labels = [], []
    for label, letter in enumerate(classes):
        starts = torch.tensor([i for i, c in enumerate(text[: len(text) - max_length]) if c == letter])
        starts = starts[torch.randperm(len(starts), generator=generator)[:per_class]]
        windows.append(ids[starts[:, None] + torch.arange(max_length)])  # (per_class, max_length)
        labels.append(torch.full((len(starts),), label))
    input_ids = torch.cat(windows)
    lengths = torch.randint(min_length, max_length + 1, (len(input_ids),), generator=generator)
    attention_mask = (torch.arange(max_length)[None, :] < lengths[:, None]).long()
    return {"input_ids": input_ids * attention_mask, "attention_mask": attention_mask, "labels": torch.cat(labels)}


def open_update_gate(model: RNNForSequenceClassification) -> None:
    """Starts the GRU's update gate at the bias the LSTM's forget gate gets (``config.forget_bias``, 1.0).

    ``z_t`` in ``h_t = (1 - z_t) * n_t + z_t * h_{t-1}`` is the GRU's keep gate, as ``f_t`` is the LSTM's. With the
    library's zero bias ``z_t`` starts near 0.5, the state halves at every step and the first letter is gone after a
    few dozen: in 900 to 1,200 updates such a GRU stayed at chance on this task (30-60 and 50-100 characters). With
    ``b_z = 1``, ``z_t`` starts near 0.73, the LSTM's starting memory (Jozefowicz, Zaremba & Sutskever, ICML 2015).
    """
    hidden = model.config.hidden_size
    with torch.no_grad():
        for layer in model.rnn.layers:  # nn.GRU stacks the biases as (r, z, n); the equations use b_ih + b_hh
            layer.bias_ih_l0[hidden:2 * hidden] = model.config.forget_bias
            layer.bias_hh_l0[hidden:2 * hidden] = 0.0


class FirstLetterTask:
    """What the Trainer needs from a task: model inputs, the loss, and accuracy on gathered predictions."""

    def model_inputs(self, batch, train, generator, device):
        return {k: batch[k].to(device) for k in ("input_ids", "attention_mask", "labels")}

    def loss(self, outputs, inputs, label_smoothing=0.0):
        return outputs.loss

    def eval_tensors(self, outputs, inputs):
        per_example = F.cross_entropy(outputs.logits.float(), inputs["labels"], reduction="none")
        return outputs.logits.argmax(-1), inputs["labels"], per_example

    def compute_metrics(self, predictions, labels, losses):
        return {"accuracy": (predictions == labels).double().mean().item(), "loss": losses.double().mean().item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=1000, help="optimizer updates per model")
    parser.add_argument("--min-length", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=100)
    parser.add_argument("--output-dir", default="runs/examples/vanishing-gradients")
    ns = parser.parse_args()
    out = Path(ns.output_dir)

    splits = load_dataset("tiny_shakespeare", source="offline")
    train_text, test_text = splits["train"][0]["text"], splits["validation"][0]["text"]
    chars = sorted(set(train_text) | set(test_text))
    counts = collections.Counter(c for c in train_text if c.islower())
    classes = [c for c, _ in counts.most_common(NUM_CLASSES)]
    data = torch.Generator().manual_seed(1234)  # the same windows for every model and seed
    train = first_letter_windows(train_text, chars, classes, 5000, ns.min_length, ns.max_length, data)
    # Tested at the longest lag only: every test window has max_length characters.
    test = first_letter_windows(test_text, chars, classes, 250, ns.max_length, ns.max_length, data)
    # The fixed batch for the per-time-step measurement: full-length test windows (no padding), 32 per class.
    probe = first_letter_windows(test_text, chars, classes, 32, ns.max_length, ns.max_length,
                                 torch.Generator().manual_seed(99))
    del probe["attention_mask"]  # all ones
    print(f"classes {classes} (chance {1 / NUM_CLASSES:.2f}); {len(train['labels'])} training and "
          f"windows of {ns.min_length}-{ns.max_length} characters, {len(test['labels'])} test windows of "
          f"{ns.max_length}", flush=True)

    rows, curves_init, curves_trained = [], {}, {}
    task = FirstLetterTask()
    for seed in ns.seeds:
        for cell in CELLS:
            run_dir = out / f"{cell}-seed{seed}"
            torch.manual_seed(seed)
            model = RNNForSequenceClassification(RNNConfig(
                cell_type=cell, vocab_size=len(chars), embedding_size=32, hidden_size=64, num_labels=NUM_CLASSES,
                id2label=dict(enumerate(classes))))
            if cell == "gru":
                open_update_gate(model)
            args = TrainingArguments(
                output_dir=str(run_dir), overwrite_output_dir=True, seed=seed, max_steps=ns.steps,
                per_device_train_batch_size=64, per_device_eval_batch_size=1000, learning_rate=2e-3, optimizer="adam",
                lr_scheduler_type="constant", max_grad_norm=1.0, eval_steps=ns.steps // 3, save_steps=10 ** 9,
                logging_steps=50, disable_tqdm=True)
            recorder = GradientNormRecorder(every=10, time_step_inputs=probe, time_step_every=300,
                                            time_step_cell_state=True)
            start = time.perf_counter()
            result = Trainer(model, args, task, TensorBatchDataset(**train), TensorBatchDataset(**test),
                             callbacks=[recorder]).train()
            seconds = time.perf_counter() - start
            trained = time_step_gradient_norms(model, probe, cell_state=True)
            ratios = dict(zip(trained.labels, trained.first_to_last_ratio(), strict=True))
            recorder.save(run_dir / "gradient_norms.json")
            pictures = write_gradient_plots(recorder, run_dir)
            at_init = recorder.time_steps[0]  # measured at update 1, before the first optimizer step
            rows.append({"cell": cell, "seed": seed, "test_accuracy": round(result.metrics["eval_accuracy"], 4),
                         "chance": 1 / NUM_CLASSES,
                         # ||dL/dh_1|| / ||dL/dh_T|| at the first update and after training; the LSTM's cell c_t too
                         "ratio_h_init": at_init["norms"][0][0] / at_init["norms"][0][-1],
                         "ratio_h_trained": ratios["layer 0"], "ratio_c_trained": ratios.get("layer 0 (cell)"),
                         "train_seconds": round(seconds, 1), "pictures": [str(run_dir / p) for p in pictures]})
            print(json.dumps(rows[-1]), flush=True)
            if seed == ns.seeds[0]:
                curves_init[cell], curves_trained[cell] = at_init, trained

    plot_time_step_comparison(curves_init, out / "time_steps_init.png",
                              title=f"||dL/dh_t|| at initialisation (seed {ns.seeds[0]})")
    plot_time_step_comparison(curves_trained, out / "time_steps_trained.png",
                              title=f"||dL/dh_t|| after {ns.steps} updates (seed {ns.seeds[0]})")
    atomic_write_text(out / "results.json", json.dumps(rows, indent=1) + "\n")

    print("\nratio = ||dL/dh_1|| / ||dL/dh_T|| on full-length test windows (c: the LSTM's memory cell)")
    print(f"{'cell':<6}{'seed':>5}{'test acc':>10}{'chance':>8}{'ratio h init':>14}{'ratio h':>10}{'ratio c':>10}"
          f"{'time s':>8}")
    for r in rows:
        c = f"{r['ratio_c_trained']:.1e}" if r["ratio_c_trained"] is not None else "-"
        print(f"{r['cell']:<6}{r['seed']:>5}{r['test_accuracy']:>10.3f}{r['chance']:>8.2f}{r['ratio_h_init']:>14.1e}"
              f"{r['ratio_h_trained']:>10.1e}{c:>10}{r['train_seconds']:>8.1f}")
    print(f"pictures: {out / 'time_steps_init.png'}, {out / 'time_steps_trained.png'} and one folder per run")


if __name__ == "__main__":
    main()
