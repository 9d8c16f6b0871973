"""Convolutional networks: the shared model contract, then LeNet-5 and the stage maths checked by hand."""

import logging
from typing import ClassVar

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from classicnets import CNNConfig, CNNForImageClassification, CNNModel, MLPConfig, MLPForImageClassification

from ..testing_utils import ModelTesterMixin, seeded


class TestCNNContract(ModelTesterMixin):
    config_class = CNNConfig
    base_model_class = CNNModel
    model_classes = (CNNModel, CNNForImageClassification)
    classification_model_classes = (CNNForImageClassification,)
    checkpoint_model_class = CNNForImageClassification
    checkpoint_variant = "batchnorm_residual_globalavg"
    auto_model_classes: ClassVar[dict] = {"AutoModel": CNNModel, "AutoModelForImageClassification": CNNForImageClassification}
    config_variants: ClassVar[dict] = {
        "tanh_flatten": {},
        # ResNet-like: stage 0 needs a 1x1 projection shortcut (2 -> 4 channels), stage 1 the identity.
        "batchnorm_residual_globalavg": {
            "normalization": "batch", "residual": True, "hidden_sizes": (4, 4), "global_pool": "avg",
            "fc_hidden_sizes": (), "hidden_act": "leaky_relu",
        },
        "groupnorm_avgpool_globalmax_dropout": {
            "normalization": "group", "num_groups": 2, "pooling": "avg", "global_pool": "max", "hidden_act": "elu",
            "conv_dropout_prob": 0.1, "hidden_dropout_prob": 0.1, "classifier_dropout_prob": 0.1,
        },
        "layernorm_nopool_gelu": {
            "normalization": "layer", "pooling": "none", "hidden_act": "gelu", "image_size": (6, 5), "paddings": (0, 1),
        },
    }
    invalid_configs: ClassVar[dict] = {
        "zero_channels": ({"num_channels": 0}, "num_channels"),
        "zero_image_height": ({"image_size": (0, 9)}, "image_size"),
        "image_too_small": ({"image_size": 2}, "image_size"),
        "no_stages": ({"hidden_sizes": (), "depths": (), "kernel_sizes": (), "paddings": ()}, "hidden_sizes"),
        "negative_width": ({"hidden_sizes": (4, -6)}, "hidden_sizes"),
        "zero_depth": ({"depths": (1, 0)}, "depths"),
        "zero_kernel": ({"kernel_sizes": (3, 0)}, "kernel_sizes"),
        "negative_padding": ({"paddings": (1, -1)}, "paddings"),
        "padding_not_a_list": ({"paddings": 2}, "paddings must be a list"),
        "depths_length": ({"depths": (1,)}, "depths"),
        "kernel_sizes_length": ({"kernel_sizes": (3,)}, "kernel_sizes"),
        "paddings_length": ({"paddings": (1, 1, 1)}, "paddings"),
        "zero_fc_width": ({"fc_hidden_sizes": (0,)}, "fc_hidden_sizes"),
        "unknown_activation": ({"hidden_act": "swish"}, "hidden_act"),
        "unknown_normalization": ({"normalization": "instance"}, "normalization"),
        "unknown_pooling": ({"pooling": "stochastic"}, "pooling"),
        "unknown_global_pool": ({"global_pool": "attention"}, "global_pool"),
        "zero_pool_size": ({"pool_size": 0}, "pool_size"),
        "groups_not_dividing": ({"normalization": "group", "num_groups": 3}, "num_groups"),
        "zero_groups": ({"normalization": "group", "num_groups": 0}, "num_groups"),
        "residual_valid_padding": ({"residual": True, "paddings": (1, 0)}, "residual"),
        "residual_even_kernel": ({"residual": True, "kernel_sizes": (2, 3)}, "residual"),
        "conv_dropout_one": ({"conv_dropout_prob": 1.0}, "conv_dropout_prob"),
        "hidden_dropout_one": ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob"),
        "classifier_dropout_two": ({"classifier_dropout_prob": 2.0}, "classifier_dropout_prob"),
        "negative_eps": ({"layer_norm_eps": -1e-5}, "layer_norm_eps"),
        "zero_initializer_range": ({"initializer_range": 0.0}, "initializer_range"),
        "zero_labels": ({"num_labels": 0}, "num_labels"),
    }

    def get_config(self, **overrides):
        kwargs = {
            "num_channels": 2, "image_size": (10, 9), "hidden_sizes": (4, 6), "depths": (1, 2), "kernel_sizes": (3, 3),
            "paddings": (1, 1), "fc_hidden_sizes": (10,), "hidden_act": "tanh", "num_labels": self.num_labels,
        }
        kwargs.update(overrides)
        return CNNConfig(**kwargs)

    def prepare_inputs(self, model_class, config, batch_size, generator):
        pixel_values = torch.randn(batch_size, config.num_channels, *config.image_size, generator=generator)
        return {"pixel_values": pixel_values}, self.random_labels(model_class, config, batch_size, generator)

    def expected_base_output_shapes(self, config, batch_size):
        width = config.fc_hidden_sizes[-1] if config.fc_hidden_sizes else config.num_features
        return {
            "last_hidden_state": (batch_size, *config.feature_map_sizes()[-1]),
            "pooler_output": (batch_size, width),
        }

    def expected_num_hidden_states(self, config):
        return len(config.hidden_sizes)  # one feature map per stage


# ---------------------------------------------------------------------------------------- LeNet-5
def test_lenet5_parameter_count_and_feature_maps():
    config = CNNConfig.lenet5(num_labels=10)
    model = CNNForImageClassification(config)
    # C1 6*(5*5*1+1), C3 16*(6*5*5+1), F5 400*120+120, F6 120*84+84, output 84*10+10
    expected = 6 * (25 + 1) + 16 * (6 * 25 + 1) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert expected == 61_706
    assert model.num_parameters() == expected
    assert config.feature_map_sizes() == [(6, 14, 14), (16, 5, 5)]
    assert config.num_features == 400
    output = model.cnn(pixel_values=torch.randn(2, 1, 28, 28), output_hidden_states=True)
    assert [tuple(h.shape[1:]) for h in output.hidden_states] == [(6, 14, 14), (16, 5, 5)]
    assert output.pooler_output.shape == (2, 84)


@pytest.mark.parametrize(
    ("hidden_act", "pooling", "phi", "pool"),
    [("relu", "max", F.relu, F.max_pool2d), ("tanh", "avg", torch.tanh, F.avg_pool2d)],
)
def test_lenet5_forward_by_hand(hidden_act, pooling, phi, pool):
    """C1 (pad 2) -> phi -> S2 -> C3 -> phi -> S4 -> flatten -> F5 -> phi -> F6 -> phi -> output."""
    torch.manual_seed(0)
    model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10, hidden_act=hidden_act, pooling=pooling)).eval()
    c1, c3 = (stage.layers[0].conv for stage in model.cnn.stages)
    f5, f6 = model.cnn.fc_layers
    x = torch.randn(3, 1, 28, 28, generator=seeded(0))
    h = pool(phi(F.conv2d(x, c1.weight, c1.bias, padding=2)), 2)  # (3, 6, 14, 14)
    h = pool(phi(F.conv2d(h, c3.weight, c3.bias)), 2)  # (3, 16, 5, 5)
    h = phi(F.linear(h.flatten(1), f5.weight, f5.bias))  # (3, 120)
    h = phi(F.linear(h, f6.weight, f6.bias))  # (3, 84)
    logits = F.linear(h, model.classifier.weight, model.classifier.bias)
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values=x).logits, logits, rtol=1e-5, atol=1e-6)


def test_lenet5_rejects_images_too_small():
    with pytest.raises(ValueError, match="image_size"):
        CNNConfig.lenet5(image_size=4)


def test_input_of_the_wrong_shape_is_refused_with_the_expected_shape():
    model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
    with pytest.raises(ValueError, match=r"\(batch, 1, 28, 28\)"):
        model(pixel_values=torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="pixel_values"):
        model(pixel_values=None)


def test_presets():
    vgg = CNNConfig.vgg_style(num_labels=10)
    assert vgg.kernel_sizes == (3, 3, 3) and vgg.paddings == (1, 1, 1) and vgg.normalization == "batch"
    assert vgg.feature_map_sizes() == [(32, 14, 14), (64, 7, 7), (128, 3, 3)]
    assert vgg.num_features == 128 * 3 * 3
    resnet = CNNConfig.resnet_style(num_labels=10)
    assert resnet.residual and resnet.global_pool == "avg" and resnet.fc_hidden_sizes == ()
    assert resnet.num_features == 128
    model = CNNForImageClassification(resnet)
    assert model.get_classifier().in_features == 128


# ---------------------------------------------------------------------------------------- building blocks
def small_config(**overrides) -> CNNConfig:
    kwargs = {
        "num_channels": 2, "image_size": (8, 8), "hidden_sizes": (4, 4), "depths": (2, 2), "kernel_sizes": (3, 3), "paddings": (1, 1),
        "fc_hidden_sizes": (5,), "hidden_act": "tanh", "num_labels": 3,
    }
    kwargs.update(overrides)
    return CNNConfig(**kwargs)


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
    model = CNNModel(small_config(hidden_act=name))
    x = torch.linspace(-6.0, 6.0, 241)
    activations = [layer.activation for stage in model.stages for layer in stage.layers] + [model.fc_activation]
    for activation in activations:
        assert torch.equal(activation(x), ACTIVATION_FUNCTIONS[name](x))


@pytest.mark.parametrize(
    ("normalization", "norm_type", "groups"),
    [("none", nn.Identity, None), ("batch", nn.BatchNorm2d, None), ("layer", nn.GroupNorm, 1), ("group", nn.GroupNorm, 2)],
)
def test_normalization_choices(normalization, norm_type, groups):
    config = small_config(normalization=normalization, num_groups=2, layer_norm_eps=1e-3, residual=True,
                          hidden_sizes=(4, 6))
    model = CNNModel(config)
    for stage, width in zip(model.stages, config.hidden_sizes, strict=True):
        norms = [layer.norm for layer in stage.layers] + [stage.shortcut[1]]  # both shortcuts project here
        for norm in norms:
            assert type(norm) is norm_type
            if groups is not None:
                assert norm.num_groups == groups and norm.num_channels == width and norm.eps == 1e-3
            if norm_type is nn.BatchNorm2d:
                assert norm.num_features == width and norm.eps == 1e-3
        for layer in stage.layers:  # a bias before a normalization's shift is redundant
            assert (layer.conv.bias is not None) == (normalization == "none")


@pytest.mark.parametrize(("in_channels", "projection"), [(2, True), (4, False)])
def test_residual_stage_is_phi_of_f_plus_s(in_channels, projection):
    """y = pool(phi(F(x) + S(x))), F = conv-BN-phi-conv-BN, S = 1x1 conv + BN or the identity (He et al. 2015)."""
    torch.manual_seed(0)
    config = small_config(num_channels=in_channels, normalization="batch", residual=True, hidden_act="elu")
    model = CNNModel(config).eval()
    stage = model.stages[0]
    with torch.no_grad():  # non-trivial batch-norm statistics and affine parameters
        for module in stage.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    assert isinstance(stage.shortcut, nn.Sequential) == projection
    assert isinstance(stage.layers[-1].activation, nn.Identity)  # phi comes after the sum

    def bn(h, norm):
        return F.batch_norm(h, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)

    x = torch.randn(3, in_channels, 8, 8, generator=seeded(0))
    first, second = stage.layers
    f = F.elu(bn(F.conv2d(x, first.conv.weight, padding=1), first.norm))
    f = bn(F.conv2d(f, second.conv.weight, padding=1), second.norm)
    s = bn(F.conv2d(x, stage.shortcut[0].weight), stage.shortcut[1]) if projection else x
    expected = F.max_pool2d(F.elu(f + s), 2)
    with torch.no_grad():
        torch.testing.assert_close(stage(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("global_pool", "reduce"), [("avg", torch.mean), ("max", torch.amax)])
def test_global_pooling(global_pool, reduce):
    torch.manual_seed(0)
    model = CNNModel(small_config(global_pool=global_pool, fc_hidden_sizes=())).eval()
    with torch.no_grad():
        output = model(pixel_values=torch.randn(3, 2, 8, 8, generator=seeded(1)))
    assert output.last_hidden_state.shape == (3, 4, 2, 2)
    assert torch.equal(output.pooler_output, reduce(output.last_hidden_state, dim=(2, 3)))


# ---------------------------------------------------------------------------------------- checkpoints
class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_foreign_checkpoint_loads_without_error_in_transformers_5(tmp_path):
    """Canary for a transformers 5 behaviour the CLI must guard against (DESIGN.md section 7).

    An MLP folder loaded with ``CNNForImageClassification.from_pretrained`` builds a CNN from the MLP's
    config fields, only logs a warning and a load report, and returns a model whose trunk is random while
    the same-named, same-shaped ``classifier`` tensors come from the MLP; its config (a ``CNNConfig``) even
    keeps ``model_type="classicnets_mlp"``. Compare the folder's ``model_type`` with
    ``model_class.config_class.model_type`` before loading. When this test fails, transformers has started
    refusing such checkpoints.
    """
    torch.manual_seed(0)
    mlp = MLPForImageClassification(MLPConfig(image_size=28, hidden_sizes=(16, 84), num_labels=10))
    mlp.save_pretrained(tmp_path)
    records = _Records()
    logger = logging.getLogger("transformers")
    logger.addHandler(records)
    try:
        cnn = CNNForImageClassification.from_pretrained(tmp_path)
    finally:
        logger.removeHandler(records)
    assert type(cnn) is CNNForImageClassification and type(cnn.config) is CNNConfig
    # ... yet the instance keeps the checkpoint's model_type, which save_pretrained would write back.
    assert cnn.config.model_type == "classicnets_mlp" != CNNConfig.model_type
    assert cnn.config.hidden_sizes == (16, 84)  # the MLP's widths, read as CNN stage widths
    assert any("classicnets_mlp" in m and "classicnets_cnn" in m for m in records.messages), records.messages
    assert torch.equal(cnn.classifier.weight, mlp.classifier.weight)
    fresh = CNNForImageClassification(cnn.config)
    torch.testing.assert_close(  # the trunk is freshly initialised: same scale as a new model, not loaded
        cnn.cnn.stages[0].layers[0].conv.weight.std(), fresh.cnn.stages[0].layers[0].conv.weight.std(), rtol=0.5, atol=0
    )


def test_foreign_checkpoint_with_clashing_shapes_raises(tmp_path):
    """The other outcome of loading another architecture: the head shapes differ, and that raises."""
    MLPForImageClassification(MLPConfig(image_size=28, hidden_sizes=(16, 32), num_labels=10)).save_pretrained(tmp_path)
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):
        CNNForImageClassification.from_pretrained(tmp_path)
