"""The multilayer perceptron (feedforward network) as a Hugging Face model.

Each hidden layer computes ``h_l = phi(norm(W_l h_{l-1} + b_l))`` followed by dropout, with ``h_0 = x``
(Rumelhart, Hinton & Williams, "Learning representations by back-propagating errors", Nature 1986).
The heads add one affine output layer ``o = W_o h_L + b_o`` trained with the cross-entropy of
``softmax(o)`` (classification, computed from the logits) or the mean squared error (regression).

Dropout: Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", JMLR 2014.
Batch normalization: Ioffe & Szegedy 2015 (arXiv:1502.03167). Layer normalization: Ba et al. 2016
(arXiv:1607.06450). Initialisation: Glorot & Bengio 2010 for sigmoid/tanh, He et al. 2015
(arXiv:1502.01852) for the ReLU family.

This file imports only torch, transformers and its sibling configuration so that a saved checkpoint
can carry it as remote code.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput, ModelOutput

from .configuration_mlp import MLPConfig

# Stable, differentiable activations. softplus(x) = log(1 + e^x) uses torch's thresholded form, so
# softplus(1000) = 1000 with gradient 1 and softplus(-1000) = 0 with gradient 0: never inf or NaN.
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
# Glorot & Bengio (2010) derived their scaling for saturating units; He et al. (2015) for rectifiers.
GLOROT_ACTIVATIONS = ("sigmoid", "tanh", "identity")


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


class MLPLayer(nn.Module):
    """One hidden layer: affine map, optional normalization, activation, dropout."""

    def __init__(self, in_features: int, out_features: int, config: MLPConfig):
        super().__init__()
        # A bias is redundant right before batch normalization (its shift is learned by beta).
        self.linear = nn.Linear(in_features, out_features, bias=config.normalization != "batch")
        if config.normalization == "batch":
            self.norm = nn.BatchNorm1d(out_features, eps=config.layer_norm_eps)
        elif config.normalization == "layer":
            self.norm = nn.LayerNorm(out_features, eps=config.layer_norm_eps)
        else:
            self.norm = nn.Identity()
        self.activation = ACTIVATIONS[config.hidden_act]()
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # h_l = dropout(phi(norm(W_l h_{l-1} + b_l)))      (batch, out_features)
        return self.dropout(self.activation(self.norm(self.linear(h))))


class MLPPreTrainedModel(PreTrainedModel):
    config_class = MLPConfig
    config: MLPConfig
    base_model_prefix = "mlp"
    # The losses are batch means: transformers.Trainer must divide them by the accumulation steps itself. (A forward
    # that takes **kwargs otherwise tells it the model normalises by num_items_in_batch, doubling accumulated updates.)
    accepts_loss_kwargs = False
    main_input_name = "input_features"
    # Every Auto class this family serves; written to config.json so remote code resolves them all. The image
    # processor that classicnets saves beside image models is found through the model config too (its own
    # preprocessor_config.json carries no auto_map: see image_processing_classicnets.py).
    _auto_map = {
        "AutoConfig": "configuration_mlp.MLPConfig",
        "AutoModel": "modeling_mlp.MLPModel",
        "AutoModelForImageClassification": "modeling_mlp.MLPForImageClassification",
        "AutoImageProcessor": "image_processing_classicnets.ClassicnetsImageProcessor",
    }

    def _init_weights(self, module: nn.Module) -> None:
        # The output layer feeds a softmax, not a rectifier: Glorot scaling keeps the initial logits O(1).
        act = "identity" if module is getattr(self, "classifier", None) else self.config.hidden_act
        init_affine_(module, act, self.config.initializer_range)

    def save_pretrained(self, save_directory, *args, **kwargs):
        if next(self.parameters(), None) is None:
            # transformers cannot save a module without tensors (it reads the dtype off the first parameter).
            raise ValueError(
                f"This {type(self).__name__} has no parameters (hidden_sizes=() makes the headless MLP the "
                f"identity), so there is nothing to save; save the model with its head (e.g. "
                f"MLPForTabularClassification) instead."
            )
        if self.is_remote_code():
            self.config.auto_map = dict(self._auto_map)
        return super().save_pretrained(save_directory, *args, **kwargs)


class MLPModel(MLPPreTrainedModel):
    """The headless MLP: input (features or flattened pixels) -> last hidden layer."""

    # Loaded from a classifier checkpoint (the image-feature-extraction pipeline, AutoModel), the head's weights
    # have no place here, by design: not worth a load report.
    _keys_to_ignore_on_load_unexpected = [r"^classifier\."]

    def __init__(self, config: MLPConfig):
        super().__init__(config)
        self.input_dropout = nn.Dropout(config.input_dropout_prob)
        sizes = (config.input_size,) + tuple(config.hidden_sizes)
        self.layers = nn.ModuleList(MLPLayer(sizes[i], sizes[i + 1], config) for i in range(len(sizes) - 1))
        self.post_init()

    @property
    def num_features(self) -> int:
        """Width of the representation the heads see (the last hidden layer, or the input)."""
        return self.config.hidden_sizes[-1] if self.config.hidden_sizes else self.config.input_size

    def _flatten(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:
            x = x.flatten(1)  # (batch, channels, height, width) -> (batch, channels * height * width)
        if x.dim() != 2 or x.shape[1] != self.config.input_size:
            expected = (
                f"(batch, {self.config.num_channels}, {self.config.image_size[0]}, {self.config.image_size[1]})"
                if self.config.image_size
                else f"(batch, {self.config.input_size})"
            )
            raise ValueError(
                f"MLP input has shape {tuple(x.shape)} but this model expects {expected}; resize the input or "
                f"build the model with a matching input_size / image_size."
            )
        return x

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        r"""
        Args:
            input_features (`torch.Tensor` of shape `(batch, input_size)`): flat features.
            pixel_values (`torch.Tensor` of shape `(batch, channels, height, width)`): images, flattened here.
        """
        if (input_features is None) == (pixel_values is None):
            raise ValueError("Pass exactly one of input_features (batch, features) or pixel_values (batch, C, H, W).")
        x = input_features if input_features is not None else pixel_values
        h = self.input_dropout(self._flatten(x))  # (batch, input_size)
        hidden_states = (h,) if output_hidden_states else None
        for layer in self.layers:
            h = layer(h)  # (batch, hidden_sizes[l])
            if output_hidden_states:
                hidden_states = hidden_states + (h,)
        if return_dict is False:
            return tuple(v for v in (h, h, hidden_states) if v is not None)
        return BaseModelOutputWithPooling(last_hidden_state=h, pooler_output=h, hidden_states=hidden_states)


@dataclass
class RegressionOutput(ModelOutput):
    """Output of a regression head: ``predictions`` of shape (batch, num_labels) and the MSE ``loss``."""

    loss: torch.Tensor | None = None
    predictions: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


class _MLPWithHead(MLPPreTrainedModel):
    """Shared body of the heads: the MLP trunk, dropout and one output layer ``o = W_o h + b_o``."""

    def __init__(self, config: MLPConfig):
        super().__init__(config)
        self.mlp = MLPModel(config)
        self.classifier_dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(self.mlp.num_features, config.num_labels)
        self.post_init()

    def forward_features(self, input_features=None, pixel_values=None) -> torch.Tensor:
        """The representation the output layer sees, shape (batch, num_features)."""
        return self.mlp(input_features=input_features, pixel_values=pixel_values).pooler_output

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_labels: int, id2label: dict[int, str] | None = None) -> None:
        """Replaces the output layer with a freshly initialised one for ``num_labels`` outputs; the trunk is kept."""
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}.")
        self.config.id2label = dict(id2label) if id2label else {i: f"LABEL_{i}" for i in range(num_labels)}
        self.config.label2id = {v: k for k, v in self.config.id2label.items()}
        old = self.classifier
        self.classifier = nn.Linear(self.mlp.num_features, num_labels, device=old.weight.device, dtype=old.weight.dtype)
        self._init_weights(self.classifier)

    def _logits(self, input_features, pixel_values, output_hidden_states):
        out = self.mlp(input_features=input_features, pixel_values=pixel_values, output_hidden_states=output_hidden_states)
        return self.classifier(self.classifier_dropout(out.pooler_output)), out.hidden_states


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # Cross-entropy of softmax(logits), computed from the logits with log-sum-exp (never from probabilities).
    return F.cross_entropy(logits.float(), labels.long())


class MLPForImageClassification(_MLPWithHead):
    """MLP on flattened pixels with a softmax classification head."""

    main_input_name = "pixel_values"

    def forward(self, pixel_values=None, labels=None, output_hidden_states=None, return_dict=None, **kwargs):
        if pixel_values is None:
            raise ValueError("MLPForImageClassification needs pixel_values of shape (batch, channels, height, width).")
        logits, hidden_states = self._logits(None, pixel_values, output_hidden_states)  # (batch, num_labels)
        loss = classification_loss(logits, labels) if labels is not None else None
        if return_dict is False:
            return tuple(v for v in (loss, logits, hidden_states) if v is not None)
        return ImageClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)


class MLPForTabularClassification(_MLPWithHead):
    """MLP on a flat feature vector with a softmax classification head."""

    def forward(self, input_features=None, labels=None, output_hidden_states=None, return_dict=None, **kwargs):
        if input_features is None:
            raise ValueError("MLPForTabularClassification needs input_features of shape (batch, input_size).")
        logits, hidden_states = self._logits(input_features, None, output_hidden_states)  # (batch, num_labels)
        loss = classification_loss(logits, labels) if labels is not None else None
        if return_dict is False:
            return tuple(v for v in (loss, logits, hidden_states) if v is not None)
        return ImageClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)


class MLPForTabularRegression(_MLPWithHead):
    """MLP on a flat feature vector predicting ``num_labels`` real targets, trained with the mean squared error."""

    def forward(self, input_features=None, labels=None, output_hidden_states=None, return_dict=None, **kwargs):
        if input_features is None:
            raise ValueError("MLPForTabularRegression needs input_features of shape (batch, input_size).")
        predictions, hidden_states = self._logits(input_features, None, output_hidden_states)  # (batch, num_labels)
        loss = None
        if labels is not None:
            target = labels.to(predictions.dtype).reshape(predictions.shape)
            loss = F.mse_loss(predictions, target)  # (1/n) sum (y - y_hat)^2
        if return_dict is False:
            return tuple(v for v in (loss, predictions, hidden_states) if v is not None)
        return RegressionOutput(loss=loss, predictions=predictions, hidden_states=hidden_states)


__all__ = [
    "MLPPreTrainedModel",
    "MLPModel",
    "MLPForImageClassification",
    "MLPForTabularClassification",
    "MLPForTabularRegression",
    "RegressionOutput",
]
