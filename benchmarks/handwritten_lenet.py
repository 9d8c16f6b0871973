"""The baseline the CLI is measured against: a hand-written PyTorch training script for LeNet-5 on MNIST.

What a competent PyTorch user writes in an afternoon: the whole training set as one uint8 tensor, a
shuffled index per epoch, AdamW with weight decay, a one-cycle schedule, label smoothing, random integer
shifts of up to 2 pixels, batch 128, standardisation with the MNIST mean/std, and an evaluation on the 10k
test set after every epoch. No Accelerate, no checkpoints, no progress bar. It uses the same LeNet-5 module
as the CLI so that the comparison measures the training loop, not the model. The defaults are the README's
LeNet-5 recipe.

Run: ``python benchmarks/handwritten_lenet.py`` (prints one JSON line per epoch).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.nn import functional as F

from classicnets import CNNConfig, CNNForImageClassification
from classicnets.data import DATASETS, image_tensors, load_dataset

MEAN, STD = DATASETS["mnist"].mean[0], DATASETS["mnist"].std[0]


def shift_batch(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random integer translations by padding and cropping each image (written independently of classicnets)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None]).view(n, 1, h, 1).expand(n, c, h, w + 2 * max_shift)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None]).view(n, 1, 1, w).expand(n, c, h, w)
    return out.gather(3, cols)


@torch.no_grad()
def evaluate(model, images, labels, batch_size=1000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(labels), batch_size):
        x = (images[i: i + batch_size].float() / 255 - MEAN) / STD
        correct += (model(pixel_values=x).logits.argmax(-1) == labels[i: i + batch_size]).sum().item()
    model.train()
    return correct / len(labels)


# The README's LeNet-5 recipe.
EPOCHS, LR, WEIGHT_DECAY, LABEL_SMOOTHING, BATCH_SIZE, MAX_SHIFT = 8, 5e-3, 0.05, 0.1, 128, 2


def train(epochs: int = EPOCHS, lr: float = LR, batch_size: int = BATCH_SIZE, seed: int = 0,
          max_steps: int | None = None, target: float | None = None, weight_decay: float = WEIGHT_DECAY,
          label_smoothing: float = LABEL_SMOOTHING, max_shift: int = MAX_SHIFT) -> dict:
    """Trains LeNet-5; returns per-epoch test accuracy with elapsed seconds, and steps/second."""
    torch.manual_seed(seed)
    splits = load_dataset("mnist", source="offline")
    x_train, y_train = image_tensors(splits["train"])
    x_test, y_test = image_tensors(splits["test"])
    model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
    # Weight decay on weight matrices and kernels only, as classicnets does (biases are not decayed).
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    steps_per_epoch = (len(y_train) + batch_size - 1) // batch_size
    total = max_steps or epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total)
    generator = torch.Generator().manual_seed(seed)
    history, step, start, step_ends = [], 0, time.perf_counter(), []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(y_train), generator=generator)
        for i in range(0, len(order), batch_size):
            idx = order[i: i + batch_size]
            x = x_train[idx].float() / 255
            if max_shift:
                x = shift_batch(x, max_shift, generator)
            x = (x - MEAN) / STD
            logits = model(pixel_values=x).logits
            loss = F.cross_entropy(logits, y_train[idx], label_smoothing=label_smoothing)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1
            step_ends.append(time.perf_counter())
            if step >= total:
                break
        train_time = time.perf_counter() - start
        if max_steps:
            # Steps per second between the end of the first and the end of the last step: set-up excluded.
            return {"steps": step, "seconds": train_time,
                    "steps_per_second": (step - 1) / (step_ends[-1] - step_ends[0])}
        acc = evaluate(model, x_test, y_test)
        history.append({"epoch": epoch + 1, "test_accuracy": acc, "elapsed": time.perf_counter() - start})
        print(json.dumps(history[-1]), flush=True)
        if target is not None and acc >= target:
            break
    return {"history": history, "steps": step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--weight-decay", type=float, default=WEIGHT_DECAY)
    parser.add_argument("--label-smoothing", type=float, default=LABEL_SMOOTHING)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None, help="time this many steps only (no evaluation)")
    ns = parser.parse_args()
    print(json.dumps(train(ns.epochs, ns.lr, ns.batch_size, ns.seed, ns.max_steps, weight_decay=ns.weight_decay,
                           label_smoothing=ns.label_smoothing)))


if __name__ == "__main__":
    main()
