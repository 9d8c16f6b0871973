"""classicnets: the classic architectures of deep learning as first-class Hugging Face models.

Importing this package registers every architecture with the transformers Auto classes, so that
``AutoModelForImageClassification.from_pretrained(folder)`` works for any classicnets checkpoint.

Example:
    >>> import classicnets
    >>> from classicnets import CNNConfig, CNNForImageClassification
    >>> model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
"""

from .models.auto import register_all
from .models.cnn import CNNConfig, CNNForImageClassification, CNNModel, CNNPreTrainedModel
from .models.mlp import (
    MLPConfig,
    MLPForImageClassification,
    MLPForTabularClassification,
    MLPForTabularRegression,
    MLPModel,
    MLPPreTrainedModel,
)

__version__ = "0.1.0"

register_all()

__all__ = [
    "CNNConfig",
    "CNNForImageClassification",
    "CNNModel",
    "CNNPreTrainedModel",
    "MLPConfig",
    "MLPForImageClassification",
    "MLPForTabularClassification",
    "MLPForTabularRegression",
    "MLPModel",
    "MLPPreTrainedModel",
    "__version__",
]
