"""Pictures of a latent space: a 2-D scatter of codes coloured by label, and the projection that gives it.

Companions of :func:`classicnets.plots.plot_image_grid` (which draws reconstruction, sample and interpolation grids)
for autoencoders and VAEs. Same conventions as :mod:`classicnets.plots`: matplotlib's ``Figure`` API with the Agg
canvas (no pyplot state), imported only when a picture is drawn, and PNG files written atomically.

Example:
    >>> import os, tempfile, torch
    >>> from classicnets.latent_plots import latent_2d, plot_latent_scatter
    >>> codes, labels = torch.randn(200, 8), torch.randint(0, 10, (200,))
    >>> xy, axes = latent_2d(codes)                  # first two principal components of 8-D codes
    >>> axes[0].startswith("PC 1")
    True
    >>> plot_latent_scatter(xy, labels, os.path.join(tempfile.mkdtemp(), "latent.png"), axis_labels=axes).suffix
    '.png'
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from .plots import _import_matplotlib
from .utils import atomic_write_bytes


def latent_2d(codes: torch.Tensor) -> tuple[torch.Tensor, tuple[str, str]]:
    """Two coordinates per code and what they are.

    Codes of two dimensions are returned as they are (``z1``, ``z2``); larger codes are projected on their first two
    principal components (the centred codes' top right singular vectors), labelled with the share of the codes'
    variance each explains.

    Args:
        codes: (N, latent_size) codes (an autoencoder's ``h`` or a VAE's posterior means ``mu``), N >= 2.

    Returns:
        ``(xy, (x_label, y_label))`` with ``xy`` of shape (N, 2), float64.

    Raises:
        ValueError: codes that are not (N, d) with N >= 2 and d >= 2, or that hold NaN/inf.
    """
    codes = torch.as_tensor(codes).detach().to(torch.float64).cpu()
    if codes.dim() != 2 or codes.shape[0] < 2 or codes.shape[1] < 2:
        raise ValueError(f"codes must have shape (N, latent_size) with N >= 2 and latent_size >= 2, got "
                         f"{tuple(codes.shape)}; a 1-D code has no 2-D scatter.")
    if not torch.isfinite(codes).all():
        raise ValueError("codes hold NaN or infinite values; the model diverged, there is nothing to draw.")
    if codes.shape[1] == 2:
        return codes, ("z1", "z2")
    centred = codes - codes.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)  # centred = U S V^T; PCs are the rows of V^T
    variance = s.pow(2)
    share = variance / variance.sum().clamp(min=torch.finfo(torch.float64).tiny)
    xy = centred @ vh[:2].T  # (N, 2) coordinates on PC 1 and PC 2
    return xy, (f"PC 1 ({100 * share[0].item():.0f}% of variance)", f"PC 2 ({100 * share[1].item():.0f}% of variance)")


def plot_latent_scatter(
    xy,
    labels,
    path: str | os.PathLike,
    *,
    label_names: Sequence[str] | None = None,
    axis_labels: tuple[str, str] = ("z1", "z2"),
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Draws 2-D latent coordinates as points coloured by their class, with a legend, as a PNG written atomically.

    Args:
        xy: (N, 2) coordinates (see :func:`latent_2d`).
        labels: (N,) integer class ids.
        path: where to write the PNG (parent folders are created).
        label_names: the name of each class id for the legend (default: the ids).
        axis_labels: the names of the two axes.
        title: optional title.

    Returns:
        The path of the written PNG.
    """
    xy = torch.as_tensor(xy).detach().to(torch.float64).cpu()
    labels = torch.as_tensor(labels).detach().long().cpu()
    if xy.dim() != 2 or xy.shape[1] != 2 or len(labels) != len(xy):
        raise ValueError(f"xy must be (N, 2) with one label per row, got xy {tuple(xy.shape)} and "
                         f"{len(labels)} labels.")
    if not torch.isfinite(xy).all():
        raise ValueError("xy holds NaN or infinite values; there is nothing meaningful to draw.")
    Figure, FigureCanvasAgg = _import_matplotlib()
    fig = Figure(figsize=(6.0, 5.0), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    classes = sorted(set(labels.tolist()))
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]  # one distinct colour per class
    for i, c in enumerate(classes):
        keep = labels == c
        name = label_names[c] if label_names is not None and c < len(label_names) else str(c)
        ax.scatter(xy[keep, 0].numpy(), xy[keep, 1].numpy(), s=4 if len(xy) > 2000 else 9, alpha=0.6, color=cmap(i % cmap.N), label=name,
                   linewidths=0)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.legend(markerscale=3, fontsize="small", loc="best", title="label")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return atomic_write_bytes(path, buffer.getvalue())


__all__ = ["latent_2d", "plot_latent_scatter"]
