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
from .models.autoencoder import AutoencoderConfig, AutoencoderModel, AutoencoderOutput, AutoencoderPreTrainedModel
from .models.cnn import CNNConfig, CNNForImageClassification, CNNModel, CNNPreTrainedModel
from .models.gan import GANConfig, GANModel, GANOutput, GANPreTrainedModel
from .models.mlp import (
    MLPConfig,
    MLPForImageClassification,
    MLPForTabularClassification,
    MLPForTabularRegression,
    MLPModel,
    MLPPreTrainedModel,
)
from .models.rnn import (
    RNNCache,
    RNNConfig,
    RNNForCausalLM,
    RNNForSequenceClassification,
    RNNForTimeSeriesForecasting,
    RNNModel,
    RNNPreTrainedModel,
    convert_rnn_state_dict,
)
from .models.vae import VAEConfig, VAEModel, VAEOutput, VAEPreTrainedModel

__version__ = "0.1.0"

register_all()


def _register_image_processor() -> None:
    from transformers import AutoImageProcessor

    from .models.auto import REGISTRY

    for config_class, models in REGISTRY:
        # Only the image families save an image processor (their _auto_map names it); sequence models have none.
        if not any("AutoImageProcessor" in getattr(m, "_auto_map", {}) for m in models.values()):
            continue
        AutoImageProcessor.register(config_class, image_processor_classes={"pil": ClassicnetsImageProcessor},
                                    exist_ok=True)
    ClassicnetsImageProcessor.register_for_auto_class("AutoImageProcessor")


_register_image_processor()

__all__ = [
    "AutoencoderConfig",
    "AutoencoderModel",
    "AutoencoderOutput",
    "AutoencoderPreTrainedModel",
    "CNNConfig",
    "CNNForImageClassification",
    "ClassicnetsImageProcessor",
    "CNNModel",
    "CNNPreTrainedModel",
    "GANConfig",
    "GANModel",
    "GANOutput",
    "GANPreTrainedModel",
    "MLPConfig",
    "MLPForImageClassification",
    "MLPForTabularClassification",
    "MLPForTabularRegression",
    "MLPModel",
    "MLPPreTrainedModel",
    "RNNCache",
    "RNNConfig",
    "RNNForCausalLM",
    "RNNForSequenceClassification",
    "RNNForTimeSeriesForecasting",
    "RNNModel",
    "RNNPreTrainedModel",
    "VAEConfig",
    "VAEModel",
    "VAEOutput",
    "VAEPreTrainedModel",
    "convert_rnn_state_dict",
    "__version__",
]
