"""Tokenizers for the text datasets, built with the ``tokenizers`` library and wrapped as
``transformers.PreTrainedTokenizerFast``, so they save beside a model (``tokenizer.json``) and load back with
``AutoTokenizer.from_pretrained``.

- :func:`build_char_tokenizer`: one token per Unicode code point, for character-level language models. The
  vocabulary is the four special tokens ``<pad>`` (0), ``<unk>`` (1), ``<bos>`` (2), ``<eos>`` (3), then every
  character of the training texts sorted by code point, so the same texts always give the same ids. Nothing
  is normalised, so ``decode(encode(text)) == text`` for any text made of known characters. A character that
  is not in the vocabulary becomes ``<unk>`` (one id per unknown character) and decodes as ``"<unk>"``, or as
  nothing with ``skip_special_tokens=True``. ``<bos>``/``<eos>`` are never added by ``encode``: a model or a
  data collator adds them where it wants them. The empty string encodes to ``[]`` and ``[]`` decodes to ``""``.
- :func:`build_word_tokenizer`: byte-level BPE (GPT-2's scheme) trained on the texts, for classification. It
  is lossless (any text round-trips, no ``<unk>`` is ever produced, since every byte is in the base alphabet)
  and its vocabulary size is fixed by ``vocab_size``; same special tokens and ids as above.

Example:
    >>> from classicnets.data.tokenization import build_char_tokenizer
    >>> tok = build_char_tokenizer(["hello"])
    >>> tok("hole")["input_ids"], tok.decode(tok("hole")["input_ids"])
    ([5, 7, 6, 4], 'hole')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")  # ids 0, 1, 2, 3 in every classicnets tokenizer


def _wrap(tokenizer, model_max_length: int | None) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    kwargs = {"model_max_length": model_max_length} if model_max_length else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
        clean_up_tokenization_spaces=False,  # " ." must stay " ." for lossless round trips
        **kwargs,
    )


def _add_bos(tokenizer) -> None:
    """Makes ``tokenizer`` start every encoding with ``<bos>`` (a post-processor, saved in ``tokenizer.json``)."""
    from tokenizers import processors

    bos = SPECIAL_TOKENS.index("<bos>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", bos)]
    )


def build_char_tokenizer(texts: Iterable[str], model_max_length: int | None = None,
                         add_bos_token: bool = False) -> PreTrainedTokenizerFast:
    """A character-level tokenizer whose vocabulary is every character of ``texts``, sorted by code point.

    Args:
        texts: the training texts (e.g. ``load_dataset("tiny_shakespeare")["train"]["text"]``).
        model_max_length: the longest sequence a model takes (saved with the tokenizer), or ``None``.
        add_bos_token: start every encoding with ``<bos>`` (for classifiers; see :func:`build_word_tokenizer`).

    Returns:
        A ``PreTrainedTokenizerFast``: ids 0-3 are ``<pad> <unk> <bos> <eos>``, then the characters.

    Raises:
        ValueError: if ``texts`` holds no character at all.

    A literal ``"<unk>"`` (or another special-token string) inside a text is encoded as that special token,
    as in every transformers tokenizer; it still decodes back to the same string.

    Example:
        >>> tok = build_char_tokenizer(["ab\\n"])
        >>> tok.convert_ids_to_tokens([4, 5, 6]), tok("abz")["input_ids"]
        (['\\n', 'a', 'b'], [5, 6, 1])
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    chars = set()
    for text in texts:
        chars.update(text)
    if not chars:
        raise ValueError("build_char_tokenizer needs at least one non-empty text to take the characters from.")
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for char in sorted(chars):
        vocab[char] = len(vocab)
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # Every code point is its own piece ([\s\S] also matches newlines); no normaliser, so nothing is changed.
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()  # concatenate the characters, no spaces in between
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    if add_bos_token:
        _add_bos(tokenizer)
    return _wrap(tokenizer, model_max_length)


def build_word_tokenizer(
    texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2, model_max_length: int | None = None,
    add_bos_token: bool = False,
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts`` (lossless, never ``<unk>``).

    Args:
        texts: the training texts (e.g. the ``train`` split of ``spam_assassin``).
        vocab_size: the size of the vocabulary, special tokens and the 256 byte symbols included.
        min_frequency: pairs seen fewer times are not merged.
        model_max_length: the longest sequence a model takes (saved with the tokenizer), or ``None``.
        add_bos_token: start every encoding with ``<bos>`` (a post-processor saved in ``tokenizer.json``, so
            pipelines do it too). A classifier then reads at least one token, even for an empty text.

    Returns:
        A ``PreTrainedTokenizerFast`` with ids 0-3 ``<pad> <unk> <bos> <eos>``.

    Raises:
        ValueError: if ``vocab_size`` cannot hold the special tokens and the 256 bytes.

    Example:
        >>> tok = build_word_tokenizer(["free money now", "meeting notes"] * 20, vocab_size=300)
        >>> tok.decode(tok("free meeting!")["input_ids"])
        'free meeting!'
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    minimum = len(SPECIAL_TOKENS) + 256
    if vocab_size < minimum:
        raise ValueError(f"vocab_size={vocab_size} is too small: it must be at least {minimum} (4 special tokens + 256 bytes).")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    if add_bos_token:
        _add_bos(tokenizer)
    return _wrap(tokenizer, model_max_length)


__all__ = ["SPECIAL_TOKENS", "build_char_tokenizer", "build_word_tokenizer"]
