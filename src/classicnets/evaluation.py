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
    if spec.task != "image-classification":
        raise ValueError(f"{dataset} is a {spec.task} dataset; this command takes the image datasets only "
                         f"({', '.join(n for n, s in DATASETS.items() if s.task == 'image-classification')}).")
    folder = resolve_checkpoint(model_dir)
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
