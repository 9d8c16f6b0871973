"""Configuration of variational autoencoders (one stochastic layer; dense or convolutional; Bernoulli or Gaussian decoder).

A VAE (Kingma & Welling, "Auto-Encoding Variational Bayes", arXiv:1312.6114; Rezende, Mohamed & Wierstra,
arXiv:1401.4082) has a prior ``p(z) = N(0, I)`` over ``latent_size`` units, a decoder ``p(x | z)`` and a Gaussian
encoder ``q(z | x) = N(mu(x), diag(exp(logvar(x))))``. The encoder and decoder networks are the autoencoder's: fully
connected layers (``architecture="dense"``) or stride-2 convolutions followed by fully connected layers (``"conv"``).

Presets: ``VAEConfig.kingma_welling()`` (one 500-unit tanh hidden layer, Kingma & Welling 2013) and
``VAEConfig.burda()`` (784-200-200-50 tanh, the one-stochastic-layer model of Burda, Grosse & Salakhutdinov,
"Importance Weighted Autoencoders", arXiv:1509.00519).
This file imports only ``transformers`` so that it can travel inside a checkpoint as remote code.
"""

import math

from transformers import PretrainedConfig

VAE_DECODER_DISTRIBUTIONS = ("bernoulli", "gaussian")
VAE_DECODER_VARIANCES = ("fixed", "learned")


# Copied from classicnets.models.autoencoder.configuration_autoencoder.validate_image_stack
def validate_image_stack(config) -> None:
    """Checks the fields that shape the encoder/decoder stack (shared by the autoencoder and VAE configs).

    The convolutional stack uses 4x4 kernels with stride 2 and padding 1: each convolution halves the height and
    width (``floor(n / 2)``) and each transposed convolution doubles them (``2n``). The decoder gives back exactly
    the input size only when both are divisible by ``2 ** len(conv_channels)``.
    """
    if config.architecture not in ("dense", "conv"):
        raise ValueError(f"architecture={config.architecture!r} is not supported; choose 'dense' or 'conv'.")
    if not isinstance(config.num_channels, int) or config.num_channels <= 0:
        raise ValueError(f"num_channels must be a positive int, got {config.num_channels!r}.")
    if len(config.image_size) != 2 or any(not isinstance(s, int) or s <= 0 for s in config.image_size):
        raise ValueError(
            f"image_size must be a positive int or a (height, width) pair of positive ints, got {config.image_size!r}."
        )
    if not isinstance(config.latent_size, int) or isinstance(config.latent_size, bool) or config.latent_size <= 0:
        raise ValueError(
            f"latent_size must be a positive int (the number of code units), got {config.latent_size!r}; "
            f"use e.g. latent_size=32."
        )
    if any(not isinstance(h, int) or h <= 0 for h in config.hidden_sizes):
        raise ValueError(f"hidden_sizes must hold positive ints, got {config.hidden_sizes!r}.")
    if any(not isinstance(c, int) or c <= 0 for c in config.conv_channels):
        raise ValueError(f"conv_channels must hold positive ints, got {config.conv_channels!r}.")
    if config.architecture == "conv":
        num_layers = len(config.conv_channels)
        if num_layers == 0:
            raise ValueError("conv_channels must name at least one convolution for architecture='conv', e.g. (32, 64).")
        factor = 2**num_layers
        height, width = config.image_size
        if height % factor or width % factor:
            raise ValueError(
                f"image_size={config.image_size} cannot be reproduced by the convolutional decoder: "
                f"{num_layers} stride-2 layers (conv_channels={config.conv_channels}) halve the size {num_layers} "
                f"times and double it back, so height and width must be divisible by 2**{num_layers} = {factor}. "
                f"Pad or resize the images, or use fewer conv_channels."
            )
    if config.hidden_act not in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "identity"):
        raise ValueError(
            f"hidden_act={config.hidden_act!r} is not supported; choose one of sigmoid, tanh, relu, leaky_relu, elu, "
            f"gelu, silu, softplus, identity."
        )
    if not isinstance(config.initializer_range, (int, float)) or config.initializer_range <= 0:
        raise ValueError(f"initializer_range must be > 0, got {config.initializer_range!r}.")


class VAEConfig(PretrainedConfig):
    r"""Configuration of a [`VAEModel`].

    Args:
        architecture (`str`, defaults to `"dense"`): `"dense"` or `"conv"` (4x4 stride-2 convolutions, then fully
            connected layers; the decoder uses transposed convolutions).
        num_channels (`int`, defaults to 1): channels of the images.
        image_size (`int` or `tuple[int, int]`, defaults to 28): height and width of the images. For `"conv"` both
            must be divisible by ``2 ** len(conv_channels)``.
        hidden_sizes (`tuple[int, ...]`, defaults to `(400,)`): widths of the encoder's fully connected hidden
            layers (after the convolutions for `"conv"`); the decoder uses them in reverse order.
        conv_channels (`tuple[int, ...]`, defaults to `(32, 64)`): output channels of each convolution (`"conv"` only).
        latent_size (`int`, defaults to 20): dimension of ``z``.
        hidden_act (`str`, defaults to `"relu"`): non-linearity of the hidden layers.
        decoder_distribution (`str`, defaults to `"bernoulli"`): `"bernoulli"` (the decoder gives logits; targets
            in [0, 1], binarized for a true likelihood) or `"gaussian"` (the decoder gives the mean).
        decoder_variance (`str`, defaults to `"fixed"`): for the Gaussian decoder: `"fixed"` (every pixel has
            variance ``decoder_std ** 2``) or `"learned"` (one variance shared by all pixels, a parameter initialised
            at ``decoder_std ** 2``; a per-pixel variance would collapse on the constant border pixels of digits and
            send the likelihood to infinity).
        decoder_std (`float`, defaults to 1.0): the Gaussian decoder's standard deviation (fixed or initial).
        beta (`float`, defaults to 1.0): weight of the KL term in the training loss (Higgins et al., "beta-VAE",
            ICLR 2017); the ELBO and the likelihood estimates always use 1.
        initializer_range (`float`, defaults to 1.0): gain multiplier of the He / Glorot initialisation.

    Example:
        ```python
        >>> from classicnets import VAEConfig, VAEModel
        >>> model = VAEModel(VAEConfig.burda())
        >>> model.sample(4).shape
        torch.Size([4, 1, 28, 28])
        ```
    """

    model_type = "classicnets_vae"

    architecture: str = "dense"
    num_channels: int = 1
    image_size: int | tuple[int, int] | list[int] = 28
    hidden_sizes: tuple[int, ...] | list[int] = (400,)
    conv_channels: tuple[int, ...] | list[int] = (32, 64)
    latent_size: int = 20
    hidden_act: str = "relu"
    decoder_distribution: str = "bernoulli"
    decoder_variance: str = "fixed"
    decoder_std: float = 1.0
    beta: float = 1.0
    initializer_range: float = 1.0

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if isinstance(self.image_size, int):
            self.image_size = (self.image_size, self.image_size)
        # JSON turns tuples into lists: keep the immutable form in memory.
        for name in ("image_size", "hidden_sizes", "conv_channels"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{name} must be a list of ints (e.g. {name}=[32, 64]), got {value!r}.")
            setattr(self, name, tuple(value))
        self.validate()

    # ----------------------------------------------------------------------------------- presets
    @classmethod
    def kingma_welling(cls, latent_size: int = 20, **kwargs) -> "VAEConfig":
        """The MNIST VAE of Kingma & Welling (2013): one 500-unit tanh hidden layer in the encoder and the decoder,
        a Bernoulli decoder."""
        defaults = dict(architecture="dense", image_size=28, hidden_sizes=(500,), hidden_act="tanh",
                        decoder_distribution="bernoulli")
        defaults.update(kwargs)
        return cls(latent_size=latent_size, **defaults)

    @classmethod
    def burda(cls, **kwargs) -> "VAEConfig":
        """The one-stochastic-layer MNIST model of Burda et al. (2015): 784-200-200-50 with tanh units and a
        Bernoulli decoder (their VAE reached a test NLL of about 86.8 nats on binarized MNIST)."""
        defaults = dict(architecture="dense", image_size=28, hidden_sizes=(200, 200), latent_size=50,
                        hidden_act="tanh", decoder_distribution="bernoulli")
        defaults.update(kwargs)
        return cls(**defaults)

    # ----------------------------------------------------------------------------------- shapes
    @property
    def input_size(self) -> int:
        """Values per image: ``num_channels * height * width``."""
        return self.num_channels * self.image_size[0] * self.image_size[1]

    def validate(self):
        """Checks every field and raises a `ValueError` naming the field, the value and what is allowed."""
        validate_image_stack(self)
        if self.decoder_distribution not in VAE_DECODER_DISTRIBUTIONS:
            raise ValueError(
                f"decoder_distribution={self.decoder_distribution!r} is not supported; choose one of "
                f"{', '.join(VAE_DECODER_DISTRIBUTIONS)}."
            )
        if self.decoder_variance not in VAE_DECODER_VARIANCES:
            raise ValueError(
                f"decoder_variance={self.decoder_variance!r} is not supported; choose one of "
                f"{', '.join(VAE_DECODER_VARIANCES)}."
            )
        std = self.decoder_std
        if not isinstance(std, (int, float)) or isinstance(std, bool) or not (0 < std and math.isfinite(std)):
            raise ValueError(f"decoder_std must be a finite number > 0, got {std!r}.")
        if not isinstance(self.beta, (int, float)) or isinstance(self.beta, bool) or not (
            self.beta >= 0 and math.isfinite(self.beta)
        ):
            raise ValueError(f"beta (the weight of the KL term) must be a finite number >= 0, got {self.beta!r}.")


__all__ = ["VAEConfig", "VAE_DECODER_DISTRIBUTIONS", "VAE_DECODER_VARIANCES"]
