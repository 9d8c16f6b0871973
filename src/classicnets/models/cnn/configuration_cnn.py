"""Configuration of convolutional networks, from LeNet-5 to VGG- and ResNet-style stacks.

A CNN here is a sequence of *stages*. A stage applies ``depth`` convolutions (each followed by
normalization and an activation), optionally wrapped in a residual connection, then pools. After the
last stage the feature map is flattened (LeNet, VGG) or globally averaged (ResNet), passed through
fully connected hidden layers, and a final affine layer gives the class scores.

Presets: ``CNNConfig.lenet5()`` (LeCun et al., "Gradient-based learning applied to document
recognition", Proc. IEEE 1998), ``CNNConfig.vgg_style()`` (Simonyan & Zisserman 2014,
arXiv:1409.1556) and ``CNNConfig.resnet_style()`` (He et al. 2015, arXiv:1512.03385).
This file imports only ``transformers`` so that it can travel inside a checkpoint as remote code.
"""

from transformers import PretrainedConfig

CNN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "identity")
CNN_NORMALIZATIONS = ("none", "batch", "layer", "group")
CNN_POOLINGS = ("max", "avg", "none")
CNN_GLOBAL_POOLINGS = ("flatten", "avg", "max")


class CNNConfig(PretrainedConfig):
    r"""Configuration of a [`CNNModel`] and [`CNNForImageClassification`].

    Args:
        num_channels (`int`, defaults to 1): channels of the input images.
        image_size (`int` or `tuple[int, int]`, defaults to 28): input height and width.
        hidden_sizes (`tuple[int, ...]`, defaults to `(6, 16)`): output channels of each stage.
        depths (`tuple[int, ...]`, defaults to `(1, 1)`): convolutions per stage.
        kernel_sizes (`tuple[int, ...]`, defaults to `(5, 5)`): square kernel size of each stage.
        paddings (`tuple[int, ...]`, defaults to `(2, 0)`): zero padding of the first convolution of each
            stage; later convolutions of a stage use "same" padding (``kernel_size // 2``).
        pooling (`str`, defaults to `"max"`): pooling after each stage: max, avg or none.
        pool_size (`int`, defaults to 2): window and stride of that pooling.
        hidden_act (`str`, defaults to `"relu"`): non-linearity.
        normalization (`str`, defaults to `"none"`): after each convolution: none, batch, layer
            (over channels, height and width: GroupNorm with one group) or group.
        num_groups (`int`, defaults to 8): groups of group normalization.
        residual (`bool`, defaults to `False`): wrap each stage in ``y = phi(F(x) + S(x))`` where ``S`` is the
            identity or a 1x1 convolution when the shape changes (He et al. 2015).
        conv_dropout_prob (`float`, defaults to 0.0): 2-D (channel) dropout after each stage.
        global_pool (`str`, defaults to `"flatten"`): how the last feature map becomes a vector:
            flatten (LeNet, VGG), avg or max (global pooling, ResNet).
        fc_hidden_sizes (`tuple[int, ...]`, defaults to `(120, 84)`): fully connected hidden layers.
        hidden_dropout_prob (`float`, defaults to 0.0): dropout after each fully connected hidden layer.
        classifier_dropout_prob (`float`, defaults to 0.0): dropout before the output layer.
        layer_norm_eps (`float`, defaults to 1e-5): epsilon of the normalization layers.
        initializer_range (`float`, defaults to 1.0): gain multiplier of the He / Glorot initialisation.
        num_labels (`int`, defaults to 2): number of classes.

    Example:
        ```python
        >>> from classicnets import CNNConfig, CNNForImageClassification
        >>> config = CNNConfig.lenet5(num_labels=10)
        >>> config.feature_map_sizes()
        [(6, 14, 14), (16, 5, 5)]
        >>> model = CNNForImageClassification(config)
        ```
    """

    model_type = "classicnets_cnn"

    num_channels: int = 1
    image_size: int | tuple[int, int] | list[int] = 28
    hidden_sizes: tuple[int, ...] | list[int] = (6, 16)
    depths: tuple[int, ...] | list[int] = (1, 1)
    kernel_sizes: tuple[int, ...] | list[int] = (5, 5)
    paddings: tuple[int, ...] | list[int] = (2, 0)
    pooling: str = "max"
    pool_size: int = 2
    hidden_act: str = "relu"
    normalization: str = "none"
    num_groups: int = 8
    residual: bool = False
    conv_dropout_prob: float = 0.0
    global_pool: str = "flatten"
    fc_hidden_sizes: tuple[int, ...] | list[int] = (120, 84)
    hidden_dropout_prob: float = 0.0
    classifier_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-5
    initializer_range: float = 1.0

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if isinstance(self.image_size, int):
            self.image_size = (self.image_size, self.image_size)
        # JSON turns tuples into lists: keep the immutable form in memory.
        for name in ("image_size", "hidden_sizes", "depths", "kernel_sizes", "paddings", "fc_hidden_sizes"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):
                raise ValueError(
                    f"{name} must be a list with one value per stage (e.g. {name}=[2, 2]), got {value!r}."
                )
            setattr(self, name, tuple(value))
        self.validate()

    # ----------------------------------------------------------------------------------- presets
    @classmethod
    def lenet5(cls, num_labels: int = 10, image_size: int = 28, **kwargs) -> "CNNConfig":
        """LeNet-5 (LeCun et al. 1998): C1 6@5x5, S2 pool, C3 16@5x5, S4 pool, F5 120, F6 84, output.

        The 1998 network read 32x32 images; MNIST's 28x28 digits are zero-padded by 2 in C1, which gives
        the same 5x5x16 map before F5. The 1998 model used scaled tanh, trainable average pooling and RBF
        outputs; the defaults here (ReLU, max pooling, softmax) train faster, and
        ``lenet5(hidden_act="tanh", pooling="avg")`` gives the classical non-linearity and subsampling.
        """
        defaults = dict(
            hidden_sizes=(6, 16), depths=(1, 1), kernel_sizes=(5, 5), paddings=(2, 0), pooling="max",
            fc_hidden_sizes=(120, 84), global_pool="flatten", hidden_act="relu",
        )
        defaults.update(kwargs)
        return cls(num_labels=num_labels, image_size=image_size, **defaults)

    @classmethod
    def vgg_style(cls, num_labels: int = 10, hidden_sizes=(32, 64, 128), depths=(2, 2, 2), **kwargs) -> "CNNConfig":
        """A VGG-style stack (Simonyan & Zisserman 2014): stages of 3x3 "same" convolutions then 2x2 max pooling."""
        defaults = dict(
            kernel_sizes=(3,) * len(hidden_sizes), paddings=(1,) * len(hidden_sizes), pooling="max",
            normalization="batch", global_pool="flatten", fc_hidden_sizes=(256,), hidden_dropout_prob=0.5,
        )
        defaults.update(kwargs)
        return cls(num_labels=num_labels, hidden_sizes=tuple(hidden_sizes), depths=tuple(depths), **defaults)

    @classmethod
    def resnet_style(cls, num_labels: int = 10, hidden_sizes=(32, 64, 128), depths=(2, 2, 2), **kwargs) -> "CNNConfig":
        """A small ResNet-style stack (He et al. 2015): residual stages of 3x3 convolutions with batch norm,
        pooling between stages and a global average pool before a single output layer."""
        defaults = dict(
            kernel_sizes=(3,) * len(hidden_sizes), paddings=(1,) * len(hidden_sizes), pooling="max",
            normalization="batch", residual=True, global_pool="avg", fc_hidden_sizes=(),
        )
        defaults.update(kwargs)
        return cls(num_labels=num_labels, hidden_sizes=tuple(hidden_sizes), depths=tuple(depths), **defaults)

    # ----------------------------------------------------------------------------------- shapes
    def feature_map_sizes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) after each stage, for the configured input size."""
        height, width = self.image_size
        sizes = []
        for channels, kernel, padding in zip(self.hidden_sizes, self.kernel_sizes, self.paddings, strict=True):
            # The first conv of a stage: out = in + 2p - k + 1 (stride 1); the others keep the size.
            height, width = height + 2 * padding - kernel + 1, width + 2 * padding - kernel + 1
            if self.pooling != "none":
                height, width = height // self.pool_size, width // self.pool_size
            sizes.append((channels, height, width))
        return sizes

    @property
    def num_features(self) -> int:
        """Length of the vector the fully connected layers see."""
        channels, height, width = self.feature_map_sizes()[-1]
        return channels * height * width if self.global_pool == "flatten" else channels

    def validate(self):
        """Checks every field and raises a `ValueError` naming the field, the value and what is allowed."""
        if not isinstance(self.num_channels, int) or self.num_channels <= 0:
            raise ValueError(f"num_channels must be a positive int, got {self.num_channels!r}.")
        if len(self.image_size) != 2 or any(not isinstance(s, int) or s <= 0 for s in self.image_size):
            raise ValueError(f"image_size must be a positive int or (height, width) pair, got {self.image_size!r}.")
        num_stages = len(self.hidden_sizes)
        if num_stages == 0:
            raise ValueError("hidden_sizes must name at least one stage, e.g. (6, 16).")
        for name in ("depths", "kernel_sizes", "paddings"):
            if len(getattr(self, name)) != num_stages:
                raise ValueError(
                    f"{name} has {len(getattr(self, name))} entries but hidden_sizes has {num_stages} stages; "
                    f"give one value per stage."
                )
        for name in ("hidden_sizes", "depths", "kernel_sizes", "fc_hidden_sizes"):
            if any(not isinstance(v, int) or v <= 0 for v in getattr(self, name)):
                raise ValueError(f"{name} must hold positive ints, got {getattr(self, name)!r}.")
        if any(not isinstance(p, int) or p < 0 for p in self.paddings):
            raise ValueError(f"paddings must hold ints >= 0, got {self.paddings!r}.")
        if self.hidden_act not in CNN_ACTIVATIONS:
            raise ValueError(f"hidden_act={self.hidden_act!r} is not supported; choose one of {', '.join(CNN_ACTIVATIONS)}.")
        if self.normalization not in CNN_NORMALIZATIONS:
            raise ValueError(
                f"normalization={self.normalization!r} is not supported; choose one of {', '.join(CNN_NORMALIZATIONS)}."
            )
        if self.normalization == "group":
            if not isinstance(self.num_groups, int) or self.num_groups <= 0:
                raise ValueError(f"num_groups must be a positive int for normalization='group', got {self.num_groups!r}.")
            bad = [c for c in self.hidden_sizes if c % self.num_groups]
            if bad:
                raise ValueError(
                    f"num_groups={self.num_groups} must divide every stage width; {bad} are not divisible. "
                    f"Pick num_groups dividing all hidden_sizes={self.hidden_sizes}."
                )
        if self.residual:
            bad = [i for i, (k, p) in enumerate(zip(self.kernel_sizes, self.paddings, strict=True)) if k % 2 == 0 or p != k // 2]
            if bad:
                raise ValueError(
                    f"residual=True needs odd kernels with 'same' padding (kernel_size // 2) so that F(x) and x have "
                    f"the same size; stages {bad} have kernel_sizes={self.kernel_sizes}, paddings={self.paddings}."
                )
        if self.pooling not in CNN_POOLINGS:
            raise ValueError(f"pooling={self.pooling!r} is not supported; choose one of {', '.join(CNN_POOLINGS)}.")
        if not isinstance(self.pool_size, int) or self.pool_size < 1:
            raise ValueError(f"pool_size must be an int >= 1, got {self.pool_size!r}.")
        if self.global_pool not in CNN_GLOBAL_POOLINGS:
            raise ValueError(
                f"global_pool={self.global_pool!r} is not supported; choose one of {', '.join(CNN_GLOBAL_POOLINGS)}."
            )
        for name in ("conv_dropout_prob", "hidden_dropout_prob", "classifier_dropout_prob"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1), got {p!r}.")
        if self.layer_norm_eps <= 0:
            raise ValueError(f"layer_norm_eps must be > 0, got {self.layer_norm_eps!r}.")
        if self.initializer_range <= 0:
            raise ValueError(f"initializer_range must be > 0, got {self.initializer_range!r}.")
        if self.num_labels is None or self.num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {self.num_labels!r}.")
        # Walk the shapes: a stage whose kernel no longer fits, or pooling that empties the map, is an error.
        height, width = self.image_size
        for i, (kernel, padding) in enumerate(zip(self.kernel_sizes, self.paddings, strict=True)):
            height, width = height + 2 * padding - kernel + 1, width + 2 * padding - kernel + 1
            if height < 1 or width < 1:
                raise ValueError(
                    f"image_size={self.image_size} is too small for this network: stage {i} "
                    f"(kernel {kernel}, padding {padding}) would produce a {height}x{width} map. Use larger "
                    f"images, more padding or fewer stages."
                )
            if self.pooling != "none":
                height, width = height // self.pool_size, width // self.pool_size
                if height < 1 or width < 1:
                    raise ValueError(
                        f"image_size={self.image_size} is too small for this network: pooling after stage {i} "
                        f"leaves a {height}x{width} map. Use larger images, pooling='none' or fewer stages."
                    )


__all__ = ["CNNConfig", "CNN_ACTIVATIONS", "CNN_NORMALIZATIONS", "CNN_POOLINGS", "CNN_GLOBAL_POOLINGS"]
