"""Generative adversarial networks (MLP GAN, DCGAN, class-conditional): config and model."""

from .configuration_gan import GANConfig
from .modeling_gan import GANDiscriminator, GANGenerator, GANModel, GANOutput, GANPreTrainedModel

__all__ = ["GANConfig", "GANPreTrainedModel", "GANModel", "GANOutput", "GANGenerator", "GANDiscriminator"]
