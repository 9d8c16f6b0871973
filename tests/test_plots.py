"""Tests for classicnets.plots: valid PNGs for full, train-only and eval-only histories, clear errors."""

import io
import math

import pytest

pytest.importorskip("matplotlib")
from PIL import Image

from classicnets.plots import plot_learning_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _read_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every pixel: a truncated file raises here
    return image


def _full_history(n=40, eval_every=10):
    history = []
    for i in range(n):
        entry = {"step": 10 * (i + 1), "epoch": i // 10, "train_loss": 2.0 / (i + 1), "learning_rate": 1e-3 * 0.9**i}
        if (i + 1) % eval_every == 0:
            entry.update(eval_loss=2.2 / (i + 1), eval_accuracy=1 - 1 / (i + 2), eval_f1=0.5 + i / 100)
        history.append(entry)
    return history


def test_full_history_three_panels(tmp_path):
    path = plot_learning_curves(_full_history(), tmp_path / "sub" / "learning_curves.png", dpi=80)
    assert path == tmp_path / "sub" / "learning_curves.png"
    image = _read_png(path)
    # Three 5 x 3.75 inch panels at 80 dpi.
    assert image.size == (1200, 300)
    assert [p.name for p in path.parent.iterdir()] == ["learning_curves.png"]  # no temp file left


def test_only_train_loss_gives_one_panel(tmp_path):
    history = [{"step": s, "train_loss": 1.0 / s} for s in range(1, 20)]
    image = _read_png(plot_learning_curves(history, tmp_path / "train.png", dpi=80))
    assert image.size == (400, 300)
    # Not blank: the curve and axes give many distinct colours.
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 10


def test_only_eval_metrics(tmp_path):
    history = [{"epoch": e, "eval_accuracy": 0.5 + e / 10} for e in range(5)]
    image = _read_png(plot_learning_curves(history, tmp_path / "eval.png", dpi=80))
    assert image.size == (400, 300)


def test_missing_and_non_finite_values_are_skipped(tmp_path):
    history = [
        {"step": 1, "train_loss": 2.0},
        {"step": 2, "train_loss": None},
        {"step": 3, "train_loss": math.nan, "eval_accuracy": 0.4},
        {"train_loss": 1.0},  # no step: dropped from a step-indexed plot
        {"step": 5, "train_loss": math.inf, "eval_loss": 1.2, "note": "text is ignored"},
    ]
    _read_png(plot_learning_curves(history, tmp_path / "sparse.png"))


def test_single_point(tmp_path):
    _read_png(plot_learning_curves([{"step": 1, "eval_accuracy": 0.9}], tmp_path / "one.png"))


def test_empty_history_raises_clear_error(tmp_path):
    with pytest.raises(ValueError, match="history is empty"):
        plot_learning_curves([], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_history_without_plottable_values_raises(tmp_path):
    with pytest.raises(ValueError, match="no values to plot.*'step'"):
        plot_learning_curves([{"step": 1, "epoch": 0}], tmp_path / "x.png")
    with pytest.raises(TypeError, match="list of dicts"):
        plot_learning_curves({"train_loss": 1.0}, tmp_path / "x.png")
    with pytest.raises(TypeError, match=r"history\[1\]"):
        plot_learning_curves([{"train_loss": 1.0}, 3.0], tmp_path / "x.png")


def test_failed_render_leaves_existing_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / "curves.png"
    path.write_bytes(b"old picture")
    from matplotlib.figure import Figure

    def broken_savefig(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        plot_learning_curves(_full_history(), path)
    assert path.read_bytes() == b"old picture"
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_matplotlib_is_imported_lazily():
    # matplotlib is optional and slow to import: no module-level import of it in classicnets.plots.
    import ast

    import classicnets.plots

    with open(classicnets.plots.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [alias.name for node in top_level for alias in node.names] + [
        node.module or "" for node in top_level if isinstance(node, ast.ImportFrom)
    ]
    assert not [name for name in names if name.startswith(("matplotlib", "pyplot"))]


def test_image_mosaic_places_every_image_in_its_tile():
    import torch

    from classicnets.plots import image_mosaic

    images = torch.arange(5, dtype=torch.float32).view(5, 1, 1, 1).expand(5, 1, 2, 3) / 10  # image i is all i/10
    mosaic = image_mosaic(images, ncol=2, padding=1)
    assert mosaic.shape == (3 * 3 + 1, 2 * 4 + 1, 1)
    for i in range(5):
        top, left = 1 + (i // 2) * 3, 1 + (i % 2) * 4
        assert (mosaic[top:top + 2, left:left + 3] == pytest.approx(i / 10))
    assert (mosaic[7:9, 5:8] == 1.0).all()  # the missing sixth tile is padding
    assert (mosaic[0] == 1.0).all() and (mosaic[:, 4] == 1.0).all()  # the padding lines between tiles


def test_image_grid_png_and_its_errors(tmp_path):
    import numpy as np

    from classicnets.plots import plot_image_grid

    images = np.random.default_rng(0).random((12, 3, 8, 8))
    path = plot_image_grid(images, tmp_path / "grid.png", ncol=6, row_labels=["real", "fake"], title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="row_labels has 3 entries for 2 rows of 6 images"):
        plot_image_grid(images, tmp_path / "x.png", ncol=6, row_labels=["a", "b", "c"])
    images[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        plot_image_grid(images, tmp_path / "y.png")
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\)"):
        plot_image_grid(images[0], tmp_path / "z.png")
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()
