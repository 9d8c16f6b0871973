"""Convolutional networks (LeNet-5, VGG- and ResNet-style stacks) as Hugging Face models.

A convolution computes ``Y[c_out, i, j] = b[c_out] + sum_{c_in, u, v} W[c_out, c_in, u, v] X[c_in, i + u, j + v]``
(LeCun et al., "Gradient-based learning applied to document recognition", Proc. IEEE 1998). A stage is
``depth`` convolutions, each followed by normalization and the activation ``phi``; with ``residual=True``
the stage computes ``y = phi(F(x) + S(x))`` (He et al., "Deep Residual Learning for Image Recognition",
arXiv:1512.03385) where ``S`` is the identity or a 1x1 projection. Stages end in max / average pooling.
The final map is flattened (LeNet-5, VGG: Simonyan & Zisserman, arXiv:1409.1556) or globally pooled,
passed through fully connected layers (LeNet's F5 and F6) and a final affine layer gives the logits.

Batch normalization: Ioffe & Szegedy 2015 (arXiv:1502.03167); group normalization: Wu & He 2018
(arXiv:1803.08494). This file imports only torch, transformers and its sibling configuration so that a
saved checkpoint can carry it as remote code.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput

from .configuration_cnn import CNNConfig

# Copied from classicnets.models.mlp.modeling_mlp.ACTIVATIONS
ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}
GLOROT_ACTIVATIONS = ("sigmoid", "tanh", "identity")


# Copied from classicnets.models.mlp.modeling_mlp.init_affine_
def init_affine_(module: nn.Module, hidden_act: str, gain: float) -> None:
    """He-normal (ReLU family) or Glorot-uniform (sigmoid, tanh) weights, zero biases, unit norms."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        if hidden_act in GLOROT_ACTIVATIONS:
            init.xavier_uniform_(module.weight, gain=gain * (5.0 / 3.0 if hidden_act == "tanh" else 1.0))
        else:
            fan_in = module.weight[0].numel()
            init.normal_(module.weight, mean=0.0, std=gain * math.sqrt(2.0 / fan_in))  # He: Var = 2 / fan_in
        if module.bias is not None:
            init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
        if module.weight is not None:
            init.ones_(module.weight)
            init.zeros_(module.bias)
        if getattr(module, "running_mean", None) is not None:
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


def make_norm(config: CNNConfig, channels: int) -> nn.Module:
    if config.normalization == "batch":
        return nn.BatchNorm2d(channels, eps=config.layer_norm_eps)
    if config.normalization == "layer":  # normalise over (C, H, W) of each example
        return nn.GroupNorm(1, channels, eps=config.layer_norm_eps)
    if config.normalization == "group":
        return nn.GroupNorm(config.num_groups, channels, eps=config.layer_norm_eps)
    return nn.Identity()


class CNNConvLayer(nn.Module):
    """conv -> norm -> activation (the activation is skipped for the last conv of a residual stage)."""

    def __init__(self, in_channels, out_channels, kernel_size, padding, config: CNNConfig, activation=True):
        super().__init__()
        bias = config.normalization == "none"  # a bias before normalization is absorbed by its shift
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        self.norm = make_norm(config, out_channels)
        self.activation = ACTIVATIONS[config.hidden_act]() if activation else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(self.conv(x)))  # (batch, out_channels, H', W')


class CNNStage(nn.Module):
    """``depth`` conv layers, optionally residual, then pooling and channel dropout."""

    def __init__(self, in_channels: int, stage: int, config: CNNConfig):
        super().__init__()
        out_channels, kernel = config.hidden_sizes[stage], config.kernel_sizes[stage]
        depth, residual = config.depths[stage], config.residual
        layers = []
        for d in range(depth):
            padding = config.paddings[stage] if d == 0 else kernel // 2
            last = d == depth - 1
            layers.append(
                CNNConvLayer(in_channels if d == 0 else out_channels, out_channels, kernel, padding, config,
                             activation=not (residual and last))
            )
        self.layers = nn.ModuleList(layers)
        self.residual = residual
        if residual:
            # S(x): identity when shapes agree, else a 1x1 projection (He et al. 2015, option B).
            self.shortcut = (
                nn.Identity() if in_channels == out_channels
                else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), make_norm(config, out_channels))
            )
            self.activation = ACTIVATIONS[config.hidden_act]()
        if config.pooling == "max":
            self.pool = nn.MaxPool2d(config.pool_size)
        elif config.pooling == "avg":
            self.pool = nn.AvgPool2d(config.pool_size)
        else:
            self.pool = nn.Identity()
        self.dropout = nn.Dropout2d(config.conv_dropout_prob) if config.conv_dropout_prob > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for layer in self.layers:
            h = layer(h)
        if self.residual:
            h = self.activation(h + self.shortcut(x))  # y = phi(F(x) + S(x))
        return self.dropout(self.pool(h))  # (batch, out_channels, H / pool, W / pool)


class CNNPreTrainedModel(PreTrainedModel):
    config_class = CNNConfig
    config: CNNConfig
    base_model_prefix = "cnn"
    # The losses are batch means: transformers.Trainer must divide them by the accumulation steps itself. (A forward
    # that takes **kwargs otherwise tells it the model normalises by num_items_in_batch, doubling accumulated updates.)
    accepts_loss_kwargs = False
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    # Every Auto class this family serves; written to config.json so remote code resolves them all. The image
    # processor that classicnets saves beside image models is found through the model config too (its own
    # preprocessor_config.json carries no auto_map: see image_processing_classicnets.py).
    _auto_map = {
        "AutoConfig": "configuration_cnn.CNNConfig",
        "AutoModel": "modeling_cnn.CNNModel",
        "AutoModelForImageClassification": "modeling_cnn.CNNForImageClassification",
        "AutoImageProcessor": "image_processing_classicnets.ClassicnetsImageProcessor",
    }

    def _init_weights(self, module: nn.Module) -> None:
        # The output layer feeds a softmax, not a rectifier: Glorot scaling keeps the initial logits O(1).
        act = "identity" if module is getattr(self, "classifier", None) else self.config.hidden_act
        init_affine_(module, act, self.config.initializer_range)

    def save_pretrained(self, save_directory, *args, **kwargs):
        if self.is_remote_code():
            self.config.auto_map = dict(self._auto_map)
        return super().save_pretrained(save_directory, *args, **kwargs)


class CNNModel(CNNPreTrainedModel):
    """The headless CNN: conv stages -> global pooling / flatten -> fully connected hidden layers.

    ``last_hidden_state`` is the last feature map (batch, C, H, W); ``pooler_output`` is the output of the
    last fully connected hidden layer (LeNet-5's 84-unit F6), the representation a classifier reads.
    """

    # Loaded from a classifier checkpoint (the image-feature-extraction pipeline, AutoModel), the head's weights
    # have no place here, by design: not worth a load report.
    _keys_to_ignore_on_load_unexpected = [r"^classifier\."]

    def __init__(self, config: CNNConfig):
        super().__init__(config)
        stages, in_channels = [], config.num_channels
        for i, channels in enumerate(config.hidden_sizes):
            stages.append(CNNStage(in_channels, i, config))
            in_channels = channels
        self.stages = nn.ModuleList(stages)
        sizes = (config.num_features,) + tuple(config.fc_hidden_sizes)
        self.fc_layers = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))
        self.fc_activation = ACTIVATIONS[config.hidden_act]()
        self.fc_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.post_init()

    @property
    def num_features(self) -> int:
        return self.config.fc_hidden_sizes[-1] if self.config.fc_hidden_sizes else self.config.num_features

    def _check_input(self, pixel_values: torch.Tensor) -> None:
        expected = (self.config.num_channels, *self.config.image_size)
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"pixel_values has shape {tuple(pixel_values.shape)} but this model expects (batch, {expected[0]}, "
                f"{expected[1]}, {expected[2]}); resize the images (the saved image processor does) or build the "
                f"model with matching num_channels / image_size."
            )

    def forward(self, pixel_values: torch.Tensor | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **kwargs) -> BaseModelOutputWithPooling | tuple:
        r"""
        Args:
            pixel_values (`torch.Tensor` of shape `(batch, num_channels, height, width)`): normalised images.
        """
        if pixel_values is None:
            raise ValueError("CNNModel needs pixel_values of shape (batch, channels, height, width).")
        self._check_input(pixel_values)
        h = pixel_values
        hidden_states = () if output_hidden_states else None
        for stage in self.stages:
            h = stage(h)  # (batch, hidden_sizes[i], H_i, W_i)
            if output_hidden_states:
                hidden_states = hidden_states + (h,)
        feature_map = h
        if self.config.global_pool == "flatten":
            v = h.flatten(1)  # (batch, C * H * W)
        elif self.config.global_pool == "avg":
            v = h.mean(dim=(2, 3))  # (batch, C)
        else:
            v = h.amax(dim=(2, 3))  # (batch, C)
        for fc in self.fc_layers:
            v = self.fc_dropout(self.fc_activation(fc(v)))  # (batch, fc_hidden_sizes[l])
        if return_dict is False:
            return tuple(x for x in (feature_map, v, hidden_states) if x is not None)
        return BaseModelOutputWithPooling(last_hidden_state=feature_map, pooler_output=v, hidden_states=hidden_states)


class CNNForImageClassification(CNNPreTrainedModel):
    """CNN with a softmax output layer, trained with the cross-entropy computed from the logits."""

    def __init__(self, config: CNNConfig):
        super().__init__(config)
        self.cnn = CNNModel(config)
        self.classifier_dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(self.cnn.num_features, config.num_labels)
        self.post_init()

    def forward_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The representation the output layer reads, shape (batch, num_features)."""
        return self.cnn(pixel_values=pixel_values).pooler_output

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_labels: int, id2label: dict[int, str] | None = None) -> None:
        """Replaces the output layer with a freshly initialised one for ``num_labels`` classes; the trunk is kept."""
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}.")
        self.config.id2label = dict(id2label) if id2label else {i: f"LABEL_{i}" for i in range(num_labels)}
        self.config.label2id = {v: k for k, v in self.config.id2label.items()}
        old = self.classifier
        self.classifier = nn.Linear(self.cnn.num_features, num_labels, device=old.weight.device, dtype=old.weight.dtype)
        self._init_weights(self.classifier)

    def forward(self, pixel_values: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **kwargs) -> ImageClassifierOutput | tuple:
        out = self.cnn(pixel_values=pixel_values, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.classifier_dropout(out.pooler_output))  # (batch, num_labels)
        loss = None
        if labels is not None:
            # Cross-entropy of softmax(logits), from the logits (log-sum-exp), never from probabilities.
            loss = F.cross_entropy(logits.float(), labels.long())
        if return_dict is False:
            return tuple(x for x in (loss, logits, out.hidden_states) if x is not None)
        return ImageClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)


__all__ = ["CNNPreTrainedModel", "CNNModel", "CNNForImageClassification"]
