"""classicnets: the classic architectures of deep learning as first-class Hugging Face models.

Importing this package registers every architecture with the transformers Auto classes, so that
``AutoModelForImageClassification.from_pretrained(folder)`` works for any classicnets checkpoint.

Example:
    >>> import classicnets
    >>> from classicnets import CNNConfig, CNNForImageClassification
    >>> model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
"""

from .data.image_processing_classicnets import ClassicnetsImageProcessor
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


def _register_image_processor() -> None:
    from transformers import AutoImageProcessor

    from .models.auto import REGISTRY

    for config_class, _ in REGISTRY:
        AutoImageProcessor.register(config_class, image_processor_classes={"pil": ClassicnetsImageProcessor},
                                    exist_ok=True)
    ClassicnetsImageProcessor.register_for_auto_class("AutoImageProcessor")


_register_image_processor()

__all__ = [
    "CNNConfig",
    "CNNForImageClassification",
    "ClassicnetsImageProcessor",
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
