"""Configuration of generative adversarial networks: the MLP GAN, DCGAN and their class-conditional forms.

A GAN is two networks trained against each other (Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014,
arXiv:1406.2661): a generator ``G`` maps a latent ``z ~ N(0, I)`` of ``latent_size`` dimensions to an image, and a
discriminator ``D`` maps an image to one logit, the log-odds that it came from the data rather than from ``G``.

- ``architecture="mlp"``: both networks are multilayer perceptrons on flattened images (Goodfellow et al. 2014).
- ``architecture="dcgan"``: the deep convolutional GAN of Radford, Metz & Chintala, "Unsupervised Representation
  Learning with Deep Convolutional Generative Adversarial Networks", ICLR 2016 (arXiv:1511.06434). ``G`` projects
  ``z`` to a small ``(C_0, H / 2^n, W / 2^n)`` map and doubles its size with ``n`` stride-2 transposed
  convolutions; ``D`` halves it with stride-2 convolutions and reads one logit off the flattened last map.
- ``conditional=True``: the class-conditional GAN of Mirza & Osindero, "Conditional Generative Adversarial Nets",
  2014 (arXiv:1411.1784), by *concatenation*: the one-hot class vector ``y`` is appended to ``z`` at the generator's
  input and to the discriminator's input (to the flattened image for the MLP; as ``num_labels`` constant feature
  maps stacked on the image channels for DCGAN). Concatenating a one-hot vector in front of an affine layer is the
  same as adding a learned per-class embedding to that layer's pre-activations, so no separate embedding table is
  needed. (The projection discriminator of Miyato & Koyama 2018, arXiv:1802.05637, is the stronger modern choice; it
  is not implemented here.)

Generator and discriminator widths are *prefixed fields* (``generator_hidden_sizes``,
``discriminator_hidden_sizes``...) rather than two nested ``sub_configs``: the two networks share ``latent_size``,
``image_size``, ``num_channels``, ``num_labels`` and ``conditional``, which nested configs would either duplicate (and
have to keep in agreement) or split awkwardly; prefixed fields keep ``config.json`` flat, give one place that
validates the pair, and read as command-line flags (``--generator-hidden-sizes 256 128``).

Images are in the range ``[-1, 1]`` (``u / 127.5 - 1`` for 8-bit pixels ``u``): the generator ends in ``tanh``.
This file imports only ``transformers`` so that it can travel inside a checkpoint as remote code.
"""

from transformers import PretrainedConfig

GAN_ARCHITECTURES = ("mlp", "dcgan")
GAN_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu", "gelu", "silu")
GAN_NORMALIZATIONS = ("none", "batch")

# Per-architecture defaults of the fields left as None. MLP widths are units per hidden layer; DCGAN widths are
# channels per stage: the generator's from its smallest map upwards, the discriminator's from its input downwards.
GAN_DEFAULTS = {
    "mlp": {
        "generator_hidden_sizes": (256, 512, 1024),
        "discriminator_hidden_sizes": (1024, 512, 256),
        "generator_normalization": "batch",
        "discriminator_normalization": "none",
    },
    "dcgan": {
        "generator_hidden_sizes": (256, 128),
        "discriminator_hidden_sizes": (64, 128),
        "generator_normalization": "batch",
        "discriminator_normalization": "batch",
    },
}


class GANConfig(PretrainedConfig):
    r"""Configuration of a [`GANModel`]: one generator and one discriminator.

    Args:
        architecture (`str`, defaults to `"mlp"`): "mlp" (Goodfellow et al. 2014) or "dcgan" (Radford et al. 2016).
        latent_size (`int`, defaults to 100): dimension of the latent ``z ~ N(0, I)``.
        num_channels (`int`, defaults to 1): image channels.
        image_size (`int` or `tuple[int, int]`, defaults to 28): image height and width. For DCGAN both must be
            divisible by ``2 ** len(generator_hidden_sizes)`` (the transposed convolutions double the size).
        conditional (`bool`, defaults to `False`): condition both networks on a class label out of ``num_labels``
            (one-hot, concatenated to the inputs; see the module docstring).
        num_labels (`int`, defaults to 2): classes of a conditional GAN (unused otherwise).
        generator_hidden_sizes (`tuple[int, ...]`, *optional*): MLP: width of each hidden layer of ``G``; DCGAN:
            channels of the projected ``z`` map and of each upsampling stage before the output convolution. Defaults
            to (256, 512, 1024) for the MLP and (256, 128) for DCGAN (28x28: 256@7x7 -> 128@14x14 -> C@28x28).
        discriminator_hidden_sizes (`tuple[int, ...]`, *optional*): MLP: width of each hidden layer of ``D``; DCGAN:
            channels of each stride-2 convolution. Defaults to (1024, 512, 256) for the MLP and (64, 128) for DCGAN.
        generator_hidden_act (`str`, defaults to `"relu"`): activation of ``G``'s hidden layers (ReLU in DCGAN).
        discriminator_hidden_act (`str`, defaults to `"leaky_relu"`): activation of ``D``'s hidden layers.
        leaky_relu_negative_slope (`float`, defaults to 0.2): slope of LeakyReLU for ``x < 0`` (0.2 in DCGAN).
        generator_normalization (`str`, *optional*): "batch" or "none" after every hidden layer of ``G`` (never
            on its output). Defaults to "batch" for both architectures.
        discriminator_normalization (`str`, *optional*): "batch" or "none" after every hidden layer of ``D`` but
            the first (never on its input, as in DCGAN). Defaults to "none" for the MLP and "batch" for DCGAN.
        discriminator_dropout_prob (`float`, defaults to 0.0): dropout after every hidden layer of ``D``
            (Goodfellow et al. trained their discriminators with dropout).
        initializer_range (`float`, defaults to 0.02): standard deviation of the zero-mean normal initialisation of
            every weight (Radford et al. 2016); biases start at zero and batch-norm scales at one.
        layer_norm_eps (`float`, defaults to 1e-5): epsilon of the batch normalization layers.

    Example:
        ```python
        >>> from classicnets import GANConfig, GANModel
        >>> config = GANConfig.dcgan(conditional=True, num_labels=10)
        >>> config.generator_feature_map_sizes()
        [(256, 7, 7), (128, 14, 14), (1, 28, 28)]
        >>> images = GANModel(config).sample(4, labels=[0, 1, 2, 3])  # (4, 1, 28, 28) in [-1, 1]
        ```
    """

    model_type = "classicnets_gan"

    architecture: str = "mlp"
    latent_size: int = 100
    num_channels: int = 1
    image_size: int | tuple[int, int] | list[int] = 28
    conditional: bool = False
    generator_hidden_sizes: tuple[int, ...] | list[int] | None = None
    discriminator_hidden_sizes: tuple[int, ...] | list[int] | None = None
    generator_hidden_act: str = "relu"
    discriminator_hidden_act: str = "leaky_relu"
    leaky_relu_negative_slope: float = 0.2
    generator_normalization: str | None = None
    discriminator_normalization: str | None = None
    discriminator_dropout_prob: float = 0.0
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.architecture not in GAN_ARCHITECTURES:
            raise ValueError(
                f"architecture={self.architecture!r} is not supported; choose one of {', '.join(GAN_ARCHITECTURES)}."
            )
        for name, default in GAN_DEFAULTS[self.architecture].items():
            if getattr(self, name) is None:
                setattr(self, name, default)
        if isinstance(self.image_size, int):
            self.image_size = (self.image_size, self.image_size)
        # JSON turns tuples into lists: keep the immutable form in memory.
        for name in ("image_size", "generator_hidden_sizes", "discriminator_hidden_sizes"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{name} must be a list of ints (e.g. {name}=[64, 128]), got {value!r}.")
            setattr(self, name, tuple(value))
        self.validate()

    # ----------------------------------------------------------------------------------- presets
    @classmethod
    def mlp_gan(cls, image_size: int = 28, num_channels: int = 1, **kwargs) -> "GANConfig":
        """The fully connected GAN of Goodfellow et al. 2014 on flattened images.

        The paper's MNIST generator mixed ReLU and sigmoid units and its discriminator used maxout with dropout;
        the defaults here follow later practice (ReLU + batch norm in ``G``, LeakyReLU(0.2) in ``D``, ``tanh``
        output), which trains more reliably.
        """
        return cls(architecture="mlp", image_size=image_size, num_channels=num_channels, **kwargs)

    @classmethod
    def dcgan(cls, image_size: int = 28, num_channels: int = 1, **kwargs) -> "GANConfig":
        """DCGAN (Radford et al. 2016): transposed convolutions, batch norm in both networks (not on ``G``'s
        output nor ``D``'s input), ReLU in ``G``, LeakyReLU(0.2) in ``D``, ``tanh`` output, N(0, 0.02) weights.

        The paper's 64x64 generator used 1024-512-256-128 channels; ``generator_hidden_sizes=(256, 128)`` is the
        same design sized for 28x28 digits.
        """
        return cls(architecture="dcgan", image_size=image_size, num_channels=num_channels, **kwargs)

    @classmethod
    def conditional_gan(cls, num_labels: int = 10, architecture: str = "mlp", **kwargs) -> "GANConfig":
        """A class-conditional GAN (Mirza & Osindero 2014): the one-hot label is concatenated to both inputs."""
        return cls(architecture=architecture, conditional=True, num_labels=num_labels, **kwargs)

    # ----------------------------------------------------------------------------------- shapes
    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the images."""
        return (self.num_channels, *self.image_size)

    @property
    def num_conditions(self) -> int:
        """Length of the one-hot vector appended to the inputs (0 for an unconditional GAN)."""
        return self.num_labels if self.conditional else 0

    def generator_feature_map_sizes(self) -> list[tuple[int, int, int]]:
        """DCGAN: (channels, height, width) of the projected ``z`` map, after each upsampling stage, and of the
        output image (each stride-2 transposed convolution with kernel 4 and padding 1 doubles the size)."""
        if self.architecture != "dcgan":
            raise ValueError("generator_feature_map_sizes() describes the DCGAN generator; this config is an MLP GAN.")
        factor = 2 ** len(self.generator_hidden_sizes)
        height, width = self.image_size[0] // factor, self.image_size[1] // factor
        sizes = []
        for channels in self.generator_hidden_sizes:
            sizes.append((channels, height, width))
            height, width = 2 * height, 2 * width
        return sizes + [(self.num_channels, height, width)]

    def discriminator_feature_map_sizes(self) -> list[tuple[int, int, int]]:
        """DCGAN: (channels, height, width) after each stride-2 convolution of the discriminator (kernel 4,
        padding 1: ``out = floor(in / 2)``)."""
        if self.architecture != "dcgan":
            raise ValueError("discriminator_feature_map_sizes() describes the DCGAN discriminator; this config is an MLP GAN.")
        height, width = self.image_size
        sizes = []
        for channels in self.discriminator_hidden_sizes:
            height, width = height // 2, width // 2
            sizes.append((channels, height, width))
        return sizes

    def validate(self):
        """Checks every field and raises a `ValueError` naming the field, the value and what is allowed."""
        for name in ("latent_size", "num_channels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if len(self.image_size) != 2 or any(not isinstance(s, int) or s <= 0 for s in self.image_size):
            raise ValueError(f"image_size must be a positive int or (height, width) pair, got {self.image_size!r}.")
        for name in ("generator_hidden_sizes", "discriminator_hidden_sizes"):
            sizes = getattr(self, name)
            if not sizes:
                raise ValueError(f"{name} must name at least one hidden layer, e.g. {GAN_DEFAULTS[self.architecture][name]}.")
            if any(not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in sizes):
                raise ValueError(f"{name} must hold positive ints, got {sizes!r}.")
        for name in ("generator_hidden_act", "discriminator_hidden_act"):
            if getattr(self, name) not in GAN_ACTIVATIONS:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} is not supported; choose one of {', '.join(GAN_ACTIVATIONS)}."
                )
        for name in ("generator_normalization", "discriminator_normalization"):
            if getattr(self, name) not in GAN_NORMALIZATIONS:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} is not supported; choose one of {', '.join(GAN_NORMALIZATIONS)}."
                )
        if not isinstance(self.leaky_relu_negative_slope, (int, float)) or not 0.0 <= self.leaky_relu_negative_slope < 1.0:
            raise ValueError(f"leaky_relu_negative_slope must be in [0, 1), got {self.leaky_relu_negative_slope!r}.")
        p = self.discriminator_dropout_prob
        if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"discriminator_dropout_prob must be a probability in [0, 1), got {p!r}.")
        if not isinstance(self.initializer_range, (int, float)) or self.initializer_range <= 0:
            raise ValueError(f"initializer_range must be > 0, got {self.initializer_range!r}.")
        if self.layer_norm_eps <= 0:
            raise ValueError(f"layer_norm_eps must be > 0, got {self.layer_norm_eps!r}.")
        if not isinstance(self.conditional, bool):
            raise ValueError(f"conditional must be True or False, got {self.conditional!r}.")
        if self.conditional and (self.num_labels is None or self.num_labels < 2):
            raise ValueError(f"num_labels must be >= 2 for a conditional GAN, got {self.num_labels!r}.")
        if self.architecture == "dcgan":
            # G doubles the size n times from an integer start: height and width must be multiples of 2^n.
            n = len(self.generator_hidden_sizes)
            factor = 2**n
            if any(s % factor for s in self.image_size):
                divisible = [k for k in range(n, 0, -1) if all(s % 2**k == 0 for s in self.image_size)]
                hint = (f"use at most {divisible[0]} generator stage(s)" if divisible else
                        "use an image size divisible by 2")
                raise ValueError(
                    f"image_size={self.image_size} cannot be produced by the DCGAN generator: its "
                    f"{n} stride-2 transposed convolution(s) (generator_hidden_sizes={self.generator_hidden_sizes}) "
                    f"double an integer start size, so height and width must be multiples of {factor}; {hint} "
                    f"(e.g. generator_hidden_sizes of that length) or resize the images."
                )
            # D halves the size at every convolution; the last map must keep at least one pixel.
            height, width = self.image_size
            for i in range(len(self.discriminator_hidden_sizes)):
                height, width = height // 2, width // 2
                if height < 1 or width < 1:
                    raise ValueError(
                        f"image_size={self.image_size} is too small for the DCGAN discriminator: its stride-2 "
                        f"convolution {i} would leave a {height}x{width} map. Use fewer discriminator_hidden_sizes "
                        f"or larger images."
                    )


__all__ = ["GANConfig", "GAN_ARCHITECTURES", "GAN_ACTIVATIONS", "GAN_NORMALIZATIONS"]
