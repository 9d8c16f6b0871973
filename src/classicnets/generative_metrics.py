"""Metrics for generative image models that need no download: the library's own reference classifier, a Fréchet
distance in its feature space, and the accuracy of class-conditional samples.

Published GAN scores (FID, Heusel et al. 2017, arXiv:1706.08500) use an Inception-v3 network trained on ImageNet,
whose weights cannot be downloaded here and which knows nothing of 28x28 digits anyway. classicnets measures the
same quantity in the feature space of a classifier it trains itself, with its own training loop
(:func:`classicnets.training.run_training`), on the dataset the generator imitates:

- **Reference classifier** (:func:`load_reference_classifier`): LeNet-5 trained with a fixed recipe and seed
  (:data:`DEFAULT_RECIPE`), built once and cached under ``classicnets.utils.cache_dir()/reference_classifiers/
  v<REFERENCE_VERSION>/<dataset>-<recipe hash>/`` as a normal model folder plus ``reference.json`` (the recipe and
  its measured test accuracy). The folder is built in a temporary folder beside it and renamed into place, under a
  file lock, so a crash never leaves a half-built classifier that looks whole and two processes never build it
  twice. Bumping :data:`REFERENCE_VERSION` (when the recipe's meaning or the training code changes) starts a new
  folder, so distances measured with different feature extractors are never mixed up.
- **Features**: the classifier's penultimate layer (LeNet-5's F6, 84 units after ReLU), i.e.
  ``model.forward_features`` -- the representation its output layer reads.
- **Fréchet distance** (:func:`frechet_distance`): the 2-Wasserstein distance between the Gaussians fitted to two
  feature sets (Fréchet 1957; Dowson & Landau 1982)::

      d^2 = ||mu_1 - mu_2||^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^{1/2})

  Lower is better; 0 only when means and covariances agree. Values are comparable only between runs that use the
  same reference classifier and the same number of samples (the estimate is biased upwards for small samples).
- **Conditional accuracy** (:func:`conditional_accuracy`): the fraction of class-conditional samples that the
  reference classifier assigns to the class they were asked for.

Images are ``uint8`` pixels (0..255, real data from :func:`classicnets.data.image_tensors`) or floats in the GAN
range [-1, 1] (what ``GANModel.sample`` returns); the classifier's own standardisation is applied to both.

Example:
    >>> import torch
    >>> from classicnets.data import image_tensors, load_dataset
    >>> from classicnets.generative_metrics import load_reference_classifier
    >>> reference = load_reference_classifier("mnist")          # built (about a minute) on first use, then cached
    >>> real, _ = image_tensors(load_dataset("mnist")["test"])
    >>> fakes = gan.sample(10000, generator=torch.Generator().manual_seed(0))
    >>> reference.frechet_distance(fakes, real)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .utils import atomic_write_text, cache_dir

logger = logging.getLogger(__name__)

# Bump when the meaning of a recipe or the code that trains it changes: a new version lives in a new folder.
REFERENCE_VERSION = 1
# The datasets the library builds a reference classifier for (LeNet-5 reads their 28x28 grey images).
REFERENCE_DATASETS = ("mnist", "fashion_mnist")
REFERENCE_FILE = "reference.json"
# The test accuracy a default MNIST reference classifier must reach to be trusted (checked when it is built).
MNIST_MIN_ACCURACY = 0.985


@dataclass(frozen=True)
class ReferenceRecipe:
    """How a reference classifier is trained: a ``classicnets train cnn`` run, fixed and seeded.

    The default is LeNet-5 (LeCun et al. 1998) for 4 epochs with a one-cycle AdamW schedule: about 99% MNIST test
    accuracy in well under a minute on two CPU cores. No augmentation and no label smoothing, so the features are
    those of the plain images and the classifier's confidence is not squashed.
    """

    preset: str = "lenet5"
    epochs: float = 4.0
    max_steps: int = -1
    batch_size: int = 128
    learning_rate: float = 5e-3
    lr_scheduler: str = "one_cycle"
    weight_decay: float = 0.05
    train_subset: int | None = None
    seed: int = 0

    def key(self) -> str:
        """A short hash of every field: the folder name tells recipes apart."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


DEFAULT_RECIPE = ReferenceRecipe()


# ------------------------------------------------------------------------------------------------ images
def images_to_unit_interval(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """``uint8`` pixels (0..255) or floats in the GAN range [-1, 1] -> float32 in [0, 1], shape (N, C, H, W).

    Raises:
        ValueError: not 4-D, NaN or infinite values, or floats outside [-1, 1] (images in [0, 255] or [0, 1] must
            be given as ``uint8`` or rescaled to [-1, 1] first).
    """
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.dim() != 4:
        raise ValueError(f"{name} must have shape (N, channels, height, width), got {tuple(images.shape)}.")
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    if not images.dtype.is_floating_point:
        raise ValueError(f"{name} must be uint8 pixels (0..255) or floats in [-1, 1], got {images.dtype}.")
    x = images.detach().float()
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values; a distance computed from them would be "
                         f"meaningless. Check the generator's weights and inputs.")
    low, high = x.min().item() if x.numel() else 0.0, x.max().item() if x.numel() else 0.0
    if low < -1.0 - 1e-4 or high > 1.0 + 1e-4:
        raise ValueError(f"{name} are floats between {low:.4g} and {high:.4g}; float images must be in the GAN range "
                         f"[-1, 1] (x = u / 127.5 - 1 for 8-bit pixels u). Pass 8-bit pixels as uint8.")
    return ((x + 1.0) / 2.0).clamp_(0.0, 1.0)


# ------------------------------------------------------------------------------------------------ statistics
def _feature_matrix(features, name: str) -> np.ndarray:
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().double().numpy()
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_samples, num_features), got shape {array.shape}.")
    if array.shape[1] < 1:
        raise ValueError(f"{name} has no feature columns (shape {array.shape}).")
    if array.shape[0] < 2:
        raise ValueError(f"{name} has {array.shape[0]} sample(s); a covariance needs at least 2 (use thousands of "
                         f"samples for a stable Fréchet distance).")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values; compute features from finite images.")
    return array


def gaussian_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of ``features`` (N, d), in float64.

    Raises:
        ValueError: not 2-D, fewer than 2 samples, or NaN/infinite values.
    """
    x = _feature_matrix(features, "features")
    if x.shape[0] <= x.shape[1]:
        warnings.warn(f"{x.shape[0]} samples of {x.shape[1]} features give a singular covariance; the Fréchet "
                      f"distance is still defined but strongly biased. Use many more samples than features.",
                      stacklevel=2)
    return x.mean(axis=0), np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])


def _psd_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric PSD matrix with rounding noise set to 0: values below ``d * eps * max|w|`` (the
    resolution of ``eigh``) are zeros that rounding moved, and their square roots (~1e-8 for noise of ~1e-16) would
    otherwise add up to a visible error."""
    tolerance = w.shape[0] * np.finfo(np.float64).eps * max(np.abs(w).max(initial=0.0), 1e-300)
    return np.where(w > tolerance, w, 0.0)


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The PSD square root of a symmetric PSD matrix, through its eigen-decomposition."""
    w, v = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (v * np.sqrt(_psd_eigenvalues(w))) @ v.T


def frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2) -> float:
    """``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})`` for two Gaussians N(mu1, S1), N(mu2, S2).

    Numerics: ``S1 S2`` is not symmetric, and ``scipy.linalg.sqrtm`` of it returns tiny imaginary parts and, for
    near-singular covariances (dead ReLU units give zero-variance features), can fail or return NaN; the usual
    workaround adds ``eps * I``, which changes the answer. Here the trace is computed exactly without it: the
    eigenvalues of ``A B`` and ``B A`` coincide, so with ``R = S1^{1/2}`` (symmetric, from ``eigh``)

        eig(S1 S2) = eig(R (R S2)) = eig(R S2 R),

    and ``R S2 R`` is symmetric positive semi-definite, so ``tr((S1 S2)^{1/2}) = sum sqrt(eigvalsh(R S2 R))``: real
    eigenvalues, no imaginary parts to drop, and singular covariances are fine. Eigenvalues within rounding of 0
    (below ``d * eps * largest``, including slightly negative ones) are set to 0, and the result (>= 0 in exact
    arithmetic) is clipped at 0 likewise.

    Raises:
        ValueError: shapes that do not match, or NaN/infinite statistics.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64)), np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.ndim != 1 or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"Statistics of different sizes: mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, "
                         f"sigma2 {sigma2.shape}; both Gaussians must live in the same d-dimensional feature space.")
    for name, value in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.isfinite(value).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
    root1 = _symmetric_sqrt(sigma1)  # S1^{1/2}
    middle = root1 @ sigma2 @ root1  # R S2 R: symmetric PSD, same eigenvalues as S1 S2
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    trace_sqrt = np.sqrt(_psd_eigenvalues(eigenvalues)).sum()  # tr((S1 S2)^{1/2})
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    return float(max(distance, 0.0))


def frechet_distance(features_a, features_b) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (N_a, d) and (N_b, d).

    Symmetric, 0 for a set with itself, and equal to ``||mu_a - mu_b||^2 + sum_i (sqrt(s_a,i) - sqrt(s_b,i))^2``
    when both covariances are diagonal. See :func:`frechet_distance_from_statistics` for the numerics.

    Args:
        features_a, features_b: tensors or arrays of features, one row per sample (at least 2 rows each; use
            thousands: the estimate is biased upwards for few samples).

    Returns:
        The squared distance ``d^2`` as a float (the convention of FID), >= 0.

    Raises:
        ValueError: not 2-D, fewer than 2 samples, different numbers of features, NaN or infinite values.

    Example:
        >>> a = torch.randn(5000, 8, generator=torch.Generator().manual_seed(0))
        >>> round(frechet_distance(a, a + 1.0), 6)  # a shift of 1 in 8 dimensions
        8.0
    """
    a, b = _feature_matrix(features_a, "features_a"), _feature_matrix(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a has {a.shape[1]} features per sample but features_b has {b.shape[1]}; compute "
                         f"both with the same feature extractor.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warned once below, for the pair
        stats_a, stats_b = gaussian_statistics(a), gaussian_statistics(b)
    if min(a.shape[0], b.shape[0]) <= a.shape[1]:
        warnings.warn(f"{min(a.shape[0], b.shape[0])} samples of {a.shape[1]} features: the covariance is singular and "
                      f"the Fréchet distance strongly biased; use many more samples than features.", stacklevel=2)
    return frechet_distance_from_statistics(*stats_a, *stats_b)


# ------------------------------------------------------------------------------------------------ the classifier
class ReferenceClassifier:
    """A trained image classifier used as a fixed feature extractor and judge of generated images.

    Args:
        model: a classicnets image classifier (``CNNForImageClassification`` or ``MLPForImageClassification``).
        mean, std: the per-channel standardisation it was trained with (of pixels in [0, 1]).
        path: the folder it was loaded from, if any.
        info: what ``reference.json`` records (recipe, test accuracy, version), if any.
    """

    def __init__(self, model, mean, std, path: Path | None = None, info: dict | None = None):
        self.model = model.eval()
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.path = path
        self.info = dict(info or {})
        config = model.config
        self.image_shape = (config.num_channels, *tuple(config.image_size))
        self.num_labels = config.num_labels

    @classmethod
    def from_folder(cls, path: str | os.PathLike) -> ReferenceClassifier:
        """Loads a classifier folder (``classicnets train cnn|mlp`` output, or a cached reference classifier).

        Raises:
            FileNotFoundError, ValueError: not a classicnets image-classifier checkpoint.
        """
        from .loading import check_checkpoint_folder, load_pretrained

        folder = Path(path)
        model_type = check_checkpoint_folder(folder).get("model_type")
        if model_type not in ("classicnets_cnn", "classicnets_mlp"):
            raise ValueError(f"{folder} holds a {model_type!r} model, not an image classifier; a reference classifier "
                             f"must be a classicnets cnn or mlp classifier trained on the dataset the samples imitate "
                             f"(`classicnets train cnn --dataset ...`).")
        model = load_pretrained(folder)
        processor = folder / "preprocessor_config.json"
        if not processor.is_file():
            raise FileNotFoundError(f"{folder} has no preprocessor_config.json, so the standardisation its classifier "
                                    f"was trained with is unknown; use a folder written by `classicnets train`.")
        cfg = json.loads(processor.read_text())
        mean, std = (cfg["image_mean"], cfg["image_std"]) if cfg.get("do_normalize", True) else ([0.0], [1.0])
        info_file = folder / REFERENCE_FILE
        info = json.loads(info_file.read_text()) if info_file.is_file() else {}
        if not info and (folder / "metrics.json").is_file():
            metrics = json.loads((folder / "metrics.json").read_text())
            if "test_accuracy" in metrics:
                info["test_accuracy"] = metrics["test_accuracy"]
        return cls(model, mean, std, path=folder, info=info)

    @property
    def test_accuracy(self) -> float | None:
        """The classifier's accuracy on its dataset's test split, as measured when it was trained."""
        return self.info.get("test_accuracy")

    def _pixel_values(self, images: torch.Tensor, name: str) -> torch.Tensor:
        x = images_to_unit_interval(images, name)
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"{name} have shape {tuple(x.shape[1:])} per image but the reference classifier reads "
                             f"{self.image_shape}; use the classifier of the dataset the images imitate.")
        return (x - self.mean) / self.std  # the standardisation of training

    @torch.no_grad()
    def _run(self, images: torch.Tensor, name: str, batch_size: int, what: str) -> torch.Tensor:
        x = self._pixel_values(images, name)
        device = next(self.model.parameters()).device
        outputs = []
        for start in range(0, x.shape[0], batch_size):
            chunk = x[start:start + batch_size].to(device)
            if what == "features":
                outputs.append(self.model.forward_features(pixel_values=chunk).float().cpu())
            else:
                outputs.append(self.model(pixel_values=chunk).logits.float().cpu())
        return torch.cat(outputs) if outputs else torch.empty(0)

    def features(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Penultimate-layer features (N, num_features) of ``images`` (uint8 or floats in [-1, 1])."""
        return self._run(images, "images", batch_size, "features")

    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """The class id (N,) the classifier assigns to each image."""
        return self._run(images, "images", batch_size, "logits").argmax(dim=1)

    def frechet_distance(self, images_a: torch.Tensor, images_b: torch.Tensor, batch_size: int = 1000) -> float:
        """:func:`frechet_distance` between the features of two image sets."""
        return frechet_distance(self._run(images_a, "images_a", batch_size, "features"),
                                self._run(images_b, "images_b", batch_size, "features"))

    def conditional_accuracy(self, images: torch.Tensor, labels, batch_size: int = 1000) -> float:
        """See :func:`conditional_accuracy`."""
        return conditional_accuracy(self, images, labels, batch_size=batch_size)


def conditional_accuracy(classifier: ReferenceClassifier, images: torch.Tensor, labels, batch_size: int = 1000) -> float:
    """The fraction of class-conditional samples that ``classifier`` assigns to the class they were drawn for.

    Args:
        classifier: the :class:`ReferenceClassifier` of the dataset the generator imitates.
        images: generated images (N, C, H, W), floats in [-1, 1] (or uint8).
        labels: the requested class of each image (N,), ids of the classifier's classes.

    Returns:
        A float in [0, 1]; 1/num_labels for samples that ignore their label, 1 for perfect conditioning.

    Raises:
        ValueError: labels of the wrong shape or outside the classifier's classes, no images, bad images.
    """
    labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class ids, got {labels.dtype}.")
    n = images.shape[0] if hasattr(images, "shape") else len(images)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one requested class per image, got {tuple(labels.shape)}.")
    if n == 0:
        raise ValueError("conditional_accuracy needs at least one image.")
    if labels.min() < 0 or labels.max() >= classifier.num_labels:
        raise ValueError(f"labels must lie in [0, {classifier.num_labels}) (the reference classifier's classes), got "
                         f"{labels.min().item()}..{labels.max().item()}.")
    predicted = classifier.predict(images, batch_size=batch_size)
    return float((predicted == labels.long().cpu()).double().mean().item())


# ------------------------------------------------------------------------------------------------ building, caching
def reference_classifier_path(dataset: str, recipe: ReferenceRecipe = DEFAULT_RECIPE,
                              cache_root: str | os.PathLike | None = None) -> Path:
    """Where the reference classifier of ``dataset`` made by ``recipe`` lives (whether or not it exists yet)."""
    root = Path(cache_root) if cache_root is not None else cache_dir()
    return root / "reference_classifiers" / f"v{REFERENCE_VERSION}" / f"{dataset}-{recipe.key()}"


def _is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (REFERENCE_FILE, "config.json", "model.safetensors"))


def build_reference_classifier(dataset: str, recipe: ReferenceRecipe = DEFAULT_RECIPE,
                               cache_root: str | os.PathLike | None = None, data_source: str = "auto",
                               min_accuracy: float | None = None) -> Path:
    """Trains the reference classifier of ``dataset`` with ``recipe`` unless it is cached; returns its folder.

    The training run is ``classicnets train cnn --preset <recipe.preset>`` with the recipe's settings. It is written
    into a temporary folder beside the final one; its resumable checkpoints are dropped, ``reference.json`` (recipe,
    version, test accuracy) is added, and the folder is renamed into place, all under a file lock.

    Args:
        dataset: ``"mnist"`` or ``"fashion_mnist"``.
        recipe: the training recipe (the folder name carries its hash).
        cache_root: the cache folder (default ``classicnets.utils.cache_dir()``).
        data_source: where the training data comes from (see :func:`classicnets.data.load_dataset`).
        min_accuracy: refuse (and do not cache) a classifier below this test accuracy; default 0.985 for MNIST
            with the default recipe, none otherwise.

    Raises:
        ValueError: an unsupported dataset, or a classifier below ``min_accuracy``.
    """
    from filelock import FileLock

    from .training import TrainingArguments, run_training

    if dataset not in REFERENCE_DATASETS:
        raise ValueError(f"classicnets builds reference classifiers for {', '.join(REFERENCE_DATASETS)}, not "
                         f"{dataset!r}; train a classifier on it yourself (`classicnets train cnn --dataset "
                         f"{dataset} ...`) and pass its folder as the reference classifier.")
    if min_accuracy is None and dataset == "mnist" and recipe == DEFAULT_RECIPE:
        min_accuracy = MNIST_MIN_ACCURACY
    final = reference_classifier_path(dataset, recipe, cache_root)
    if _is_complete(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock"):
        if _is_complete(final):  # another process built it while this one waited
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            logger.info("Building the %s reference classifier (%s, recipe %s) in %s; this happens once.", dataset,
                        recipe.preset, recipe.key(), final)
            args = TrainingArguments(
                output_dir=str(tmp), seed=recipe.seed, num_train_epochs=recipe.epochs, max_steps=recipe.max_steps,
                per_device_train_batch_size=recipe.batch_size, learning_rate=recipe.learning_rate,
                lr_scheduler_type=recipe.lr_scheduler, weight_decay=recipe.weight_decay,
                train_subset=recipe.train_subset, disable_tqdm=True, save_total_limit=1,
            )
            metrics = run_training("cnn", dataset, args, preset=recipe.preset, data_source=data_source)
            accuracy = float(metrics["test_accuracy"])
            if min_accuracy is not None and accuracy < min_accuracy:
                raise ValueError(f"The {dataset} reference classifier reached {accuracy:.4f} test accuracy, below the "
                                 f"{min_accuracy} it needs to judge samples; it was not cached. Check the data and "
                                 f"the training code, or use a longer recipe.")
            shutil.rmtree(tmp / "checkpoints", ignore_errors=True)  # resumable states: not part of the reference
            info = {"version": REFERENCE_VERSION, "dataset": dataset, "recipe": dataclasses.asdict(recipe),
                    "recipe_key": recipe.key(), "test_accuracy": accuracy,
                    "features": "penultimate layer (forward_features: LeNet-5's F6 after its activation)"}
            atomic_write_text(tmp / REFERENCE_FILE, json.dumps(info, indent=2))
            if final.exists():  # an incomplete leftover (no reference.json): never a finished classifier
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


_LOADED: dict[Path, ReferenceClassifier] = {}


def load_reference_classifier(dataset: str, recipe: ReferenceRecipe = DEFAULT_RECIPE,
                              cache_root: str | os.PathLike | None = None, data_source: str = "auto",
                              build: bool = True) -> ReferenceClassifier:
    """The library's reference classifier of ``dataset``: loaded from the cache, built first if missing.

    Args:
        dataset: ``"mnist"`` or ``"fashion_mnist"``.
        recipe, cache_root, data_source: see :func:`build_reference_classifier`.
        build: when ``False``, a missing classifier is an error instead of being trained.

    Raises:
        FileNotFoundError: ``build=False`` and the classifier is not cached.
        ValueError: an unsupported dataset.

    Example:
        >>> reference = load_reference_classifier("mnist")
        >>> reference.test_accuracy > 0.985
        True
    """
    folder = reference_classifier_path(dataset, recipe, cache_root)
    if not _is_complete(folder):
        if not build:
            raise FileNotFoundError(f"No {dataset} reference classifier is cached at {folder}; call "
                                    f"load_reference_classifier({dataset!r}) with build=True to train it once.")
        folder = build_reference_classifier(dataset, recipe, cache_root, data_source)
    key = folder.resolve()
    if key not in _LOADED:
        _LOADED[key] = ReferenceClassifier.from_folder(folder)
    return _LOADED[key]


__all__ = [
    "DEFAULT_RECIPE",
    "REFERENCE_DATASETS",
    "REFERENCE_VERSION",
    "ReferenceClassifier",
    "ReferenceRecipe",
    "build_reference_classifier",
    "conditional_accuracy",
    "frechet_distance",
    "frechet_distance_from_statistics",
    "gaussian_statistics",
    "images_to_unit_interval",
    "load_reference_classifier",
    "reference_classifier_path",
]
