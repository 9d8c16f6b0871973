"""Autoencoders: the shared model contract, then the autoencoder's own promises.

Checked here beyond the contract: the dense and tied forward passes by hand; tied weights are one tensor through
save/load and an optimizer step; corruption happens in training mode only and the loss compares with the clean input;
the sparsity penalties equal their formulas; BCE from logits of +-200 is finite and exact; a linear autoencoder with k
units reaches PCA's reconstruction error with k components on real digits; the image-feature-extraction pipeline
returns the code; bad inputs raise clear errors and never reach the weights.
"""

import math
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from classicnets import AutoencoderConfig, AutoencoderModel

from ..testing_utils import ModelTesterMixin, seeded


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: on a shared two-core machine a second intra-op thread only adds waiting (a 7 ms step took 380 ms
    under load). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TestAutoencoderContract(ModelTesterMixin):
    config_class = AutoencoderConfig
    base_model_class = AutoencoderModel
    model_classes = (AutoencoderModel,)
    checkpoint_model_class = AutoencoderModel
    checkpoint_variant = "conv_masking_bce"
    auto_model_classes: ClassVar[dict] = {"AutoModel": AutoencoderModel}
    config_variants: ClassVar[dict] = {
        "dense_tanh": {},
        "linear": {"hidden_sizes": (), "hidden_act": "identity"},
        "tied_l1_sparse": {"tie_weights": True, "hidden_sizes": (7, 5), "sparsity": "l1", "sparsity_weight": 0.1},
        # 8x8: on smaller maps some kernel taps only ever see padding (and get no gradient).
        "conv_masking_bce": {"architecture": "conv", "image_size": (8, 8), "corruption": "masking", "corruption_level": 0.2,
                             "reconstruction_loss": "bce", "hidden_act": "elu"},
        "kl_sparse_gaussian_noise": {"latent_act": "sigmoid", "sparsity": "kl", "sparsity_target": 0.1,
                                     "corruption": "gaussian", "corruption_level": 0.1, "hidden_act": "gelu"},
    }
    invalid_configs: ClassVar[dict] = {
        "zero_latent": ({"latent_size": 0}, "latent_size"),
        "bool_latent": ({"latent_size": True}, "latent_size"),
        "unknown_architecture": ({"architecture": "recurrent"}, "architecture"),
        "zero_channels": ({"num_channels": 0}, "num_channels"),
        "zero_image_height": ({"image_size": (0, 4)}, "image_size"),
        "conv_size_not_reproducible": ({"architecture": "conv", "image_size": (6, 4)}, "divisible by 2**2 = 4"),
        "conv_without_convs": ({"architecture": "conv", "conv_channels": ()}, "conv_channels"),
        "zero_conv_channels": ({"conv_channels": (3, 0)}, "conv_channels"),
        "zero_hidden_width": ({"hidden_sizes": (0,)}, "hidden_sizes"),
        "hidden_sizes_not_a_list": ({"hidden_sizes": 6}, "hidden_sizes must be a list"),
        "unknown_activation": ({"hidden_act": "swish"}, "hidden_act"),
        "unknown_latent_activation": ({"latent_act": "softmax"}, "latent_act"),
        "tied_conv": ({"architecture": "conv", "tie_weights": True}, "tie_weights"),
        "unknown_corruption": ({"corruption": "salt"}, "corruption"),
        "gaussian_level_zero": ({"corruption": "gaussian", "corruption_level": 0.0}, "corruption_level"),
        "masking_level_one": ({"corruption": "masking", "corruption_level": 1.0}, "corruption_level"),
        "nan_level": ({"corruption_level": float("nan")}, "corruption_level"),
        "unknown_sparsity": ({"sparsity": "l2"}, "sparsity"),
        "negative_sparsity_weight": ({"sparsity": "l1", "sparsity_weight": -1.0}, "sparsity_weight"),
        "rho_zero": ({"sparsity_target": 0.0}, "sparsity_target"),
        "rho_one": ({"sparsity_target": 1.0}, "sparsity_target"),
        "kl_without_sigmoid": ({"sparsity": "kl"}, "latent_act='sigmoid'"),
        "unknown_loss": ({"reconstruction_loss": "l1"}, "reconstruction_loss"),
        "zero_initializer_range": ({"initializer_range": 0.0}, "initializer_range"),
    }

    def get_config(self, **overrides):
        kwargs = {"num_channels": 2, "image_size": (8, 4), "hidden_sizes": (6,), "conv_channels": (3, 4),
                  "latent_size": 3, "hidden_act": "tanh"}
        kwargs.update(overrides)
        return AutoencoderConfig(**kwargs)

    def prepare_inputs(self, model_class, config, batch_size, generator):
        pixel_values = torch.rand(batch_size, config.num_channels, *config.image_size, generator=generator)
        return {"pixel_values": pixel_values}, pixel_values

    def expected_base_output_shapes(self, config, batch_size):
        return {"latent": (batch_size, config.latent_size),
                "logits": (batch_size, config.num_channels, *config.image_size)}


def small(**overrides) -> AutoencoderModel:
    torch.manual_seed(0)
    kwargs = {"image_size": (4, 4), "hidden_sizes": (5,), "latent_size": 3, "hidden_act": "tanh"}
    kwargs.update(overrides)
    return AutoencoderModel(AutoencoderConfig(**kwargs))


# ---------------------------------------------------------------------------------------- forward passes by hand
def test_dense_forward_by_hand():
    model = small(hidden_sizes=(6, 5), latent_act="sigmoid", tie_weights=False).eval()
    x = torch.rand(3, 1, 4, 4, generator=seeded(0))
    e1, e2 = model.encoder.fc_layers
    d1, d2, d3 = model.decoder.fc_layers
    h = torch.sigmoid(model.latent_layer(torch.tanh(e2(torch.tanh(e1(x.flatten(1)))))))  # h = f(x)
    x_hat = d3(torch.tanh(d2(torch.tanh(d1(h))))).view(3, 1, 4, 4)  # g(h), no output non-linearity
    with torch.no_grad():
        out = model(pixel_values=x)
        torch.testing.assert_close(out.latent, h, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(out.logits, x_hat, rtol=1e-6, atol=1e-7)
    assert [tuple(layer.weight.shape) for layer in (d1, d2, d3)] == [(5, 3), (6, 5), (16, 6)]


def test_tied_forward_uses_the_transposed_encoder_matrices():
    model = small(hidden_sizes=(6,), tie_weights=True).eval()
    with torch.no_grad():  # non-zero decoder biases, so that a bias left out would show
        for layer in model.decoder.layers:
            layer.bias.uniform_(-1, 1)
    W1, b1 = model.encoder.fc_layers[0].weight, model.encoder.fc_layers[0].bias  # (6, 16)
    W2, b2 = model.latent_layer.weight, model.latent_layer.bias  # (3, 6)
    c1, c0 = (layer.bias for layer in model.decoder.layers)
    x = torch.rand(4, 1, 4, 4, generator=seeded(1))
    h = torch.tanh(x.flatten(1) @ W1.T + b1) @ W2.T + b2
    x_hat = torch.tanh(h @ W2 + c1) @ W1 + c0  # W^T applied to column vectors = row vectors times W
    with torch.no_grad():
        out = model(pixel_values=x)
        torch.testing.assert_close(out.latent, h, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(out.logits, x_hat.view(4, 1, 4, 4), rtol=1e-6, atol=1e-6)


def test_tied_weights_are_one_tensor_through_save_load_and_an_optimizer_step(tmp_path):
    from safetensors import safe_open

    model = small(hidden_sizes=(6,), tie_weights=True).train()
    names = dict(model.named_parameters())
    assert sorted(names) == ["decoder.layers.0.bias", "decoder.layers.1.bias", "encoder.fc_layers.0.bias",
                             "encoder.fc_layers.0.weight", "latent_layer.bias", "latent_layer.weight"]
    untied = small(hidden_sizes=(6,), tie_weights=False)
    assert model.num_parameters() == untied.num_parameters() - 16 * 6 - 6 * 3  # the two decoder matrices
    model.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        assert sorted(f.keys()) == sorted(names)
    loaded = AutoencoderModel.from_pretrained(tmp_path).train()
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name

    optimizer = torch.optim.SGD(loaded.parameters(), lr=0.5)
    x = torch.rand(8, 1, 4, 4, generator=seeded(2))
    before = loaded.encoder.fc_layers[0].weight.detach().clone()
    loaded(pixel_values=x, return_loss=True).loss.backward()
    optimizer.step()
    W1 = loaded.encoder.fc_layers[0].weight
    assert not torch.equal(W1, before)
    # The decoder reads the updated matrix: its output layer is W1^T h + c0 with the new W1.
    with torch.no_grad():
        h = torch.rand(2, 6, generator=seeded(3))
        torch.testing.assert_close(loaded.decoder.layers[1](h, W1), h @ W1 + loaded.decoder.layers[1].bias)
    loaded.save_pretrained(tmp_path / "after")
    again = AutoencoderModel.from_pretrained(tmp_path / "after")
    assert torch.equal(again.encoder.fc_layers[0].weight, W1.detach())


# ---------------------------------------------------------------------------------------- denoising
@pytest.mark.parametrize("corruption", ["gaussian", "masking"])
def test_corruption_in_training_mode_only_and_the_target_is_the_clean_input(corruption):
    model = small(corruption=corruption, corruption_level=0.3)
    x = torch.rand(5, 1, 4, 4, generator=seeded(4)) + 0.5  # no zeros, so every zero comes from the mask
    with torch.no_grad():
        clean = model.encode(x)
        model.eval()
        assert torch.equal(model(pixel_values=x).latent, clean)
        model.train()
        out = model(pixel_values=x, return_loss=True, generator=seeded(5))
        x_tilde = model.corrupt(x, generator=seeded(5))
        assert not torch.equal(x_tilde, x)
        assert torch.equal(out.latent, model.encode(x_tilde))
        assert not torch.allclose(out.latent, clean)
        # l compares g(f(x~)) with the clean x, not with x~.
        torch.testing.assert_close(out.reconstruction_loss, ((out.logits - x) ** 2).flatten(1).sum(1))


def test_corruption_statistics():
    x = torch.rand(200, 1, 28, 28, generator=seeded(6)) + 0.5
    masked = small(image_size=28, corruption="masking", corruption_level=0.3).corrupt(x, generator=seeded(7))
    dropped = masked == 0
    n = x.numel()
    assert abs(dropped.float().mean().item() - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n)
    assert torch.equal(masked[~dropped], x[~dropped])  # kept values are untouched (no 1 / (1 - p) rescaling)
    noisy = small(image_size=28, corruption="gaussian", corruption_level=0.3).corrupt(x, generator=seeded(8))
    noise = noisy - x
    assert abs(noise.mean().item()) < 4 * 0.3 / math.sqrt(n)
    assert abs(noise.std().item() / 0.3 - 1) < 0.01
    assert torch.equal(small().corrupt(x), x)  # corruption="none"


# ---------------------------------------------------------------------------------------- sparsity
def test_l1_sparsity_penalty_matches_its_formula():
    model = small(sparsity="l1", sparsity_weight=0.25)
    h = torch.randn(6, 3, generator=seeded(9))
    expected = 0.25 * sum(abs(v) for row in h.tolist() for v in row) / 6  # lambda * mean_i sum_j |h_ij|
    assert math.isclose(model.sparsity_penalty(h).item(), expected, rel_tol=1e-6)


def test_kl_sparsity_penalty_matches_its_formula_and_enters_the_loss():
    rho, weight = 0.05, 3.0
    model = small(sparsity="kl", sparsity_weight=weight, sparsity_target=rho, latent_act="sigmoid").eval()
    h = torch.rand(6, 3, generator=seeded(10))
    expected = 0.0
    for j in range(3):
        r = sum(h[i, j].item() for i in range(6)) / 6
        expected += rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r))
    assert math.isclose(model.sparsity_penalty(h).item(), weight * expected, rel_tol=1e-5)
    # Mean activations equal to rho cost nothing; a saturated unit (mean exactly 1.0) gives a finite penalty.
    assert model.sparsity_penalty(torch.full((4, 3), rho)).abs().item() < 1e-6
    saturated = model.sparsity_penalty(torch.ones(4, 3))
    assert torch.isfinite(saturated) and saturated > 0

    x = torch.rand(6, 1, 4, 4, generator=seeded(11))
    with torch.no_grad():
        out = model(pixel_values=x, return_loss=True)
        torch.testing.assert_close(out.sparsity_loss, model.sparsity_penalty(out.latent))
        torch.testing.assert_close(out.loss, out.reconstruction_loss.mean() + out.sparsity_loss)
    assert small().eval()(pixel_values=x, return_loss=True).sparsity_loss is None


# ---------------------------------------------------------------------------------------- losses
def test_bce_from_logits_of_200_is_finite_and_exact():
    model = small(reconstruction_loss="bce")
    logits = torch.tensor([200.0, -200.0, 200.0, -200.0, 200.0, -200.0]).view(1, 6).repeat(2, 1)
    target = torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.5, 0.5], [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]])
    logits.requires_grad_(True)
    loss = model.reconstruction_error(logits, target)
    # softplus(a) - x a: exactly 0 when right, 200 when wrong, 100 for x = 1/2 (e^-200 is below float32's range).
    assert loss.tolist() == [0.0 + 0.0 + 200.0 + 200.0 + 100.0 + 100.0, 0.0]
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0, 2].item() == 1.0 and logits.grad[0, 3].item() == -1.0  # sigmoid(a) - x


def test_mse_and_bce_losses_equal_independent_computations():
    x = torch.rand(4, 1, 4, 4, generator=seeded(12))
    for kind in ("mse", "bce"):
        model = small(reconstruction_loss=kind).eval()
        out = model(pixel_values=x, labels=x)
        if kind == "mse":
            per_image = F.mse_loss(out.logits, x, reduction="none").sum(dim=(1, 2, 3))
        else:
            p = torch.sigmoid(out.logits.double())
            per_image = -(x * p.log() + (1 - x) * (1 - p).log()).sum(dim=(1, 2, 3)).float()
        torch.testing.assert_close(out.reconstruction_loss, per_image, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(out.loss, per_image.mean(), rtol=1e-5, atol=1e-5)
        assert model(pixel_values=x).loss is None
        expected = torch.sigmoid(out.logits) if kind == "bce" else out.logits
        assert torch.equal(model.reconstruct(x), expected)


# ---------------------------------------------------------------------------------------- linear AE = PCA
@pytest.mark.parametrize("tie_weights", [False, True])
@pytest.mark.slow
def test_linear_autoencoder_matches_pca_reconstruction_error_on_digits(tie_weights):
    """Baldi & Hornik (1989): a linear autoencoder with k units trained on the squared error reaches the error of
    the projection on the first k principal components, and no lower (PCA is optimal among rank-k maps)."""
    from sklearn.decomposition import PCA

    from classicnets.data import image_tensors, load_dataset

    images, _ = image_tensors(load_dataset("digits", source="offline")["train"])
    x = images.double() / 255  # (1347, 1, 8, 8) real digits
    flat = x.flatten(1).numpy()
    k = 8
    pca = PCA(n_components=k).fit(flat)
    pca_error = float(((flat - pca.inverse_transform(pca.transform(flat))) ** 2).sum(axis=1).mean())

    torch.manual_seed(0)
    config = AutoencoderConfig(image_size=8, hidden_sizes=(), latent_size=k, hidden_act="identity",
                               tie_weights=tie_weights)
    model = AutoencoderModel(config).double()
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=150, history_size=50,
                                  tolerance_grad=1e-10, tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = model(pixel_values=x, return_loss=True).loss
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        ae_error = model(pixel_values=x, return_loss=True).loss.item()
    assert pca_error * (1 - 1e-9) <= ae_error <= pca_error * 1.01, (ae_error, pca_error)


# ---------------------------------------------------------------------------------------- shapes, presets
def test_convolutional_stack_shapes():
    model = AutoencoderModel(AutoencoderConfig(architecture="conv", image_size=28, conv_channels=(8, 16),
                                               hidden_sizes=(), latent_size=10)).eval()
    assert model.config.conv_feature_map_size() == (16, 7, 7)
    assert model.latent_layer.in_features == 16 * 7 * 7
    with torch.no_grad():
        out = model(pixel_values=torch.rand(2, 1, 28, 28, generator=seeded(13)))
    assert out.latent.shape == (2, 10) and out.logits.shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"image_size=\(28, 28\).*divisible by 2\*\*3 = 8"):
        AutoencoderConfig(architecture="conv", image_size=28, conv_channels=(8, 16, 32))
    rgb = AutoencoderModel(AutoencoderConfig(architecture="conv", num_channels=3, image_size=(32, 16),
                                             conv_channels=(4, 4, 4), hidden_sizes=(8,), latent_size=2))
    assert rgb(pixel_values=torch.rand(1, 3, 32, 16)).logits.shape == (1, 3, 32, 16)


def test_hinton_salakhutdinov_preset():
    config = AutoencoderConfig.hinton_salakhutdinov()
    model = AutoencoderModel(config)
    widths = (784, 1000, 500, 250, 30)
    encoder = sum(widths[i] * widths[i + 1] + widths[i + 1] for i in range(4))
    decoder = sum(widths[i + 1] * widths[i] + widths[i] for i in range(4))
    assert model.num_parameters() == encoder + decoder
    assert config.reconstruction_loss == "bce" and config.hidden_act == "sigmoid" and config.latent_size == 30


# ---------------------------------------------------------------------------------------- bad inputs
def test_bad_inputs_raise_clear_errors_and_never_reach_the_weights():
    model = small(reconstruction_loss="bce").train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(3, 1, 4, 4, generator=seeded(14))
    x[1, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="pixel_values holds NaN"):
        model(pixel_values=x, return_loss=True).loss.backward()
    optimizer.step()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.encode(torch.full((1, 1, 4, 4), float("inf")))
    with pytest.raises(ValueError, match="labels holds NaN"):
        model(pixel_values=torch.rand(2, 1, 4, 4), labels=torch.full((2, 1, 4, 4), float("nan")))
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        model(pixel_values=torch.rand(2, 1, 4, 4), labels=torch.rand(2, 1, 4, 4) * 2)
    with pytest.raises(ValueError, match=r"expects \(batch, 1, 4, 4\)"):
        model(pixel_values=torch.rand(2, 1, 5, 4))
    with pytest.raises(ValueError, match="pixel_values is required"):
        model(pixel_values=None)
    with pytest.raises(ValueError, match=r"expected \(batch, 3\)"):
        model.decode(torch.rand(2, 4))


# ---------------------------------------------------------------------------------------- the pipeline
def test_image_feature_extraction_pipeline_returns_the_code(tmp_path):
    import PIL.Image
    from transformers import pipeline

    from classicnets.data import make_image_processor

    model = small(image_size=8, hidden_sizes=(12,), latent_size=4).eval()
    model.save_pretrained(tmp_path)
    processor = make_image_processor("digits")
    processor.save_pretrained(tmp_path)
    rng = np.random.default_rng(0)
    images = [PIL.Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)) for _ in range(3)]
    extractor = pipeline("image-feature-extraction", model=str(tmp_path), device="cpu")
    assert type(extractor.model) is AutoencoderModel
    codes = torch.tensor(extractor(images)).squeeze(1)
    with torch.no_grad():
        expected = model.encode(processor(images=images, return_tensors="pt").pixel_values)
    assert codes.shape == (3, 4)
    torch.testing.assert_close(codes, expected, rtol=0, atol=1e-6)
