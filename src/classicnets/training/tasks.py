"""What a task contributes to the common training loop: batches, model inputs, loss and metrics.

The loop (``trainer.py``) is task-agnostic. A task turns raw dataset splits into fast in-memory
datasets, turns a batch into the keyword arguments of the model's ``forward``, computes the training
loss from the model outputs, and reduces gathered evaluation tensors to metrics.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F
from torch.utils.data import Dataset


class TensorBatchDataset(Dataset):
    """Tensors held in memory and sliced a whole batch at a time.

    ``__getitems__`` lets the DataLoader fetch a batch with one indexing operation per tensor instead of one
    Python call per example, which matters on a 2-core CPU (LeNet-5 steps take ~10 ms).
    """

    def __init__(self, **tensors: torch.Tensor):
        lengths = {name: len(t) for name, t in tensors.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"All tensors need the same length, got {lengths}.")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {name: t[index] for name, t in self.tensors.items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return {name: t[index] for name, t in self.tensors.items()}


def collate_batch(batch):
    """Identity for batches built by ``__getitems__``; stacks a list of examples otherwise."""
    if isinstance(batch, dict):
        return batch
    return torch.utils.data.default_collate(batch)


def affine_images(images: torch.Tensor, shifts: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Translates each image by ``shifts`` (batch, 2) pixels (x, y) and rotates it by ``angles`` (batch,) radians
    about its centre; the border is filled with 0 (the background)."""
    n, _, height, width = images.shape
    shifts, angles = shifts.to(images.dtype), angles.to(images.dtype)
    cos, sin = torch.cos(angles), torch.sin(angles)
    # Affine map from output to input coordinates in [-1, 1]; one pixel is 2 / size there.
    theta = torch.zeros(n, 2, 3, dtype=images.dtype)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos, -sin, -shifts[:, 0] * 2.0 / width
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin, cos, -shifts[:, 1] * 2.0 / height
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def shift_images(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Translates each image by whole pixels: ``out[y, x] = in[y - dy, x - dx]`` for ``shifts[i] = (dx, dy)``,
    0 (the background) where that falls outside. Exact (a copy of pixel values, no interpolation) and one
    ``gather`` for the whole batch, so it costs a small fraction of a LeNet-5 step.

    Equal to ``affine_images(images, shifts, zeros)`` for integer shifts, only several times faster.
    """
    n, channels, height, width = images.shape
    pad = int(shifts.abs().max().item()) if shifts.numel() else 0
    if pad == 0:
        return images.clone()
    padded = F.pad(images, (pad, pad, pad, pad))  # (batch, C, H + 2p, W + 2p)
    shifts = shifts.to(images.device)
    rows = torch.arange(height, device=images.device) - shifts[:, 1:2] + pad  # (batch, H)
    cols = torch.arange(width, device=images.device) - shifts[:, 0:1] + pad  # (batch, W)
    index = (rows[:, :, None] * (width + 2 * pad) + cols[:, None, :]).view(n, 1, height * width)
    out = padded.flatten(2).gather(2, index.expand(n, channels, height * width))
    return out.view(n, channels, height, width)


def random_affine(
    images: torch.Tensor, max_shift: int, max_rotation: float, generator: torch.Generator
) -> torch.Tensor:
    """Random integer translations (up to ``max_shift`` pixels) and rotations (up to ``max_rotation`` degrees).

    Simard et al. (2003) showed small distortions of MNIST digits act as a strong regulariser; LeCun et al.
    (1998) cut LeNet-5's error from 0.95% to 0.8% with them. ``images`` are (batch, C, H, W) floats in [0, 1].
    Integer shifts land exactly on the pixel grid, so a pure shift copies pixel values without blurring; it
    takes the exact, fast :func:`shift_images` path, and only rotations go through bilinear resampling.
    """
    n = images.shape[0]
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator)
    if max_rotation == 0:
        return shift_images(images, shifts)
    angles = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_rotation)
    return affine_images(images, shifts, angles)


class ImageClassificationTask:
    """Images (uint8) -> standardised ``pixel_values``; softmax cross-entropy; accuracy and loss."""

    name = "image-classification"
    greater_is_better = {"accuracy": True, "loss": False}

    def __init__(self, mean, std, augment: str = "none", max_shift: int = 2, max_rotation: float = 10.0):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.augment = augment
        self.max_shift = max_shift
        self.max_rotation = max_rotation if augment == "shift_rotate" else 0.0

    def dataset(self, images: torch.Tensor, labels: torch.Tensor) -> TensorBatchDataset:
        return TensorBatchDataset(images=images, labels=labels)

    def model_inputs(self, batch: dict, train: bool, generator: torch.Generator | None, device) -> dict:
        x = batch["images"].to(device=device, dtype=torch.float32) / 255.0  # (batch, C, H, W) in [0, 1]
        if train and self.augment != "none":
            x = random_affine(x, self.max_shift, self.max_rotation, generator)
        # Input standardisation with the training-set statistics (LeCun et al., "Efficient BackProp", 1998).
        x = (x - self.mean.to(device)) / self.std.to(device)
        return {"pixel_values": x, "labels": batch["labels"].to(device)}

    def loss(self, outputs, inputs: dict, label_smoothing: float = 0.0) -> torch.Tensor:
        if label_smoothing > 0:
            # Cross-entropy against (1 - eps) one-hot + eps / K uniform targets (Szegedy et al. 2016).
            return F.cross_entropy(outputs.logits.float(), inputs["labels"], label_smoothing=label_smoothing)
        return outputs.loss

    def eval_tensors(self, outputs, inputs: dict) -> tuple[torch.Tensor, ...]:
        """Per-example tensors to gather across processes: (prediction, label, loss)."""
        logits = outputs.logits.float()
        per_example = F.cross_entropy(logits, inputs["labels"], reduction="none")
        return logits.argmax(-1), inputs["labels"], per_example

    def compute_metrics(self, predictions: torch.Tensor, labels: torch.Tensor, losses: torch.Tensor) -> dict:
        return {"accuracy": (predictions == labels).double().mean().item(), "loss": losses.double().mean().item()}


__all__ = [
    "ImageClassificationTask",
    "TensorBatchDataset",
    "affine_images",
    "collate_batch",
    "random_affine",
    "shift_images",
]
