"""Tokenizers for the text datasets: exact round trips on real data, save/reload, unknown characters, empty input."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from classicnets.data import build_char_tokenizer, build_word_tokenizer, load_dataset, prepare
from classicnets.data.tokenization import SPECIAL_TOKENS


@pytest.fixture(scope="module")
def shakespeare():
    prepare(["tiny_shakespeare"])
    ds = load_dataset("tiny_shakespeare", source="offline")
    return ds["train"][0]["text"], ds["validation"][0]["text"]


@pytest.fixture(scope="module")
def char_tokenizer(shakespeare):
    return build_char_tokenizer([shakespeare[0]])


@pytest.fixture(scope="module")
def spam_texts():
    prepare(["spam_assassin"])
    ds = load_dataset("spam_assassin", source="offline")
    return list(ds["train"].select(range(400))["text"]), list(ds["test"].select(range(100))["text"])


# ------------------------------------------------------------------------------------------------ characters
def test_char_tokenizer_takes_a_dataset_column():
    column = load_dataset("tiny_shakespeare", source="offline")["validation"]["text"]  # a datasets Column
    assert len(build_char_tokenizer(column)) == 4 + 61


def test_char_vocabulary_is_sorted_by_code_point(char_tokenizer, shakespeare):
    tok = char_tokenizer
    assert isinstance(tok, PreTrainedTokenizerFast)
    chars = sorted(set(shakespeare[0]))
    assert len(chars) == 65 and len(tok) == 69
    assert tok.convert_ids_to_tokens(list(range(69))) == list(SPECIAL_TOKENS) + chars
    assert (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2, 3)
    assert tok.convert_tokens_to_ids(["\n", " ", "!", "A", "a", "z"]) == [4, 5, 6, 17, 43, 68]
    # Deterministic: the same characters in another order and split into other texts give the same ids.
    again = build_char_tokenizer([shakespeare[0][500000:], shakespeare[0][:500000]])
    assert again.get_vocab() == tok.get_vocab()


def test_char_round_trip_on_tiny_shakespeare(char_tokenizer, shakespeare):
    tok = char_tokenizer
    for text in shakespeare:
        ids = tok(text)["input_ids"]
        assert len(ids) == len(text) and tok.unk_token_id not in ids  # one id per character, no <bos>/<eos>
        assert tok.decode(ids) == text
    assert tok("To be,\n or  not")["input_ids"] == [tok.convert_tokens_to_ids(c) for c in "To be,\n or  not"]


def test_char_unknown_characters_and_empty_input(char_tokenizer):
    tok = char_tokenizer
    ids = tok("Né€ 1")["input_ids"]
    assert ids == [tok.convert_tokens_to_ids("N"), 1, 1, tok.convert_tokens_to_ids(" "), 1]
    assert tok.decode(ids) == "N<unk><unk> <unk>"
    assert tok.decode(ids, skip_special_tokens=True) == "N "
    assert tok("")["input_ids"] == [] and tok.decode([]) == ""
    batch = tok(["ab", "a", ""], padding=True)
    assert batch["input_ids"][1][1:] == [0] and batch["attention_mask"] == [[1, 1], [1, 0], [0, 0]]
    with pytest.raises(ValueError, match="at least one non-empty text"):
        build_char_tokenizer(["", ""])


def test_char_tokenizer_saves_and_reloads_with_autotokenizer(char_tokenizer, shakespeare, tmp_path):
    char_tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, PreTrainedTokenizerFast)
    text = shakespeare[1][:20000] + "é"
    assert loaded(text)["input_ids"] == char_tokenizer(text)["input_ids"]
    assert loaded.decode(loaded(shakespeare[1])["input_ids"]) == shakespeare[1]
    assert (loaded.pad_token, loaded.unk_token, loaded.bos_token, loaded.eos_token) == SPECIAL_TOKENS
    assert loaded("")["input_ids"] == []
    # What a recurrent model's forward takes: no token_type_ids.
    assert list(loaded("ab")) == list(char_tokenizer("ab")) == ["input_ids", "attention_mask"]


# ------------------------------------------------------------------------------------------------ words (BPE)
def test_word_tokenizer_is_lossless_and_deterministic(spam_texts, tmp_path):
    train, test = spam_texts
    tok = build_word_tokenizer(train, vocab_size=2000)
    assert len(tok) == 2000
    assert tok.convert_ids_to_tokens([0, 1, 2, 3]) == list(SPECIAL_TOKENS)
    odd = "Zürich €5 — naïve 東京 \t\n"
    for text in [*test, odd, ""]:
        ids = tok(text)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.decode(ids) == text
    # Subwords: a frequent word is one token, a made-up one several.
    assert len(tok.tokenize(" the")) == 1 and len(tok.tokenize(" qzxvtraplunk")) > 2
    assert build_word_tokenizer(train, vocab_size=2000).get_vocab() == tok.get_vocab()
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert [loaded(t)["input_ids"] for t in test[:20]] == [tok(t)["input_ids"] for t in test[:20]]
    with pytest.raises(ValueError, match="vocab_size=100 is too small: it must be at least 260"):
        build_word_tokenizer(train, vocab_size=100)
