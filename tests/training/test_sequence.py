"""Recurrent nets in the common loop: the language-modelling, text-classification and forecasting tasks, their
metrics, `classicnets train rnn` end to end on the real datasets, pipelines on the saved folders, and refusals."""

import json
import math
import re
from collections import Counter

import pytest
import torch

from classicnets import RNNConfig
from classicnets.cli import main
from classicnets.models.rnn import RNNForCausalLM, RNNForTimeSeriesForecasting
from classicnets.training import Trainer, TrainerCallback, TrainingArguments, run_training
from classicnets.training.tasks import ForecastingTask, LanguageModelingTask, TextClassificationTask


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Recurrent steps are small: one thread avoids oversubscription when other processes share the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def evaluate(task, model, dataset):
    """What the loop's evaluation computes, for one batch holding the whole dataset."""
    batch = dataset.__getitems__(list(range(len(dataset))))
    inputs = task.model_inputs(batch, train=False, generator=None, device="cpu")
    with torch.no_grad():
        return task.compute_metrics(*task.eval_tensors(model(**inputs), inputs))


# ------------------------------------------------------------------------------------------- language modelling
def test_evaluation_pieces_predict_every_token_exactly_once():
    stream = torch.arange(1000) % 50 + 4
    task = LanguageModelingTask(stream, block_size=8)
    pieces = task.eval_dataset(stream, eval_segments=7)
    ids, mask = pieces.tensors["input_ids"], pieces.tensors["attention_mask"].bool()
    assert len(ids) == 7
    predicted = torch.cat([row[m][1:] for row, m in zip(ids, mask, strict=True)])
    assert torch.equal(predicted, stream[1:])  # the first token has nothing to be predicted from


def test_stateful_evaluation_equals_one_pass_over_the_text():
    torch.manual_seed(0)
    model = RNNForCausalLM(RNNConfig(vocab_size=20, hidden_size=16, num_layers=2)).eval()
    stream = torch.randint(0, 20, (301,), generator=torch.Generator().manual_seed(1))
    task = LanguageModelingTask(stream, block_size=8)
    one = evaluate(task, model, task.eval_dataset(stream, eval_segments=1))
    with torch.no_grad():
        direct = model(input_ids=stream[None], labels=stream[None]).loss.item()
    assert one["loss"] == pytest.approx(direct, rel=1e-6) and one["num_tokens"] == 300
    # Five padded pieces: the mean over pieces run one by one, unpadded, with the state starting at zero in each.
    many = evaluate(task, model, task.eval_dataset(stream, eval_segments=5))
    total = 0.0
    with torch.no_grad():
        for start in range(0, 300, 60):
            piece = stream[start:start + 61][None]
            total += model(input_ids=piece, labels=piece).loss.item() * (piece.shape[1] - 1)
    assert many["loss"] == pytest.approx(total / 300, rel=1e-6)
    assert many["bits_per_token"] == pytest.approx(many["loss"] / math.log(2))
    assert many["perplexity"] == pytest.approx(math.exp(many["loss"]))


def test_training_windows_are_random_contiguous_cuts_of_the_text():
    stream = torch.arange(500)
    task = LanguageModelingTask(stream, block_size=16)
    dataset = task.train_dataset()
    starts = dataset.tensors["starts"]
    assert torch.equal(starts, torch.arange(0, 484, 16))  # 483 = the last start that leaves 17 tokens
    batch = dataset.__getitems__(list(range(len(dataset))))
    ids = task.model_inputs(batch, train=True, generator=torch.Generator().manual_seed(0), device="cpu")["input_ids"]
    assert ids.shape == (len(starts), 17) and bool((ids[:, 1:] - ids[:, :-1] == 1).all())
    offsets = ids[:, 0] - starts
    assert bool(((offsets >= 0) & (offsets < 16)).all()) and offsets.unique().numel() > 5
    again = task.model_inputs(batch, train=True, generator=torch.Generator().manual_seed(0), device="cpu")
    assert torch.equal(ids, again["input_ids"])  # drawn from the loop's saved generator: resumable
    fixed = task.model_inputs(batch, train=False, generator=None, device="cpu")["input_ids"]
    assert torch.equal(fixed[:, 0], starts)


def test_a_text_shorter_than_one_window_is_refused():
    with pytest.raises(ValueError, match="fewer than one window.*smaller --block-size"):
        LanguageModelingTask(torch.arange(10), block_size=10)


class Interrupt(TrainerCallback):
    def __init__(self, at):
        self.at = at

    def on_step_end(self, trainer, state):
        if state["global_step"] == self.at:
            raise KeyboardInterrupt


def lm_trainer(output_dir, stream, **kw):
    torch.manual_seed(0)
    model = RNNForCausalLM(RNNConfig(vocab_size=30, hidden_size=16, num_layers=2, hidden_dropout_prob=0.2))
    task = LanguageModelingTask(stream, block_size=12)
    args = TrainingArguments(output_dir=str(output_dir), max_steps=12, save_steps=5, per_device_train_batch_size=8,
                             learning_rate=1e-2, max_grad_norm=1.0, disable_tqdm=True, seed=3, **kw)
    return Trainer(model, args, task, task.train_dataset(), task.eval_dataset(stream[:200], 4)), model


def test_language_model_training_resumes_bit_identically(tmp_path):
    # Random window offsets and dropout masks come from saved generators; the resumed run must replay them.
    stream = torch.randint(0, 30, (2000,), generator=torch.Generator().manual_seed(0))
    full, model_full = lm_trainer(tmp_path / "full", stream)
    full.train()
    crashed, _ = lm_trainer(tmp_path / "resumed", stream)
    crashed.callbacks.append(Interrupt(10))
    with pytest.raises(KeyboardInterrupt):
        crashed.train()
    resumed, model_resumed = lm_trainer(tmp_path / "resumed", stream, resume_from_checkpoint="latest")
    resumed.train()
    a, b = model_full.state_dict(), model_resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------------- classification
def test_classification_batches_are_cut_to_their_longest_text():
    task = TextClassificationTask(pad_token_id=0, num_labels=2)
    ids = torch.zeros(3, 10, dtype=torch.long)
    for row, n in enumerate((3, 5, 2)):
        ids[row, :n] = torch.arange(1, n + 1)
    dataset = task.dataset(ids, torch.tensor([3, 5, 2]), torch.tensor([0, 1, 0]))
    inputs = task.model_inputs(dataset.__getitems__([0, 2]), train=True, generator=None, device="cpu")
    assert inputs["input_ids"].shape == (2, 3)
    assert inputs["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


def test_classification_metrics_of_known_predictions():
    binary = TextClassificationTask(num_labels=2).compute_metrics(
        torch.tensor([1, 1, 0, 0, 1]), torch.tensor([1, 0, 1, 0, 1]), torch.tensor([0.5, 1.0, 1.5, 2.0, 0.0]))
    # 2 true positives, 1 false positive, 1 false negative for class 1.
    assert binary["accuracy"] == pytest.approx(3 / 5) and binary["loss"] == pytest.approx(1.0)
    assert binary["precision"] == pytest.approx(2 / 3) and binary["recall"] == pytest.approx(2 / 3)
    assert binary["f1"] == pytest.approx(2 / 3)
    macro = TextClassificationTask(num_labels=3).compute_metrics(
        torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2]), torch.zeros(4))
    # per-class F1: 1, 2/3 (p 1, r 1/2), 2/3 (p 1/2, r 1) -> macro 7/9
    assert macro["f1"] == pytest.approx(7 / 9)


# ------------------------------------------------------------------------------------------- forecasting
def test_forecast_windows_and_naive_errors_of_a_known_series():
    series = torch.arange(100.0)
    task = ForecastingTask(series, context_length=5, prediction_length=2, scale=2.0)
    dataset = task.windows(80, 100)
    assert dataset.tensors["target_starts"].tolist() == list(range(80, 99))  # targets inside [80, 100)
    batch = dataset.__getitems__(list(range(len(dataset))))
    inputs = task.model_inputs(batch, train=False, generator=None, device="cpu")
    assert inputs["past_values"][0, :, 0].tolist() == [75, 76, 77, 78, 79] and inputs["labels"][0, :, 0].tolist() == [80, 81]

    class Perfect:  # a model that predicts the targets plus one
        predictions = inputs["labels"] + 1.0

    metrics = task.compute_metrics(*task.eval_tensors(Perfect, inputs))
    assert metrics["mae"] == pytest.approx(1.0) and metrics["rmse"] == pytest.approx(1.0)
    assert metrics["loss"] == pytest.approx(1.0 / 4)  # the MSE in units of scale = 2
    # The naive forecast repeats the last value: errors 1 and 2 for every window.
    assert metrics["naive_mae"] == pytest.approx(1.5) and metrics["naive_rmse"] == pytest.approx(math.sqrt(2.5))
    with pytest.raises(ValueError, match="No forecast window fits"):
        task.windows(99, 100)


def test_a_series_with_missing_values_is_refused():
    series = torch.arange(50.0)
    series[[7, 30]] = float("nan")
    with pytest.raises(ValueError, match=r"missing \(NaN\) or infinite values at positions \[7, 30\].*interpolation"):
        ForecastingTask(series, context_length=5, prediction_length=1)


def test_the_forecaster_standardises_inside_the_model():
    torch.manual_seed(0)
    raw = RNNForTimeSeriesForecasting(RNNConfig(input_size=2, hidden_size=8, prediction_length=3)).eval()
    scaled = RNNForTimeSeriesForecasting(RNNConfig(input_size=2, hidden_size=8, prediction_length=3,
                                                   input_mean=[100.0, -5.0], input_std=[20.0, 0.5])).eval()
    scaled.load_state_dict(raw.state_dict())
    mean, std = torch.tensor([100.0, -5.0]), torch.tensor([20.0, 0.5])
    x = torch.randn(4, 12, 2) * std + mean
    y = torch.randn(4, 3, 2) * std + mean
    with torch.no_grad():
        a, b = scaled(past_values=x, labels=y), raw(past_values=(x - mean) / std, labels=(y - mean) / std)
    assert torch.allclose(a.predictions, b.predictions * std + mean, atol=1e-5)  # raw units out
    assert a.loss.item() == pytest.approx(b.loss.item(), rel=1e-5)  # MSE in standardised units
    roll = scaled.forecast(x, steps=7)
    assert roll.shape == (4, 7, 2) and torch.allclose(roll[:, :3], a.predictions, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"input_mean": [1.0]}, "Give both input_mean and input_std"),
     ({"input_mean": [1.0, 2.0], "input_std": [1.0]}, "input_std must be a list of 2 finite numbers"),
     ({"input_mean": [1.0, 2.0], "input_std": [1.0, 0.0]}, "input_std must be > 0"),
     ({"input_mean": [float("nan"), 0.0], "input_std": [1.0, 1.0]}, "input_mean must be a list of 2 finite")],
)
def test_bad_standardisation_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RNNConfig(input_size=2, **kwargs)


# ------------------------------------------------------------------------------------------- end to end
def run(tmp_path, dataset, **kw):
    overrides = kw.pop("overrides", {})
    args = TrainingArguments(output_dir=str(tmp_path / dataset), seed=0, disable_tqdm=True, **kw)
    metrics = run_training("rnn", dataset, args, config_overrides=overrides, data_source="offline")
    return metrics, tmp_path / dataset


@pytest.mark.slow
def test_sunspot_forecaster_beats_the_naive_forecast_and_reloads(tmp_path):
    from transformers import AutoModelForTimeSeriesPrediction

    from classicnets.data import load_dataset
    from classicnets.evaluation import evaluate_folder

    metrics, folder = run(tmp_path, "sunspots_monthly", max_steps=300, per_device_train_batch_size=32,
                          learning_rate=3e-3, block_size=48, overrides={"hidden_size": 32})
    # One-step-ahead on the 625 held-out months (2009 back to 1957): the naive forecast's MAE is ~14.1.
    assert metrics["test_num_windows"] == 625
    assert metrics["test_mae"] < 0.97 * metrics["test_naive_mae"], metrics
    model = AutoModelForTimeSeriesPrediction.from_pretrained(folder).eval()
    assert model.config.input_mean is not None
    data = load_dataset("sunspots_monthly", source="offline")
    series = torch.tensor(list(data["train"]["value"]) + list(data["test"]["value"]), dtype=torch.float32)
    n = len(data["train"])
    # Every held-out month forecast from the 48 raw values before it, built here independently of the task code.
    past = torch.stack([series[t - 48:t] for t in range(n, len(series))])[..., None]
    with torch.no_grad():
        predicted = model.forecast(past, steps=1)[:, 0, 0]
    mae = (predicted - series[n:]).abs().mean().item()
    assert mae == pytest.approx(metrics["test_mae"], rel=1e-5)
    again = evaluate_folder(str(folder), "sunspots_monthly")
    assert again["matches_training"] and again["mae"] == pytest.approx(metrics["test_mae"], rel=1e-6)


@pytest.mark.slow
def test_spam_classifier_learns_and_its_folder_serves_the_pipeline(tmp_path):
    from transformers import pipeline

    from classicnets.data import load_dataset

    metrics, folder = run(tmp_path, "spam_assassin", num_train_epochs=1, per_device_train_batch_size=32,
                          learning_rate=5e-3, block_size=64, tokenizer_vocab_size=2000,
                          overrides={"cell_type": "gru", "hidden_size": 32})
    # 31% of the 1,209 test e-mails are spam: predicting "ham" everywhere scores 0.69 with F1 0.
    assert metrics["test_accuracy"] > 0.9 and metrics["test_f1"] > 0.8, metrics
    saved = json.loads((folder / "tokenizer_config.json").read_text())
    assert saved["model_max_length"] == 64
    classify = pipeline("text-classification", model=str(folder))
    texts = load_dataset("spam_assassin", source="offline")["test"]["text"][:16]
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for text, answer in zip(texts, classify(texts, truncation=True), strict=True):
        ids = torch.tensor([tokenizer(text, truncation=True)["input_ids"]])
        assert ids[0, 0].item() == tokenizer.bos_token_id and ids.shape[1] <= 64
        expected = model.config.id2label[model(input_ids=ids).logits.argmax(-1).item()]
        assert answer["label"] == expected
    # An empty text is <bos> alone: a defined prediction, not an error and never NaN.
    empty = classify("")[0]
    assert empty["label"] in ("ham", "spam") and 0.5 <= empty["score"] <= 1.0


def test_evaluate_scores_the_same_subset_a_classifier_was_trained_against(tmp_path):
    from classicnets.evaluation import evaluate_folder

    metrics, folder = run(tmp_path, "spam_assassin", max_steps=5, per_device_train_batch_size=16, block_size=32,
                          tokenizer_vocab_size=300, train_subset=80, eval_subset=50,
                          overrides={"cell_type": "gru", "hidden_size": 8})
    again = evaluate_folder(str(folder), "spam_assassin", data_source="offline")
    # Training scored the first 50 test e-mails; the whole split (1,209) would give another loss.
    assert again["num_examples"] == again["eval_subset"] == 50
    assert again["matches_training"] and again["loss"] == pytest.approx(metrics["test_loss"], rel=1e-6)
    assert again["accuracy"] == pytest.approx(metrics["test_accuracy"])


@pytest.mark.slow
def test_char_language_model_learns_and_generates_through_the_pipeline(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    from classicnets.data import load_dataset
    from classicnets.evaluation import evaluate_folder

    metrics, folder = run(tmp_path, "tiny_shakespeare", max_steps=150, per_device_train_batch_size=32,
                          learning_rate=1e-2, block_size=64, max_grad_norm=1.0, overrides={"hidden_size": 96})
    data = load_dataset("tiny_shakespeare", source="offline")
    train, validation = data["train"]["text"][0], data["validation"]["text"][0]
    # The floor any model that reads context must beat: the cross-entropy of the training text's character
    # frequencies on the validation text (~3.3 nats per character).
    counts = Counter(train)
    unigram = -sum(math.log(counts[c] / len(train)) for c in validation[1:]) / (len(validation) - 1)
    assert metrics["validation_num_tokens"] == len(validation) - 1
    assert metrics["validation_loss"] < unigram - 0.7, (metrics, unigram)
    assert json.loads((folder / "generation_config.json").read_text())["do_sample"] is True
    generate = pipeline("text-generation", model=str(folder))
    model, tokenizer = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    text = generate("ROMEO:", max_new_tokens=40, do_sample=False, return_full_text=False)[0]["generated_text"]
    prompt = tokenizer("ROMEO:", return_tensors="pt")["input_ids"]
    greedy = model.generate(prompt, max_new_tokens=40, do_sample=False)
    assert text == tokenizer.decode(greedy[0, prompt.shape[1]:]) and len(text) == 40 and set(text) <= set(train)
    again = evaluate_folder(str(folder), "tiny_shakespeare", split="validation")
    assert again["matches_training"], again


# ------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rnn", "--dataset", "mnist"], "mnist is a image-classification dataset, which rnn does not train; use autoencoder or cnn or gan or mlp or vae"),
        (["cnn", "--dataset", "spam_assassin"], "spam_assassin is a text-classification dataset.*use rnn"),
        (["rnn", "--dataset", "sunspots_monthly", "--augment", "shift"], "--augment shift shifts and rotates images"),
        (["rnn", "--dataset", "spam_assassin", "--config-overrides", "vocab_size=10"], "vocab_size cannot be overridden"),
        (["rnn", "--dataset", "spam_assassin", "--config-overrides", "hiden_size=10"], "RNNConfig has no field 'hiden_size'"),
        (["rnn", "--dataset", "tiny_shakespeare", "--config-overrides", "bidirectional=true"],
         "A language model cannot be bidirectional"),
        (["rnn", "--dataset", "sunspots_monthly", "--validation-split", "0.1", "--early-stopping-patience", "2",
          "--metric-for-best-model", "eval_accuracy"], "time-series-forecasting reports eval_loss, eval_mae"),
        (["rnn", "--dataset", "sunspots_monthly", "--tokenizer", "char"], "--tokenizer is for text"),
        (["rnn", "--dataset", "sunspots_monthly", "--block-size", "4000"], "No forecast window fits"),
        (["mlp", "--dataset", "digits", "--block-size", "64"], "--block-size and --tokenizer are for text"),
        (["rnn", "--dataset", "spam_assassin", "--tokenizer-vocab-size", "100"], "--tokenizer-vocab-size must be >= 260"),
    ],
)
def test_flags_that_do_not_fit_the_dataset_are_refused(capsys, tmp_path, argv, message):
    code = main(["train", *argv, "--output-dir", str(tmp_path / "run"), "--data-source", "offline", "--max-steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err, re.S), err
    assert not (tmp_path / "run").exists()


def test_gradient_norm_logging_is_saved_and_shown_without_changing_training(tmp_path):
    kw = dict(max_steps=40, per_device_train_batch_size=16, learning_rate=3e-3, block_size=24,
              overrides={"hidden_size": 8})
    plain, _ = run(tmp_path / "plain", "sunspots_monthly", **kw)
    logged, folder = run(tmp_path / "logged", "sunspots_monthly", log_gradient_norms=10, **kw)
    assert logged["test_mae"] == plain["test_mae"]  # recording reads gradients, it does not touch them
    record = json.loads((folder / "gradient_norms.json").read_text())
    assert [h["step"] for h in record["history"]] == [1, 11, 21, 31]
    assert set(record["history"][0]["layers"]) == {"rnn.layers.0", "forecast_head"}
    # The gradient reaching each of the 24 context steps, on a fixed held-out batch, at the first and last update.
    assert [t["step"] for t in record["time_steps"]] == [1, 40]
    assert all(len(row) == 24 for row in record["time_steps"][0]["norms"])
    card = (folder / "README.md").read_text()
    for picture in ("gradient_norms_layers.png", "gradient_norms_time_steps.png"):
        assert (folder / picture).stat().st_size > 1000 and f"]({picture})" in card
