"""Recurrent networks: the shared model contract for the three heads, then the RNN's own promises.

Checked here beyond the contract: the scratch cells equal the fused torch modules on copied weights; generate with a
carried state gives the tokens of a loop that re-runs the whole prefix (greedy, sampling, beam); a sequence gives the
same output alone or in a padded batch; tied weights survive save/load and an optimizer step; every recurrent weight
is initialised (also the ones from_pretrained adds); bad inputs raise clear errors instead of giving NaN.
"""

import math
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from classicnets import (
    RNNCache,
    RNNConfig,
    RNNForCausalLM,
    RNNForSequenceClassification,
    RNNForTimeSeriesForecasting,
    RNNModel,
    convert_rnn_state_dict,
)
from classicnets.models.rnn import modeling_rnn

from ..testing_utils import ModelTesterMixin, seeded

VOCAB, SEQ_LEN, HIDDEN = 11, 7, 6
CELLS = ("rnn", "lstm", "gru")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny and step through time: a second intra-op thread only adds synchronisation, and on a
    shared two-core machine a busy neighbour makes it spin (a 0.05 s test took 3 s). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def padded_token_batch(batch_size, generator, vocab=VOCAB, seq_len=SEQ_LEN, min_length=3):
    """Token ids and a mask with unsorted lengths, odd rows left padded and even rows right padded.

    Every id of the vocabulary appears at a valid position that is not a row's last one (when there is room), so that
    every embedding row gets a gradient, language models included (the last token of a row predicts nothing).
    """
    lengths = torch.randint(min_length, seq_len + 1, (batch_size,), generator=generator)
    lengths[0] = seq_len
    mask = torch.zeros(batch_size, seq_len, dtype=torch.long)
    for row, length in enumerate(lengths.tolist()):
        if row % 2:
            mask[row, seq_len - length:] = 1
        else:
            mask[row, :length] = 1
    ids = torch.randint(0, vocab, (batch_size, seq_len), generator=generator)
    positions = [(r, t) for r in range(batch_size) for t in mask[r].nonzero().flatten().tolist()[:-1]]
    for token, (r, t) in zip(range(vocab), positions, strict=False):
        ids[r, t] = token
    return ids, mask


def lm_labels(ids, mask):
    """``ids`` as targets, with -100 where nothing valid predicts them: padding and each row's first token."""
    labels = ids.clone()
    labels[mask == 0] = -100
    labels[torch.arange(len(ids)), mask.argmax(dim=1)] = -100
    return labels


class _RNNContract(ModelTesterMixin):
    config_class = RNNConfig
    base_model_class = RNNModel
    config_has_tuple_fields = False  # every RNNConfig field is a scalar
    batch_size = 4

    def get_config(self, **overrides):
        raise NotImplementedError

    def expected_base_output_shapes(self, config, batch_size):
        width = config.hidden_size * config.num_directions
        return {"last_hidden_state": (batch_size, SEQ_LEN, width), "pooler_output": (batch_size, width)}

    def expected_num_hidden_states(self, config):
        return config.num_layers + 1  # the first layer's input, then every layer's output


class TestRNNLanguageModelContract(_RNNContract):
    model_classes = (RNNModel, RNNForCausalLM)
    classification_model_classes = (RNNForCausalLM,)  # logits + (shifted) cross-entropy
    checkpoint_model_class = RNNForCausalLM
    checkpoint_variant = "rnn_tied_projection"
    auto_model_classes: ClassVar[dict] = {"AutoModel": RNNModel, "AutoModelForCausalLM": RNNForCausalLM}
    for_model_kwargs: ClassVar[dict] = {"vocab_size": VOCAB}
    config_variants: ClassVar[dict] = {
        "lstm": {},
        "gru_scratch_dropout": {"cell_type": "gru", "implementation": "scratch", "hidden_dropout_prob": 0.1,
                                "classifier_dropout_prob": 0.1},
        "rnn_tied_projection": {"cell_type": "rnn", "embedding_size": 4, "projection_size": 4,
                                "tie_word_embeddings": True},
    }
    invalid_configs: ClassVar[dict] = {
        "zero_hidden_size": ({"hidden_size": 0}, "hidden_size"),
        "unknown_cell_type": ({"cell_type": "transformer"}, "cell_type"),
        "unknown_implementation": ({"implementation": "cuda"}, "implementation"),
        "zero_layers": ({"num_layers": 0}, "num_layers"),
        "tied_size_mismatch": ({"embedding_size": 4, "tie_word_embeddings": True}, "tie_word_embeddings"),
        "tied_projection_mismatch": ({"embedding_size": 4, "projection_size": 5, "tie_word_embeddings": True},
                                     "tie_word_embeddings"),
        "tied_without_tokens": ({"vocab_size": None, "input_size": 3, "tie_word_embeddings": True}, "tie_word_embeddings"),
        "no_input_kind": ({"vocab_size": None}, "vocab_size"),
        "both_input_kinds": ({"input_size": 3}, "input_size"),
        "zero_vocab": ({"vocab_size": 0}, "vocab_size"),
        "zero_embedding_size": ({"embedding_size": 0}, "embedding_size"),
        "embedding_size_for_values": ({"vocab_size": None, "input_size": 3, "embedding_size": 4}, "embedding_size"),
        "zero_projection": ({"projection_size": 0}, "projection_size"),
        "zero_prediction_length": ({"prediction_length": 0}, "prediction_length"),
        "dropout_one": ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob"),
        "negative_classifier_dropout": ({"classifier_dropout_prob": -0.5}, "classifier_dropout_prob"),
        "zero_initializer_range": ({"initializer_range": 0.0}, "initializer_range"),
        "pad_outside_vocab": ({"pad_token_id": VOCAB}, "pad_token_id"),
        "eos_for_values": ({"vocab_size": None, "input_size": 3, "eos_token_id": 0}, "eos_token_id"),
        "zero_labels": ({"num_labels": 0}, "num_labels"),
    }

    def get_config(self, **overrides):
        kwargs = {"vocab_size": VOCAB, "hidden_size": HIDDEN, "num_layers": 2, "num_labels": self.num_labels}
        kwargs.update(overrides)
        return RNNConfig(**kwargs)

    def prepare_inputs(self, model_class, config, batch_size, generator):
        ids, mask = padded_token_batch(batch_size, generator)
        return {"input_ids": ids, "attention_mask": mask}, lm_labels(ids, mask)

    def expected_head_output_shape(self, model_class, config, batch_size):
        return (batch_size, SEQ_LEN, config.vocab_size)

    def reference_loss(self, model_class, output, labels):
        # Position t predicts token t + 1; -100 (here: the padding) is ignored.
        logits = output.logits[:, :-1]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


class TestRNNSequenceClassifierContract(_RNNContract):
    model_classes = (RNNModel, RNNForSequenceClassification)
    classification_model_classes = (RNNForSequenceClassification,)
    checkpoint_model_class = RNNForSequenceClassification
    checkpoint_variant = "lstm_bidirectional"
    auto_model_classes: ClassVar[dict] = {"AutoModel": RNNModel,
                                          "AutoModelForSequenceClassification": RNNForSequenceClassification}
    for_model_kwargs: ClassVar[dict] = {"vocab_size": VOCAB}
    config_variants: ClassVar[dict] = {
        "lstm_bidirectional": {"bidirectional": True},
        "gru_bidirectional_scratch": {"cell_type": "gru", "bidirectional": True, "implementation": "scratch"},
        "rnn_dropout": {"cell_type": "rnn", "hidden_dropout_prob": 0.1, "classifier_dropout_prob": 0.1},
    }

    def get_config(self, **overrides):
        kwargs = {"vocab_size": VOCAB, "hidden_size": HIDDEN, "num_layers": 2, "num_labels": self.num_labels}
        kwargs.update(overrides)
        return RNNConfig(**kwargs)

    def prepare_inputs(self, model_class, config, batch_size, generator):
        ids, mask = padded_token_batch(batch_size, generator)
        return {"input_ids": ids, "attention_mask": mask}, self.random_labels(model_class, config, batch_size, generator)


FEATURES, HORIZON = 3, 2


class TestRNNForecastingContract(_RNNContract):
    model_classes = (RNNModel, RNNForTimeSeriesForecasting)
    regression_model_classes = (RNNForTimeSeriesForecasting,)
    checkpoint_model_class = RNNForTimeSeriesForecasting
    checkpoint_variant = "gru"
    auto_model_classes: ClassVar[dict] = {"AutoModel": RNNModel,
                                          "AutoModelForTimeSeriesPrediction": RNNForTimeSeriesForecasting}
    for_model_kwargs: ClassVar[dict] = {"input_size": FEATURES}
    config_variants: ClassVar[dict] = {
        "gru": {"cell_type": "gru"},
        "lstm_bidirectional_scratch": {"bidirectional": True, "implementation": "scratch"},
    }

    def get_config(self, **overrides):
        kwargs = {"input_size": FEATURES, "hidden_size": HIDDEN, "num_layers": 2, "prediction_length": HORIZON}
        kwargs.update(overrides)
        return RNNConfig(**kwargs)

    def prepare_inputs(self, model_class, config, batch_size, generator):
        _, mask = padded_token_batch(batch_size, generator)
        values = torch.randn(batch_size, SEQ_LEN, FEATURES, generator=generator)
        name = "past_values" if model_class is RNNForTimeSeriesForecasting else "input_values"
        labels = torch.randn(batch_size, HORIZON, FEATURES, generator=generator)
        return {name: values, "attention_mask": mask}, labels

    def expected_head_output_shape(self, model_class, config, batch_size):
        return (batch_size, config.prediction_length, config.input_size)


# ---------------------------------------------------------------------------------------- scratch == torch
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell_type", CELLS)
def test_scratch_cells_equal_fused_torch_modules_on_copied_weights(cell_type, bidirectional):
    torch.manual_seed(0)
    config = RNNConfig(cell_type=cell_type, vocab_size=VOCAB, hidden_size=5, num_layers=2, bidirectional=bidirectional)
    fused = RNNModel(config).eval()
    with torch.no_grad():  # non-zero biases in both bias_ih and bias_hh, so that their sum is exercised
        for name, p in fused.named_parameters():
            if "bias" in name:
                p.uniform_(-0.5, 0.5)
    scratch = fused.to_implementation("scratch").eval()
    back = scratch.to_implementation("torch").eval()
    assert isinstance(fused.layers[0], nn.RNNBase) and not isinstance(scratch.layers[0], nn.RNNBase)
    gates = {"rnn": "h", "lstm": "ifgo", "gru": "rzn"}[cell_type]
    expected_names = {f"W_i{g}" for g in gates} | {f"W_h{g}" for g in gates} | (
        {"b_r", "b_z", "b_in", "b_hn"} if cell_type == "gru" else {f"b_{g}" for g in gates})
    assert {n for n, _ in scratch.layers[1].forward_cell.named_parameters()} == expected_names
    assert (scratch.layers[1].backward_cell is not None) == bidirectional

    ids, mask = padded_token_batch(5, seeded(0))
    with torch.no_grad():
        for kwargs in ({"input_ids": ids}, {"input_ids": ids, "attention_mask": mask}):
            reference = fused(**kwargs, output_hidden_states=True)
            for other in (scratch, back):
                out = other(**kwargs, output_hidden_states=True)
                torch.testing.assert_close(out.last_hidden_state, reference.last_hidden_state, rtol=0, atol=1e-6)
                torch.testing.assert_close(out.pooler_output, reference.pooler_output, rtol=0, atol=1e-6)
                for a, b in zip(out.hidden_states, reference.hidden_states, strict=True):
                    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_scratch_and_torch_draw_the_same_dropout_between_layers():
    """Dropout between layers lives outside the recurrent modules, so a seeded training step matches too."""
    torch.manual_seed(0)
    config = RNNConfig(cell_type="gru", vocab_size=VOCAB, hidden_size=5, num_layers=3, hidden_dropout_prob=0.5)
    fused = RNNModel(config).train()
    scratch = fused.to_implementation("scratch")
    assert scratch.training
    ids, mask = padded_token_batch(4, seeded(1))
    outputs = []
    for model in (fused, scratch):
        torch.manual_seed(5)
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
        out.sum().backward()
        outputs.append((out.detach(), model.embeddings.weight.grad))
    torch.testing.assert_close(outputs[1][0], outputs[0][0], rtol=0, atol=1e-6)
    torch.testing.assert_close(outputs[1][1], outputs[0][1], rtol=0, atol=1e-5)
    torch.manual_seed(6)
    assert not torch.allclose(fused(input_ids=ids, attention_mask=mask).last_hidden_state, outputs[0][0])


def test_fused_layer_is_the_torch_module_with_the_documented_layout():
    """The torch implementation is nn.LSTM itself, so convert_rnn_state_dict's gate order (i, f, g, o) is torch's."""
    torch.manual_seed(0)
    config = RNNConfig(vocab_size=VOCAB, hidden_size=4, num_layers=1)
    model = RNNModel(config).eval()
    lstm = model.layers[0]
    scratch = convert_rnn_state_dict(model.state_dict(), "lstm", to="scratch")
    W_if = scratch["layers.0.forward_cell.W_if"]
    assert torch.equal(W_if, lstm.weight_ih_l0[4:8])
    torch.testing.assert_close(scratch["layers.0.forward_cell.b_f"], lstm.bias_ih_l0[4:8] + lstm.bias_hh_l0[4:8])
    x = torch.randn(2, 5, 4, generator=seeded(1))
    with torch.no_grad():
        reference = nn.LSTM(4, 4, batch_first=True)
        reference.load_state_dict(lstm.state_dict())
        h, _ = reference(x)
        torch.testing.assert_close(model(inputs_embeds=x).last_hidden_state, h, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="cell_type"):
        convert_rnn_state_dict(model.state_dict(), "mlp", to="scratch")
    with pytest.raises(ValueError, match="to="):
        convert_rnn_state_dict(model.state_dict(), "lstm", to="cudnn")


# ---------------------------------------------------------------------------------------- padding
@pytest.mark.parametrize("implementation", ["torch", "scratch"])
@pytest.mark.parametrize("cell_type", CELLS)
def test_padded_batch_gives_each_sequence_its_output_alone(cell_type, implementation):
    """Unsorted lengths, a length-1 sequence, left and right padding, junk ids under the padding; bidirectional."""
    torch.manual_seed(0)
    config = RNNConfig(cell_type=cell_type, implementation=implementation, vocab_size=VOCAB, hidden_size=5,
                       num_layers=2, bidirectional=True, num_labels=3)
    model = RNNForSequenceClassification(config).eval()
    g = seeded(3)
    sequences = [torch.randint(0, VOCAB, (n,), generator=g) for n in (4, 7, 1, 5, 2)]
    T = 9
    ids = torch.randint(0, VOCAB, (len(sequences), T), generator=g)  # junk where the mask is 0
    mask = torch.zeros(len(sequences), T, dtype=torch.long)
    starts = (0, 1, 8, 2, 3)  # right padded, padded on both sides, left padded, both sides, both sides
    for row, (seq, start) in enumerate(zip(sequences, starts, strict=True)):
        ids[row, start : start + len(seq)] = seq
        mask[row, start : start + len(seq)] = 1
    with torch.no_grad():
        batched = model.rnn(input_ids=ids, attention_mask=mask)
        logits = model(input_ids=ids, attention_mask=mask).logits
        for row, (seq, start) in enumerate(zip(sequences, starts, strict=True)):
            alone = model.rnn(input_ids=seq[None])
            torch.testing.assert_close(batched.pooler_output[row], alone.pooler_output[0], rtol=0, atol=1e-6)
            valid = batched.last_hidden_state[row, start : start + len(seq)]
            torch.testing.assert_close(valid, alone.last_hidden_state[0], rtol=0, atol=1e-6)
            assert torch.all(batched.last_hidden_state[row][mask[row] == 0] == 0)  # padding outputs 0
            torch.testing.assert_close(logits[row], model(input_ids=seq[None]).logits[0], rtol=0, atol=1e-6)
            # The summary: forward state at the last valid step, backward state at the first valid step.
            H = config.hidden_size
            summary = torch.cat([alone.last_hidden_state[0, -1, :H], alone.last_hidden_state[0, 0, H:]])
            torch.testing.assert_close(alone.pooler_output[0], summary, rtol=0, atol=0)


# ---------------------------------------------------------------------------------------- generation
def lm(cell_type="lstm", implementation="torch", **overrides):
    torch.manual_seed(0)
    kwargs = {"cell_type": cell_type, "implementation": implementation, "vocab_size": VOCAB, "hidden_size": 8,
              "num_layers": 2, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2, "initializer_range": 1.0}
    kwargs.update(overrides)
    model = RNNForCausalLM(RNNConfig(**kwargs)).eval()
    with torch.no_grad():  # a peaked, varied next-token distribution, so that the tokens say something
        model.lm_head.weight.mul_(4.0)
    return model


def greedy_by_recomputing_the_prefix(model, prompt, new_tokens, eos_token_id):
    """The reference: every step re-runs the model over the whole sequence so far."""
    sequence, finished = prompt.clone(), torch.zeros(prompt.shape[0], dtype=torch.bool)
    with torch.no_grad():
        for _ in range(new_tokens):
            nxt = model(input_ids=sequence).logits[:, -1].argmax(-1)
            nxt = torch.where(finished, torch.full_like(nxt, model.config.pad_token_id), nxt)
            finished |= nxt == eos_token_id
            sequence = torch.cat([sequence, nxt[:, None]], dim=1)
            if finished.all():
                break
    return sequence


@pytest.mark.parametrize(("cell_type", "implementation"), [("lstm", "torch"), ("gru", "scratch"), ("rnn", "torch")])
def test_greedy_generate_equals_full_prefix_recomputation(cell_type, implementation):
    model = lm(cell_type, implementation)
    prompt = torch.randint(3, VOCAB, (3, 4), generator=seeded(0))
    reference = greedy_by_recomputing_the_prefix(model, prompt, 12, eos_token_id=1)
    cached = model.generate(prompt, max_new_tokens=12, do_sample=False, use_cache=True)
    recomputed = model.generate(prompt, max_new_tokens=12, do_sample=False, use_cache=False)
    assert torch.equal(cached, reference) and torch.equal(recomputed, reference)
    assert len(set(reference[:, 4:].flatten().tolist())) >= 4  # not one repeated token


def test_beam_search_with_carried_state_equals_recomputation():
    model = lm("lstm", num_layers=1)
    prompt = torch.randint(3, VOCAB, (2, 3), generator=seeded(1))
    kwargs = {"max_new_tokens": 8, "num_beams": 4, "do_sample": False, "num_return_sequences": 2,
              "return_dict_in_generate": True, "output_scores": True}
    cached = model.generate(prompt, use_cache=True, **kwargs)
    recomputed = model.generate(prompt, use_cache=False, **kwargs)
    assert torch.equal(cached.sequences, recomputed.sequences)
    torch.testing.assert_close(cached.sequences_scores, recomputed.sequences_scores, rtol=0, atol=1e-5)
    assert isinstance(cached.cache, RNNCache)
    pairs = cached.sequences.view(2, 2, -1)  # (prompt, returned beam, tokens): the beams are distinct hypotheses
    assert not torch.equal(pairs[0, 0], pairs[0, 1]) and not torch.equal(pairs[1, 0], pairs[1, 1])


def test_sampling_with_carried_state_equals_recomputation():
    model = lm("gru")
    prompt = torch.randint(3, VOCAB, (3, 2), generator=seeded(2))
    torch.manual_seed(7)
    cached = model.generate(prompt, max_new_tokens=15, do_sample=True, top_k=0, use_cache=True)
    torch.manual_seed(7)
    recomputed = model.generate(prompt, max_new_tokens=15, do_sample=True, top_k=0, use_cache=False)
    assert torch.equal(cached, recomputed)


def test_left_padded_batch_generates_what_each_prompt_generates_alone():
    model = lm("lstm")
    prompts = [torch.tensor([5, 7, 3, 9]), torch.tensor([4]), torch.tensor([8, 6])]
    ids = torch.full((3, 4), 2)
    mask = torch.zeros(3, 4, dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, 4 - len(p):] = p
        mask[row, 4 - len(p):] = 1
    for use_cache in (True, False):
        batched = model.generate(ids, attention_mask=mask, max_new_tokens=6, do_sample=False, use_cache=use_cache)
        for row, p in enumerate(prompts):
            alone = model.generate(p[None], max_new_tokens=6, do_sample=False)[0, len(p):]
            new = batched[row, 4:]
            assert torch.equal(new[: len(alone)], alone), (row, use_cache)


def test_cache_carries_the_state_between_chunks():
    model = lm("lstm")
    ids = torch.randint(0, VOCAB, (2, 9), generator=seeded(4))
    with torch.no_grad():
        whole = model(input_ids=ids).logits
        first = model(input_ids=ids[:, :4], use_cache=True)
        assert isinstance(first.cache, RNNCache) and first.cache.get_seq_length() == 4
        second = model(input_ids=ids[:, 4:], cache=first.cache, use_cache=True)
        assert second.cache is first.cache and second.cache.get_seq_length() == 9
        torch.testing.assert_close(torch.cat([first.logits, second.logits], 1), whole, rtol=0, atol=1e-6)
        # reorder_cache keeps the state of the chosen rows (beam search)
        cache = model(input_ids=ids[:, :4], use_cache=True).cache
        cache.reorder_cache(torch.tensor([1, 1]))
        out = model(input_ids=ids[[1, 1], 4:], cache=cache)
        torch.testing.assert_close(out.logits[0], whole[1, 4:], rtol=0, atol=1e-6)
    assert model(input_ids=ids).cache is None  # a plain forward returns no state
    # Truncated back-propagation through time: the detached state has the same values and no graph.
    with_graph = model(input_ids=ids[:, :4], use_cache=True).cache
    assert all(s.requires_grad for layer in with_graph.states for s in layer)
    detached = with_graph.detach()
    assert detached.get_seq_length() == 4 and not any(s.requires_grad for layer in detached.states for s in layer)
    assert all(torch.equal(a, b) for x, y in zip(detached.states, with_graph.states, strict=True)
               for a, b in zip(x, y, strict=True))
    with pytest.raises(ValueError, match="rows"):
        model(input_ids=ids[:1], cache=first.cache)


@pytest.mark.parametrize("implementation", ["torch", "scratch"])
def test_a_chunk_that_is_all_padding_for_one_row_keeps_that_rows_carried_state(implementation):
    model = lm("gru", implementation)
    ids = torch.randint(0, VOCAB, (2, 6), generator=seeded(6))
    with torch.no_grad():
        cache = model(input_ids=ids[:, :3], use_cache=True).cache
        before = [s.clone() for s in cache.states[1]]
        mask = torch.tensor([[1, 1, 1], [0, 0, 0]])  # row 1 reads nothing in this chunk
        chunk = model(input_ids=ids[:, 3:], attention_mask=mask, cache=cache)
        assert chunk.cache.get_seq_length() == 6
        assert torch.equal(chunk.cache.states[1][0][:, 1], before[0][:, 1])  # row 1: unchanged state
        assert not torch.equal(chunk.cache.states[1][0][:, 0], before[0][:, 0])  # row 0 moved on
        # ... and reading its next token continues exactly where its first chunk stopped.
        nxt = model(input_ids=ids[:, 3:4], cache=chunk.cache).logits[1]
        expected = model(input_ids=torch.cat([ids[1:, :3], ids[1:, 3:4]], 1)).logits[0, -1]
        torch.testing.assert_close(nxt[0], expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cell_type", CELLS)
@pytest.mark.parametrize("implementation", ["torch", "scratch"])
@pytest.mark.parametrize("padded", [False, True], ids=["no-mask", "mask"])
def test_reading_one_token_at_a_time_equals_reading_the_sequence(cell_type, implementation, padded, monkeypatch):
    """The single-step path (`step_layer`, every carried generate step) computes what the sequence path computes."""
    model = lm(cell_type, implementation, num_layers=3)
    with torch.no_grad():  # every bias non-zero (the initialisation zeroes most), so that each one is checked
        generator = seeded(10)
        for name, param in model.rnn.layers.named_parameters():
            if "bias" in name or ".b_" in name:
                param.uniform_(-0.5, 0.5, generator=generator)
    ids = torch.randint(3, VOCAB, (4, 8), generator=seeded(8))
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 1],
                         [0, 0, 1, 1, 1, 1, 1, 1],  # left padded
                         [1, 1, 1, 1, 1, 0, 0, 0],  # right padded: steps 5-7 read nothing
                         [1, 0, 1, 1, 0, 1, 0, 1]]) if padded else None  # holes
    with torch.no_grad():
        whole = model.rnn(input_ids=ids, attention_mask=mask, use_cache=True)
        prefix = None if mask is None else mask[:, :3]
        cache = model.rnn(input_ids=ids[:, :3], attention_mask=prefix, use_cache=True).cache
        # From here on only the single-step path may run: the sequence path would fail.
        monkeypatch.setattr(modeling_rnn, "run_fused_layer", None)
        monkeypatch.setattr(modeling_rnn.ScratchCell, "scan", None)
        outputs = []
        for t in range(3, 8):
            # the mask as generate passes it (past + new positions) and as a caller may (the new position only)
            step_mask = None if mask is None else (mask[:, : t + 1] if t % 2 else mask[:, t : t + 1])
            out = model.rnn(input_ids=ids[:, t : t + 1], attention_mask=step_mask, cache=cache)
            outputs.append(out.last_hidden_state)
    stepped = torch.cat(outputs, dim=1)  # (batch, 5, hidden)
    torch.testing.assert_close(stepped, whole.last_hidden_state[:, 3:], rtol=0, atol=1e-6)
    if padded:
        assert torch.equal(stepped[2, 2:], torch.zeros_like(stepped[2, 2:]))  # padded positions output 0
    torch.testing.assert_close(out.pooler_output, whole.pooler_output, rtol=0, atol=1e-6)
    assert cache.get_seq_length() == 8
    for layer, reference in zip(cache.states, whole.cache.states, strict=True):
        for s, r in zip(layer, reference, strict=True):
            torch.testing.assert_close(s, r, rtol=0, atol=1e-6)


def test_generate_from_prompt_embeddings_equals_generate_from_its_ids():
    model = lm("gru")
    prompt = torch.randint(3, VOCAB, (2, 4), generator=seeded(9))
    from_ids = model.generate(prompt, max_new_tokens=6, do_sample=False)[:, 4:]
    with torch.no_grad():
        embeds = model.get_input_embeddings()(prompt)
    from_embeds = model.generate(inputs_embeds=embeds, max_new_tokens=6, do_sample=False)
    assert torch.equal(from_embeds[:, -6:], from_ids)


# ---------------------------------------------------------------------------------------- tied weights
def test_tied_weights_survive_save_load_and_an_optimizer_step(tmp_path):
    from safetensors import safe_open

    model = lm("lstm", embedding_size=4, projection_size=4, tie_word_embeddings=True).train()
    assert model.lm_head.weight is model.rnn.embeddings.weight
    model.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        assert len([k for k in f.keys() if k.endswith("embeddings.weight") or k == "lm_head.weight"]) == 1
    loaded = RNNForCausalLM.from_pretrained(tmp_path).train()
    assert loaded.lm_head.weight is loaded.rnn.embeddings.weight
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)

    optimizer = torch.optim.AdamW(loaded.parameters(), lr=0.1)
    ids, mask = padded_token_batch(4, seeded(5))
    before = loaded.rnn.embeddings.weight.detach().clone()
    loaded(input_ids=ids, attention_mask=mask, labels=lm_labels(ids, mask)).loss.backward()
    optimizer.step()
    assert loaded.lm_head.weight is loaded.rnn.embeddings.weight
    assert not torch.equal(loaded.rnn.embeddings.weight, before)
    loaded.save_pretrained(tmp_path / "after")
    again = RNNForCausalLM.from_pretrained(tmp_path / "after")
    assert again.lm_head.weight is again.rnn.embeddings.weight
    assert torch.equal(again.lm_head.weight, loaded.rnn.embeddings.weight)

    untied = lm("lstm")
    assert untied.lm_head.weight is not untied.rnn.embeddings.weight


def test_tying_needs_matching_widths_and_causal_lm_needs_tokens_and_one_direction():
    with pytest.raises(ValueError, match="projection_size=4"):
        RNNConfig(vocab_size=VOCAB, hidden_size=6, embedding_size=4, tie_word_embeddings=True)
    with pytest.raises(ValueError, match="bidirectional"):
        RNNForCausalLM(RNNConfig(vocab_size=VOCAB, hidden_size=4, bidirectional=True))
    with pytest.raises(ValueError, match="vocab_size"):
        RNNForCausalLM(RNNConfig(input_size=3, hidden_size=4))
    with pytest.raises(ValueError, match="vocab_size"):
        RNNForSequenceClassification(RNNConfig(input_size=3, hidden_size=4))
    with pytest.raises(ValueError, match="input_size"):
        RNNForTimeSeriesForecasting(RNNConfig(vocab_size=VOCAB, hidden_size=4))


# ---------------------------------------------------------------------------------------- initialisation
def assert_recurrent_layer_initialised(layer, config, input_size):
    """Glorot-uniform input weights, orthogonal hidden weights per gate, zero biases but the forget gate's."""
    H = config.hidden_size
    gates = {"rnn": "h", "lstm": "ifgo", "gru": "rzn"}[config.cell_type]
    bound = math.sqrt(6.0 / (input_size + H))
    if isinstance(layer, nn.RNNBase):
        cells = [
            {"W_i": getattr(layer, f"weight_ih_l0{s}"), "W_h": getattr(layer, f"weight_hh_l0{s}"),
             "b": getattr(layer, f"bias_ih_l0{s}") + getattr(layer, f"bias_hh_l0{s}")}
            for s in ([""] + (["_reverse"] if config.bidirectional else []))
        ]
    else:
        cells = []
        for cell in [layer.forward_cell] + ([layer.backward_cell] if config.bidirectional else []):
            b_names = ("b_r", "b_z", "b_in") if config.cell_type == "gru" else tuple(f"b_{g}" for g in gates)
            b = torch.cat([getattr(cell, n) for n in b_names])
            if config.cell_type == "gru":
                b = torch.cat([b, cell.b_hn])
            cells.append({"W_i": torch.cat([getattr(cell, f"W_i{g}") for g in gates]),
                          "W_h": torch.cat([getattr(cell, f"W_h{g}") for g in gates]), "b": b})
    for cell in cells:
        W_i, W_h, b = (cell[k].detach() for k in ("W_i", "W_h", "b"))
        assert torch.isfinite(W_i).all() and torch.isfinite(W_h).all() and torch.isfinite(b).all()
        assert W_i.abs().max() <= bound
        assert 0.6 < (W_i.std() / (bound / math.sqrt(3))).item() < 1.4  # U(-a, a) has std a / sqrt(3)
        for block in W_h.chunk(len(gates)):
            torch.testing.assert_close(block @ block.T, torch.eye(H), rtol=0, atol=1e-5)
        expected = torch.zeros_like(b)
        if config.cell_type == "lstm":
            expected[H : 2 * H] = config.forget_bias
        assert torch.equal(b, expected)


@pytest.mark.parametrize("implementation", ["torch", "scratch"])
@pytest.mark.parametrize("cell_type", CELLS)
def test_every_recurrent_weight_is_initialised_also_when_from_pretrained_adds_it(cell_type, implementation, tmp_path):
    torch.manual_seed(0)
    small = RNNConfig(cell_type=cell_type, implementation=implementation, vocab_size=VOCAB, hidden_size=5, num_layers=1,
                      bidirectional=True, embedding_size=3)
    base = RNNModel(small)
    assert_recurrent_layer_initialised(base.layers[0], small, 3)
    assert base.embeddings.weight.abs().max() <= small.initializer_range
    base.save_pretrained(tmp_path)

    # A bigger model from the small checkpoint: a second recurrent layer and a classifier come from _init_weights.
    bigger = RNNForSequenceClassification.from_pretrained(tmp_path, num_layers=2, num_labels=4)
    assert bigger.config.num_layers == 2
    for name, tensor in base.state_dict().items():
        assert torch.equal(bigger.rnn.state_dict()[name], tensor), name
    assert_recurrent_layer_initialised(bigger.rnn.layers[1], bigger.config, 2 * 5)
    bound = math.sqrt(6.0 / (10 + 4))
    assert bigger.classifier.weight.abs().max() <= bound and 0.1 < bigger.classifier.weight.std() < bound
    assert torch.equal(bigger.classifier.bias, torch.zeros(4))


# ---------------------------------------------------------------------------------------- bad input
def test_bad_token_input_raises_clear_errors():
    model = lm("lstm")
    with pytest.raises(ValueError, match="empty"):
        model(input_ids=torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"outside the vocabulary \[0, 11\)"):
        model(input_ids=torch.tensor([[1, 11]]))
    with pytest.raises(ValueError, match="-1, outside the vocabulary"):
        model(input_ids=torch.tensor([[1, -1]]))
    with pytest.raises(ValueError, match=r"row\(s\) \[1\]"):
        model(input_ids=torch.ones(2, 3, dtype=torch.long), attention_mask=torch.tensor([[1, 1, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(input_ids=torch.ones(2, 3, dtype=torch.long), attention_mask=torch.ones(2, 4))
    with pytest.raises(ValueError, match="exactly one"):
        model(input_ids=torch.ones(2, 3, dtype=torch.long), inputs_embeds=torch.ones(2, 3, 8))
    with pytest.raises(ValueError, match="input_values"):
        model.rnn(input_values=torch.ones(2, 3, 8))
    # Nothing to predict (one token; every label ignored): loss 0, not NaN.
    for ids, labels in ((torch.tensor([[3]]), torch.tensor([[3]])), (torch.tensor([[3, 4]]), torch.tensor([[-100, -100]]))):
        loss = model(input_ids=ids, labels=labels).loss
        assert loss.item() == 0.0


def test_bad_time_series_input_raises_clear_errors():
    torch.manual_seed(0)
    model = RNNForTimeSeriesForecasting(RNNConfig(input_size=2, hidden_size=4, prediction_length=2))
    values = torch.randn(2, 5, 2)
    values[1, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(past_values=values)
    values[1, 3, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.forecast(values, steps=3)
    with pytest.raises(ValueError, match="NaN"):
        model(past_values=torch.randn(2, 5, 2), labels=torch.full((2, 2, 2), float("nan")))
    with pytest.raises(ValueError, match="empty"):
        model(past_values=torch.randn(2, 0, 2))
    with pytest.raises(ValueError, match=r"\(batch, seq_len, 2\)"):
        model(past_values=torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="labels has shape"):
        model(past_values=torch.randn(2, 5, 2), labels=torch.randn(2, 3, 2))
    with pytest.raises(ValueError, match="padding"):
        model(past_values=torch.randn(2, 5, 2), attention_mask=torch.tensor([[1, 1, 1, 1, 1], [0, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="steps"):
        model.forecast(torch.randn(2, 5, 2), steps=0)


# ---------------------------------------------------------------------------------------- losses
def test_causal_lm_loss_ignores_minus_100_padding_and_pad_tokens_but_not_eos():
    model = lm("gru")  # pad 2, eos 1
    ids = torch.tensor([[0, 5, 6, 2, 2], [2, 0, 7, 1, 2]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]])
    labels = ids.clone()
    labels[0, 2] = -100
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    logits = out.logits[:, :-1]
    # kept targets: row 0 -> 5 (t=1); row 1 -> 7, 1 (t=2, 3). Masked row-1 position 0, pads and -100 are ignored.
    kept = [(0, 0, 5), (1, 1, 7), (1, 2, 1)]
    expected = torch.stack([F.cross_entropy(logits[r, t][None], torch.tensor([y])) for r, t, y in kept]).mean()
    torch.testing.assert_close(out.loss, expected)
    # When pad doubles as eos, pad-valued labels are real end-of-sequence targets.
    model.config.pad_token_id = 1
    out = model(input_ids=ids, labels=ids)
    assert torch.isfinite(out.loss)
    full = F.cross_entropy(out.logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1), ignore_index=1)
    assert not torch.allclose(out.loss, full)


# ---------------------------------------------------------------------------------------- forecasting
@pytest.mark.parametrize("from_last", [False, True], ids=["level", "from_last"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_forecast_rolls_out_as_rerunning_the_extended_series(bidirectional, from_last):
    torch.manual_seed(0)
    model = RNNForTimeSeriesForecasting(RNNConfig(cell_type="lstm", input_size=2, hidden_size=5, num_layers=2,
                                                  prediction_length=2, bidirectional=bidirectional,
                                                  forecast_from_last=from_last)).eval()
    past = torch.randn(3, 6, 2, generator=seeded(0))
    mask = torch.ones(3, 6, dtype=torch.long)
    mask[1, :2] = 0  # a shorter series, left padded
    future = model.forecast(past, steps=5, attention_mask=mask)
    assert future.shape == (3, 5, 2)
    series, m, blocks = past, mask, []
    with torch.no_grad():
        while sum(b.shape[1] for b in blocks) < 5:
            block = model(past_values=series, attention_mask=m).predictions
            blocks.append(block)
            series = torch.cat([series, block], 1)
            m = torch.cat([m, torch.ones(3, 2, dtype=torch.long)], 1)
    torch.testing.assert_close(future, torch.cat(blocks, 1)[:, :5], rtol=0, atol=1e-6)
    alone = model.forecast(past[1:2, 2:], steps=5)
    torch.testing.assert_close(future[1:2], alone, rtol=0, atol=1e-6)


def test_forecasting_head_one_step_and_multi_step_outputs():
    torch.manual_seed(0)
    for horizon in (1, 3):
        model = RNNForTimeSeriesForecasting(RNNConfig(cell_type="gru", input_size=2, hidden_size=4,
                                                      prediction_length=horizon)).eval()
        past, future = torch.randn(4, 6, 2), torch.randn(4, horizon, 2)
        out = model(past_values=past, labels=future)
        assert out.predictions.shape == (4, horizon, 2)
        torch.testing.assert_close(out.loss, ((out.predictions - future) ** 2).mean())
        summary = model.rnn(input_values=past).pooler_output
        torch.testing.assert_close(out.predictions.flatten(1), model.forecast_head(summary))


def test_forecast_refuses_values_that_are_not_a_tensor():
    model = RNNForTimeSeriesForecasting(RNNConfig(input_size=1, hidden_size=4)).eval()
    for values in ([1.0, 2.0, 3.0], np.array([[[1.0], [2.0]]])):
        with pytest.raises(ValueError, match=r"past_values must be a torch tensor of shape \(batch, seq_len, 1\), got"):
            model.forecast(values, steps=2)


def test_forecast_from_last_predicts_the_change_from_the_last_observed_value():
    torch.manual_seed(0)
    config = RNNConfig(cell_type="gru", input_size=2, hidden_size=4, prediction_length=3, input_mean=[10.0, -5.0],
                       input_std=[2.0, 4.0], forecast_from_last=True)
    model = RNNForTimeSeriesForecasting(config).eval()
    past, future = torch.randn(3, 6, 2) * 3 + 7, torch.randn(3, 3, 2)
    mask = torch.ones(3, 6, dtype=torch.long)
    mask[1, :2] = 0  # left padded: the last value is still at step 5
    mask[2, 4:] = 0  # right padded: the last observed value is at step 3
    out = model(past_values=past, attention_mask=mask, labels=future)
    last = torch.stack([past[0, 5], past[1, 5], past[2, 3]])[:, None]  # (3, 1, 2)
    std = torch.tensor([2.0, 4.0])
    summary = model.rnn(input_values=(past - torch.tensor([10.0, -5.0])) / std, attention_mask=mask).pooler_output
    head = model.forecast_head(summary).view(3, 3, 2)
    torch.testing.assert_close(out.predictions, last + std * head)
    torch.testing.assert_close(out.loss, (((future - last) / std - head) ** 2).mean())
    with torch.no_grad():  # a zero head is the naive forecast: the last observed value, repeated
        model.forecast_head.weight.zero_()
        model.forecast_head.bias.zero_()
    torch.testing.assert_close(model(past_values=past, attention_mask=mask).predictions, last.expand(3, 3, 2))


# ---------------------------------------------------------------------------------------- transformers.Trainer
def test_trainer_gradient_accumulation_matches_one_big_batch(tmp_path):
    """The losses are batch means: Trainer must divide them by the accumulation steps (accepts_loss_kwargs=False)."""
    from transformers import Trainer, TrainingArguments

    class Tokens(torch.utils.data.Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            ids = 3 + (torch.arange(6) * (i + 1)) % (VOCAB - 3)  # no special tokens: 5 targets in every row
            return {"input_ids": ids, "labels": ids}

    updates = []
    for batch_size, accumulation in ((8, 1), (4, 2)):
        model = lm("gru")
        before = model.lm_head.weight.detach().clone()
        args = TrainingArguments(output_dir=str(tmp_path / str(accumulation)), max_steps=1, use_cpu=True,
                                 per_device_train_batch_size=batch_size, gradient_accumulation_steps=accumulation,
                                 optim="sgd", learning_rate=0.1, lr_scheduler_type="constant", save_strategy="no",
                                 max_grad_norm=0.0,  # clipping would hide a wrong scale
                                 report_to=[], disable_tqdm=True, seed=0)
        Trainer(model=model, args=args, train_dataset=Tokens()).train()
        updates.append(model.lm_head.weight.detach() - before)
    assert updates[0].abs().max() > 1e-3
    torch.testing.assert_close(updates[1], updates[0], rtol=1e-4, atol=1e-6)
