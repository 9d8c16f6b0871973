"""The contract every classicnets architecture passes, written once as a tester mixin.

Modelled on transformers' ``ModelTesterMixin`` (``tests/test_modeling_common.py``) and timm's registry-wide
``tests/test_models.py``: an architecture's test class inherits :class:`ModelTesterMixin`, supplies tiny
configs and random inputs, and gets the whole contract (shapes, losses, gradients, save/load, transfer
learning, config validation, Auto classes, remote code, batch invariance, corrupted checkpoints)::

    class TestMLP(ModelTesterMixin):
        config_class = MLPConfig
        base_model_class = MLPModel                       # the headless model
        model_classes = (MLPModel, MLPForImageClassification, ...)
        classification_model_classes = (MLPForImageClassification, ...)  # `logits` + cross-entropy
        regression_model_classes = (MLPForTabularRegression,)             # `predictions` + MSE
        checkpoint_model_class = MLPForImageClassification                # saved for the Auto / remote-code tests
        checkpoint_variant = "batchnorm"                                  # with buffers, for the remote-code test
        auto_model_classes = {"AutoModel": MLPModel, "AutoModelForImageClassification": MLPForImageClassification}
        config_variants = {"tanh": {}, "batchnorm": {"normalization": "batch", "hidden_act": "leaky_relu"}}
        invalid_configs = {"zero_width": ({"hidden_sizes": (8, 0)}, "hidden_sizes")}

        def get_config(self, **overrides): ...            # a tiny config
        def prepare_inputs(self, model_class, config, batch_size, generator): ...  # -> (forward kwargs, labels)
        def expected_base_output_shapes(self, config, batch_size): ...  # {"last_hidden_state": (...), ...}
        def expected_head_output_shape(self, model_class, config, batch_size): ...  # optional; default (batch, num_labels)

Tests take the fixtures ``model_class`` (every class), ``head_class`` (classification and regression heads),
``classifier_class`` (heads with ``get_classifier``/``reset_classifier``), ``variant`` (a key of
``config_variants``), ``invalid_config`` and ``corruption``; :meth:`ModelTesterMixin.pytest_generate_tests`
parametrises them from the class attributes, so an architecture-specific test in the same class must not
reuse those names for something else. Variants should avoid dead units (use tanh, leaky_relu, gelu, elu...)
because the gradient test demands a non-zero gradient for every parameter element.

Inputs are random tensors from a seeded ``torch.Generator``; model weights come from the global RNG seeded
by :meth:`ModelTesterMixin.build`. Everything runs on CPU in float32.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import transformers
from safetensors import SafetensorError
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F
from transformers import AutoConfig

# Files a checkpoint folder must never hold: pickles execute code on load.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")

# Ways a model.safetensors file gets damaged (an interrupted copy, an empty upload, a wrong file).
CORRUPTIONS = {
    "truncated_half": lambda data: data[: len(data) // 2],
    "truncated_tail": lambda data: data[:-4],
    "empty": lambda data: b"",
    "garbage": lambda data: b"\xff" * 64,
}

# Run with `python -I -c`: loads a saved folder with plain transformers while `import classicnets` is refused,
# so the checkpoint's own configuration_*.py / modeling_*.py must do all the work.
REMOTE_CODE_SCRIPT = r'''
import importlib.abc, json, sys


class RefuseClassicnets(importlib.abc.MetaPathFinder):
    """classicnets is installed (editable) in this environment: make it unimportable."""

    def find_spec(self, name, path=None, target=None):
        if name == "classicnets" or name.startswith("classicnets."):
            raise ModuleNotFoundError(f"No module named {name!r} (refused by the test)", name=name)
        return None


sys.meta_path.insert(0, RefuseClassicnets())
try:
    import classicnets  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("classicnets is importable: the isolation failed")

import torch
import transformers
from safetensors.torch import load_file

folder, tensors_path, auto_names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tensors = load_file(tensors_path)
result = {}
for auto_name in auto_names:
    auto_class = getattr(transformers, auto_name)
    try:
        auto_class.from_pretrained(folder)
        refusal = None
    except Exception as e:  # must refuse to run the folder's code unless trusted
        refusal = [type(e).__name__, str(e)]
    model = auto_class.from_pretrained(folder, trust_remote_code=True).eval()
    prefix = auto_name + "/input/"
    inputs = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    with torch.no_grad():
        output = model(**inputs).to_tuple()[0]
    result[auto_name] = {
        "refusal": refusal,
        "module": type(model).__module__,
        "class": type(model).__name__,
        "equal": bool(torch.equal(output, tensors[auto_name + "/output"])),
    }
result["classicnets_imported"] = "classicnets" in sys.modules
print("\nRESULT " + json.dumps(result))  # on its own line: the trust prompt leaves text without a newline
'''


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def output_tensors(output) -> list[torch.Tensor]:
    """The tensors of a ModelOutput or tuple, nested hidden-state tuples flattened, in order."""
    items = output.to_tuple() if hasattr(output, "to_tuple") else tuple(output)
    flat = []
    for item in items:
        flat.extend(item if isinstance(item, (tuple, list)) else [item])
    return flat


def assert_same_tensors(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], what: str) -> None:
    """Same names, dtypes and bit-identical values."""
    assert sorted(actual) == sorted(expected), f"{what}: different tensor names"
    for name, tensor in expected.items():
        assert actual[name].dtype == tensor.dtype, f"{what}: {name} dtype {actual[name].dtype} != {tensor.dtype}"
        assert torch.equal(actual[name], tensor), f"{what}: {name} differs"


def assert_freshly_initialised(head: nn.Module, fresh_head: nn.Module) -> None:
    """``head`` looks like what ``_init_weights`` gives a new model (``fresh_head``): same shapes, constant
    tensors (zero biases) equal, random tensors finite with a standard deviation within a factor 1.5."""
    actual, reference = dict(head.named_parameters()), dict(fresh_head.named_parameters())
    assert sorted(actual) == sorted(reference)
    for name, ref in reference.items():
        t = actual[name].detach()
        assert t.shape == ref.shape, name
        assert torch.isfinite(t).all(), f"{name} is not finite"
        if torch.all(ref == ref.flatten()[0]):  # a constant initialisation (zero bias, unit scale)
            assert torch.equal(t, ref.detach()), f"{name} should be initialised to {ref.flatten()[0].item()}"
        else:
            ratio = (t.std() / ref.std()).item()
            assert 1 / 1.5 < ratio < 1.5, f"{name}: std {t.std().item():.4g} vs fresh {ref.std().item():.4g}"


def module_name(model: nn.Module, module: nn.Module) -> str:
    names = [name for name, m in model.named_modules() if m is module]
    assert len(names) == 1
    return names[0]


class ModelTesterMixin:
    """The shared contract; see the module docstring for what a subclass supplies."""

    config_class: type
    base_model_class: type
    model_classes: tuple[type, ...] = ()
    classification_model_classes: tuple[type, ...] = ()
    regression_model_classes: tuple[type, ...] = ()
    checkpoint_model_class: type
    auto_model_classes: ClassVar[dict[str, type]] = {}
    config_variants: ClassVar[dict[str, dict]] = {"default": {}}
    checkpoint_variant: str | None = None  # the variant saved for the remote-code test: pick one with buffers
    invalid_configs: ClassVar[dict[str, tuple[dict, str]]] = {}
    for_model_kwargs: ClassVar[dict] = {}  # what AutoConfig.for_model(model_type, ...) needs when a field has no default
    # False for a config whose fields are all scalars (e.g. RNNConfig): the round trip is still checked, but there is
    # no tuple -> JSON list -> tuple conversion to check.
    config_has_tuple_fields = True
    batch_size = 4
    num_labels = 3

    # ------------------------------------------------------------------ supplied by the architecture
    def get_config(self, **overrides):
        raise NotImplementedError

    def prepare_inputs(self, model_class, config, batch_size: int, generator: torch.Generator):
        """Returns ``(forward kwargs, labels)`` for ``model_class``; labels may come from :meth:`random_labels`."""
        raise NotImplementedError

    def expected_base_output_shapes(self, config, batch_size: int) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def expected_head_output_shape(self, model_class, config, batch_size: int) -> tuple[int, ...]:
        """Shape of a head's ``logits``/``predictions``; sequence heads (language models, forecasters) override it."""
        return (batch_size, config.num_labels)

    def expected_num_hidden_states(self, config) -> int | None:
        """Length of ``hidden_states`` with ``output_hidden_states=True``; None skips the check."""
        return None

    # ------------------------------------------------------------------ helpers
    @property
    def head_classes(self) -> tuple[type, ...]:
        return tuple(self.classification_model_classes) + tuple(self.regression_model_classes)

    def pytest_generate_tests(self, metafunc):
        params = {
            "model_class": list(self.model_classes),
            "head_class": list(self.head_classes),
            "classifier_class": [c for c in self.head_classes if hasattr(c, "reset_classifier")],
            "variant": list(self.config_variants),
            "invalid_config": list(self.invalid_configs),
            "corruption": list(CORRUPTIONS),
        }
        for name, values in params.items():
            if name in metafunc.fixturenames:
                ids = [v.__name__ if isinstance(v, type) else str(v) for v in values]
                metafunc.parametrize(name, values, ids=ids)

    def variant_config(self, variant: str | None = None, **overrides):
        settings = dict(self.config_variants[variant]) if variant else {}
        settings.update(overrides)
        return self.get_config(**settings)

    @staticmethod
    def build(model_class, config, seed: int = 0):
        torch.manual_seed(seed)  # model initialisation draws from the global RNG
        return model_class(config)

    def random_labels(self, model_class, config, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        if model_class in self.regression_model_classes:
            return torch.randn(batch_size, config.num_labels, generator=generator)
        return torch.randint(0, config.num_labels, (batch_size,), generator=generator)

    def output_key(self, model_class) -> str:
        return "predictions" if model_class in self.regression_model_classes else "logits"

    def reference_loss(self, model_class, output, labels) -> torch.Tensor:
        """The loss computed independently of the model: cross-entropy of the logits, or the MSE."""
        if model_class in self.regression_model_classes:
            predictions = output.predictions
            return F.mse_loss(predictions, labels.to(predictions.dtype).reshape(predictions.shape))
        return F.cross_entropy(output.logits, labels)

    def base_prefix(self) -> str:
        return self.base_model_class.base_model_prefix + "."

    def trunk_state(self, model) -> dict[str, torch.Tensor]:
        """The headless model's tensors inside ``model``, under the headless model's own names."""
        state = model.state_dict()
        if isinstance(model, self.base_model_class):
            return state
        prefix = self.base_prefix()
        return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}

    def save(self, model, folder: Path) -> Path:
        model.save_pretrained(folder)
        return folder

    # ================================================================== 1. shapes, return_dict=False
    def test_output_shapes_and_tuple_output(self, model_class, variant):
        config = self.variant_config(variant)
        model = self.build(model_class, config).eval()
        inputs, labels = self.prepare_inputs(model_class, config, self.batch_size, seeded(1))
        with torch.no_grad():
            output = model(**inputs)
            if model_class is self.base_model_class:
                expected = self.expected_base_output_shapes(config, self.batch_size)
            else:
                expected = {self.output_key(model_class): self.expected_head_output_shape(model_class, config, self.batch_size)}
                assert output.loss is None
            for name, shape in expected.items():
                assert tuple(getattr(output, name).shape) == shape, name
            assert all(torch.isfinite(t).all() for t in output_tensors(output))

            as_tuple = model(**inputs, return_dict=False)
            assert isinstance(as_tuple, tuple)
            assert len(as_tuple) == len(output.to_tuple())
            for a, b in zip(output_tensors(as_tuple), output_tensors(output), strict=True):
                assert torch.equal(a, b)

            if model_class is not self.base_model_class:
                with_labels = model(**inputs, labels=labels)
                tuple_with_labels = model(**inputs, labels=labels, return_dict=False)
                assert torch.equal(tuple_with_labels[0], with_labels.loss)
                assert torch.equal(tuple_with_labels[1], getattr(output, self.output_key(model_class)))

            num_hidden = self.expected_num_hidden_states(config)
            if num_hidden is not None:
                with_hidden = model(**inputs, output_hidden_states=True)
                assert len(with_hidden.hidden_states) == num_hidden
                tuple_hidden = model(**inputs, output_hidden_states=True, return_dict=False)
                assert len(tuple_hidden[-1]) == num_hidden
                for a, b in zip(tuple_hidden[-1], with_hidden.hidden_states, strict=True):
                    assert torch.equal(a, b)

    # ================================================================== 2. loss
    def test_loss_matches_independent_computation(self, head_class):
        config = self.get_config()
        model = self.build(head_class, config).eval()
        inputs, labels = self.prepare_inputs(head_class, config, self.batch_size, seeded(2))
        output = model(**inputs, labels=labels)
        assert output.loss.dim() == 0 and output.loss.requires_grad
        torch.testing.assert_close(output.loss, self.reference_loss(head_class, output, labels), rtol=1e-6, atol=1e-7)
        assert model(**inputs).loss is None

    # ================================================================== 3. gradients
    def test_every_parameter_gets_a_finite_nonzero_gradient(self, model_class, variant):
        config = self.variant_config(variant)
        model = self.build(model_class, config).train()
        inputs, labels = self.prepare_inputs(model_class, config, 8, seeded(3))
        generator = seeded(4)
        if not any(p.requires_grad for p in model.parameters()):
            return  # e.g. the headless part of a linear model: nothing to train
        if model_class is self.base_model_class:
            # A random projection of every output: a plain sum would cancel through batch normalization.
            output = model(**inputs)
            loss = sum((t * torch.randn(t.shape, generator=generator)).sum() for t in output_tensors(output))
        else:
            loss = model(**inputs, labels=labels).loss
        loss.backward()
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            assert parameter.grad is not None, f"{name} is not used by the forward pass"
            assert torch.isfinite(parameter.grad).all(), f"{name} has a non-finite gradient"
            zero = (parameter.grad == 0).sum().item()
            assert zero == 0, f"{name}: {zero} of {parameter.numel()} gradient entries are exactly 0"

    # ================================================================== 4. save / load
    def test_save_load_round_trip_is_bit_identical(self, model_class, variant, tmp_path):
        config = self.variant_config(variant)
        model = self.build(model_class, config)
        model.train()
        steps = 3
        with torch.no_grad():  # training-mode forwards move batch-norm running statistics away from their init
            for step in range(steps):
                inputs, _ = self.prepare_inputs(model_class, config, 8, seeded(10 + step))
                model(**inputs)
        model.eval()
        if not any(True for _ in model.parameters()):
            # Nothing to save (transformers reads the dtype off the first parameter): a clear refusal that
            # names the problem, and no half-written folder.
            with pytest.raises(ValueError, match="has no parameters"):
                self.save(model, tmp_path)
            assert not any(tmp_path.iterdir())
            return
        self.save(model, tmp_path)

        files = sorted(os.listdir(tmp_path))
        assert "model.safetensors" in files and "config.json" in files
        assert not [f for f in files if f.endswith(PICKLE_SUFFIXES)], files

        loaded = model_class.from_pretrained(tmp_path)
        assert type(loaded) is model_class and not loaded.training
        assert_same_tensors(loaded.state_dict(), model.state_dict(), "state_dict")
        assert_same_tensors(dict(loaded.named_buffers()), dict(model.named_buffers()), "buffers")
        for name, buffer in loaded.named_buffers():
            if name.endswith("num_batches_tracked"):
                assert buffer.item() == steps, name
            if name.endswith("running_mean"):
                assert buffer.abs().sum() > 0, f"{name} was never updated: the test would not see a lost buffer"

        inputs, _ = self.prepare_inputs(model_class, config, self.batch_size, seeded(20))
        with torch.no_grad():
            for a, b in zip(output_tensors(loaded(**inputs)), output_tensors(model(**inputs)), strict=True):
                assert torch.equal(a, b)

    def test_corrupted_checkpoint_raises(self, corruption, tmp_path):
        model = self.build(self.checkpoint_model_class, self.get_config())
        self.save(model, tmp_path)
        weights = tmp_path / "model.safetensors"
        weights.write_bytes(CORRUPTIONS[corruption](weights.read_bytes()))
        # safetensors' message names neither the file nor the library, only the header; the type does.
        with pytest.raises(SafetensorError, match="deserializing header"):
            self.checkpoint_model_class.from_pretrained(tmp_path)

    def test_missing_weights_file_raises(self, tmp_path):
        self.save(self.build(self.checkpoint_model_class, self.get_config()), tmp_path)
        (tmp_path / "model.safetensors").unlink()
        with pytest.raises(OSError, match="model.safetensors"):
            self.checkpoint_model_class.from_pretrained(tmp_path)

    # ================================================================== 5. transfer learning surface
    def _head_and_trunk(self, model):
        head_name = module_name(model, model.get_classifier())
        head_keys = {k for k in model.state_dict() if k.startswith(head_name + ".")}
        trunk = {k: v.clone() for k, v in model.state_dict().items() if k not in head_keys}
        return head_name, head_keys, trunk

    def test_load_with_another_num_labels(self, classifier_class, tmp_path):
        config = self.get_config()
        model = self.build(classifier_class, config).eval()
        self.save(model, tmp_path)
        new_labels = config.num_labels + 2

        loaded = classifier_class.from_pretrained(tmp_path, num_labels=new_labels, ignore_mismatched_sizes=True)
        _, head_keys, trunk = self._head_and_trunk(model)
        assert loaded.config.num_labels == new_labels and len(loaded.config.id2label) == new_labels
        loaded_state = loaded.state_dict()
        assert_same_tensors({k: v for k, v in loaded_state.items() if k not in head_keys}, trunk, "trunk")

        head, old_head = loaded.get_classifier(), model.get_classifier()
        assert head.weight.shape == (new_labels, old_head.weight.shape[1])
        fresh = self.build(classifier_class, self.get_config(num_labels=new_labels), seed=1).get_classifier()
        assert_freshly_initialised(head, fresh)
        assert not torch.allclose(head.weight[: config.num_labels], old_head.weight)

        inputs, _ = self.prepare_inputs(classifier_class, config, self.batch_size, seeded(5))
        with torch.no_grad():
            out = getattr(loaded(**inputs), self.output_key(classifier_class))
        assert out.shape == (self.batch_size, new_labels) and torch.isfinite(out).all()

    def test_reset_classifier_keeps_trunk(self, classifier_class, tmp_path):
        config = self.get_config()
        model = self.build(classifier_class, config).eval()
        _, head_keys, trunk = self._head_and_trunk(model)
        new_labels = config.num_labels + 1
        model.reset_classifier(new_labels)

        assert_same_tensors({k: v for k, v in model.state_dict().items() if k not in head_keys}, trunk, "trunk")
        assert model.config.num_labels == new_labels
        fresh = self.build(classifier_class, self.get_config(num_labels=new_labels), seed=1).get_classifier()
        assert_freshly_initialised(model.get_classifier(), fresh)
        inputs, _ = self.prepare_inputs(classifier_class, config, self.batch_size, seeded(6))
        with torch.no_grad():
            out = getattr(model(**inputs), self.output_key(classifier_class))
        assert out.shape == (self.batch_size, new_labels)

        # The config follows the new head, so the reset model saves and reloads as it is.
        self.save(model, tmp_path)
        loaded = classifier_class.from_pretrained(tmp_path)
        assert_same_tensors(loaded.state_dict(), model.state_dict(), "after reset_classifier")
        with pytest.raises(ValueError, match="num_labels"):
            model.reset_classifier(0)

    def test_forward_features_and_get_classifier(self, classifier_class):
        config = self.get_config()
        model = self.build(classifier_class, config).eval()
        inputs, _ = self.prepare_inputs(classifier_class, config, self.batch_size, seeded(7))
        with torch.no_grad():
            features = model.forward_features(**inputs)
            head = model.get_classifier()
            assert isinstance(head, nn.Linear)
            assert features.shape == (self.batch_size, head.in_features)
            assert head.out_features == config.num_labels
            # The head reads exactly these features (dropout is off in eval mode).
            assert torch.equal(head(features), getattr(model(**inputs), self.output_key(classifier_class)))
            trunk = getattr(model, self.base_model_class.base_model_prefix)
            assert torch.equal(features, trunk(**inputs).pooler_output)

    # ================================================================== 6. headless <-> head weights
    def test_headless_weights_load_into_heads_and_back(self, head_class, tmp_path):
        config = self.get_config()
        base = self.build(self.base_model_class, config)
        self.save(base, tmp_path / "base")
        head = head_class.from_pretrained(tmp_path / "base")
        assert_same_tensors(self.trunk_state(head), base.state_dict(), "headless -> head")
        if hasattr(head, "get_classifier"):  # missing from the checkpoint, so freshly initialised
            fresh = self.build(head_class, config, seed=1).get_classifier()
            assert_freshly_initialised(head.get_classifier(), fresh)

        trained_head = self.build(head_class, config, seed=2)
        self.save(trained_head, tmp_path / "head")
        headless = self.base_model_class.from_pretrained(tmp_path / "head")
        assert_same_tensors(headless.state_dict(), self.trunk_state(trained_head), "head -> headless")

    # ================================================================== 7. config
    def test_invalid_config_raises_naming_the_field(self, invalid_config):
        overrides, field = self.invalid_configs[invalid_config]
        with pytest.raises(ValueError, match=re.escape(field)):
            self.get_config(**overrides)

    def _tuple_fields(self, config) -> dict[str, tuple]:
        return {k: v for k, v in vars(config).items() if isinstance(v, tuple) and not k.startswith("_")}

    def test_config_dict_and_json_round_trip(self, variant, tmp_path):
        config = self.variant_config(variant)
        tuple_fields = self._tuple_fields(config)
        assert bool(tuple_fields) == self.config_has_tuple_fields, "a config without tuple fields does not test the tuple conversion"

        from_dict = self.config_class.from_dict(config.to_dict())
        raw = json.loads(config.to_json_string())
        assert all(isinstance(raw[k], list) for k in tuple_fields)  # JSON has no tuples ...
        from_json = self.config_class.from_dict(raw)  # ... and they come back as tuples
        config.save_pretrained(tmp_path)
        from_folder = self.config_class.from_pretrained(tmp_path)
        for copy in (from_dict, from_json, from_folder):
            assert type(copy) is self.config_class
            # save_pretrained of a registered config adds auto_map (to the saved config and the original)
            copied, original = copy.to_dict(), config.to_dict()
            copied.pop("auto_map", None)
            original.pop("auto_map", None)
            assert copied == original
            assert self._tuple_fields(copy) == tuple_fields

    # ================================================================== 8. Auto classes
    def test_auto_classes_resolve_our_classes(self, tmp_path):
        model_type = self.config_class.model_type
        assert model_type.startswith("classicnets_")
        assert type(AutoConfig.for_model(model_type, **self.for_model_kwargs)) is self.config_class

        model = self.build(self.checkpoint_model_class, self.get_config()).eval()
        self.save(model, tmp_path)
        assert type(AutoConfig.from_pretrained(tmp_path)) is self.config_class
        for auto_name, expected_class in self.auto_model_classes.items():
            loaded = getattr(transformers, auto_name).from_pretrained(tmp_path)
            assert type(loaded) is expected_class, auto_name
            if expected_class is self.base_model_class:
                assert_same_tensors(loaded.state_dict(), self.trunk_state(model), auto_name)
            else:
                assert_same_tensors(loaded.state_dict(), model.state_dict(), auto_name)

        saved = json.loads((tmp_path / "config.json").read_text())
        assert saved["model_type"] == model_type
        assert saved["architectures"] == [self.checkpoint_model_class.__name__]
        auto_map = saved["auto_map"]
        expected = {"AutoConfig": self.config_class, **self.auto_model_classes}
        assert set(expected) <= set(auto_map), auto_map
        for auto_name, cls in expected.items():
            module, class_name = auto_map[auto_name].rsplit(".", 1)
            assert class_name == cls.__name__, auto_name
            copied = tmp_path / f"{module}.py"
            # The folder carries the exact source of the class's module.
            assert copied.read_text() == Path(inspect.getsourcefile(cls)).read_text(), copied.name
        files = os.listdir(tmp_path)
        assert any(re.fullmatch(r"configuration_\w+\.py", f) for f in files), files
        assert any(re.fullmatch(r"modeling_\w+\.py", f) for f in files), files

    # ================================================================== 9. remote code
    def test_remote_code_loads_without_classicnets(self, tmp_path):
        config = self.variant_config(self.checkpoint_variant)
        model = self.build(self.checkpoint_model_class, config)
        with torch.no_grad():  # non-trivial buffers (batch-norm statistics) must travel too
            model.train()
            model(**self.prepare_inputs(self.checkpoint_model_class, config, 8, seeded(30))[0])
        model.eval()
        folder = self.save(model, tmp_path / "checkpoint")

        tensors = {}
        for auto_name, cls in self.auto_model_classes.items():
            in_process = getattr(transformers, auto_name).from_pretrained(folder).eval()
            assert type(in_process) is cls
            inputs, _ = self.prepare_inputs(cls, config, self.batch_size, seeded(31))
            with torch.no_grad():
                tensors[f"{auto_name}/output"] = in_process(**inputs).to_tuple()[0].contiguous()
            tensors.update({f"{auto_name}/input/{k}": v.contiguous() for k, v in inputs.items()})
        save_file(tensors, tmp_path / "io.safetensors")

        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(HF_MODULES_CACHE=str(tmp_path / "hf_modules"), HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
        completed = subprocess.run(
            [sys.executable, "-I", "-c", REMOTE_CODE_SCRIPT, str(folder), str(tmp_path / "io.safetensors"),
             json.dumps(list(self.auto_model_classes))],
            env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180, check=False,
        )
        assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
        lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
        assert len(lines) == 1, completed.stdout[-2000:]
        result = json.loads(lines[0][len("RESULT "):])
        assert result.pop("classicnets_imported") is False
        for auto_name, cls in self.auto_model_classes.items():
            got = result[auto_name]
            assert got["refusal"] is not None, f"{auto_name} ran the folder's code without trust_remote_code=True"
            assert got["refusal"][0] == "ValueError" and "trust_remote_code" in got["refusal"][1]
            assert got["class"] == cls.__name__
            assert got["module"].startswith("transformers_modules.")  # the copy in the folder, not classicnets
            assert got["equal"], f"{auto_name}: remote-code output differs from the in-process output"

    # ================================================================== 10. batch invariance
    def test_batch_invariance_in_eval_mode(self, model_class, variant):
        config = self.variant_config(variant)
        model = self.build(model_class, config).eval()
        inputs, _ = self.prepare_inputs(model_class, config, self.batch_size, seeded(8))
        with torch.no_grad():
            batched = output_tensors(model(**inputs))
            singles = [
                output_tensors(model(**{k: v[i : i + 1] for k, v in inputs.items()})) for i in range(self.batch_size)
            ]
        for j, tensor in enumerate(batched):
            alone = torch.cat([single[j] for single in singles])
            torch.testing.assert_close(alone, tensor, rtol=0, atol=1e-5)
