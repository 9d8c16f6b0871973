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

from .arguments import BINARIZATIONS


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


class SoftmaxClassification:
    """The loss and the gathered evaluation tensors shared by every softmax classification task."""

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


class ImageClassificationTask(SoftmaxClassification):
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


class TextClassificationTask(SoftmaxClassification):
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


# ----------------------------------------------------------------------------------------------------------------
# Representation learning: autoencoders (reconstruction) and variational autoencoders (ELBO).
# ----------------------------------------------------------------------------------------------------------------
# Seeds of what the evaluation draws, the same in every run and in `classicnets evaluate`, so that two models are
# compared on the same binarized test images, the same ELBO noise and the same importance samples.
TEST_BINARIZATION_SEED = 0  # the fixed binarization of a held-out split
ELBO_NOISE_SEED = 1  # the eps of the one-sample ELBO estimate of each held-out image
NLL_SEED = 2  # the importance samples (one generator per block of NLL_BLOCK images)
NLL_BLOCK = 100


def bernoulli_binarize(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A binary image drawn pixel by pixel from ``Bernoulli(x)``, ``x`` (batch, C, H, W) intensities in [0, 1].

    The binarization of MNIST used for likelihoods since Salakhutdinov & Murray (ICML 2008). Drawing it anew each
    time an image is seen ("dynamic binarization") regularises; one seeded draw kept for good ("fixed") gives a
    test set whose likelihood can be compared between models. ``u < x`` with ``u ~ U[0, 1)`` is 0 where ``x = 0``
    and 1 where ``x = 1``, exactly. The uniforms come from ``generator`` (on its own device), so a CPU generator gives
    the same images to a GPU run.
    """
    source = generator.device if generator is not None else x.device
    u = torch.rand(x.shape, generator=generator, device=source, dtype=torch.float32).to(x.device)
    return (u < x).to(x.dtype)


def fixed_binarization(images: torch.Tensor, seed: int = TEST_BINARIZATION_SEED) -> torch.Tensor:
    """One seeded Bernoulli binarization of a whole split of uint8 images (0..255), as uint8 images holding 0 or 255.

    Binarize the whole split before selecting classes or a subset, so an image keeps the same binary version
    whatever else is evaluated with it.
    """
    x = images.to(torch.float32) / 255.0
    return (bernoulli_binarize(x, torch.Generator().manual_seed(seed)) * 255).to(torch.uint8)


class ReconstructionTask:
    """Autoencoders: images (uint8) -> ``pixel_values`` in [0, 1]; the model's own loss; its reconstruction error.

    Training batches go through the model in training mode with the loop's generator, so a denoising autoencoder
    corrupts them (Gaussian or masking noise, drawn from that generator and saved with every checkpoint) and compares
    the reconstruction with the clean image; the sparsity penalty is part of the model's loss. Evaluation runs in
    eval mode: no corruption. Metrics per held-out image:

    - ``loss``: the model's reconstruction error ``l(x, x_hat)`` summed over the pixels (binary cross-entropy in nats
      for ``reconstruction_loss="bce"``, squared error for ``"mse"``), without the sparsity penalty (a batch quantity
      for the KL penalty);
    - ``mse``: the mean squared error per pixel of the reconstructed image (``sigmoid`` of the logits for bce), a
      scale that compares bce and mse models.
    """

    name = "image-feature-extraction"
    greater_is_better = {"loss": False, "mse": False}

    def __init__(self, reconstruction_loss: str = "mse"):
        self.reconstruction_loss = reconstruction_loss

    def dataset(self, images: torch.Tensor, labels: torch.Tensor) -> TensorBatchDataset:
        return TensorBatchDataset(images=images, labels=labels)

    def model_inputs(self, batch: dict, train: bool, generator: torch.Generator | None, device) -> dict:
        x = batch["images"].to(device=device, dtype=torch.float32) / 255.0  # (batch, C, H, W) in [0, 1]
        inputs = {"pixel_values": x, "return_loss": True}
        if train:
            inputs["generator"] = generator  # the denoising corruption (the model corrupts in training mode only)
        return inputs

    def loss(self, outputs, inputs: dict, label_smoothing: float = 0.0) -> torch.Tensor:
        return outputs.loss  # mean_i l(x_i, g(f(x~_i))) + Omega(h)

    def eval_tensors(self, outputs, inputs: dict) -> tuple[torch.Tensor, ...]:
        """Per image: (the model's reconstruction error, the mean squared error per pixel of the reconstruction)."""
        x = inputs["pixel_values"].float()
        logits = outputs.logits.float()
        x_hat = torch.sigmoid(logits) if self.reconstruction_loss == "bce" else logits
        return outputs.reconstruction_loss.double(), (x_hat - x).pow(2).flatten(1).mean(1).double()

    def compute_metrics(self, errors: torch.Tensor, squared: torch.Tensor) -> dict:
        return {"loss": errors.mean().item(), "mse": squared.mean().item()}


class VAETask:
    """Variational autoencoders: the negative ELBO (weighted by ``beta``) to train; ELBO, reconstruction and KL in nats
    per image to evaluate; an importance-sampled negative log-likelihood once at the end.

    Data: images (uint8) -> ``pixel_values`` in [0, 1]. With ``binarize="dynamic"`` every training image is binarized
    anew each time it is seen (``Bernoulli`` of its intensities, drawn from the loop's generator, which is saved with
    every checkpoint, so a resumed run sees the same binary images); ``"fixed"`` binarizes the training set once with
    the run's seed (see :meth:`train_dataset`); ``"none"`` trains on the grey levels. Held-out images are binarized
    once, with the fixed seed :data:`TEST_BINARIZATION_SEED` (unless ``"none"``), so every run and
    ``classicnets evaluate`` see the same binary test set.

    Evaluation estimates ``ELBO(x) = log p(x | z) - KL(q(z | x) || p(z))`` with one sample ``z = mu + sigma * eps`` per
    image whose ``eps`` is fixed per image (drawn once with :data:`ELBO_NOISE_SEED`, carried by the evaluation
    dataset), so the estimate does not depend on the batch size or the number of processes. Metrics: ``elbo``,
    ``reconstruction`` (``-log p(x | z)``), ``kl`` and ``loss`` (``reconstruction + beta * kl``, the training
    objective; ``-elbo`` for ``beta = 1``), means over the images in nats. :meth:`final_metrics` adds
    ``nll``, the importance-sampled estimate of ``-log p(x)`` with ``importance_samples`` samples (Burda et al. 2015).
    """

    name = "image-feature-extraction"
    greater_is_better = {"loss": False, "elbo": True, "reconstruction": False, "kl": False}

    def __init__(self, latent_size: int, beta: float = 1.0, binarize: str = "dynamic", importance_samples: int = 100):
        if binarize not in BINARIZATIONS:
            raise ValueError(f"binarize={binarize!r} is not supported; choose one of {', '.join(BINARIZATIONS)}.")
        if not isinstance(importance_samples, int) or importance_samples < 0:
            raise ValueError(f"importance_samples must be an int >= 0 (0: no NLL estimate), got {importance_samples!r}.")
        self.latent_size = latent_size
        self.beta = beta
        self.binarize = binarize
        self.importance_samples = importance_samples

    # ------------------------------------------------------------------ data
    def train_dataset(self, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> TensorBatchDataset:
        """The training images: as they are (dynamic or no binarization), or binarized once with ``seed``."""
        if self.binarize == "fixed":
            images = fixed_binarization(images, seed)
        return TensorBatchDataset(images=images, labels=labels)

    def eval_dataset(self, images: torch.Tensor, labels: torch.Tensor, index: torch.Tensor | None = None
                     ) -> TensorBatchDataset:
        """Held-out images: ``images`` is a whole split (uint8), binarized with the fixed test seed (unless
        ``binarize="none"``) and given the fixed ``eps`` (latent_size,) of each image's ELBO estimate, both drawn for
        the whole split; then only the rows ``index`` are kept (all when ``None``), so an image keeps its binary
        version and its noise whatever subset or classes are evaluated. ``labels`` are those of the kept rows."""
        if self.binarize != "none":
            images = fixed_binarization(images)
        eps = self.elbo_noise(len(images))
        if index is not None:
            images, eps = images[index], eps[index]
        return TensorBatchDataset(images=images, labels=labels, eps=eps)

    def elbo_noise(self, n: int) -> torch.Tensor:
        """The fixed ``eps`` of the ELBO estimate of the first ``n`` held-out images, shape (n, latent_size)."""
        return torch.randn(n, self.latent_size, generator=torch.Generator().manual_seed(ELBO_NOISE_SEED))

    # ------------------------------------------------------------------ the loop's interface
    def model_inputs(self, batch: dict, train: bool, generator: torch.Generator | None, device) -> dict:
        x = batch["images"].to(device=device, dtype=torch.float32) / 255.0  # (batch, C, H, W) in [0, 1]
        if train:
            if self.binarize == "dynamic":
                x = bernoulli_binarize(x, generator)
            # The reparameterization noise comes from the same generator: resumed runs replay it.
            return {"pixel_values": x, "return_loss": True, "generator": generator}
        return {"pixel_values": x, "eps": batch["eps"].to(device=device, dtype=torch.float32)}

    def eval_forward(self, model, inputs: dict):
        """The one-sample ELBO terms of each image with its fixed ``eps`` (the loop calls this instead of ``forward``
        in evaluation): ``-log p(x | z)`` and ``KL(q || p)`` through the model's own ``encode``, ``decode``,
        ``log_likelihood`` and ``kl_divergence``."""
        model = getattr(model, "module", model)  # DistributedDataParallel
        model = getattr(model, "_orig_mod", model)  # torch.compile
        x, eps = inputs["pixel_values"], inputs["eps"]
        mu, logvar = model.encode(x)  # (batch, latent_size) each
        z = mu + torch.exp(0.5 * logvar) * eps.to(mu.dtype)  # z = mu + sigma * eps
        logits = model.decode(z)
        return {"reconstruction_loss": -model.log_likelihood(logits, x), "kl_divergence": model.kl_divergence(mu, logvar)}

    def loss(self, outputs, inputs: dict, label_smoothing: float = 0.0) -> torch.Tensor:
        return outputs.loss  # mean_i [-log p(x_i | z_i) + beta KL_i], one reparameterized z_i per image

    def eval_tensors(self, outputs, inputs: dict) -> tuple[torch.Tensor, ...]:
        """Per image: (-log p(x | z), KL) in nats."""
        return outputs["reconstruction_loss"].double(), outputs["kl_divergence"].double()

    def compute_metrics(self, reconstruction: torch.Tensor, kl: torch.Tensor) -> dict:
        rec, kl_mean = reconstruction.mean().item(), kl.mean().item()
        return {"loss": rec + self.beta * kl_mean, "elbo": -(rec + kl_mean), "reconstruction": rec, "kl": kl_mean}

    @torch.no_grad()
    def final_metrics(self, model, dataset: TensorBatchDataset) -> dict:
        """``nll``: the mean importance-sampled ``-log p(x)`` over ``dataset`` in nats with ``importance_samples``
        samples per image (``k = 1`` is the negative one-sample ELBO, larger ``k`` tightens the bound), and
        ``nll_samples`` = k. Blocks of :data:`NLL_BLOCK` images each draw from a generator seeded with
        ``NLL_SEED + block``, so the estimate does not depend on any batch size. Empty when k = 0."""
        if not self.importance_samples:
            return {}
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        total = torch.zeros((), dtype=torch.float64)
        n = len(dataset)
        for block, start in enumerate(range(0, n, NLL_BLOCK)):
            batch = dataset.__getitems__(list(range(start, min(start + NLL_BLOCK, n))))
            x = batch["images"].to(device=device, dtype=torch.float32) / 255.0
            generator = torch.Generator().manual_seed(NLL_SEED + block)
            nll = model.importance_sampled_nll(x, k=self.importance_samples, generator=generator)
            total += nll.double().sum().cpu()
        model.train(was_training)
        return {"nll": (total / n).item(), "nll_samples": self.importance_samples}


__all__ = [
    "BINARIZATIONS",
    "ForecastingTask",
    "ImageClassificationTask",
    "LanguageModelingTask",
    "ReconstructionTask",
    "VAETask",
    "bernoulli_binarize",
    "fixed_binarization",
    "TextClassificationTask",
    "TensorBatchDataset",
    "affine_images",
    "collate_batch",
    "random_affine",
    "shift_images",
]
