"""``classicnets train gan``: train a GAN on a named image dataset, measure it, and save a model folder.

``run_gan_training("mnist", args, preset="dcgan")`` builds the [`GANModel`] (presets ``mlp``: Goodfellow et al.
2014; ``dcgan``: Radford et al. 2016; ``conditional``: a class-conditional DCGAN, Mirza & Osindero 2014), trains it
with :func:`classicnets.training.gan.train_gan` (one discriminator and one generator Adam update per step, betas
(0.5, 0.999)), and measures the result without any download (:mod:`classicnets.generative_metrics`):

- ``test_frechet_distance``: the Fréchet distance between ``num_eval_samples`` samples and as many test images,
  in the feature space of the library's own reference classifier of the dataset;
- ``real_data_frechet_distance``: the same distance between as many *training* images and the test images, the
  value a generator that reproduced the data distribution would get at this sample size (the floor);
- ``test_conditional_accuracy`` (conditional GANs): the fraction of samples that the reference classifier assigns
  to the class they were drawn for;
- ``train_diversity``: the mode-collapse indicator of the last logged steps (mean pairwise distance of samples over
  that of real images; 0 for a collapsed generator).

The folder (written atomically: built in a temporary folder, ``config.json`` moved in last) holds ``config.json``,
``model.safetensors``, the model's own code, ``README.md`` (the card, metrics in its ``model-index``),
``samples.png`` (one row per class for a conditional GAN) with ``samples.safetensors`` and ``samples.json`` (the
exact images of the grid and the seed and labels that reproduce them with ``model.sample``),
``interpolation.png`` (walks between latents, :func:`latent_interpolation`), ``learning_curves.png``,
``training_log.json`` (the logged history), ``metrics.json``, ``training_args.json`` and ``run.json``, and
``checkpoints/checkpoint-<step>`` (every ``--save-steps`` steps, else every epoch, and at the end):
``--resume-from-checkpoint latest`` continues an interrupted run to the same weights an uninterrupted one reaches.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from dataclasses import fields
from pathlib import Path

import torch

from ..models.gan import GANConfig, GANModel
from ..utils import atomic_write_text, share_files
from .arguments import TrainingArguments

logger = logging.getLogger(__name__)

ADAM_BETAS = (0.5, 0.999)  # Radford et al. 2016: beta1 = 0.9 made training oscillate
DEFAULT_LEARNING_RATE = 2e-4  # Radford et al. 2016
DEFAULT_NUM_EVAL_SAMPLES = 10_000
GRID_COLUMNS = 10
INTERPOLATION_ROWS = 5
HUB_TASK = "unconditional-image-generation"  # the Hub has no class-conditional image task; the card tags it


def conditional_gan(num_labels: int = 10, architecture: str = "dcgan", **kwargs) -> GANConfig:
    """The ``conditional`` preset: a class-conditional DCGAN (``--config-overrides architecture=mlp`` for an MLP)."""
    if kwargs.pop("conditional", True) is not True:
        raise ValueError("--preset conditional builds a class-conditional GAN; drop conditional=false from "
                         "--config-overrides, or use --preset mlp or --preset dcgan for an unconditional one.")
    return GANConfig.conditional_gan(num_labels=num_labels, architecture=architecture, **kwargs)


GAN_PRESETS = {"mlp": GANConfig.mlp_gan, "dcgan": GANConfig.dcgan, "conditional": conditional_gan}

# TrainingArguments the GAN loop implements; every other one must keep its default (it would be silently ignored).
_GAN_ARGUMENTS = ("output_dir", "overwrite_output_dir", "seed", "num_train_epochs", "max_steps",
                  "per_device_train_batch_size", "learning_rate", "mixed_precision", "logging_steps", "classes",
                  "train_subset", "disable_tqdm", "extra", "save_steps", "save_total_limit", "resume_from_checkpoint",
                  # only read together with a flag that is refused when set, so their defaults never matter
                  "per_device_eval_batch_size", "max_shift", "max_rotation", "metric_for_best_model",
                  "tokenizer_vocab_size", "hub_token")


# TrainingArguments fields whose command-line flag is not the field's name.
_CLI_FLAGS = {"lr_scheduler_type": "--lr-scheduler", "num_train_epochs": "--epochs"}


def check_gan_arguments(args: TrainingArguments) -> None:
    """Refuses training arguments that the GAN loop does not implement, naming them.

    Raises:
        ValueError: e.g. ``--lr-scheduler cosine`` or ``--weight-decay 0.01`` for a GAN.
    """
    given = []
    for f in fields(TrainingArguments):
        if f.name in _GAN_ARGUMENTS:
            continue
        if getattr(args, f.name) != f.default:
            given.append(_CLI_FLAGS.get(f.name, "--" + f.name.replace("_", "-")))
    if given:
        raise ValueError(
            f"{', '.join(given)}: not used by GAN training, which runs Adam (betas {ADAM_BETAS}) at a constant "
            f"learning rate on both networks; drop {'it' if len(given) == 1 else 'them'}. GAN training takes "
            f"--max-steps or --epochs, --per-device-train-batch-size, --learning-rate, --seed, --mixed-precision, "
            f"--classes, --train-subset, --logging-steps, --save-steps, --save-total-limit, "
            f"--resume-from-checkpoint, --num-eval-samples and --reference-classifier."
        )


def _reference_for(spec, reference: str | None, data_source: str, num_processes: int):
    """The reference classifier that judges the samples: a given folder, or the library's own (built once)."""
    from ..generative_metrics import (
        REFERENCE_DATASETS,
        ReferenceClassifier,
        load_reference_classifier,
        reference_classifier_path,
    )

    if reference is not None:
        classifier = ReferenceClassifier.from_folder(reference)
    else:
        if spec.name not in REFERENCE_DATASETS:
            raise ValueError(
                f"The GAN metrics need a reference classifier of {spec.name}; classicnets builds its own only for "
                f"{', '.join(REFERENCE_DATASETS)}. Train one (`classicnets train cnn --dataset {spec.name} ...`) "
                f"and pass its folder with --reference-classifier."
            )
        cached = (reference_classifier_path(spec.name) / "reference.json").is_file()
        if num_processes > 1 and not cached:
            raise ValueError(
                f"The {spec.name} reference classifier is not cached yet and is built by a one-process run: build it "
                f"once with `python -c \"from classicnets.generative_metrics import load_reference_classifier; "
                f"load_reference_classifier('{spec.name}')\"`, then launch the GAN run again."
            )
        classifier = load_reference_classifier(spec.name, data_source=data_source)
    expected = (spec.num_channels, *tuple(spec.image_size))
    if classifier.image_shape != expected or classifier.num_labels != len(spec.label_names):
        raise ValueError(
            f"The reference classifier {classifier.path} reads {classifier.image_shape} images into "
            f"{classifier.num_labels} classes, but {spec.name} has {expected} images in {len(spec.label_names)} "
            f"classes; use a classifier trained on {spec.name}."
        )
    return classifier


@torch.no_grad()
def sample_in_batches(model: GANModel, labels: torch.Tensor | None, num_samples: int, seed: int,
                      batch_size: int = 1000) -> torch.Tensor:
    """``num_samples`` images from ``model.sample``, drawn batch by batch from one generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    chunks = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        chunk_labels = None if labels is None else labels[start:start + n]
        chunks.append(model.sample(n, labels=chunk_labels, generator=generator).float().cpu())
    return torch.cat(chunks)


def evaluate_gan(model: GANModel, reference, real_test: torch.Tensor, real_train: torch.Tensor,
                 num_samples: int, seed: int, classifier_labels: list[int] | None = None) -> dict:
    """The GAN's metrics against ``real_test`` (uint8) in ``reference``'s feature space.

    ``num_samples`` samples (class-balanced for a conditional GAN: labels ``0, 1, ..., K - 1, 0, ...``) are compared
    with the first ``num_samples`` test images; the same number of training images gives the real-data floor.
    ``classifier_labels[k]`` is the reference classifier's class id of the GAN's class ``k`` (``--classes``).
    """
    n = min(num_samples, real_test.shape[0], real_train.shape[0])
    if n < 2:
        raise ValueError(f"--num-eval-samples must be at least 2 (got {num_samples}); use thousands.")
    config = model.config
    labels = torch.arange(n) % config.num_labels if config.conditional else None
    fakes = sample_in_batches(model, labels, n, seed)
    test_features = reference.features(real_test[:n])
    from ..generative_metrics import frechet_distance

    metrics = {
        "test_frechet_distance": frechet_distance(reference.features(fakes), test_features),
        "real_data_frechet_distance": frechet_distance(reference.features(real_train[:n]), test_features),
        "num_eval_samples": n,
    }
    if config.conditional:
        wanted = labels if classifier_labels is None else torch.tensor(classifier_labels)[labels]
        metrics["test_conditional_accuracy"] = reference.conditional_accuracy(fakes, wanted)
    return metrics


def _grid(model: GANModel, seed: int) -> tuple[torch.Tensor, torch.Tensor | None, list[str] | None]:
    """The picture's samples: one row per class (conditional) or 10 x 10, from a generator seeded with ``seed``."""
    config = model.config
    if config.conditional:
        labels = torch.arange(config.num_labels).repeat_interleave(GRID_COLUMNS)  # row k: ten samples of class k
        names = [str(config.id2label.get(k, k)) for k in range(config.num_labels)]
    else:
        labels, names = None, None
    num = GRID_COLUMNS * (config.num_labels if config.conditional else GRID_COLUMNS)
    images = model.sample(num, labels=labels, generator=torch.Generator().manual_seed(seed))
    return images.float().cpu(), labels, names


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents ``z0`` and ``z1`` (each (rows, latent_size)) at fractions ``t``.

    ``slerp(t) = sin((1 - t) w) / sin(w) z0 + sin(t w) / sin(w) z1`` with ``w`` the angle between ``z0`` and ``z1``
    (Shoemake 1985; White, "Sampling Generative Networks", 2016, arXiv:1609.04468): the path stays near the norm a
    Gaussian latent concentrates on (``~sqrt(latent_size)``; exactly on it for endpoints of that norm), where a
    straight line would dip towards the low-norm centre that ``G`` rarely saw in training. Nearly parallel endpoints
    fall back to the straight line.

    Args:
        z0, z1: the endpoints, shape (rows, latent_size).
        t: fractions in [0, 1], shape (steps,).

    Returns:
        (rows, steps, latent_size): row ``r`` goes from ``z0[r]`` (``t = 0``) to ``z1[r]`` (``t = 1``).
    """
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=-1).clamp(-1.0, 1.0)[:, None, None]  # (rows, 1, 1)
    angle = torch.arccos(cos)
    t = t[None, :, None]  # (1, steps, 1)
    a, b = z0[:, None, :], z1[:, None, :]
    straight = (1 - t) * a + t * b
    safe = angle.clamp_min(1e-4)
    curved = (torch.sin((1 - t) * safe) * a + torch.sin(t * safe) * b) / torch.sin(safe)
    return torch.where(angle > 1e-4, curved, straight)


def latent_interpolation(model: GANModel, rows: int, steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``rows`` walks through the latent space of ``G`` (Radford et al. 2016, section 6.1): each from one latent to
    another, drawn with ``torch.Generator().manual_seed(seed)``, in ``steps`` spherical steps (:func:`slerp`), ends
    included; a conditional GAN keeps one class per row (row ``r``: class ``r mod K``), so only the style moves.

    Returns the images (rows * steps, C, H, W) in [-1, 1] (in eval mode, as ``model.sample`` draws them) and the
    labels (or ``None``)."""
    config = model.config
    draw = torch.Generator().manual_seed(seed)
    z0 = torch.randn(rows, config.latent_size, generator=draw)
    z1 = torch.randn(rows, config.latent_size, generator=draw)
    z = slerp(z0, z1, torch.linspace(0, 1, steps)).reshape(rows * steps, config.latent_size)
    labels = (torch.arange(rows) % config.num_labels).repeat_interleave(steps) if config.conditional else None
    was_training = model.generator.training
    model.generator.eval()
    try:
        with torch.no_grad():
            images = model.generate_images(z.to(device=model.device, dtype=model.dtype),
                                           None if labels is None else labels.to(model.device))
    finally:
        model.generator.train(was_training)
    return images.float().cpu(), labels


def _card_sections(model, spec, metrics: dict, reference, classes, grid_seed: int) -> dict:
    config = model.config
    sample_call = ("model.sample(10, labels=list(range(10)), generator=torch.Generator().manual_seed(0))"
                   if config.conditional else "model.sample(16, generator=torch.Generator().manual_seed(0))")
    sampling = (
        "```python\nimport torch\nimport classicnets  # registers the architecture\n"
        "from transformers import AutoModel\n\n"
        "model = AutoModel.from_pretrained(\"<this folder or repo>\")\n"
        f"images = {sample_call}  # (N, 1, 28, 28) in [-1, 1]\n"
        "pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)  # 8-bit grey levels\n```\n\n"
        f"`samples.png` shows `samples.safetensors`, drawn with `torch.Generator().manual_seed({grid_seed})`"
        + (" and labels `0 x 10, 1 x 10, ...` (one row per class)" if config.conditional else "")
        + "; `samples.json` records the call."
    )
    info = reference.info
    recipe = info.get("recipe")
    where = (f"the library's own {spec.name} reference classifier (version {info.get('version')}, recipe "
             f"`{info.get('recipe_key')}`: {recipe.get('preset')} trained by `classicnets train cnn` for "
             + (f"{recipe.get('max_steps')} updates" if (recipe.get("max_steps") or -1) > 0
                else f"{recipe.get('epochs'):g} epochs")
             + f" with seed {recipe.get('seed')})" if recipe else
             f"the classifier in `{Path(str(reference.path)).name}`")
    accuracy = reference.test_accuracy
    text = (
        f"The samples are judged in the feature space of {where}, whose test accuracy is "
        f"{accuracy:.4f}" if accuracy is not None else f"The samples are judged in the feature space of {where}"
    )
    text += (
        ". No Inception network is involved, so the numbers are not comparable with published FIDs, only with other "
        "classicnets GANs measured the same way (same classifier, same number of samples).\n\n"
        f"- **Fréchet distance** {metrics['test_frechet_distance']:.4g}: between Gaussians fitted to the "
        f"penultimate-layer features of {metrics['num_eval_samples']:,} samples and of as many `test` images "
        "(lower is better).\n"
        f"- **Real-data floor** {metrics['real_data_frechet_distance']:.4g}: the same distance between as many "
        "training images and the test images, what a perfect generator would get at this sample size.\n"
    )
    if "test_conditional_accuracy" in metrics:
        text += (f"- **Conditional accuracy** {metrics['test_conditional_accuracy']:.4f}: the fraction of "
                 "class-balanced samples that the reference classifier assigns to the requested class.\n")
    text += (f"- **Sample diversity** {metrics['train_diversity']:.3f} (last logged steps): the mean pairwise "
             "distance of a batch of samples over that of the real batch; near 0 means mode collapse.\n")
    if classes:
        text += f"\nTrained and evaluated on the classes {', '.join(map(str, classes))} of {spec.name} only.\n"
    return {"Sampling": sampling, "Evaluation without downloads": text}


def export_gan(output_dir: str, model: GANModel, args: TrainingArguments, metrics: dict, history: list[dict],
               spec, preset: str | None, reference, hyperparameters: dict) -> Path:
    """Writes the GAN's model folder: every file is built in a temporary folder and moved in, ``config.json``
    last (a folder is only loadable once its config is in place)."""
    from safetensors.torch import save_file

    from ..cards import write_model_card
    from ..plots import plot_image_grid, plot_learning_curves

    out = Path(output_dir)
    tmp = out / ".export.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config = model.config
    try:
        model.save_pretrained(tmp)
        images, labels, names = _grid(model, args.seed)
        tensors = {"pixel_values": images.contiguous()}
        if labels is not None:
            tensors["labels"] = labels.contiguous()
        save_file(tensors, str(tmp / "samples.safetensors"))
        atomic_write_text(tmp / "samples.json", json.dumps(
            {"num_samples": images.shape[0], "seed": args.seed, "labels": None if labels is None else labels.tolist(),
             "call": "model.sample(num_samples, labels=labels, generator=torch.Generator().manual_seed(seed))",
             "range": "[-1, 1]"}, indent=2))
        what = f"{'conditional ' if config.conditional else ''}{config.architecture} GAN samples, {spec.name}"
        plot_image_grid((images + 1) / 2, tmp / "samples.png", ncol=GRID_COLUMNS, row_labels=names, title=what)
        walks, walk_labels = latent_interpolation(model, INTERPOLATION_ROWS, GRID_COLUMNS, args.seed)
        walk_names = None if walk_labels is None else [
            str(config.id2label.get(int(k), int(k))) for k in walk_labels[::GRID_COLUMNS]]
        plot_image_grid((walks + 1) / 2, tmp / "interpolation.png", ncol=GRID_COLUMNS, row_labels=walk_names,
                        title=f"{what}: spherical walks between two latents")
        curves = [{"step": r["step"], "d_loss": r["d_loss"], "g_loss": r["g_loss"],
                   "train_diversity": r["diversity"], "train_real_score": r["real_score"],
                   "train_fake_score": r["fake_score"]} for r in history]
        plot_learning_curves(curves, tmp / "learning_curves.png", title="GAN training: losses, D's scores, diversity")
        atomic_write_text(tmp / "training_log.json", json.dumps(history, indent=2))
        atomic_write_text(tmp / "metrics.json", json.dumps(metrics, indent=2))
        atomic_write_text(tmp / "training_args.json", json.dumps(
            {k: v for k, v in args.to_dict().items() if k not in ("output_dir", "resume_from_checkpoint")}, indent=2))
        label = {"mlp": "mlp-gan", "dcgan": "dcgan"}[config.architecture]
        name = f"{'conditional-' if config.conditional else ''}{label}-{spec.name}"
        if args.classes:
            name += "-classes-" + "".join(map(str, args.classes))
        card_metrics = {k: v for k, v in metrics.items() if k.startswith("test_")}
        write_model_card(
            tmp, family="gan", model_name=name, task=HUB_TASK, dataset_name=spec.name, dataset_id=spec.hub_id,
            dataset_split="test", metrics=card_metrics, hyperparameters=hyperparameters, config=config.to_dict(),
            pictures=[("samples.png", "Samples"),
                      ("interpolation.png", "Latent interpolation: each row walks from one latent to another "
                       "(spherical steps, ends included" + ("; one class per row)" if config.conditional else ")")),
                      ("learning_curves.png", "Learning curves")],
            extra_sections=_card_sections(model, spec, metrics, reference, args.classes, args.seed),
            tags=["class-conditional"] if config.conditional else (),
            repo_id=None if os.path.isabs(args.output_dir) else Path(args.output_dir).as_posix(),
        )
        share_files(tmp)
        for file in sorted(os.listdir(tmp), key=lambda f: f == "config.json"):
            os.replace(tmp / file, out / file)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def evaluate_gan_folder(folder: str | os.PathLike, dataset: str, split: str = "test", data_source: str = "auto",
                        trust_remote_code: bool = False) -> dict:
    """The metrics ``classicnets train gan`` recorded, recomputed in this process from the saved folder.

    Returns ``frechet_distance``, ``real_data_frechet_distance``, ``num_eval_samples`` and, for a conditional GAN,
    ``conditional_accuracy`` (``split`` says they are on the test images), with ``at_training`` (the recorded values)
    and ``matches_training``.

    The model is loaded with ``AutoModel``; the sample count, seeds, classes, training subset and reference
    classifier come from the folder's ``metrics.json`` and ``training_args.json``, so the numbers match what
    training measured (``matches_training``) when the weights are those that were measured.

    Raises:
        ValueError: a split other than ``test``, or a dataset the folder was not trained on.
    """
    from transformers import AutoModel

    from ..data import DATASETS, check_classes, image_tensors, load_dataset, select_classes
    from ..evaluation import recorded_dataset
    from ..loading import load_pretrained
    from .runner import split_train

    folder = Path(folder)
    if split != "test":
        raise ValueError(f"A GAN is measured against the test images; --split {split} is not supported.")
    trained_on = recorded_dataset(folder)
    if trained_on is not None and trained_on != dataset:
        raise ValueError(f"{folder} was trained on {trained_on}, not {dataset}; evaluate it on {trained_on}.")
    model = load_pretrained(folder, AutoModel, expected_model_type="classicnets_gan",
                            trust_remote_code=trust_remote_code).eval()
    recorded_args = json.loads((folder / "training_args.json").read_text()) if (
        folder / "training_args.json").is_file() else {}
    recorded = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
    spec = DATASETS[dataset]
    seed = recorded_args.get("seed", 0)
    classes = check_classes(spec, recorded_args.get("classes"))
    extra = recorded_args.get("extra") or {}
    reference = _reference_for(spec, extra.get("reference_classifier"), data_source, 1)
    splits = load_dataset(spec.name, source=data_source)
    images, labels = select_classes(*image_tensors(splits["train"]), classes)
    train_idx, _ = split_train(len(labels), 0.0, recorded_args.get("train_subset"), seed)
    test_images, _ = select_classes(*image_tensors(splits["test"]), classes)
    num = recorded.get("num_eval_samples") or extra.get("num_eval_samples") or DEFAULT_NUM_EVAL_SAMPLES
    metrics = evaluate_gan(model, reference, test_images, images[train_idx], num, seed=seed + 1,
                           classifier_labels=list(classes) if classes else None)
    # Named as every family's `classicnets evaluate` names them: the split is its own field, not a prefix.
    unprefixed = {k.removeprefix("test_"): v for k, v in metrics.items()}
    result = {"model": str(folder), "model_class": type(model).__name__, "dataset": dataset, "split": split,
              **unprefixed}
    pairs = {k.removeprefix("test_"): recorded[k] for k in ("test_frechet_distance", "test_conditional_accuracy")
             if k in metrics and k in recorded}
    if pairs:
        result["at_training"] = pairs
        result["matches_training"] = all(value == unprefixed[k] for k, value in pairs.items())
    return result


def run_gan_training(dataset: str, args: TrainingArguments, preset: str | None = None,
                     config_overrides: dict | None = None, data_source: str = "auto",
                     reference_classifier: str | None = None,
                     num_eval_samples: int = DEFAULT_NUM_EVAL_SAMPLES) -> dict:
    """Trains a GAN on the named image dataset, measures it and saves the model folder; returns the metrics.

    Args:
        dataset: an image dataset (``mnist``, ``fashion_mnist``; ``digits`` with ``reference_classifier``).
        args: the training arguments; the GAN loop uses ``max_steps`` (or ``num_train_epochs``),
            ``per_device_train_batch_size``, ``learning_rate``, ``seed``, ``mixed_precision``, ``logging_steps``,
            ``classes``, ``train_subset``, ``save_steps``, ``save_total_limit`` and ``resume_from_checkpoint``, and
            refuses the others (:func:`check_gan_arguments`).
        preset: ``mlp``, ``dcgan`` or ``conditional`` (default: ``GANConfig()``'s MLP GAN).
        config_overrides: ``GANConfig`` fields, e.g. ``{"latent_size": 64}``.
        reference_classifier: a classifier folder to measure with instead of the library's reference classifier.
        num_eval_samples: samples (and test images) for the Fréchet distance.

    Example:
        >>> args = TrainingArguments(output_dir="runs/dcgan-mnist", max_steps=2000, learning_rate=2e-4)
        >>> run_gan_training("mnist", args, preset="dcgan")["test_frechet_distance"]
    """
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    from ..data import DATASETS, check_classes, image_tensors, load_dataset, select_classes
    from .checkpointing import resolve_checkpoint
    from .gan import check_batch_fill, train_gan
    from .runner import _run_signature, build_config, prepare_output_dir_on_main, split_train

    spec = DATASETS[dataset]
    if spec.task != "image-classification":
        raise ValueError(f"{dataset} is a {spec.task} dataset; a GAN generates images: train it on mnist or "
                         f"fashion_mnist.")
    check_gan_arguments(args)
    if not isinstance(num_eval_samples, int) or num_eval_samples < 2:
        raise ValueError(f"--num-eval-samples must be an int >= 2, got {num_eval_samples!r}; use thousands.")
    classes = check_classes(spec, args.classes)
    label_names = [spec.label_names[c] for c in classes] if classes else list(spec.label_names)
    config = build_config("gan", spec, preset, config_overrides, label_names)
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    # Before training: a missing or mismatched judge is found now, not after the training time is spent.
    reference = _reference_for(spec, reference_classifier, data_source, state.num_processes)

    splits = load_dataset(spec.name, source=data_source)
    images, labels = select_classes(*image_tensors(splits["train"]), classes)
    train_idx, _ = split_train(len(labels), 0.0, args.train_subset, args.seed)
    images, labels = images[train_idx], labels[train_idx]
    test_images, _ = select_classes(*image_tensors(splits["test"]), classes)
    batches_per_epoch = len(labels) // (args.per_device_train_batch_size * state.num_processes)
    max_steps = args.max_steps if args.max_steps > 0 else max(1, math.ceil(args.num_train_epochs * batches_per_epoch))

    check_batch_fill(len(labels), args.per_device_train_batch_size, state.num_processes)  # before the folder

    torch.manual_seed(args.seed)  # the initial weights
    model = GANModel(config)
    signature = _run_signature("gan", dataset, config, args.classes)
    prepare_output_dir_on_main(state, args.output_dir, signature, args)
    resume_from = (resolve_checkpoint(args.output_dir, args.resume_from_checkpoint)
                   if args.resume_from_checkpoint else None)

    result = train_gan(model, images, labels if config.conditional else None, max_steps=max_steps,
                       per_device_batch_size=args.per_device_train_batch_size, learning_rate=args.learning_rate,
                       betas=ADAM_BETAS, seed=args.seed, logging_steps=min(args.logging_steps, max_steps),
                       mixed_precision=args.mixed_precision, checkpoint_dir=os.path.join(args.output_dir, "checkpoints"),
                       save_steps=args.save_steps, save_total_limit=args.save_total_limit, resume_from=resume_from)
    metrics = {"global_step": result.global_step, "num_processes": result.num_processes,
               "train_runtime": result.history[-1]["elapsed"] if result.history else 0.0}
    if state.is_main_process:
        model.eval()
        # A held-out draw: the grid and training used other seeds' noise.
        metrics.update(evaluate_gan(model, reference, test_images, images, num_eval_samples, seed=args.seed + 1,
                                    classifier_labels=list(classes) if classes else None))
        metrics["train_diversity"] = result.history[-1]["diversity"]
        if reference.test_accuracy is not None:
            metrics["reference_classifier_test_accuracy"] = reference.test_accuracy
        hyper = {"architecture": "gan", "preset": preset, "gan_architecture": config.architecture,
                 "conditional": config.conditional, "max_steps": max_steps,
                 "per_device_train_batch_size": args.per_device_train_batch_size,
                 "total_train_batch_size": args.per_device_train_batch_size * result.num_processes,
                 "learning_rate": args.learning_rate, "adam_betas": list(ADAM_BETAS), "seed": args.seed,
                 "mixed_precision": args.mixed_precision, "num_processes": result.num_processes,
                 "train_examples": len(labels), "classes": list(args.classes) if args.classes else None,
                 "num_eval_samples": metrics["num_eval_samples"]}
        export_gan(args.output_dir, model, args, metrics, result.history, spec, preset, reference,
                   {k: v for k, v in hyper.items() if v is not None})
    state.wait_for_everyone()
    return metrics


__all__ = ["ADAM_BETAS", "GAN_PRESETS", "check_gan_arguments", "evaluate_gan", "evaluate_gan_folder", "export_gan",
           "run_gan_training",
           "sample_in_batches"]
