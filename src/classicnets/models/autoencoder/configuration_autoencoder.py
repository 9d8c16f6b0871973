"""Configuration of autoencoders: undercomplete, denoising and sparse; dense or convolutional; tied or untied.

An autoencoder maps an image ``x`` to a code ``h = f(x)`` of ``latent_size`` units and back to a reconstruction
``x_hat = g(h)`` (Rumelhart, Hinton & Williams 1986; Hinton & Salakhutdinov, "Reducing the dimensionality of data with
neural networks", Science 2006). The encoder is a stack of fully connected layers (``architecture="dense"``) or of
stride-2 convolutions followed by fully connected layers (``"conv"``); the decoder mirrors it.

Variants, combinable:

- denoising (Vincent et al., "Extracting and composing robust features with denoising autoencoders", ICML 2008): the
  encoder reads a corrupted ``x~`` (Gaussian noise or masking) in training mode, the loss compares ``x_hat`` with the
  clean ``x``;
- sparse: an L1 penalty on the code or the KL sparsity penalty of Ng's lecture notes ("Sparse autoencoder", CS294A,
  2011) on its mean activations;
- tied weights (dense only): decoder layer ``l`` uses the transpose of encoder layer ``L - l + 1``.

Preset: ``AutoencoderConfig.hinton_salakhutdinov()`` (784-1000-500-250-30, Science 2006).
This file imports only ``transformers`` so that it can travel inside a checkpoint as remote code.
"""

from transformers import PretrainedConfig

AUTOENCODER_ARCHITECTURES = ("dense", "conv")
AUTOENCODER_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "identity")
AUTOENCODER_CORRUPTIONS = ("none", "gaussian", "masking")
AUTOENCODER_SPARSITIES = ("none", "l1", "kl")
AUTOENCODER_RECONSTRUCTION_LOSSES = ("mse", "bce")


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


class AutoencoderConfig(PretrainedConfig):
    r"""Configuration of an [`AutoencoderModel`].

    Args:
        architecture (`str`, defaults to `"dense"`): `"dense"` (fully connected layers on the flattened image) or
            `"conv"` (4x4 stride-2 convolutions, then fully connected layers; the decoder uses transposed convolutions).
        num_channels (`int`, defaults to 1): channels of the images.
        image_size (`int` or `tuple[int, int]`, defaults to 28): height and width of the images. For `"conv"` both
            must be divisible by ``2 ** len(conv_channels)``.
        hidden_sizes (`tuple[int, ...]`, defaults to `(256,)`): widths of the encoder's fully connected hidden
            layers (after the convolutions for `"conv"`); the decoder uses them in reverse order. `()` with
            `latent_act="identity"` gives the linear autoencoder, whose optimum spans the principal subspace.
        conv_channels (`tuple[int, ...]`, defaults to `(32, 64)`): output channels of each convolution (`"conv"` only).
        latent_size (`int`, defaults to 32): units of the code ``h``.
        hidden_act (`str`, defaults to `"relu"`): non-linearity of the hidden layers.
        latent_act (`str`, defaults to `"identity"`): non-linearity of the code layer (`"sigmoid"` for KL sparsity).
        tie_weights (`bool`, defaults to `False`): decoder layers use the transposed encoder weights (one parameter
            per pair; the decoder keeps its own biases). Dense only.
        corruption (`str`, defaults to `"none"`): denoising corruption applied to the encoder input in training mode
            only: `"none"`, `"gaussian"` (``x~ = x + corruption_level * eps``, ``eps ~ N(0, I)``) or `"masking"`
            (each input value set to 0 with probability ``corruption_level``).
        corruption_level (`float`, defaults to 0.25): noise standard deviation (gaussian, > 0) or masking
            probability (masking, in (0, 1)).
        sparsity (`str`, defaults to `"none"`): penalty on the code: `"none"`, `"l1"`
            (``sparsity_weight * mean_i sum_j |h_ij|``) or `"kl"` (``sparsity_weight * sum_j KL(rho || rho_hat_j)``,
            ``rho_hat_j`` the batch mean of unit ``j``; needs `latent_act="sigmoid"`).
        sparsity_weight (`float`, defaults to 1e-3): weight of the sparsity penalty (>= 0).
        sparsity_target (`float`, defaults to 0.05): target mean activation ``rho`` of the KL penalty, in (0, 1).
        reconstruction_loss (`str`, defaults to `"mse"`): `"mse"` (squared error, the decoder outputs values) or
            `"bce"` (binary cross-entropy from logits, targets in [0, 1]); summed over pixels, averaged over images.
        initializer_range (`float`, defaults to 1.0): gain multiplier of the He / Glorot initialisation.

    Example:
        ```python
        >>> import torch
        >>> from classicnets import AutoencoderConfig, AutoencoderModel
        >>> config = AutoencoderConfig(architecture="conv", conv_channels=(16, 32), latent_size=16,
        ...                            corruption="masking", corruption_level=0.3)
        >>> model = AutoencoderModel(config)
        >>> model.encode(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 16])
        ```
    """

    model_type = "classicnets_autoencoder"

    architecture: str = "dense"
    num_channels: int = 1
    image_size: int | tuple[int, int] | list[int] = 28
    hidden_sizes: tuple[int, ...] | list[int] = (256,)
    conv_channels: tuple[int, ...] | list[int] = (32, 64)
    latent_size: int = 32
    hidden_act: str = "relu"
    latent_act: str = "identity"
    tie_weights: bool = False
    corruption: str = "none"
    corruption_level: float = 0.25
    sparsity: str = "none"
    sparsity_weight: float = 1e-3
    sparsity_target: float = 0.05
    reconstruction_loss: str = "mse"
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
    def hinton_salakhutdinov(cls, **kwargs) -> "AutoencoderConfig":
        """The deep MNIST autoencoder of Hinton & Salakhutdinov (Science 2006): 784-1000-500-250-30, logistic
        hidden units, a linear 30-unit code and a logistic output trained with cross-entropy. (They pretrained it
        with RBMs; here it is trained end to end.)"""
        defaults = dict(
            architecture="dense", image_size=28, hidden_sizes=(1000, 500, 250), latent_size=30, hidden_act="sigmoid",
            latent_act="identity", reconstruction_loss="bce",
        )
        defaults.update(kwargs)
        return cls(**defaults)

    # ----------------------------------------------------------------------------------- shapes
    @property
    def input_size(self) -> int:
        """Values per image: ``num_channels * height * width``."""
        return self.num_channels * self.image_size[0] * self.image_size[1]

    def conv_feature_map_size(self) -> tuple[int, int, int]:
        """(channels, height, width) after the convolutions (`"conv"`); the decoder starts from this map."""
        height, width = self.image_size
        factor = 2 ** len(self.conv_channels)
        return (self.conv_channels[-1], height // factor, width // factor)

    def validate(self):
        """Checks every field and raises a `ValueError` naming the field, the value and what is allowed."""
        validate_image_stack(self)
        if self.latent_act not in AUTOENCODER_ACTIVATIONS:
            raise ValueError(
                f"latent_act={self.latent_act!r} is not supported; choose one of {', '.join(AUTOENCODER_ACTIVATIONS)}."
            )
        if not isinstance(self.tie_weights, bool):
            raise ValueError(f"tie_weights must be True or False, got {self.tie_weights!r}.")
        if self.tie_weights and self.architecture != "dense":
            raise ValueError(
                "tie_weights=True needs architecture='dense' (a decoder layer reuses the transposed encoder matrix); "
                "set tie_weights=False for the convolutional autoencoder."
            )
        if self.corruption not in AUTOENCODER_CORRUPTIONS:
            raise ValueError(
                f"corruption={self.corruption!r} is not supported; choose one of {', '.join(AUTOENCODER_CORRUPTIONS)}."
            )
        level = self.corruption_level
        if not isinstance(level, (int, float)) or isinstance(level, bool) or level != level:
            raise ValueError(f"corruption_level must be a number, got {level!r}.")
        if self.corruption == "gaussian" and not level > 0:
            raise ValueError(f"corruption_level is the noise standard deviation for corruption='gaussian': "
                             f"it must be > 0, got {level!r}.")
        if self.corruption == "masking" and not 0 < level < 1:
            raise ValueError(f"corruption_level is the masking probability for corruption='masking': "
                             f"it must be in (0, 1), got {level!r}.")
        if self.sparsity not in AUTOENCODER_SPARSITIES:
            raise ValueError(
                f"sparsity={self.sparsity!r} is not supported; choose one of {', '.join(AUTOENCODER_SPARSITIES)}."
            )
        weight = self.sparsity_weight
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight >= 0:
            raise ValueError(f"sparsity_weight must be >= 0, got {weight!r}.")
        rho = self.sparsity_target
        if not isinstance(rho, (int, float)) or isinstance(rho, bool) or not 0 < rho < 1:
            raise ValueError(f"sparsity_target (the target mean activation rho) must be in (0, 1), got {rho!r}.")
        if self.sparsity == "kl" and self.latent_act != "sigmoid":
            raise ValueError(
                f"sparsity='kl' compares mean code activations with rho as Bernoulli probabilities, so the code must "
                f"lie in (0, 1): set latent_act='sigmoid' (got latent_act={self.latent_act!r}), or use sparsity='l1'."
            )
        if self.reconstruction_loss not in AUTOENCODER_RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"reconstruction_loss={self.reconstruction_loss!r} is not supported; choose one of "
                f"{', '.join(AUTOENCODER_RECONSTRUCTION_LOSSES)}."
            )


__all__ = [
    "AutoencoderConfig",
    "AUTOENCODER_ARCHITECTURES",
    "AUTOENCODER_ACTIVATIONS",
    "AUTOENCODER_CORRUPTIONS",
    "AUTOENCODER_SPARSITIES",
    "AUTOENCODER_RECONSTRUCTION_LOSSES",
]
