"""GANs: the shared model contract (run on the whole GAN, ``D(G(z))``), then the networks, losses and sampling.

The contract's inputs are latents, so that ``forward`` runs both networks: every parameter of ``G`` and ``D`` must
get a gradient, both networks' batch-norm statistics must survive save/load, and both must be batch-invariant in
eval mode. The discriminator-only path (``pixel_values``) is checked against it below.
"""

import math
from typing import ClassVar

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from classicnets import GANConfig, GANModel

from ..testing_utils import ModelTesterMixin, seeded


def covering_labels(batch_size: int, num_labels: int, generator: torch.Generator) -> torch.Tensor:
    """Random class ids in which every class occurs (for batch_size >= num_labels): a class absent from a batch
    would leave its one-hot weights without gradient."""
    return (torch.arange(batch_size) % num_labels)[torch.randperm(batch_size, generator=generator)]


class TestGANContract(ModelTesterMixin):
    config_class = GANConfig
    base_model_class = GANModel
    model_classes = (GANModel,)
    checkpoint_model_class = GANModel
    checkpoint_variant = "dcgan_conditional"
    auto_model_classes: ClassVar[dict] = {"AutoModel": GANModel}
    # Variants use activations without dead units (the gradient test demands a non-zero gradient everywhere).
    config_variants: ClassVar[dict] = {
        "mlp": {},
        "mlp_conditional_batchnorm_d_dropout": {
            "conditional": True, "discriminator_normalization": "batch", "discriminator_dropout_prob": 0.2,
            "generator_hidden_sizes": (6, 8),
        },
        "dcgan": {"architecture": "dcgan", "generator_hidden_sizes": (6, 4), "discriminator_hidden_sizes": (4, 6),
                  "image_size": (8, 12)},
        "dcgan_conditional": {
            "architecture": "dcgan", "conditional": True, "generator_hidden_sizes": (6, 4),
            "discriminator_hidden_sizes": (4, 6), "image_size": 8, "num_channels": 2,
        },
    }
    invalid_configs: ClassVar[dict] = {
        "zero_latent": ({"latent_size": 0}, "latent_size"),
        "negative_latent": ({"latent_size": -3}, "latent_size"),
        "unknown_architecture": ({"architecture": "stylegan"}, "architecture"),
        "zero_channels": ({"num_channels": 0}, "num_channels"),
        "zero_image_size": ({"image_size": (0, 8)}, "image_size"),
        "dcgan_size_not_producible": ({"architecture": "dcgan", "image_size": 30, "generator_hidden_sizes": (8, 4)},
                                      "image_size=(30, 30) cannot be produced"),
        "dcgan_discriminator_too_deep": ({"architecture": "dcgan", "image_size": 4, "generator_hidden_sizes": (4,),
                                          "discriminator_hidden_sizes": (4, 4, 4)}, "image_size"),
        "no_generator_layers": ({"generator_hidden_sizes": ()}, "generator_hidden_sizes"),
        "zero_discriminator_width": ({"discriminator_hidden_sizes": (4, 0)}, "discriminator_hidden_sizes"),
        "sizes_not_a_list": ({"generator_hidden_sizes": 8}, "generator_hidden_sizes"),
        "unknown_generator_act": ({"generator_hidden_act": "swish"}, "generator_hidden_act"),
        "unknown_discriminator_norm": ({"discriminator_normalization": "layer"}, "discriminator_normalization"),
        "slope_one": ({"leaky_relu_negative_slope": 1.0}, "leaky_relu_negative_slope"),
        "dropout_one": ({"discriminator_dropout_prob": 1.0}, "discriminator_dropout_prob"),
        "zero_initializer_range": ({"initializer_range": 0.0}, "initializer_range"),
        "conditional_one_label": ({"conditional": True, "num_labels": 1}, "num_labels"),
    }

    def get_config(self, **overrides):
        kwargs = {
            "latent_size": 5, "image_size": (4, 3), "generator_hidden_sizes": (6,), "discriminator_hidden_sizes": (7, 5),
            "generator_hidden_act": "leaky_relu", "num_labels": self.num_labels,
        }
        kwargs.update(overrides)
        return GANConfig(**kwargs)

    def prepare_inputs(self, model_class, config, batch_size, generator):
        inputs = {"latents": torch.randn(batch_size, config.latent_size, generator=generator)}
        if config.conditional:
            inputs["labels"] = covering_labels(batch_size, config.num_labels, generator)
        return inputs, None

    def expected_base_output_shapes(self, config, batch_size):
        return {"logits": (batch_size,), "generated_pixel_values": (batch_size, *config.image_shape)}


def tiny(**overrides) -> GANConfig:
    kwargs = dict(latent_size=5, image_size=(4, 3), generator_hidden_sizes=(6,), discriminator_hidden_sizes=(7, 5),
                  num_labels=3)
    kwargs.update(overrides)
    return GANConfig(**kwargs)


def build(config: GANConfig, seed: int = 0) -> GANModel:
    torch.manual_seed(seed)
    return GANModel(config)


# ---------------------------------------------------------------------------------------- losses
def test_losses_are_exact_for_logits_of_plus_minus_200():
    big = torch.tensor([200.0], requires_grad=True)
    small = torch.tensor([-200.0], requires_grad=True)
    # A perfect discriminator: -log sigmoid(200) - log(1 - sigmoid(-200)) = 2 log(1 + e^-200) = 0 in float32.
    loss = GANModel.discriminator_loss(big, small)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(big.grad).all() and torch.isfinite(small.grad).all()
    assert big.grad.item() == 0.0 and small.grad.item() == 0.0  # -sigmoid(-200), sigmoid(-200): 0 in float32
    # The worst discriminator: softplus(200) + softplus(200) = 400 exactly, gradients -1 and +1.
    real, fake = torch.tensor([-200.0], requires_grad=True), torch.tensor([200.0], requires_grad=True)
    loss = GANModel.discriminator_loss(real, fake)
    assert loss.item() == 400.0
    loss.backward()
    assert real.grad.item() == -1.0 and fake.grad.item() == 1.0
    # The non-saturating generator loss -log sigmoid(l): 200 when D rejects the sample, 0 when D accepts it; its
    # gradient stays -1 (not 0) for a confidently rejected sample, which is the point of the non-saturating form.
    fake = torch.tensor([-200.0, 200.0], requires_grad=True)
    loss = GANModel.generator_loss(fake)
    assert loss.item() == 100.0  # (200 + 0) / 2
    loss.backward()
    assert fake.grad.tolist() == [-0.5, 0.0]


def test_losses_match_the_value_function_in_float64():
    real, fake = torch.randn(6, generator=seeded(0)) * 3, torch.randn(5, generator=seeded(1)) * 3
    sig = torch.sigmoid
    expected_d = -(torch.log(sig(real.double())).mean() + torch.log(1 - sig(fake.double())).mean())
    expected_g = -torch.log(sig(fake.double())).mean()
    torch.testing.assert_close(GANModel.discriminator_loss(real, fake).double(), expected_d, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(GANModel.generator_loss(fake).double(), expected_g, rtol=1e-6, atol=1e-7)
    # ... and torch's binary cross-entropy with targets 1 (real) and 0 (fake)
    bce = (F.binary_cross_entropy_with_logits(real, torch.ones(6)) + F.binary_cross_entropy_with_logits(fake, torch.zeros(5)))
    torch.testing.assert_close(GANModel.discriminator_loss(real, fake), bce)
    # At D = 1/2 everywhere (logits 0), L_D = 2 log 2 and L_G = log 2.
    assert math.isclose(GANModel.discriminator_loss(torch.zeros(3), torch.zeros(3)).item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(GANModel.generator_loss(torch.zeros(3)).item(), math.log(2), rel_tol=1e-6)


# ---------------------------------------------------------------------------------------- networks by hand
@pytest.mark.parametrize("conditional", [False, True])
def test_mlp_gan_forward_by_hand(conditional):
    """G: [z; y] -> BN(W z) -> ReLU -> tanh(W h + b); D: [x; y] -> LeakyReLU_0.2(W x + b) ... -> w h + b."""
    config = tiny(conditional=conditional, generator_hidden_act="relu", generator_hidden_sizes=(6, 8))
    model = build(config).eval()
    with torch.no_grad():  # non-trivial running statistics for the eval-mode batch norm
        for block in model.generator.layers:
            block.norm.running_mean.uniform_(-0.5, 0.5)
            block.norm.running_var.uniform_(0.5, 2.0)
            block.norm.weight.uniform_(0.5, 1.5)
            block.norm.bias.uniform_(-0.5, 0.5)
    z = torch.randn(4, 5, generator=seeded(0))
    labels = torch.tensor([2, 0, 1, 2]) if conditional else None
    h = torch.cat([z, F.one_hot(labels, 3).float()], 1) if conditional else z
    for block in model.generator.layers:
        bn = block.norm
        a = F.linear(h, block.linear.weight)  # no bias before batch norm
        h = F.relu((a - bn.running_mean) / torch.sqrt(bn.running_var + 1e-5) * bn.weight + bn.bias)
    x = torch.tanh(F.linear(h, model.generator.output.weight, model.generator.output.bias)).view(4, 1, 4, 3)
    g = model.discriminator
    v = torch.cat([x.flatten(1), F.one_hot(labels, 3).float()], 1) if conditional else x.flatten(1)
    for block in g.layers:
        v = F.leaky_relu(F.linear(v, block.linear.weight, block.linear.bias), 0.2)
    logits = F.linear(v, g.output.weight, g.output.bias).squeeze(1)
    with torch.no_grad():
        out = model(latents=z, labels=labels)
        torch.testing.assert_close(out.generated_pixel_values, x, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out.logits, logits, rtol=1e-5, atol=1e-6)
        # The discriminator path on the generated images gives the same logits.
        torch.testing.assert_close(model(pixel_values=x, labels=labels).logits, logits, rtol=1e-5, atol=1e-6)


def test_dcgan_follows_radford_et_al():
    config = GANConfig.dcgan(conditional=True, num_labels=10)
    model = build(config)
    g, d = model.generator, model.discriminator
    assert config.generator_feature_map_sizes() == [(256, 7, 7), (128, 14, 14), (1, 28, 28)]
    assert config.discriminator_feature_map_sizes() == [(64, 14, 14), (128, 7, 7)]
    # G: project [z; y] (110) to 256x7x7, BN, ReLU; transposed conv 4/2/1 to 128x14x14, BN, ReLU; to 1x28x28, tanh.
    assert g.project.in_features == 110 and g.project.out_features == 256 * 49 and g.project.bias is None
    assert isinstance(g.project_norm, nn.BatchNorm2d) and isinstance(g.project_activation, nn.ReLU)
    (up,) = g.layers
    assert isinstance(up.conv, nn.ConvTranspose2d) and (up.conv.kernel_size, up.conv.stride, up.conv.padding) == ((4, 4), (2, 2), (1, 1))
    assert isinstance(up.norm, nn.BatchNorm2d) and isinstance(up.activation, nn.ReLU)
    assert isinstance(g.output, nn.ConvTranspose2d) and g.output.out_channels == 1  # no BN on the output
    # D: the image and 10 label maps in; no BN on the input layer, BN after; LeakyReLU(0.2); one logit.
    first, second = d.layers
    assert first.conv.in_channels == 1 + 10 and isinstance(first.norm, nn.Identity) and first.conv.bias is not None
    assert isinstance(second.norm, nn.BatchNorm2d) and second.conv.bias is None
    assert all(isinstance(b.activation, nn.LeakyReLU) and b.activation.negative_slope == 0.2 for b in d.layers)
    assert d.output.in_features == 128 * 7 * 7 and d.output.out_features == 1
    # N(0, 0.02) weights, zero biases, unit batch-norm scales.
    for name, p in model.named_parameters():
        if name.endswith("weight") and p.dim() > 1:
            assert abs(p.std().item() - 0.02) < 0.002 and abs(p.mean().item()) < 0.002, name
        elif "norm" in name and name.endswith("weight"):
            assert torch.equal(p, torch.ones_like(p)), name
        else:
            assert torch.equal(p, torch.zeros_like(p)), name
    x = model.sample(3, labels=[1, 2, 3])
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1


def test_dcgan_feature_maps_by_shape():
    config = GANConfig.dcgan(image_size=(16, 8), num_channels=3, generator_hidden_sizes=(8, 6, 4),
                             discriminator_hidden_sizes=(4, 8))
    assert config.generator_feature_map_sizes() == [(8, 2, 1), (6, 4, 2), (4, 8, 4), (3, 16, 8)]
    model = build(config).eval()
    maps = []
    hooks = [b.register_forward_hook(lambda m, i, o: maps.append(tuple(o.shape[1:]))) for b in model.generator.layers]
    with torch.no_grad():
        out = model(latents=torch.randn(2, config.latent_size))
    for hook in hooks:
        hook.remove()
    assert maps == [(6, 4, 2), (4, 8, 4)] and out.generated_pixel_values.shape == (2, 3, 16, 8)
    with pytest.raises(ValueError, match="at most 2 generator stage"):
        GANConfig.dcgan(image_size=28, generator_hidden_sizes=(8, 4, 2))


def test_conditional_dcgan_discriminator_reads_the_label_maps():
    """Concatenating K constant one-hot maps equals adding the label's input-filter response to the image's."""
    config = GANConfig.dcgan(conditional=True, num_labels=3, image_size=8, generator_hidden_sizes=(4,),
                             discriminator_hidden_sizes=(4,), latent_size=4)
    model = build(config).eval()
    x, labels = torch.rand(2, 1, 8, 8, generator=seeded(0)) * 2 - 1, torch.tensor([0, 2])
    conv = model.discriminator.layers[0].conv
    maps = F.one_hot(labels, 3).float()[:, :, None, None].expand(-1, -1, 8, 8)
    h = F.leaky_relu(F.conv2d(torch.cat([x, maps], 1), conv.weight, conv.bias, stride=2, padding=1), 0.2)
    expected = F.linear(h.flatten(1), model.discriminator.output.weight, model.discriminator.output.bias).squeeze(1)
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values=x, labels=labels).logits, expected, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(model(pixel_values=x, labels=torch.tensor([1, 1])).logits, expected)


# ---------------------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("architecture", ["mlp", "dcgan"])
def test_sampling_is_reproducible_with_a_seeded_generator(architecture):
    config = tiny(architecture=architecture, image_size=8, conditional=True) if architecture == "dcgan" else tiny()
    model = build(config).train()
    with torch.no_grad():  # move the running statistics away from their initial values
        model(latents=torch.randn(16, config.latent_size, generator=seeded(9)),
              labels=covering_labels(16, 3, seeded(9)) if config.conditional else None)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    a = model.sample(6, generator=seeded(42))
    b = model.sample(6, generator=seeded(42))
    c = model.sample(6, generator=seeded(43))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert a.shape == (6, *config.image_shape) and a.abs().max() <= 1
    # sample() is G(z) for z ~ N(0, I) from that generator, in eval mode; the model keeps its mode and buffers.
    assert model.training and model.generator.training
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    labels = torch.arange(6) % 3 if config.conditional else None
    model.eval()
    with torch.no_grad():
        expected = model(latents=torch.randn(6, config.latent_size, generator=seeded(42)), labels=labels)
    assert torch.equal(a, expected.generated_pixel_values)


def test_conditional_sampling_labels():
    model = build(tiny(conditional=True)).eval()
    same_z = [model.sample(4, labels=k, generator=seeded(0)) for k in range(3)]
    assert not torch.allclose(same_z[0], same_z[1])  # the label changes the image drawn from the same z
    torch.testing.assert_close(model.sample(4, labels=[0, 1, 2, 0], generator=seeded(0)),
                               torch.stack([same_z[k % 3][k] for k in range(4)]), rtol=0, atol=1e-6)
    # labels=None cycles through the classes.
    assert torch.equal(model.sample(4, generator=seeded(0)), model.sample(4, labels=[0, 1, 2, 0], generator=seeded(0)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        model.sample(2, labels=[0, 3])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        model.sample(2, labels=[0, 1, 2])
    with pytest.raises(ValueError, match="integer tensor"):
        model.sample(2, labels=torch.tensor([0.0, 1.0]))


def test_bad_input_gives_clear_errors():
    model = build(tiny())
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, labels=[0, 1])
    with pytest.raises(ValueError, match="unconditional"):
        model(pixel_values=torch.zeros(2, 1, 4, 3), labels=torch.tensor([0, 1]))
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="num_samples"):
            model.sample(bad)
    x = torch.zeros(2, 1, 4, 3)
    x[1, 0, 2, 1] = float("nan")
    with pytest.raises(ValueError, match="pixel_values contains NaN"):
        model(pixel_values=x)
    with pytest.raises(ValueError, match="latents contains NaN"):
        model(latents=torch.tensor([[0.0, 1.0, float("inf"), 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"\(batch, 1, 4, 3\)"):
        model(pixel_values=torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match=r"\(batch, 5\)"):
        model(latents=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="either pixel_values"):
        model()
    with pytest.raises(ValueError, match="either pixel_values"):
        model(pixel_values=torch.zeros(2, 1, 4, 3), latents=torch.zeros(2, 5))
    conditional = build(tiny(conditional=True))
    with pytest.raises(ValueError, match="conditional: give labels"):
        conditional(latents=torch.zeros(2, 5))
