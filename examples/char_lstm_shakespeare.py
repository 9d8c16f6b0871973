"""A character-level LSTM language model on tiny-shakespeare, against the character 5-gram and the 1.50 target.

Data: ``tiny_shakespeare`` (1,115,394 characters, nanoGPT's split: the first 90% train, the last 10% -- 111,540
characters -- validate). The model: two LSTM layers of 384 units over 384-wide character embeddings, dropout 0.2
between the layers and on the last layer's output (before the softmax layer; Zaremba et al. 2014 drop every
non-recurrent connection), trained on random 128-character windows (the state starts at zero in each; batch 64)
for 1,500 updates with AdamW, a cosine schedule, gradient clipping at 1 and bf16 autocast (this CPU has AVX512-BF16
units: an update takes ~0.5 s instead of ~0.9 s in fp32; the weights, the optimizer and the final evaluation stay
fp32). It is evaluated on the whole validation text read in 64 long pieces with the state carried, so every
character is predicted with its full context, and scored in nats per character. References on the same split: a
character 5-gram with Witten-Bell smoothing 1.67; nanoGPT's GPU GPT 1.47; the project's target for this model:
<= 1.50 within 15 minutes of CPU training. Measured here (seed 0): 1.4936 nats/char after 772 s of training.
On a CPU without bf16 units pass ``--mixed-precision no`` (and expect about twice the time).

The saved folder holds the tokenizer and sampling defaults, so ``pipeline("text-generation", model=folder)``
writes Shakespeare-like text; the script prints a greedy and a sampled continuation, reloads the folder and checks
that ``classicnets evaluate`` reproduces the validation loss.

Run (about 13 minutes of training on two CPU cores, then the reload check and the samples):

    python examples/char_lstm_shakespeare.py

The same run from the command line:

    classicnets train rnn --dataset tiny_shakespeare --output-dir runs/char-lstm-shakespeare --num-layers 2 \
        --hidden-size 384 --config-overrides "hidden_dropout_prob=0.2,classifier_dropout_prob=0.2" --block-size 128 \
        --per-device-train-batch-size 64 --max-steps 1500 --learning-rate 3e-3 --lr-scheduler cosine \
        --warmup-ratio 0.03 --max-grad-norm 1.0 --eval-steps 500 --mixed-precision bf16 --seed 0
"""

from __future__ import annotations

import argparse
import json
import math

from transformers.utils import logging as hf_logging

from classicnets.evaluation import evaluate_folder
from classicnets.training import TrainingArguments, run_training

hf_logging.disable_progress_bar()

CONFIG = {"cell_type": "lstm", "num_layers": 2, "hidden_size": 384, "hidden_dropout_prob": 0.2,
          "classifier_dropout_prob": 0.2}
RECIPE = {"block_size": 128, "per_device_train_batch_size": 64, "max_steps": 1500, "learning_rate": 3e-3,
          "lr_scheduler_type": "cosine", "warmup_ratio": 0.03, "max_grad_norm": 1.0, "eval_steps": 500,
          "mixed_precision": "bf16"}
FIVE_GRAM = 1.67  # nats per character, character 5-gram with Witten-Bell smoothing, same split
TARGET = 1.50


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="runs/examples/char-lstm-shakespeare")
    parser.add_argument("--max-steps", type=int, default=RECIPE["max_steps"])
    parser.add_argument("--mixed-precision", default=RECIPE["mixed_precision"], choices=("no", "bf16"))
    ns = parser.parse_args()
    args = TrainingArguments(output_dir=ns.output_dir, overwrite_output_dir=True, seed=ns.seed, disable_tqdm=True,
                             **{**RECIPE, "max_steps": ns.max_steps, "mixed_precision": ns.mixed_precision})
    metrics = run_training("rnn", "tiny_shakespeare", args, config_overrides=CONFIG, data_source="offline")
    nats = metrics["validation_loss"]
    reloaded = evaluate_folder(ns.output_dir, "tiny_shakespeare", split="validation", data_source="offline")
    if not reloaded["matches_training"]:
        raise RuntimeError(f"The reloaded model gives {reloaded['loss']} nats/char, training measured {nats}.")
    from transformers import pipeline

    generate = pipeline("text-generation", model=ns.output_dir)
    greedy = generate("ROMEO:\n", max_new_tokens=200, do_sample=False)[0]["generated_text"]
    import torch

    torch.manual_seed(ns.seed)
    sampled = generate("ROMEO:\n", max_new_tokens=300)[0]["generated_text"]  # the saved defaults: temperature 0.8
    result = {
        "validation_nats_per_char": round(nats, 4), "validation_bits_per_char": round(nats / math.log(2), 4),
        "five_gram_nats_per_char": FIVE_GRAM, "target": TARGET, "meets_target": nats <= TARGET,
        "train_runtime_s": metrics["train_runtime"], "within_15_minutes": metrics["train_runtime"] <= 900,
        "updates": metrics["global_step"], "characters_seen": metrics["global_step"] * 64 * 128,
        "mixed_precision": ns.mixed_precision,
    }
    print(json.dumps(result, indent=2))
    print("--- greedy ---\n" + greedy + "\n--- sampled (temperature 0.8) ---\n" + sampled)
    return result


if __name__ == "__main__":
    main()
