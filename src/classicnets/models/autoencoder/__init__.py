"""Autoencoders (undercomplete, denoising, sparse; dense or convolutional; tied or untied): config and model."""

from .configuration_autoencoder import AutoencoderConfig
from .modeling_autoencoder import AutoencoderModel, AutoencoderOutput, AutoencoderPreTrainedModel

__all__ = ["AutoencoderConfig", "AutoencoderPreTrainedModel", "AutoencoderModel", "AutoencoderOutput"]
