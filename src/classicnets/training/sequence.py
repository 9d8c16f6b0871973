"""Recurrent networks on text and time series: what ``classicnets train rnn`` builds before the common loop runs.

One function per kind of dataset turns a named dataset into everything the loop and the export need:

- a language-modelling corpus (``tiny_shakespeare``, ``moby_dick``): a character (or byte-level BPE) tokenizer
  built from the training text, an :class:`~classicnets.models.rnn.RNNForCausalLM`, random-offset windows of
  ``block_size + 1`` tokens for training and the held-out text read with carried state for evaluation;
- a labelled text set (``spam_assassin``): a byte-level BPE tokenizer trained on the training texts (each encoding
  starts with ``<bos>``, truncated to ``block_size`` tokens), an
  :class:`~classicnets.models.rnn.RNNForSequenceClassification` and masked, unpadded batches;
- a time series (``sunspots_monthly``): an :class:`~classicnets.models.rnn.RNNForTimeSeriesForecasting` that
  standardises its input with the training part's statistics (kept in its config), and sliding windows of
  ``block_size`` past values.

The tokenizer is saved beside the model, so ``pipeline("text-generation", model=folder)`` and
``pipeline("text-classification", model=folder)`` work on the output folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .arguments import TrainingArguments
from .tasks import ForecastingTask, LanguageModelingTask, TextClassificationTask

# What --block-size means and defaults to, per task.
DEFAULT_TOKENIZER = {"text-generation": "char", "text-classification": "bpe"}
DEFAULT_BLOCK_SIZE = {"text-generation": 128, "text-classification": 256, "time-series-forecasting": 132}
BLOCK_SIZE_MEANING = {
    "text-generation": "tokens per training window",
    "text-classification": "tokens kept per text (longer texts are truncated)",
    "time-series-forecasting": "past values the forecaster reads (context length)",
}
# The fields a user may not set on an RNN for a dataset: the dataset decides them.
SEQUENCE_DATASET_FIELDS = ("vocab_size", "input_size", "num_labels", "id2label", "label2id", "pad_token_id",
                           "bos_token_id", "eos_token_id", "input_mean", "input_std")


@dataclass
class TrainingRun:
    """What a training run needs: the model, the task and its datasets, and what to save beside the model."""

    model: Any
    task: Any
    train_dataset: Any
    eval_dataset: Any  # the validation part of the training data, or None
    test_dataset: Any  # the dataset's held-out split
    held_out_split: str  # its name ("test" or "validation")
    processor: Any = None  # the tokenizer or image processor saved with the model; None for a time series
    facts: dict = field(default_factory=dict)  # sizes and settings for the model card
    head_replaced: bool = False  # an --init-from model got a new output layer
    card_task: str | None = None  # the card's pipeline task when it is not the dataset's (autoencoders, VAEs)
    write_extras: Any = None  # (folder, trained model) -> (pictures [(file, caption)], card sections {heading: text})


def block_size(args: TrainingArguments, task: str) -> int:
    return args.block_size or DEFAULT_BLOCK_SIZE[task]


def rnn_config(spec_task: str, overrides: dict, **dataset_fields):
    """An RNNConfig from the user's overrides plus what the dataset decides; a clear error for a wrong field."""
    from ..models.rnn import RNNConfig
    from .runner import model_fields

    owned = sorted(set(overrides) & set(SEQUENCE_DATASET_FIELDS))
    if owned:
        raise ValueError(f"{', '.join(owned)} cannot be overridden: the dataset (and its tokenizer) decide them.")
    allowed = [f for f in model_fields(RNNConfig) if f not in SEQUENCE_DATASET_FIELDS]
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(
            f"RNNConfig has no field {', '.join(map(repr, unknown))} (an rnn model is configured by "
            f"{', '.join(allowed)}); check the spelling."
        )
    if spec_task == "text-generation" and overrides.get("bidirectional"):
        raise ValueError("A language model cannot be bidirectional (its backward direction would read the tokens it "
                         "predicts); drop bidirectional=true.")
    return RNNConfig(**overrides, **dataset_fields)


def encode_classification(task: TextClassificationTask, tokenizer, texts, labels: torch.Tensor, max_length: int):
    """The dataset of ``texts`` as the classifier reads them: token ids (starting with ``<bos>``, truncated to
    ``max_length``), right padded, with their lengths and labels."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)
    padded = torch.full((len(ids), max(int(lengths.max()), 1) if len(ids) else 1), tokenizer.pad_token_id,
                        dtype=torch.long)
    for row, x in enumerate(ids):
        padded[row, : len(x)] = torch.tensor(x, dtype=torch.long)
    return task.dataset(padded, lengths, torch.as_tensor(labels, dtype=torch.long))


def _held_out(spec) -> str:
    return "test" if "test" in spec.splits else "validation"


def build_sequence_run(spec, args: TrainingArguments, overrides: dict | None = None,
                       data_source: str = "auto") -> TrainingRun:
    """Loads ``spec``'s dataset and builds the RNN, its tokenizer and the task's datasets (see the module docstring).

    Raises:
        ValueError: flags that do not apply to this kind of dataset, a config field the dataset decides or that does
            not exist, windows that do not fit the data, missing values in a series.
    """
    from ..data import load_dataset

    overrides = dict(overrides or {})
    if args.augment != "none":
        raise ValueError(f"--augment {args.augment} shifts and rotates images; {spec.name} is a {spec.task} dataset. "
                         f"Drop --augment.")
    if args.classes:
        raise ValueError("--classes selects classes of an image dataset; drop it for text and time series.")
    splits = load_dataset(spec.name, source=data_source)
    held_out = _held_out(spec)
    builder = {"text-generation": _language_modelling, "text-classification": _text_classification,
               "time-series-forecasting": _forecasting}[spec.task]
    run = builder(spec, splits, held_out, args, overrides)
    run.held_out_split = held_out
    return run


def _language_modelling(spec, splits, held_out, args, overrides) -> TrainingRun:
    from ..data import build_char_tokenizer, build_word_tokenizer
    from ..models.rnn import RNNForCausalLM

    size = block_size(args, spec.task)
    text, test_text = splits["train"]["text"][0], splits[held_out]["text"][0]
    n_val = int(round(len(text) * args.validation_split))
    train_text, val_text = (text[: len(text) - n_val], text[len(text) - n_val:]) if n_val else (text, "")
    kind = args.tokenizer or DEFAULT_TOKENIZER[spec.task]
    if kind == "char":
        tokenizer = build_char_tokenizer([train_text])
    else:
        tokenizer = build_word_tokenizer([train_text], vocab_size=args.tokenizer_vocab_size)

    def encode(t: str) -> torch.Tensor:
        return torch.tensor(tokenizer(t)["input_ids"], dtype=torch.long)

    stream = encode(train_text)
    config = rnn_config(spec.task, overrides, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    task = LanguageModelingTask(stream, size, pad_token_id=tokenizer.pad_token_id)
    test_ids = encode(test_text)
    eval_ds = task.eval_dataset(encode(val_text)) if val_text else None
    facts = {"tokenizer": kind, "vocab_size": len(tokenizer), "block_size": size, "train_tokens": len(stream),
             f"{held_out}_tokens": len(test_ids)}
    return TrainingRun(RNNForCausalLM(config), task, task.train_dataset(), eval_ds, task.eval_dataset(test_ids),
                       held_out, tokenizer, facts)


def _text_classification(spec, splits, held_out, args, overrides) -> TrainingRun:
    from ..data import build_char_tokenizer, build_word_tokenizer
    from ..models.rnn import RNNForSequenceClassification
    from .runner import split_train

    size = block_size(args, spec.task)
    texts, labels = splits["train"]["text"], torch.tensor(splits["train"]["label"], dtype=torch.long)
    train_idx, val_idx = split_train(len(labels), args.validation_split, args.train_subset, args.seed)
    train_texts = [texts[i] for i in train_idx.tolist()]
    kind = args.tokenizer or DEFAULT_TOKENIZER[spec.task]
    if kind == "bpe":
        tokenizer = build_word_tokenizer(train_texts, vocab_size=args.tokenizer_vocab_size, model_max_length=size,
                                         add_bos_token=True)
    else:
        tokenizer = build_char_tokenizer(train_texts, model_max_length=size, add_bos_token=True)
    task = TextClassificationTask(pad_token_id=tokenizer.pad_token_id, num_labels=spec.num_labels)

    def encode(batch_texts, batch_labels):
        return encode_classification(task, tokenizer, batch_texts, batch_labels, size)

    eval_ds = encode([texts[i] for i in val_idx.tolist()], labels[val_idx]) if len(val_idx) else None
    test_texts, test_labels = splits[held_out]["text"], torch.tensor(splits[held_out]["label"], dtype=torch.long)
    if args.eval_subset:
        test_texts, test_labels = test_texts[: args.eval_subset], test_labels[: args.eval_subset]
    labels_map = dict(enumerate(spec.label_names))
    config = rnn_config(spec.task, overrides, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        num_labels=spec.num_labels, id2label=labels_map,
                        label2id={v: k for k, v in labels_map.items()})
    facts = {"tokenizer": kind, "vocab_size": len(tokenizer), "block_size": size, "train_examples": len(train_idx)}
    return TrainingRun(RNNForSequenceClassification(config), task, encode(train_texts, labels[train_idx]), eval_ds,
                       encode(test_texts, test_labels), held_out, tokenizer, facts)


def _forecasting(spec, splits, held_out, args, overrides) -> TrainingRun:
    from ..models.rnn import RNNForTimeSeriesForecasting

    if args.tokenizer:
        raise ValueError(f"--tokenizer is for text; {spec.name} is a time series. Drop it.")
    context = block_size(args, spec.task)
    train = torch.tensor(splits["train"]["value"], dtype=torch.float64)
    test = torch.tensor(splits[held_out]["value"], dtype=torch.float64)
    series = torch.cat([train, test])
    n_val = int(round(len(train) * args.validation_split))
    fit_end = len(train) - n_val  # the part whose statistics standardise the inputs
    fit = train[:fit_end]
    if not torch.isfinite(series).all():
        ForecastingTask(series, context, 1)  # raises the missing-values error
    mean, std = float(fit.mean()), float(fit.std())
    prediction_length = int(overrides.pop("prediction_length", 1))
    config = rnn_config(spec.task, overrides, input_size=1, prediction_length=prediction_length,
                        input_mean=[mean], input_std=[std])
    task = ForecastingTask(series, context, prediction_length, scale=std)
    train_ds = task.windows(0, fit_end)
    if args.train_subset:
        train_ds = type(train_ds)(target_starts=train_ds.tensors["target_starts"][-args.train_subset:])
    eval_ds = task.windows(fit_end, len(train)) if n_val else None
    test_ds = task.windows(len(train), len(series))
    facts = {"context_length": context, "prediction_length": prediction_length, "train_windows": len(train_ds),
             f"{held_out}_windows": len(test_ds), "input_mean": round(mean, 4), "input_std": round(std, 4)}
    return TrainingRun(RNNForTimeSeriesForecasting(config), task, train_ds, eval_ds, test_ds, held_out, None, facts)


__all__ = ["DEFAULT_BLOCK_SIZE", "TrainingRun", "build_sequence_run", "rnn_config"]
