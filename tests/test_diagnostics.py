"""Gradient diagnostics: per-layer norms, per-time-step norms of recurrent nets, the trainer hook, the pictures."""

import io
import json
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from classicnets import RNNConfig, RNNForCausalLM, RNNForSequenceClassification
from classicnets.diagnostics import (
    GradientNormRecorder,
    layer_gradient_norms,
    parameter_group,
    plot_layer_gradient_norms,
    plot_time_step_comparison,
    plot_time_step_gradient_norms,
    time_step_gradient_norms,
    write_gradient_plots,
)
from classicnets.training import TensorBatchDataset, Trainer, TrainerCallback, TrainingArguments

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _classifier(cell, implementation="torch", **kw):
    torch.manual_seed(0)
    config = dict(cell_type=cell, implementation=implementation, vocab_size=11, embedding_size=5, hidden_size=6,
                  num_labels=3)
    config.update(kw)
    return RNNForSequenceClassification(RNNConfig(**config))


def _batch(batch_size=3, seq_len=9, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {"input_ids": torch.randint(0, 11, (batch_size, seq_len), generator=g),
            "labels": torch.randint(0, 3, (batch_size,), generator=g)}


# ================================================================================== per layer
def test_parameter_group_names_one_group_per_layer():
    assert parameter_group("rnn.layers.1.weight_hh_l0") == "rnn.layers.1"
    assert parameter_group("module._orig_mod.rnn.layers.0.forward_cell.W_hh") == "rnn.layers.0"  # DDP + compile
    assert parameter_group("rnn.embeddings.weight") == "rnn.embeddings"
    assert parameter_group("classifier.bias") == "classifier"
    assert parameter_group("cnn.stages.2.conv.weight") == "cnn.stages.2"
    assert parameter_group("a.b.c.d.weight", depth=3) == "a.b.c"
    assert parameter_group("0.weight") == "0"  # a bare nn.Sequential
    with pytest.raises(ValueError, match="depth"):
        parameter_group("a.b", depth=0)


@pytest.mark.parametrize("implementation", ["torch", "scratch"])
def test_layer_norms_equal_a_manual_computation_from_grad(implementation):
    model = _classifier("lstm", implementation, num_layers=2)
    model(**_batch()).loss.backward()
    total, groups = layer_gradient_norms(model)
    assert list(groups) == ["rnn.embeddings", "rnn.layers.0", "rnn.layers.1", "classifier"]
    manual = {}
    for name, p in model.named_parameters():
        key = ".".join(name.split(".")[:3]) if name.startswith("rnn.layers") else name.rsplit(".", 1)[0]
        manual[key] = manual.get(key, 0.0) + float(p.grad.double().pow(2).sum())
    for key, value in groups.items():
        assert value == pytest.approx(math.sqrt(manual[key]), rel=1e-6), key
    # The global norm is the one gradient clipping compares with max_grad_norm.
    clip_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")))
    assert total == pytest.approx(clip_norm, rel=1e-6)
    assert total == pytest.approx(math.sqrt(sum(manual.values())), rel=1e-6)


def test_layer_norms_skip_parameters_without_gradient_and_mark_non_finite():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)
    model[0].bias.requires_grad_(False)
    model(torch.ones(2, 3)).sum().backward()
    total, groups = layer_gradient_norms(model, scale=2.0)
    expected = float(torch.cat([model[1].weight.grad.flatten(), model[1].bias.grad]).norm()) / 2.0
    assert list(groups) == ["1"] and groups["1"] == pytest.approx(expected, rel=1e-6) and total == groups["1"]
    model[1].bias.grad[0] = float("inf")
    total, groups = layer_gradient_norms(model)
    assert total is None and groups == {"1": None}  # JSON has no inf: None marks an overflow


# ================================================================================== per time step
def _reference_norms(model, batch):
    """||dL/dh_t|| of every layer and example (and ||dL/dc_t|| after each LSTM layer), from an unroll with torch's
    own nn.RNNCell/LSTMCell/GRUCell."""
    config = model.config
    cell_class = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[config.cell_type]
    x = model.rnn.embeddings(batch["input_ids"]).detach()  # (batch, T, embedding)
    batch_size, seq_len = x.shape[:2]
    states = []  # states[l][t]: h_t of layer l, a graph node whose gradient we read
    inputs = list(x.unbind(1))
    for fused in model.rnn.layers:
        cell = cell_class(fused.input_size, fused.hidden_size)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(fused, f"{name}_l0"))
        h = x.new_zeros(batch_size, fused.hidden_size)
        c = torch.zeros_like(h)
        layer_states, cells = [], []
        for x_t in inputs:
            if config.cell_type == "lstm":
                h, c = cell(x_t, (h, c))
                cells.append(c)
            else:
                h = cell(x_t, h)
            layer_states.append(h)
        states.append(layer_states)
        if cells:
            states.append(cells)
        inputs = layer_states
    logits = model.classifier(inputs[-1])
    loss = F.cross_entropy(logits, batch["labels"])
    flat = [h for layer in states for h in layer]
    grads = torch.autograd.grad(loss, flat)
    norms = torch.stack([g.norm(dim=-1) for g in grads]).view(len(states), seq_len, batch_size)
    return norms.transpose(1, 2).double()  # (layers, batch, T)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_time_step_norms_equal_direct_autograd_for_both_implementations(cell):
    model = _classifier(cell, num_layers=2)
    batch = _batch()
    reference = _reference_norms(model, batch)
    assert reference.abs().min() > 0
    for candidate in (model, model.to_implementation("scratch")):
        result = time_step_gradient_norms(candidate, batch, cell_state=True)
        cells = cell == "lstm"
        assert result.labels == (["layer 0", "layer 0 (cell)", "layer 1", "layer 1 (cell)"] if cells else
                                 ["layer 0", "layer 1"])
        torch.testing.assert_close(result.per_example, reference, rtol=2e-5, atol=1e-9)
        torch.testing.assert_close(result.norms, reference.sum(dim=1), rtol=2e-5, atol=1e-9)
    mean = time_step_gradient_norms(model, batch, reduction="mean")
    hidden_only = reference[::2] if cell == "lstm" else reference
    torch.testing.assert_close(mean.norms, hidden_only.mean(dim=1), rtol=2e-5, atol=1e-9)


def test_the_measured_model_its_gradients_and_the_random_stream_are_untouched():
    model = _classifier("gru")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(5)
    expected_draw = torch.rand(3)
    torch.manual_seed(5)
    time_step_gradient_norms(model, _batch())
    assert torch.equal(torch.rand(3), expected_draw)  # building the scratch copy drew no numbers from our stream
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.config.implementation == "torch"


def _elman(W_hh_scale, input_scale, seq_len=12):
    model = _classifier("rnn", hidden_size=8)
    with torch.no_grad():
        layer = model.rnn.layers[0]
        layer.weight_hh_l0.copy_(W_hh_scale * torch.eye(8))
        layer.weight_ih_l0.mul_(input_scale)
        layer.bias_ih_l0.zero_()
        layer.bias_hh_l0.zero_()
    return model, _batch(seq_len=seq_len)


def test_small_recurrent_weights_vanish_geometrically():
    # h_t = tanh(W_ih x_t + 0.5 h_{t-1}): dh_t/dh_{t-1} = 0.5 diag(1 - h_t^2), so each step back multiplies the
    # gradient by at most 0.5 (a classifier reads only h_T: every path to h_t goes back through time).
    model, batch = _elman(0.5, 1.0)
    norms = time_step_gradient_norms(model, batch).per_example[0]  # (batch, T)
    assert (norms[:, :-1] <= 0.5 * norms[:, 1:] * (1 + 1e-6)).all()
    assert time_step_gradient_norms(model, batch).first_to_last_ratio()[0] <= 0.5 ** 11


def test_identity_recurrence_in_the_linear_regime_does_not_vanish():
    # W_hh = I and no input: h_t stays 0, tanh'(0) = 1, so dh_t/dh_{t-1} = I and every step gets the same gradient.
    model, batch = _elman(1.0, 0.0)
    result = time_step_gradient_norms(model, batch)
    per_example = result.per_example[0]
    torch.testing.assert_close(per_example, per_example[:, -1:].expand_as(per_example), rtol=1e-6, atol=0)
    assert result.first_to_last_ratio()[0] == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("implementation", ["torch", "scratch"])
def test_padding_gets_zero_and_real_tokens_match_the_sequence_alone(implementation):
    model = _classifier("lstm", implementation, bidirectional=True, pad_token_id=0)
    g = torch.Generator().manual_seed(3)
    a, b = torch.randint(1, 11, (6,), generator=g), torch.randint(1, 11, (7,), generator=g)
    input_ids = torch.zeros(2, 9, dtype=torch.long)
    mask = torch.zeros(2, 9, dtype=torch.long)
    input_ids[0, 3:], mask[0, 3:] = a, 1  # left padded
    input_ids[1, :7], mask[1, :7] = b, 1  # right padded
    labels = torch.tensor([2, 1])
    result = time_step_gradient_norms(model, {"input_ids": input_ids, "attention_mask": mask, "labels": labels})
    assert result.labels == ["layer 0 (forward)", "layer 0 (backward)"]
    assert (result.per_example[:, 0, :3] == 0).all() and (result.per_example[:, 1, 7:] == 0).all()
    assert (result.per_example[:, 0, 3:] > 0).all() and (result.per_example[:, 1, :7] > 0).all()
    assert torch.equal(result.mask, mask.bool())
    for row, seq, where in ((0, a, slice(3, None)), (1, b, slice(None, 7))):
        alone = time_step_gradient_norms(model, {"input_ids": seq[None], "labels": labels[row:row + 1]})
        # The loss is a mean over the batch: in a batch of 2 each example's gradient carries a factor 1/2.
        torch.testing.assert_close(2 * result.per_example[:, row, where], alone.per_example[:, 0], rtol=1e-5, atol=1e-9)


def test_language_models_and_a_custom_loss():
    torch.manual_seed(0)
    model = RNNForCausalLM(RNNConfig(cell_type="gru", vocab_size=11, hidden_size=6))
    ids = _batch()["input_ids"]
    full = time_step_gradient_norms(model, {"input_ids": ids, "labels": ids})
    # Every position but the last predicts a token (its own loss term); the last position predicts nothing.
    assert (full.norms[:, :-1] > 0).all() and full.norms[0, -1] == 0
    last = time_step_gradient_norms(model, {"input_ids": ids}, loss_fn=lambda out: out.logits[:, -1].logsumexp(-1).mean())
    assert last.norms.shape == (1, 9) and (last.norms > 0).all()
    with pytest.raises(ValueError, match="no scalar loss"):
        time_step_gradient_norms(model, {"input_ids": ids})
    with pytest.raises(TypeError, match="classicnets recurrent nets"):
        time_step_gradient_norms(nn.Linear(2, 2), {})


# ================================================================================== the recorder in the Trainer
@pytest.fixture(scope="module")
def first_char_task():
    """Windows of tiny_shakespeare labelled with the class of their first character (e, t, o or a)."""
    from classicnets.data import load_dataset

    text = load_dataset("tiny_shakespeare", source="offline")["train"][0]["text"][:20000]
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text])
    starts = [i for i in range(len(text) - 12) if text[i] in "etoa"][:96]
    x = torch.stack([ids[i:i + 12] for i in starts])
    y = torch.tensor(["etoa".index(text[i]) for i in starts])
    return len(chars), x, y


class SequenceTask:
    def model_inputs(self, batch, train, generator, device):
        return {"input_ids": batch["input_ids"].to(device), "labels": batch["labels"].to(device)}

    def loss(self, outputs, inputs, label_smoothing=0.0):
        return outputs.loss

    def eval_tensors(self, outputs, inputs):
        return outputs.logits.argmax(-1), inputs["labels"]

    def compute_metrics(self, predictions, labels):
        return {"accuracy": (predictions == labels).double().mean().item()}


class CountCalls(TrainerCallback):
    def __init__(self):
        self.before, self.after, self.raw_norms = [], [], []

    def on_before_optimizer_step(self, trainer, state):
        self.before.append(state["global_step"])
        self.raw_norms.append(layer_gradient_norms(trainer.model)[0])

    def on_step_end(self, trainer, state):
        self.after.append(state["global_step"])


def _train(first_char_task, tmp_path, callbacks, **kw):
    vocab, x, y = first_char_task
    torch.manual_seed(0)
    model = RNNForSequenceClassification(RNNConfig(cell_type="gru", vocab_size=vocab, embedding_size=8, hidden_size=8,
                                                   num_layers=2, hidden_dropout_prob=0.3, num_labels=4))
    defaults = dict(output_dir=str(tmp_path), per_device_train_batch_size=16, max_steps=6, learning_rate=1e-2,
                    disable_tqdm=True, save_steps=1000, seed=3)
    defaults.update(kw)
    Trainer(model, TrainingArguments(**defaults), SequenceTask(), TensorBatchDataset(input_ids=x, labels=y),
            callbacks=callbacks).train()
    return model


def test_hook_runs_once_per_update_with_accumulation_and_sees_unclipped_gradients(first_char_task, tmp_path):
    counter = CountCalls()
    _train(first_char_task, tmp_path, [counter], gradient_accumulation_steps=3, max_steps=4, max_grad_norm=1e-3)
    assert counter.before == [0, 1, 2, 3]  # once per update (12 batches), before that update is counted
    assert counter.after == [1, 2, 3, 4]
    assert min(counter.raw_norms) > 1e-3  # the gradients before clipping to max_grad_norm=1e-3


def test_recorder_leaves_training_bit_identical_and_records(first_char_task, tmp_path):
    _, x, y = first_char_task
    plain = _train(first_char_task, tmp_path / "plain", [])
    recorder = GradientNormRecorder(every=2, time_step_inputs={"input_ids": x[:8], "labels": y[:8]}, time_step_every=3)
    recorded = _train(first_char_task, tmp_path / "recorded", [recorder])
    a, b = plain.state_dict(), recorded.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # dropout masks and data order unchanged
    assert [e["step"] for e in recorder.history] == [1, 3, 5]
    assert set(recorder.history[0]["layers"]) == {"rnn.embeddings", "rnn.layers.0", "rnn.layers.1", "classifier"}
    assert [e["step"] for e in recorder.time_steps] == [1, 3, 6]
    assert recorder.time_steps[0]["labels"] == ["layer 0", "layer 1"] and len(recorder.time_steps[0]["norms"][0]) == 12
    data = json.loads(json.dumps(recorder.to_dict()))  # JSON-serialisable as is
    assert GradientNormRecorder.from_dict(data).to_dict() == recorder.to_dict()
    saved = json.loads(recorder.save(tmp_path / "grads.json").read_text())
    assert saved == data


# ================================================================================== pictures
def _png(path):
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_pictures_are_written_readable_and_sized(tmp_path):
    pytest.importorskip("matplotlib")
    history = [{"step": s, "global_norm": 2.0 / s, "layers": {"rnn.layers.0": 1.0 / s**2, "classifier": 1.5 / s}}
               for s in range(1, 40, 3)]
    assert _png(plot_layer_gradient_norms(history, tmp_path / "a" / "layers.png", dpi=80)).size == (400, 300)
    model = _classifier("rnn", num_layers=2)
    result = time_step_gradient_norms(model, _batch())
    assert _png(plot_time_step_gradient_norms(result, tmp_path / "steps.png", dpi=80)).size == (400, 300)
    others = {"rnn": result, "gru": time_step_gradient_norms(_classifier("gru", num_layers=2), _batch()).to_dict()}
    assert _png(plot_time_step_comparison(others, tmp_path / "cmp.png", dpi=80)).size == (800, 300)  # a panel per layer
    recorder = GradientNormRecorder()
    assert write_gradient_plots(recorder, tmp_path / "empty") == []  # e.g. a non-main process: nothing written
    assert not (tmp_path / "empty").exists()
    recorder.history = history
    recorder.time_steps = [{"step": 1, **result.to_dict()}, {"step": 9, **result.to_dict()}]
    names = write_gradient_plots(recorder, tmp_path / "run", dpi=80)
    assert names == ["gradient_norms_layers.png", "gradient_norms_time_steps.png"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == names  # no temporary files left
    assert _png(tmp_path / "run" / names[1]).size == (800, 300)
    with pytest.raises(ValueError, match="empty"):
        plot_layer_gradient_norms([], tmp_path / "x.png")
