"""The multilayer perceptron: the shared model contract, then the MLP's own maths checked by hand."""

import math
from typing import ClassVar

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from classicnets import (
    MLPConfig,
    MLPForImageClassification,
    MLPForTabularClassification,
    MLPForTabularRegression,
    MLPModel,
)

from ..testing_utils import ModelTesterMixin, seeded

CHANNELS, HEIGHT, WIDTH = 2, 4, 3  # non-square so that swapped axes show


class TestMLPContract(ModelTesterMixin):
    config_class = MLPConfig
    base_model_class = MLPModel
    model_classes = (MLPModel, MLPForImageClassification, MLPForTabularClassification, MLPForTabularRegression)
    classification_model_classes = (MLPForImageClassification, MLPForTabularClassification)
    regression_model_classes = (MLPForTabularRegression,)
    checkpoint_model_class = MLPForImageClassification
    checkpoint_variant = "batchnorm_leaky_relu"
    auto_model_classes: ClassVar[dict] = {"AutoModel": MLPModel, "AutoModelForImageClassification": MLPForImageClassification}
    for_model_kwargs: ClassVar[dict] = {"input_size": 4}  # an MLP has no default input shape
    config_variants: ClassVar[dict] = {
        "tanh": {},
        "batchnorm_leaky_relu": {"normalization": "batch", "hidden_act": "leaky_relu"},
        "layernorm_gelu_dropout": {
            "normalization": "layer", "hidden_act": "gelu",
            "input_dropout_prob": 0.1, "hidden_dropout_prob": 0.2, "classifier_dropout_prob": 0.1,
        },
        "linear_model": {"hidden_sizes": ()},
    }
    invalid_configs: ClassVar[dict] = {
        "no_input_shape": ({"image_size": None, "input_size": None}, "input_size"),
        "negative_input_size": ({"image_size": None, "input_size": -3}, "input_size"),
        "input_size_disagrees_with_image": ({"input_size": 5}, "input_size"),
        "zero_image_size": ({"image_size": 0}, "image_size"),
        "three_dim_image_size": ({"image_size": (4, 3, 2)}, "image_size"),
        "zero_channels": ({"num_channels": 0}, "num_channels"),
        "zero_hidden_size": ({"hidden_sizes": (8, 0)}, "hidden_sizes"),
        "negative_hidden_size": ({"hidden_sizes": (-8,)}, "hidden_sizes"),
        "hidden_sizes_not_a_list": ({"hidden_sizes": 8}, "hidden_sizes must be a list"),
        "float_hidden_size": ({"hidden_sizes": (8, 2.5)}, "hidden_sizes"),
        "unknown_activation": ({"hidden_act": "swish"}, "hidden_act"),
        "unknown_normalization": ({"normalization": "instance"}, "normalization"),
        "hidden_dropout_one": ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob"),
        "input_dropout_above_one": ({"input_dropout_prob": 1.5}, "input_dropout_prob"),
        "negative_classifier_dropout": ({"classifier_dropout_prob": -0.1}, "classifier_dropout_prob"),
        "zero_eps": ({"layer_norm_eps": 0.0}, "layer_norm_eps"),
        "zero_initializer_range": ({"initializer_range": 0.0}, "initializer_range"),
        "zero_labels": ({"num_labels": 0}, "num_labels"),
    }

    def get_config(self, **overrides):
        kwargs = {
            "image_size": (HEIGHT, WIDTH), "num_channels": CHANNELS, "hidden_sizes": (8, 6), "hidden_act": "tanh",
            "num_labels": self.num_labels,
        }
        kwargs.update(overrides)
        return MLPConfig(**kwargs)

    def prepare_inputs(self, model_class, config, batch_size, generator):
        if model_class is MLPForImageClassification:
            inputs = {"pixel_values": torch.randn(batch_size, config.num_channels, *config.image_size, generator=generator)}
        else:
            inputs = {"input_features": torch.randn(batch_size, config.input_size, generator=generator)}
        return inputs, self.random_labels(model_class, config, batch_size, generator)

    def expected_base_output_shapes(self, config, batch_size):
        width = config.hidden_sizes[-1] if config.hidden_sizes else config.input_size
        return {"last_hidden_state": (batch_size, width), "pooler_output": (batch_size, width)}

    def expected_num_hidden_states(self, config):
        return len(config.hidden_sizes) + 1  # the input, then every hidden layer


def tiny_config(**overrides) -> MLPConfig:
    kwargs = {"input_size": 5, "hidden_sizes": (8, 6), "hidden_act": "tanh", "num_labels": 3}
    kwargs.update(overrides)
    return MLPConfig(**kwargs)


def test_image_size_derives_input_size():
    config = MLPConfig(image_size=28, hidden_sizes=(16,))
    assert config.image_size == (28, 28) and config.input_size == 784
    assert MLPConfig(image_size=(4, 3), num_channels=2).input_size == 24


# ---------------------------------------------------------------------------------------- the equations
@pytest.mark.parametrize("normalization", ["none", "layer", "batch"])
def test_forward_is_the_textbook_equation(normalization):
    """h_l = tanh(norm(W_l h_{l-1} + b_l)), logits = W_o h_L + b_o, computed by hand from the parameters."""
    torch.manual_seed(0)
    config = tiny_config(normalization=normalization)
    model = MLPForTabularClassification(config).eval()
    with torch.no_grad():  # non-trivial normalization parameters and statistics
        for module in model.modules():
            if isinstance(module, (nn.LayerNorm, nn.BatchNorm1d)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(4, 5, generator=seeded(0))
    h = x
    for layer in model.mlp.layers:
        a = h @ layer.linear.weight.T  # (batch, out)
        if layer.linear.bias is not None:
            a = a + layer.linear.bias
        if normalization == "layer":
            mean, var = a.mean(-1, keepdim=True), a.var(-1, unbiased=False, keepdim=True)
            a = (a - mean) / torch.sqrt(var + config.layer_norm_eps) * layer.norm.weight + layer.norm.bias
        elif normalization == "batch":
            a = (a - layer.norm.running_mean) / torch.sqrt(layer.norm.running_var + config.layer_norm_eps)
            a = a * layer.norm.weight + layer.norm.bias
        h = torch.tanh(a)
    logits = h @ model.classifier.weight.T + model.classifier.bias
    with torch.no_grad():
        torch.testing.assert_close(model(input_features=x).logits, logits, rtol=1e-5, atol=1e-6)


def test_images_are_flattened_channel_first_row_major():
    """pixel_values (batch, C, H, W) feed the same first layer as their torch.flatten(1)."""
    torch.manual_seed(0)
    model = MLPForImageClassification(MLPConfig(image_size=(HEIGHT, WIDTH), num_channels=CHANNELS, hidden_sizes=(8,))).eval()
    images = torch.randn(3, CHANNELS, HEIGHT, WIDTH, generator=seeded(0))
    first = model.mlp.layers[0]
    h = torch.relu(images.reshape(3, -1) @ first.linear.weight.T + first.linear.bias)
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values=images).logits, model.classifier(h))


ACTIVATION_FUNCTIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "elu": F.elu,
    "gelu": F.gelu,
    "silu": F.silu,
    "softplus": F.softplus,
    "identity": lambda x: x,
}


@pytest.mark.parametrize("name", list(ACTIVATION_FUNCTIONS))
def test_activation_names_map_to_torch_functions(name):
    model = MLPModel(tiny_config(hidden_act=name))
    x = torch.linspace(-6.0, 6.0, 241)
    for layer in model.layers:
        assert torch.equal(layer.activation(x), ACTIVATION_FUNCTIONS[name](x))


@pytest.mark.parametrize(
    ("normalization", "norm_type", "has_bias"),
    [("none", nn.Identity, True), ("batch", nn.BatchNorm1d, False), ("layer", nn.LayerNorm, True)],
)
def test_normalization_choices(normalization, norm_type, has_bias):
    config = tiny_config(normalization=normalization, layer_norm_eps=1e-3)
    model = MLPModel(config)
    for layer, width in zip(model.layers, config.hidden_sizes, strict=True):
        assert type(layer.norm) is norm_type
        assert (layer.linear.bias is not None) == has_bias  # a bias right before batch norm is redundant
        if norm_type is nn.BatchNorm1d:
            assert layer.norm.num_features == width and layer.norm.eps == 1e-3
        if norm_type is nn.LayerNorm:
            assert layer.norm.normalized_shape == (width,) and layer.norm.eps == 1e-3


# ---------------------------------------------------------------------------------------- stability
def _act_at_extremes(name):
    activation = MLPModel(tiny_config(hidden_act=name)).layers[0].activation
    x = torch.tensor([1000.0, -1000.0], requires_grad=True)
    y = activation(x)
    y.sum().backward()
    return y.detach(), x.grad


@pytest.mark.parametrize(
    ("name", "values", "grads"),
    [
        ("softplus", [1000.0, 0.0], [1.0, 0.0]),  # log(1 + e^x) = x for large x, e^x ~ 0 for very negative x
        ("sigmoid", [1.0, 0.0], [0.0, 0.0]),
        ("tanh", [1.0, -1.0], [0.0, 0.0]),
    ],
)
def test_activation_at_plus_minus_1000(name, values, grads):
    y, grad = _act_at_extremes(name)
    assert torch.equal(y, torch.tensor(values))
    assert torch.equal(grad, torch.tensor(grads))


@pytest.mark.parametrize("name", ["softplus", "sigmoid", "tanh"])
def test_whole_model_on_huge_inputs_is_finite(name):
    torch.manual_seed(0)
    model = MLPForTabularClassification(tiny_config(hidden_act=name)).train()
    generator = seeded(1)
    x = torch.randn(8, 5, generator=generator).sign() * 1000.0  # every input at +-1000
    labels = torch.randint(0, 3, (8,), generator=generator)
    output = model(input_features=x, labels=labels, output_hidden_states=True)
    assert output.hidden_states[1].abs().max() > 100 or name != "softplus"  # really in the saturating regime
    assert torch.isfinite(output.logits).all() and torch.isfinite(output.loss)
    output.loss.backward()
    for parameter_name, parameter in model.named_parameters():
        assert torch.isfinite(parameter.grad).all(), parameter_name


# ---------------------------------------------------------------------------------------- heads
def test_linear_model_is_logistic_regression():
    """hidden_sizes=() leaves one affine map: softmax(W x + b), trained with the cross-entropy."""
    torch.manual_seed(0)
    model = MLPForTabularClassification(tiny_config(hidden_sizes=())).eval()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears == [model.classifier]
    assert sum(p.numel() for p in model.parameters()) == 5 * 3 + 3
    generator = seeded(2)
    x, labels = torch.randn(6, 5, generator=generator), torch.randint(0, 3, (6,), generator=generator)
    output = model(input_features=x, labels=labels)
    logits = x @ model.classifier.weight.T + model.classifier.bias
    torch.testing.assert_close(output.logits, logits)
    torch.testing.assert_close(output.loss, -torch.log_softmax(logits, -1)[torch.arange(6), labels].mean())


def test_regression_head_with_one_target_accepts_flat_labels():
    torch.manual_seed(0)
    model = MLPForTabularRegression(tiny_config(num_labels=1)).eval()
    generator = seeded(3)
    x, y = torch.randn(6, 5, generator=generator), torch.randn(6, generator=generator)  # labels (batch,)
    output = model(input_features=x, labels=y)
    assert output.predictions.shape == (6, 1)
    torch.testing.assert_close(output.loss, ((output.predictions[:, 0] - y) ** 2).mean())
    loss, predictions = model(input_features=x, labels=y, return_dict=False)
    assert torch.equal(loss, output.loss) and torch.equal(predictions, output.predictions)


def test_heads_demand_their_own_input():
    config = MLPConfig(image_size=(HEIGHT, WIDTH), num_channels=CHANNELS, hidden_sizes=(4,))
    images = torch.randn(2, CHANNELS, HEIGHT, WIDTH)
    with pytest.raises(ValueError, match="input_features"):
        MLPForTabularClassification(config)(pixel_values=images)
    with pytest.raises(ValueError, match="input_features"):
        MLPForTabularRegression(config)(pixel_values=images)
    with pytest.raises(ValueError, match="pixel_values"):
        MLPForImageClassification(config)(input_features=images.flatten(1))
    with pytest.raises(ValueError, match=r"\(batch, 2, 4, 3\)"):  # the message says which shape is expected
        MLPForImageClassification(config)(pixel_values=torch.randn(2, CHANNELS, WIDTH, WIDTH))
    with pytest.raises(ValueError, match="exactly one"):
        MLPModel(config)(input_features=images.flatten(1), pixel_values=images)


def test_classic_mnist_mlp_parameter_count():
    """784-800-800-10 (Simard et al. 2003 / Srivastava et al. 2014): 1,276,810 parameters."""
    model = MLPForImageClassification(MLPConfig(image_size=28, hidden_sizes=(800, 800), num_labels=10))
    expected = (784 * 800 + 800) + (800 * 800 + 800) + (800 * 10 + 10)
    assert expected == 1_276_810
    assert model.num_parameters() == expected


@pytest.mark.parametrize(
    ("hidden_act", "expected_std"),
    [
        ("relu", math.sqrt(2.0 / 400)),  # He: Var(W) = 2 / fan_in
        ("tanh", 5.0 / 3.0 * math.sqrt(2.0 / (400 + 300))),  # Glorot with tanh gain 5/3
        ("sigmoid", math.sqrt(2.0 / (400 + 300))),  # Glorot
    ],
    ids=["he_relu", "glorot_tanh", "glorot_sigmoid"],
)
def test_initialisation_scale(hidden_act, expected_std):
    torch.manual_seed(0)
    model = MLPForTabularClassification(tiny_config(input_size=400, hidden_sizes=(300,), hidden_act=hidden_act, num_labels=10))
    weight = model.mlp.layers[0].linear.weight
    assert abs(weight.std().item() / expected_std - 1) < 0.02
    assert torch.equal(model.mlp.layers[0].linear.bias, torch.zeros(300))
    # The output layer feeds a softmax: Glorot, gain 1, whatever the hidden activation.
    assert abs(model.classifier.weight.std().item() / math.sqrt(2.0 / (300 + 10)) - 1) < 0.05
