"""Generative metrics without downloads: the Fréchet distance against closed forms and scipy, on real MNIST and
Fashion-MNIST features, the conditional accuracy, the cached reference classifier, and every refusal."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import TEST_REFERENCE_RECIPE_KWARGS

from classicnets.data import image_tensors, load_dataset
from classicnets.generative_metrics import (
    REFERENCE_VERSION,
    ReferenceRecipe,
    build_reference_classifier,
    conditional_accuracy,
    frechet_distance,
    frechet_distance_from_statistics,
    gaussian_statistics,
    images_to_unit_interval,
    load_reference_classifier,
    reference_classifier_path,
)


def correlated(n: int, d: int, seed: int, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * scale
    return rng.normal(size=(n, d)) @ mixing + rng.normal(size=d)


def scipy_frechet(mu1, s1, mu2, s2) -> float:
    """The textbook formula with scipy's general matrix square root (real part taken, as FID code does)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


# ------------------------------------------------------------------------------------------ the formula
def test_distance_of_a_set_with_itself_is_zero():
    a = correlated(3000, 16, seed=0)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(torch.from_numpy(a).float(), torch.from_numpy(a).float()) == pytest.approx(0.0, abs=1e-4)


def test_diagonal_gaussians_match_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    s1, s2 = rng.uniform(0.1, 4.0, size=10), rng.uniform(0.1, 4.0, size=10)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum()
    got = frechet_distance_from_statistics(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-12)
    # The same Gaussians rotated by one orthogonal Q (non-diagonal, non-commuting with nothing changed): same distance.
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    rotated = frechet_distance_from_statistics(q @ mu1, q @ np.diag(s1) @ q.T, q @ mu2, q @ np.diag(s2) @ q.T)
    assert rotated == pytest.approx(expected, rel=1e-10)


def test_a_shift_adds_its_squared_length_and_samples_recover_the_gaussians():
    a = correlated(4000, 8, seed=2)
    shift = np.arange(8) / 4.0
    assert frechet_distance(a, a + shift) == pytest.approx((shift**2).sum(), rel=1e-9)
    # Samples of N(0, diag(1)) and N(1, diag(4)) in 4 dimensions: 4 * 1 + 4 * (2 - 1)^2 = 8, up to sampling error.
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200_000, 4)), 1.0 + 2.0 * rng.normal(size=(200_000, 4))
    assert frechet_distance(x, y) == pytest.approx(8.0, rel=0.01)


def test_general_covariances_agree_with_scipy_and_the_distance_is_symmetric():
    a, b = correlated(5000, 12, seed=4), correlated(5000, 12, seed=5, scale=0.5)
    (mu1, s1), (mu2, s2) = gaussian_statistics(a), gaussian_statistics(b)
    assert frechet_distance(a, b) == pytest.approx(scipy_frechet(mu1, s1, mu2, s2), rel=1e-8)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-10)
    assert frechet_distance(a, b) > 1.0


def test_singular_covariances_give_the_exact_distance():
    """Dead ReLU units are constant features (zero variance): the covariance is singular. The constant column adds
    nothing to the distance, so it must equal the distance without it -- no NaN, no eps * I offset."""
    a, b = correlated(3000, 6, seed=6), correlated(3000, 6, seed=7)
    expected = frechet_distance(a, b)
    dead = np.zeros((3000, 1))
    got = frechet_distance(np.hstack([a, dead, dead]), np.hstack([b, dead, dead]))
    assert math.isfinite(got) and got == pytest.approx(expected, rel=1e-9)
    # A rank-1 covariance (every sample on the line t * 1) against a full one S2: with S1 = v 11^T, v = var(t),
    # tr((S1 S2)^{1/2}) = sqrt(v 1^T S2 1), so d^2 = ||mu1 - mu2||^2 + 6 v + tr(S2) - 2 sqrt(v 1^T S2 1).
    t = np.linspace(-1, 1, 500)
    line = np.outer(t, np.ones(6))
    mu2, s2 = gaussian_statistics(b)
    v, ones = t.var(ddof=1), np.ones(6)
    expected = (mu2**2).sum() + 6 * v + np.trace(s2) - 2 * np.sqrt(v * ones @ s2 @ ones)
    assert frechet_distance(line, b) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.ones((1, 4)), np.ones((10, 4)), "features_a has 1 sample.*at least 2"),
        (np.ones((10, 4)), np.ones((10, 5)), "features_a has 4 features per sample but features_b has 5"),
        (np.full((10, 4), np.nan), np.ones((10, 4)), "features_a contains NaN"),
        (np.ones((10, 4)), np.r_[np.ones((9, 4)), [[0, np.inf, 0, 0]]], "features_b contains NaN or infinite"),
        (np.ones(10), np.ones((10, 1)), r"must be a 2-D array .*got shape \(10,\)"),
    ],
)
def test_bad_features_are_refused(a, b, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(a, b)


def test_statistics_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="same d-dimensional feature space"):
        frechet_distance_from_statistics(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_images_are_read_as_uint8_pixels_or_gan_floats():
    u = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    assert torch.allclose(images_to_unit_interval(u), torch.tensor([0.0, 0.2, 1.0]).view(1, 1, 1, 3))
    assert torch.allclose(images_to_unit_interval(u.float() / 127.5 - 1), images_to_unit_interval(u), atol=1e-6)
    with pytest.raises(ValueError, match=r"GAN range \[-1, 1\].*as uint8"):
        images_to_unit_interval(u.float())
    with pytest.raises(ValueError, match="NaN or infinite"):
        images_to_unit_interval(torch.full((1, 1, 2, 2), float("nan")))
    with pytest.raises(ValueError, match="shape"):
        images_to_unit_interval(torch.zeros(2, 28, 28))


# ------------------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def real_images():
    mnist, fashion = load_dataset("mnist", source="offline"), load_dataset("fashion_mnist", source="offline")
    return image_tensors(mnist["train"].select(range(2000))), image_tensors(mnist["test"].select(range(2000))), \
        image_tensors(fashion["test"].select(range(2000)))


def test_mnist_is_close_to_mnist_and_far_from_fashion_mnist(mnist_reference, real_images):
    (train, _), (test, _), (fashion, _) = real_images
    same = mnist_reference.frechet_distance(test, train)
    other = mnist_reference.frechet_distance(test, fashion)
    # The same distribution differs only by sampling noise; clothes are far from digits in a digit classifier's eyes.
    assert 0 < same and other > 20 * same, (same, other)
    # GAN-range floats and uint8 pixels are the same images.
    assert mnist_reference.frechet_distance(test.float() / 127.5 - 1, train) == pytest.approx(same, rel=1e-4)
    features = mnist_reference.features(test[:10])
    assert features.shape == (10, 84)  # LeNet-5's F6


def test_conditional_accuracy_counts_samples_of_the_requested_class(mnist_reference, real_images):
    _, (test, labels), _ = real_images
    accuracy = conditional_accuracy(mnist_reference, test, labels)
    assert accuracy == pytest.approx((mnist_reference.predict(test) == labels).double().mean().item())
    assert accuracy > 0.95
    # The right images asked for the wrong digit: almost never "the requested class".
    assert conditional_accuracy(mnist_reference, test, (labels + 1) % 10) < 0.03
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        conditional_accuracy(mnist_reference, test[:4], torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        conditional_accuracy(mnist_reference, test[:4], torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="reads"):
        mnist_reference.features(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))


def test_the_reference_classifier_is_cached_in_a_versioned_folder_and_reused(mnist_reference, reference_cache):
    recipe = ReferenceRecipe(**TEST_REFERENCE_RECIPE_KWARGS)
    folder = reference_classifier_path("mnist", recipe, reference_cache)
    assert folder == reference_cache / "reference_classifiers" / f"v{REFERENCE_VERSION}" / f"mnist-{recipe.key()}"
    assert mnist_reference.path == folder
    info = json.loads((folder / "reference.json").read_text())
    assert info["recipe"]["max_steps"] == 300 and info["version"] == REFERENCE_VERSION
    # The recorded accuracy is the one the training run measured on the 10,000 test images.
    assert info["test_accuracy"] == json.loads((folder / "metrics.json").read_text())["test_accuracy"] > 0.95
    assert not (folder / "checkpoints").exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    stamp = os.stat(folder / "model.safetensors").st_mtime_ns
    assert build_reference_classifier("mnist", recipe, reference_cache) == folder  # found, not rebuilt
    assert load_reference_classifier("mnist", recipe, reference_cache) is mnist_reference
    assert os.stat(folder / "model.safetensors").st_mtime_ns == stamp
    # Another recipe is another classifier, in another folder; build=False never trains.
    other = ReferenceRecipe(**{**TEST_REFERENCE_RECIPE_KWARGS, "seed": 1})
    assert reference_classifier_path("mnist", other, reference_cache) != folder
    with pytest.raises(FileNotFoundError, match="build=True"):
        load_reference_classifier("mnist", other, reference_cache, build=False)
    with pytest.raises(ValueError, match="reference classifiers for mnist, fashion_mnist, not 'digits'"):
        build_reference_classifier("digits", recipe, reference_cache)
