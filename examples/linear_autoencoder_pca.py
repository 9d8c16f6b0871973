"""A linear autoencoder with k units against PCA with k components: the same reconstruction error on MNIST.

Baldi & Hornik ("Neural networks and principal component analysis", Neural Networks 1989): the squared-error optimum
of a linear autoencoder x -> W_2 (W_1 x + b_1) + b_2 with k code units projects on the space of the first k principal
components, so its reconstruction error equals PCA's and no rank-k map does better. This script fits both on the
60,000 MNIST training images (intensities in [0, 1]) and reports the mean squared error per image (summed over the
784 pixels) on the training set and on the 10,000 test images.

The autoencoder is classicnets' ``AutoencoderModel`` with ``hidden_sizes=()``, ``latent_act="identity"`` and the
squared error, trained full-batch with L-BFGS in float64 (the optimum is reached to many digits; Adam in the
common loop approaches it more slowly). PCA is the eigendecomposition of the training covariance.

Usage: ``python examples/linear_autoencoder_pca.py [--k 16 32] [--max-iter 300]``; one JSON line per k.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from classicnets import AutoencoderConfig, AutoencoderModel
from classicnets.data import image_tensors, load_dataset


def pca_errors(train: torch.Tensor, test: torch.Tensor, k: int) -> tuple[float, float]:
    """Mean squared reconstruction error per image of the projection on the top-k principal components."""
    mean = train.mean(0, keepdim=True)
    covariance = (train - mean).T @ (train - mean) / len(train)  # (784, 784)
    _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
    basis = vectors[:, -k:]  # (784, k) the top-k principal directions

    def error(x):
        centred = x - mean
        return (centred - centred @ basis @ basis.T).pow(2).sum(1).mean().item()

    return error(train), error(test)


def autoencoder_errors(train: torch.Tensor, test: torch.Tensor, k: int, max_iter: int) -> tuple[float, float, int]:
    torch.manual_seed(0)
    model = AutoencoderModel(AutoencoderConfig(image_size=28, hidden_sizes=(), latent_size=k, hidden_act="identity",
                                               latent_act="identity", reconstruction_loss="mse")).double()
    x_train, x_test = train.view(-1, 1, 28, 28), test.view(-1, 1, 28, 28)
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=max_iter, history_size=50,
                                  tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = model(pixel_values=x_train, return_loss=True).loss  # mean over images of the summed squared error
        loss.backward()
        return loss

    optimizer.step(closure)
    iterations = optimizer.state[optimizer._params[0]]["n_iter"]  # noqa: SLF001 (LBFGS keeps no public counter)
    model.eval()
    with torch.no_grad():
        train_error = model(pixel_values=x_train, return_loss=True).loss.item()
        test_error = model(pixel_values=x_test, return_loss=True).loss.item()
    return train_error, test_error, iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--max-iter", type=int, default=300)
    ns = parser.parse_args()
    mnist = load_dataset("mnist", source="offline")
    train = image_tensors(mnist["train"])[0].double().flatten(1) / 255  # (60000, 784)
    test = image_tensors(mnist["test"])[0].double().flatten(1) / 255
    for k in ns.k:
        start = time.perf_counter()
        pca_train, pca_test = pca_errors(train, test, k)
        ae_train, ae_test, iterations = autoencoder_errors(train, test, k, ns.max_iter)
        print(json.dumps({
            "k": k, "pca_train_sse": round(pca_train, 4), "autoencoder_train_sse": round(ae_train, 4),
            "train_ratio": round(ae_train / pca_train, 5), "pca_test_sse": round(pca_test, 4),
            "autoencoder_test_sse": round(ae_test, 4), "test_ratio": round(ae_test / pca_test, 5),
            "within_1_percent": abs(ae_train / pca_train - 1) <= 0.01, "lbfgs_iterations": iterations,
            "seconds": round(time.perf_counter() - start, 1),
        }), flush=True)


if __name__ == "__main__":
    main()
