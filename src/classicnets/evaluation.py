"""Evaluate a saved model folder on a named dataset, exactly as a user of transformers would load it.

The model is loaded with ``transformers.AutoModelForImageClassification.from_pretrained`` (through
``classicnets.loading.load_pretrained``, which refuses corrupted files and checkpoints of another
architecture), and images are standardised with the mean and standard deviation stored in the folder's
image processor, so the numbers match what ``pipeline("image-classification", model=folder)`` sees.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .training.tasks import ImageClassificationTask, collate_batch


def _normalisation(folder: Path, spec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    processor_file = folder / "preprocessor_config.json"
    if processor_file.is_file():
        cfg = json.loads(processor_file.read_text())
        if cfg.get("do_normalize", True) and cfg.get("image_mean") is not None:
            return tuple(cfg["image_mean"]), tuple(cfg["image_std"])
    return tuple(spec.mean), tuple(spec.std)


@torch.no_grad()
def evaluate_folder(model_dir: str, dataset: str, split: str = "test", batch_size: int = 1000,
                    data_source: str = "auto", trust_remote_code: bool = False, classes=None) -> dict:
    """Accuracy and mean cross-entropy of the model in ``model_dir`` on ``dataset[split]``.

    A model trained on some classes of the dataset (``classicnets train --classes``) is evaluated on the
    examples of those classes; ``classes`` defaults to what the folder's ``training_args.json`` records.

    Example:
        >>> evaluate_folder("runs/lenet5-mnist", "mnist")["accuracy"]
        0.993...
    """
    from .data import DATASETS, check_classes, image_tensors, load_dataset, select_classes
    from .hub import resolve_checkpoint
    from .loading import load_pretrained

    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {', '.join(sorted(DATASETS))}.")
    spec = DATASETS[dataset]
    folder = resolve_checkpoint(model_dir)
    if _model_type(folder) == "classicnets_gan":  # a generator is measured by its samples, not by accuracy
        from .training.gan_runner import evaluate_gan_folder

        return evaluate_gan_folder(folder, dataset, split, data_source, trust_remote_code)
    if spec.task != "image-classification":
        return evaluate_sequence_folder(folder, spec, split, batch_size, data_source, trust_remote_code)
    from .loading import check_checkpoint_folder
    from .training.representation import MODEL_TYPES, evaluate_representation_folder

    if check_checkpoint_folder(folder).get("model_type") in MODEL_TYPES:  # an autoencoder or VAE: no classes
        return evaluate_representation_folder(folder, spec, split, batch_size, data_source, trust_remote_code)
    classes = check_classes(spec, classes if classes is not None else recorded_classes(folder))
    label_names = [spec.label_names[c] for c in classes] if classes else list(spec.label_names)
    model = load_pretrained(folder, trust_remote_code=trust_remote_code).eval()
    if model.config.num_labels != len(label_names):
        raise ValueError(
            f"{folder} predicts {model.config.num_labels} classes but {dataset} has {len(label_names)}; "
            f"evaluate it on the dataset it was trained for."
        )
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if names != label_names and names != [f"LABEL_{i}" for i in range(len(names))]:
        raise ValueError(
            f"{folder} was trained for the classes {names[:4]}... but {dataset} has {label_names[:4]}...; "
            f"evaluate it on the dataset it was trained for."
        )
    image_size = getattr(model.config, "image_size", None) or spec.image_size
    if isinstance(image_size, int):  # transformers' vision configs (ViT...) give one int for square images
        image_size = (image_size, image_size)
    shape = (getattr(model.config, "num_channels", spec.num_channels), *image_size)
    if shape != (spec.num_channels, *spec.image_size):
        raise ValueError(
            f"{folder} reads {shape[0]}x{shape[1]}x{shape[2]} images but {dataset} has "
            f"{spec.num_channels}x{spec.image_size[0]}x{spec.image_size[1]}; evaluate it on the dataset it was "
            f"trained for."
        )
    mean, std = _normalisation(folder, spec)
    task = ImageClassificationTask(mean, std)
    images, labels = select_classes(*image_tensors(load_dataset(dataset, source=data_source)[split]), classes)
    loader = torch.utils.data.DataLoader(task.dataset(images, labels), batch_size=batch_size,
                                         collate_fn=collate_batch)
    parts = []
    for batch in loader:
        inputs = task.model_inputs(batch, train=False, generator=None, device=model.device)
        parts.append(task.eval_tensors(model(**inputs), inputs))
    metrics = task.compute_metrics(*[torch.cat(c) for c in zip(*parts, strict=True)])
    result = {"model": str(folder), "model_class": type(model).__name__, "dataset": dataset, "split": split,
              **({"classes": list(classes)} if classes else {}), "num_examples": len(labels), **metrics}
    recorded = recorded_accuracy(folder, dataset, split)
    if recorded is not None:
        # The accuracy `classicnets train` measured on the same split at the end of training, in its process.
        result["accuracy_at_training"] = recorded
        result["matches_training"] = recorded == metrics["accuracy"]
    return result


_AUTO_CLASS = {"text-generation": "AutoModelForCausalLM", "text-classification": "AutoModelForSequenceClassification",
               "time-series-forecasting": "AutoModelForTimeSeriesPrediction"}


@torch.no_grad()
def evaluate_sequence_folder(folder: Path, spec, split: str, batch_size: int = 1000, data_source: str = "auto",
                             trust_remote_code: bool = False) -> dict:
    """The metrics training reported for a recurrent model folder, recomputed in this process from the saved model
    and tokenizer: nats per token of a language model on the split's text, accuracy/F1 of a classifier, MAE/RMSE
    of a forecaster (windows whose targets lie in ``split``; the context length comes from ``training_args.json``).
    """
    import transformers

    from .data import load_dataset
    from .loading import load_pretrained
    from .training.sequence import DEFAULT_BLOCK_SIZE, encode_classification
    from .training.tasks import ForecastingTask, LanguageModelingTask, TextClassificationTask

    if split not in spec.splits:
        raise ValueError(f"{spec.name} has the splits {', '.join(spec.splits)}; choose one of them with --split.")
    auto_class = getattr(transformers, _AUTO_CLASS[spec.task])
    model = load_pretrained(folder, auto_class, trust_remote_code=trust_remote_code).eval()
    data = load_dataset(spec.name, source=data_source)
    extra = {}
    if spec.task == "time-series-forecasting":
        recorded = _training_args(folder)
        context = recorded.get("block_size") or DEFAULT_BLOCK_SIZE[spec.task]
        values = [torch.tensor(data[name]["value"], dtype=torch.float64) for name in spec.splits]
        start = sum(len(v) for v in values[: spec.splits.index(split)])
        series = torch.cat(values)
        std = (model.config.input_std or [1.0])[0]
        task = ForecastingTask(series, context, model.config.prediction_length, scale=std)
        dataset = task.windows(start, start + len(values[spec.splits.index(split)]))
    else:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
        if spec.task == "text-generation":
            ids = torch.tensor(tokenizer(data[split]["text"][0])["input_ids"], dtype=torch.long)
            task = LanguageModelingTask(ids, block_size=1, pad_token_id=tokenizer.pad_token_id)
            dataset = task.eval_dataset(ids)
        else:
            task = TextClassificationTask(tokenizer.pad_token_id, model.config.num_labels)
            texts, labels = data[split]["text"], data[split]["label"]
            # A run with --eval-subset N scored the first N texts of its held-out split: score the same ones.
            subset = _training_args(folder).get("eval_subset") if _recorded_metric(folder, spec.name, split) else None
            if subset:
                texts, labels = texts[:subset], labels[:subset]
            dataset = encode_classification(task, tokenizer, texts, labels, tokenizer.model_max_length)
            extra = {"num_examples": len(labels), **({"eval_subset": subset} if subset else {})}
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=collate_batch)
    parts = []
    for batch in loader:
        inputs = task.model_inputs(batch, train=False, generator=None, device=model.device)
        parts.append(task.eval_tensors(model(**inputs), inputs))
    metrics = task.compute_metrics(*[torch.cat(c) for c in zip(*parts, strict=True)])
    result = {"model": str(folder), "model_class": type(model).__name__, "dataset": spec.name, "split": split,
              **extra, **metrics}
    at_training = _recorded_metric(folder, spec.name, split)
    if at_training is not None:
        result["loss_at_training"] = at_training
        result["matches_training"] = abs(at_training - metrics["loss"]) <= 1e-6 * max(1.0, abs(at_training))
    return result


def _recorded_metric(folder: Path, dataset: str, split: str, name: str = "loss") -> float | None:
    """The ``<split>_<name>`` that training wrote to ``folder/metrics.json`` for ``dataset``, or ``None``."""
    if recorded_dataset(folder) != dataset:
        return None
    try:
        value = json.loads((Path(folder) / "metrics.json").read_text()).get(f"{split}_{name}")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, float) else None


def _training_args(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / "training_args.json").read_text())
    except (OSError, ValueError):
        return {}


def _model_type(folder: Path) -> str | None:
    try:
        return json.loads((Path(folder) / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def recorded_dataset(folder: str | Path) -> str | None:
    """The dataset a ``classicnets train`` folder was trained on (from its ``run.json``), or ``None``."""
    try:
        return json.loads((Path(folder) / "run.json").read_text()).get("dataset")
    except (OSError, ValueError, AttributeError):
        return None


def recorded_classes(folder: str | Path) -> list[int] | None:
    """The label ids a ``classicnets train --classes`` run kept (from ``training_args.json``), or ``None``."""
    try:
        return json.loads((Path(folder) / "training_args.json").read_text()).get("classes")
    except (OSError, ValueError, AttributeError):
        return None


def recorded_accuracy(folder: str | Path, dataset: str, split: str) -> float | None:
    """The ``<split>_accuracy`` that training wrote to ``folder/metrics.json``, when that run measured it on the
    whole ``split`` of ``dataset`` (not on an ``--eval-subset``); ``None`` otherwise."""
    folder = Path(folder)
    if recorded_dataset(folder) != dataset:
        return None
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
        training_args = json.loads((folder / "training_args.json").read_text())
    except (OSError, ValueError):
        return None
    value = metrics.get(f"{split}_accuracy")
    return value if isinstance(value, float) and training_args.get("eval_subset") is None else None


__all__ = ["evaluate_folder", "recorded_accuracy", "recorded_classes", "recorded_dataset"]
