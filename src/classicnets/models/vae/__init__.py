"""Variational autoencoders (dense or convolutional; Bernoulli or Gaussian decoder): config and model."""

from .configuration_vae import VAEConfig
from .modeling_vae import VAEModel, VAEOutput, VAEPreTrainedModel, gaussian_kl

__all__ = ["VAEConfig", "VAEPreTrainedModel", "VAEModel", "VAEOutput", "gaussian_kl"]
