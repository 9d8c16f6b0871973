"""The one place that registers classicnets architectures with transformers' Auto classes.

Registration makes ``AutoConfig``/``AutoModel``/``AutoModelFor...`` resolve our ``model_type`` strings when
classicnets is imported, and ``register_for_auto_class`` makes ``save_pretrained`` copy each model's own
code next to its weights with a full ``auto_map`` (see ``<Arch>PreTrainedModel._auto_map``), so plain
transformers can load a checkpoint with ``trust_remote_code=True`` where classicnets is not installed.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    AutoModelForTimeSeriesPrediction,
)

from .autoencoder import AutoencoderConfig, AutoencoderModel
from .cnn import CNNConfig, CNNForImageClassification, CNNModel
from .gan import GANConfig, GANModel
from .mlp import MLPConfig, MLPForImageClassification, MLPModel
from .rnn import RNNConfig, RNNForCausalLM, RNNForSequenceClassification, RNNForTimeSeriesForecasting, RNNModel
from .vae import VAEConfig, VAEModel

# (config, {Auto class: model class}) for every architecture family.
REGISTRY = (
    (MLPConfig, {AutoModel: MLPModel, AutoModelForImageClassification: MLPForImageClassification}),
    (CNNConfig, {AutoModel: CNNModel, AutoModelForImageClassification: CNNForImageClassification}),
    (
        RNNConfig,
        {
            AutoModel: RNNModel,
            AutoModelForCausalLM: RNNForCausalLM,
            AutoModelForSequenceClassification: RNNForSequenceClassification,
            AutoModelForTimeSeriesPrediction: RNNForTimeSeriesForecasting,
        },
    ),
    # The image-feature-extraction pipeline loads AutoModel and returns the first output field: the code / mu.
    (AutoencoderConfig, {AutoModel: AutoencoderModel}),
    (VAEConfig, {AutoModel: VAEModel}),
    # Generator and discriminator in one model: no task head fits a GAN, so AutoModel only.
    (GANConfig, {AutoModel: GANModel}),
)

# The names users type on the command line (`classicnets train ARCH`).
ARCHITECTURES = {"mlp": MLPConfig, "cnn": CNNConfig, "rnn": RNNConfig, "autoencoder": AutoencoderConfig,
                 "vae": VAEConfig, "gan": GANConfig}


def register_all() -> None:
    """Registers every architecture; safe to call more than once."""
    for config_class, models in REGISTRY:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        config_class.register_for_auto_class()
        for auto_class, model_class in models.items():
            auto_class.register(config_class, model_class, exist_ok=True)
            model_class.register_for_auto_class(auto_class.__name__)


__all__ = ["ARCHITECTURES", "REGISTRY", "register_all"]
