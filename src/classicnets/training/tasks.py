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


class LanguageModelingTask:
    """A token stream -> windows of ``block_size + 1`` tokens; next-token cross-entropy; nats per token.

    Training reads windows at random offsets (chunked backpropagation through time: the state starts at zero in
    every window, as in nanoGPT's character models). The dataset holds window starts on a grid of ``block_size``;
    each training batch moves every start by a random offset in ``[0, block_size)`` drawn from the loop's
    augmentation generator, so every epoch sees new cuts of the text and a resumed run sees the same ones.

    Evaluation reads the held-out stream in ``eval_segments`` long contiguous pieces with the state carried through
    each piece, so (almost) every token is predicted with its full context; consecutive pieces overlap by one token,
    so every token but the very first is predicted exactly once. ``loss`` is the mean negative log-likelihood per
    predicted token in nats; with a character tokenizer that is nats per character (``bits_per_token`` = nats / ln 2,
    ``perplexity`` = exp(nats)).
    """

    name = "text-generation"
    greater_is_better = {"loss": False, "bits_per_token": False, "perplexity": False}

    def __init__(self, stream: torch.Tensor, block_size: int, pad_token_id: int = 0):
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}.")
        if len(stream) < block_size + 1:
            raise ValueError(
                f"The training text has {len(stream)} tokens, fewer than one window of block_size + 1 = "
                f"{block_size + 1}; use a smaller --block-size."
            )
        self.stream = stream.long()
        self.block_size = block_size
        self.pad_token_id = pad_token_id

    def train_dataset(self) -> TensorBatchDataset:
        last = len(self.stream) - self.block_size - 1  # the last start that leaves a full window
        return TensorBatchDataset(starts=torch.arange(0, last + 1, self.block_size))

    def eval_dataset(self, stream: torch.Tensor, eval_segments: int = 64) -> TensorBatchDataset:
        """``eval_segments`` contiguous pieces of ``stream`` (right padded to one length, masked)."""
        stream = stream.long()
        if len(stream) < 2:
            raise ValueError(f"The evaluation text has {len(stream)} token(s); at least 2 are needed to predict one.")
        segments = max(1, min(eval_segments, len(stream) - 1))
        step = math.ceil((len(stream) - 1) / segments)  # predicted tokens per piece
        pieces, masks = [], []
        for start in range(0, len(stream) - 1, step):
            piece = stream[start: start + step + 1]
            pad = step + 1 - len(piece)
            pieces.append(F.pad(piece, (0, pad), value=self.pad_token_id))
            masks.append(torch.cat([torch.ones(len(piece), dtype=torch.long), torch.zeros(pad, dtype=torch.long)]))
        return TensorBatchDataset(input_ids=torch.stack(pieces), attention_mask=torch.stack(masks))

    def model_inputs(self, batch: dict, train: bool, generator: torch.Generator | None, device) -> dict:
        if "starts" in batch:
            starts = batch["starts"]
            if train:
                shift = torch.randint(0, self.block_size, (len(starts),), generator=generator)
                starts = (starts + shift).clamp(max=len(self.stream) - self.block_size - 1)
            index = starts[:, None] + torch.arange(self.block_size + 1)  # (batch, block_size + 1)
            ids = self.stream[index].to(device)
            return {"input_ids": ids, "labels": ids}
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        if bool(mask.all()):
            return {"input_ids": ids, "labels": ids}
        return {"input_ids": ids, "attention_mask": mask, "labels": ids}

    def loss(self, outputs, inputs: dict, label_smoothing: float = 0.0) -> torch.Tensor:
        if label_smoothing > 0:
            logits = outputs.logits[:, :-1].float()
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), inputs["labels"][:, 1:].reshape(-1),
                                   label_smoothing=label_smoothing)
        return outputs.loss

    def eval_tensors(self, outputs, inputs: dict) -> tuple[torch.Tensor, ...]:
        """Per piece: (summed negative log-likelihood of its predicted tokens, their number)."""
        logits = outputs.logits[:, :-1].float()
        targets = inputs["labels"][:, 1:]
        nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (batch, T)
        mask = inputs.get("attention_mask")
        valid = torch.ones_like(nll, dtype=torch.bool) if mask is None else (mask[:, 1:] & mask[:, :-1]).bool()
        return (nll * valid).sum(dim=1).double(), valid.sum(dim=1)

    def compute_metrics(self, nll_sums: torch.Tensor, counts: torch.Tensor) -> dict:
        nats = (nll_sums.sum() / counts.sum().clamp(min=1)).item()
        return {"loss": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats),
                "num_tokens": int(counts.sum())}


class TextClassificationTask:
    """Token ids padded to ``max_length`` -> masked batches; softmax cross-entropy; accuracy, precision, recall, F1.

    Each batch is cut to its longest sequence (the recurrent net reads no padding at all: the model packs the
    sequences). With two classes, precision/recall/F1 are those of class 1 (the positive class, e.g. ``spam``);
    with more, their macro averages.
    """

    name = "text-classification"
    greater_is_better = {"accuracy": True, "loss": False, "f1": True}

    def __init__(self, pad_token_id: int = 0, num_labels: int = 2):
        self.pad_token_id = pad_token_id
        self.num_labels = num_labels

    def dataset(self, input_ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor) -> TensorBatchDataset:
        return TensorBatchDataset(input_ids=input_ids, lengths=lengths, labels=labels)

    def model_inputs(self, batch: dict, train: bool, generator: torch.Generator | None, device) -> dict:
        lengths = batch["lengths"]
        longest = int(lengths.max())
        ids = batch["input_ids"][:, :longest]
        mask = (torch.arange(longest)[None, :] < lengths[:, None]).long()
        return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": batch["labels"].to(device)}

    def loss(self, outputs, inputs: dict, label_smoothing: float = 0.0) -> torch.Tensor:
        if label_smoothing > 0:
            return F.cross_entropy(outputs.logits.float(), inputs["labels"], label_smoothing=label_smoothing)
        return outputs.loss

    def eval_tensors(self, outputs, inputs: dict) -> tuple[torch.Tensor, ...]:
        logits = outputs.logits.float()
        per_example = F.cross_entropy(logits, inputs["labels"], reduction="none")
        return logits.argmax(-1), inputs["labels"], per_example

    def compute_metrics(self, predictions: torch.Tensor, labels: torch.Tensor, losses: torch.Tensor) -> dict:
        from sklearn.metrics import precision_recall_fscore_support

        average = "binary" if self.num_labels == 2 else "macro"
        precision, recall, f1, _ = precision_recall_fscore_support(
            labels.numpy(), predictions.numpy(), average=average, labels=list(range(self.num_labels))
            if average == "macro" else None, zero_division=0)
        return {"accuracy": (predictions == labels).double().mean().item(), "loss": losses.double().mean().item(),
                "precision": float(precision), "recall": float(recall), "f1": float(f1)}


class ForecastingTask:
    """A series -> (context of ``context_length`` values, the ``prediction_length`` values that follow); MSE;
    MAE and RMSE in the series' units, next to the naive forecast's (the last observed value, repeated).

    Training windows slide over the training part with stride 1. Evaluation forecasts every window whose targets lie
    in the held-out part (rolling origin: the context may reach back into earlier parts, which are observed).
    The model standardises its inputs with the training part's mean and standard deviation (stored in its config)
    and its training loss is the MSE in those standardised units; the evaluation ``loss`` is the same quantity
    (the MSE divided by ``scale ** 2``), so training and evaluation curves share one scale.
    """

    name = "time-series-forecasting"
    greater_is_better = {"loss": False, "mae": False, "rmse": False}

    def __init__(self, series: torch.Tensor, context_length: int, prediction_length: int, scale: float = 1.0):
        series = torch.as_tensor(series, dtype=torch.float32).flatten()
        if not torch.isfinite(series).all():
            missing = (~torch.isfinite(series)).nonzero().flatten()[:5].tolist()
            raise ValueError(
                f"The series has missing (NaN) or infinite values at positions {missing}...; fill them (e.g. by "
                f"interpolation) or cut the series before training a forecaster."
            )
        if context_length < 1 or prediction_length < 1:
            raise ValueError(f"context_length and prediction_length must be >= 1, got {context_length}, {prediction_length}.")
        self.series = series
        self.context_length = context_length
        self.prediction_length = prediction_length
        self.scale = float(scale)

    def windows(self, first_target: int, end: int) -> TensorBatchDataset:
        """Every window whose targets start at ``first_target`` or later and end at ``end`` (exclusive) or before."""
        first = max(first_target, self.context_length)
        last = end - self.prediction_length
        if last < first:
            raise ValueError(
                f"No forecast window fits in positions [{first_target}, {end}) of the series with context_length="
                f"{self.context_length} and prediction_length={self.prediction_length}; use shorter ones."
            )
        return TensorBatchDataset(target_starts=torch.arange(first, last + 1))

    def model_inputs(self, batch: dict, train: bool, generator: torch.Generator | None, device) -> dict:
        starts = batch["target_starts"]
        past = self.series[starts[:, None] + torch.arange(-self.context_length, 0)]
        future = self.series[starts[:, None] + torch.arange(self.prediction_length)]
        return {"past_values": past[..., None].to(device), "labels": future[..., None].to(device)}

    def loss(self, outputs, inputs: dict, label_smoothing: float = 0.0) -> torch.Tensor:
        return outputs.loss

    def eval_tensors(self, outputs, inputs: dict) -> tuple[torch.Tensor, ...]:
        """Per window: summed absolute and squared errors of the model and of the naive forecast."""
        predictions = outputs.predictions.float().flatten(1)
        target = inputs["labels"].float().flatten(1)
        naive = inputs["past_values"][:, -1].float().expand_as(target)  # the last observed value
        err, naive_err = predictions - target, naive - target
        return (err.abs().sum(1).double(), (err ** 2).sum(1).double(), naive_err.abs().sum(1).double(),
                (naive_err ** 2).sum(1).double())

    def compute_metrics(self, abs_err, sq_err, naive_abs_err, naive_sq_err) -> dict:
        n = abs_err.numel() * self.prediction_length
        mae, rmse = (abs_err.sum() / n).item(), math.sqrt((sq_err.sum() / n).item())
        naive_mae, naive_rmse = (naive_abs_err.sum() / n).item(), math.sqrt((naive_sq_err.sum() / n).item())
        return {"mae": mae, "rmse": rmse, "naive_mae": naive_mae, "naive_rmse": naive_rmse,
                "loss": (sq_err.sum() / n).item() / self.scale ** 2, "num_windows": abs_err.numel()}


__all__ = [
    "ForecastingTask",
    "ImageClassificationTask",
    "LanguageModelingTask",
    "TextClassificationTask",
    "TensorBatchDataset",
    "affine_images",
    "collate_batch",
    "random_affine",
    "shift_images",
]
