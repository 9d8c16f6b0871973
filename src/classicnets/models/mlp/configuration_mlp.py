"""Configuration of the multilayer perceptron (feedforward network).

The multilayer perceptron stacks affine maps and pointwise non-linearities,
``h_l = phi(W_l h_{l-1} + b_l)``, and was made trainable by back-propagation
(Rumelhart, Hinton & Williams, "Learning representations by back-propagating errors", Nature 1986).
This file imports only ``transformers`` so that it can travel inside a checkpoint as remote code.
"""

from transformers import PretrainedConfig

# The classic activations and their modern successors (see ``modeling_mlp.ACTIVATIONS``).
MLP_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "identity")
MLP_NORMALIZATIONS = ("none", "batch", "layer")


class MLPConfig(PretrainedConfig):
    r"""Configuration of an [`MLPModel`] and its heads.

    The input is either a flat feature vector of ``input_size`` numbers, or an image of shape
    ``(num_channels, *image_size)`` that the image-classification head flattens. Give one of the two.

    Args:
        input_size (`int`, *optional*):
            Number of input features of a flat feature vector. Derived from the image shape when
            ``image_size`` is given.
        image_size (`int` or `tuple[int, int]`, *optional*):
            Height and width of input images (an int means a square image).
        num_channels (`int`, defaults to 1):
            Channels of input images.
        hidden_sizes (`tuple[int, ...]`, defaults to `(800, 800)`):
            Width of each hidden layer, input side first. An empty tuple gives a linear model
            (logistic or linear regression).
        hidden_act (`str`, defaults to `"relu"`):
            Non-linearity ``phi``: one of sigmoid, tanh, relu, leaky_relu, elu, gelu, silu, softplus, identity.
        normalization (`str`, defaults to `"none"`):
            Normalization after each affine map and before the activation: none, batch or layer.
        hidden_dropout_prob (`float`, defaults to 0.0):
            Dropout probability after each hidden activation (Srivastava et al. 2014).
        input_dropout_prob (`float`, defaults to 0.0):
            Dropout probability on the input features (the "input dropout" of Srivastava et al. 2014).
        classifier_dropout_prob (`float`, defaults to 0.0):
            Dropout before the output layer of the heads.
        layer_norm_eps (`float`, defaults to 1e-5):
            Epsilon of batch / layer normalization.
        initializer_range (`float`, defaults to 1.0):
            Gain multiplier of the He (ReLU family) or Glorot (sigmoid, tanh) initialisation.
        num_labels (`int`, defaults to 2):
            Number of classes of a classification head, or number of targets of a regression head.

    Example:
        ```python
        >>> from classicnets import MLPConfig, MLPForImageClassification
        >>> config = MLPConfig(image_size=28, hidden_sizes=(800, 800), hidden_act="relu", num_labels=10)
        >>> model = MLPForImageClassification(config)
        >>> config.input_size
        784
        ```
    """

    model_type = "classicnets_mlp"

    input_size: int | None = None
    image_size: int | tuple[int, int] | list[int] | None = None
    num_channels: int = 1
    hidden_sizes: tuple[int, ...] | list[int] = (800, 800)
    hidden_act: str = "relu"
    normalization: str = "none"
    hidden_dropout_prob: float = 0.0
    input_dropout_prob: float = 0.0
    classifier_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-5
    initializer_range: float = 1.0

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        # JSON turns tuples into lists: keep the immutable form in memory.
        if not isinstance(self.hidden_sizes, (list, tuple)):
            raise ValueError(
                f"hidden_sizes must be a list of layer widths (e.g. hidden_sizes=[800, 800]), got {self.hidden_sizes!r}."
            )
        self.hidden_sizes = tuple(self.hidden_sizes)
        if self.image_size is not None:
            if isinstance(self.image_size, int):
                self.image_size = (self.image_size, self.image_size)
            self.image_size = tuple(self.image_size)
        self.validate()

    def validate(self):
        """Checks every field and raises a `ValueError` naming the field, the value and what is allowed."""
        if self.image_size is not None:
            if len(self.image_size) != 2 or any(not isinstance(s, int) or s <= 0 for s in self.image_size):
                raise ValueError(
                    f"image_size must be a positive int or a (height, width) pair of positive ints, got {self.image_size!r}."
                )
            if not isinstance(self.num_channels, int) or self.num_channels <= 0:
                raise ValueError(f"num_channels must be a positive int, got {self.num_channels!r}.")
            derived = self.num_channels * self.image_size[0] * self.image_size[1]
            if self.input_size is None:
                self.input_size = derived
            elif self.input_size != derived:
                raise ValueError(
                    f"input_size={self.input_size} disagrees with num_channels * height * width = {derived} "
                    f"for image_size={self.image_size}; give only image_size (input_size is derived from it)."
                )
        if self.input_size is None:
            raise ValueError("MLPConfig needs the input shape: pass input_size=<features> or image_size=<int or (h, w)>.")
        if not isinstance(self.input_size, int) or self.input_size <= 0:
            raise ValueError(f"input_size must be a positive int, got {self.input_size!r}.")
        if any(not isinstance(h, int) or h <= 0 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must hold positive ints, got {self.hidden_sizes!r}.")
        if self.hidden_act not in MLP_ACTIVATIONS:
            raise ValueError(f"hidden_act={self.hidden_act!r} is not supported; choose one of {', '.join(MLP_ACTIVATIONS)}.")
        if self.normalization not in MLP_NORMALIZATIONS:
            raise ValueError(
                f"normalization={self.normalization!r} is not supported; choose one of {', '.join(MLP_NORMALIZATIONS)}."
            )
        for name in ("hidden_dropout_prob", "input_dropout_prob", "classifier_dropout_prob"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1), got {p!r}.")
        if self.layer_norm_eps <= 0:
            raise ValueError(f"layer_norm_eps must be > 0, got {self.layer_norm_eps!r}.")
        if self.initializer_range <= 0:
            raise ValueError(f"initializer_range must be > 0, got {self.initializer_range!r}.")
        if self.num_labels is None or self.num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {self.num_labels!r}.")


__all__ = ["MLPConfig", "MLP_ACTIVATIONS", "MLP_NORMALIZATIONS"]
