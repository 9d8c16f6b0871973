"""Pictures of a training run, drawn with matplotlib's Agg renderer and written atomically.

matplotlib is an optional dependency (``pip install classicnets[plots]``); it is imported inside the
functions, so importing this module has no cost and no side effects. Figures are built with
``matplotlib.figure.Figure`` directly rather than ``pyplot``: no global backend switch, no figure
registry to leak from, safe to call from any thread or process.

Example:
    >>> import tempfile, os
    >>> from classicnets.plots import plot_learning_curves
    >>> history = [
    ...     {"step": 100, "epoch": 1, "train_loss": 0.9, "learning_rate": 1e-3},
    ...     {"step": 200, "epoch": 2, "train_loss": 0.4, "eval_loss": 0.5, "eval_accuracy": 0.86},
    ... ]
    >>> plot_learning_curves(history, os.path.join(tempfile.mkdtemp(), "learning_curves.png")).suffix
    '.png'
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .utils import atomic_write_bytes

# Keys that are the x axis or bookkeeping, never a curve.
_X_KEYS = ("step", "epoch")
_LR_KEYS = ("learning_rate", "lr")
_METRIC_PREFIXES = ("eval_", "test_", "train_", "val_", "validation_")


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` for missing, non-numeric or non-finite values."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if math.isfinite(number) else None


def _import_matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plotting needs matplotlib: pip install 'classicnets[plots]' (or pip install matplotlib)."
        ) from error
    return Figure, FigureCanvasAgg


def _label(key: str) -> str:
    return key.replace("_", " ")


def _series(history: Sequence[Mapping[str, Any]], key: str, x_key: str | None) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for index, entry in enumerate(history):
        y = _number(entry.get(key))
        x = float(index) if x_key is None else _number(entry.get(x_key))
        if y is not None and x is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def _classify_keys(history: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    """Splits the logged keys, in first-seen order, into losses, metrics and learning rates."""
    seen: dict[str, None] = {}
    for entry in history:
        for key in entry:
            if isinstance(key, str) and key not in _X_KEYS and _number(entry[key]) is not None:
                seen.setdefault(key, None)
    losses = [k for k in seen if k == "loss" or k.endswith("_loss")]
    rates = [k for k in seen if k in _LR_KEYS]
    metrics = [k for k in seen if k not in losses and k not in rates and k.startswith(_METRIC_PREFIXES)]
    return losses, metrics, rates


def _spans_decades(values: list[float], decades: float = 2.0) -> bool:
    """Whether positive ``values`` span more than ``decades`` orders of magnitude (then a log axis reads better)."""
    return bool(values) and min(values) > 0 and math.log10(max(values) / min(values)) > decades


def plot_learning_curves(
    history: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Draws the losses, evaluation metrics and learning rate of a run against the training step.

    One panel per kind of curve that the history holds, side by side: losses (every ``loss`` and
    ``*_loss`` key: ``train_loss``, ``eval_loss``, ``kl_loss``...), metrics (other keys starting with
    ``eval_``, ``test_``, ``train_``, ``val_``: ``eval_accuracy``, ``eval_f1``...) and the learning rate
    (``learning_rate`` or ``lr``). Points where a key is missing, ``None`` or not finite are skipped, so
    sparse evaluation points and diverged values do not break the curves. A panel whose values span more
    than two orders of magnitude uses a log scale.

    Args:
        history: One dict per logged point, with keys among ``step``, ``epoch``, ``train_loss``,
            ``eval_loss``, ``eval_<metric>``, ``learning_rate``. The x axis is ``step`` when the history has
            it, else ``epoch``, else the position in the list.
        path: Where to write the PNG (parent folders are created). Written atomically: a failure leaves
            an existing file untouched.
        title: Optional title above the panels.
        dpi: Resolution; each panel is 5 x 3.75 inches.

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: The history is empty or holds no loss, metric or learning rate values.
        TypeError: The history is not a list of dicts.

    Example:
        >>> import tempfile, os
        >>> path = plot_learning_curves(
        ...     [{"step": 1, "train_loss": 2.3}, {"step": 2, "train_loss": 1.1}],
        ...     os.path.join(tempfile.mkdtemp(), "curves.png"),
        ... )
        >>> path.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        True
    """
    if isinstance(history, Mapping) or not isinstance(history, Sequence):
        raise TypeError(f"history must be a list of dicts (one per logged point), got {type(history).__name__}.")
    if len(history) == 0:
        raise ValueError(
            "history is empty: there is nothing to plot. Log at least one point (e.g. {'step': 1, "
            "'train_loss': 0.7}) before plotting learning curves."
        )
    for index, entry in enumerate(history):
        if not isinstance(entry, Mapping):
            raise TypeError(f"history[{index}] must be a dict of logged values, got {type(entry).__name__}.")
    losses, metrics, rates = _classify_keys(history)
    if not (losses or metrics or rates):
        keys = sorted({str(k) for entry in history for k in entry})
        raise ValueError(
            f"history has no values to plot: expected 'train_loss', 'eval_loss', 'eval_<metric>' or "
            f"'learning_rate' with numeric values, found keys {keys}."
        )
    x_key = next((k for k in _X_KEYS if any(_number(e.get(k)) is not None for e in history)), None)

    Figure, FigureCanvasAgg = _import_matplotlib()
    panels = [(name, keys) for name, keys in (("Loss", losses), ("Metric", metrics), ("Learning rate", rates)) if keys]
    fig = Figure(figsize=(5.0 * len(panels), 3.75), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, keys) in zip(axes, panels, strict=True):
        all_values = []
        for key in keys:
            xs, ys = _series(history, key, x_key)
            all_values += ys
            # Sparse series (evaluation every N steps) get markers so that one point is still visible.
            marker = "o" if len(xs) <= 50 and (len(xs) < len(history) or len(xs) == 1) else None
            ax.plot(xs, ys, marker=marker, markersize=3.5, linewidth=1.5, label=_label(key))
        if _spans_decades(all_values):
            ax.set_yscale("log")
        ax.set_xlabel(x_key or "logged point")
        ax.set_ylabel(name.lower())
        ax.set_title(name if name == "Learning rate" else f"{name}{'es' if name == 'Loss' else 's'}")
        ax.grid(True, alpha=0.3)
        if len(keys) > 1 or name != "Learning rate":
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return atomic_write_bytes(path, buffer.getvalue())


def image_mosaic(images, ncol: int, padding: int = 1, pad_value: float = 1.0):
    """Tiles ``images`` (N, C, H, W) row by row into one (rows*(H+p)+p, ncol*(W+p)+p, C) float array.

    Image ``i`` lands at row ``i // ncol``, column ``i % ncol``; the last row is padded with ``pad_value``.
    Values are clipped to [0, 1] (pixel intensities), so pass images already scaled to that range.
    """
    import numpy as np

    array = images.detach().float().cpu().numpy() if hasattr(images, "detach") else np.asarray(images, dtype=float)
    if array.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(array.shape)}.")
    n, c, h, w = array.shape
    if n == 0 or ncol < 1:
        raise ValueError(f"need at least one image and ncol >= 1, got {n} images and ncol={ncol}.")
    if not np.isfinite(array).all():
        raise ValueError("images hold NaN or infinite values; a picture of them would be meaningless.")
    rows = math.ceil(n / ncol)
    mosaic = np.full((rows * (h + padding) + padding, ncol * (w + padding) + padding, c), pad_value, dtype=float)
    for i, image in enumerate(np.clip(array, 0.0, 1.0)):
        top, left = padding + (i // ncol) * (h + padding), padding + (i % ncol) * (w + padding)
        mosaic[top:top + h, left:left + w] = image.transpose(1, 2, 0)
    return mosaic


def plot_image_grid(
    images,
    path: str | os.PathLike,
    *,
    ncol: int = 10,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Writes ``images`` (N, C, H, W, values in [0, 1]) as one PNG mosaic: reconstruction grids (originals and
    reconstructions on alternate rows), sample grids (one row per class) or latent interpolations.

    Args:
        images: a tensor or array of N images with 1 (drawn in grey) or 3 channels.
        path: where to write the PNG, atomically (parent folders are created).
        ncol: images per row.
        row_labels: optional text left of each row (as many as there are rows).
        title: optional title above the mosaic.

    Returns:
        The path of the written PNG.
    """
    mosaic = image_mosaic(images, ncol)
    rows = math.ceil(len(images) / ncol)
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"row_labels has {len(row_labels)} entries for {rows} rows of {ncol} images.")
    Figure, FigureCanvasAgg = _import_matplotlib()
    height, width = mosaic.shape[:2]
    scale = max(0.02, 6.0 / max(width, 1))  # inches per pixel: about 6 inches wide
    fig = Figure(figsize=(width * scale + (1.2 if row_labels else 0.2), height * scale + (0.5 if title else 0.2)),
                 dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if mosaic.shape[2] == 1:
        ax.imshow(mosaic[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([])
    tile = (height - 1) / rows
    if row_labels:
        ax.set_yticks([1 + tile * (r + 0.5) for r in range(rows)], list(row_labels))
        ax.tick_params(axis="y", length=0)
    else:
        ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return atomic_write_bytes(path, buffer.getvalue())


__all__ = ["image_mosaic", "plot_image_grid", "plot_learning_curves"]
