"""From names to a trained, saved model: what ``classicnets train`` does, callable from Python.

``run_training("cnn", "mnist", args, preset="lenet5")`` loads the named dataset, builds the model, trains it
with the Accelerate loop, evaluates it on the official test split, and writes a standard Hugging Face model
folder: ``config.json``, ``model.safetensors``, the model's own code, the image processor, a model card
(``README.md``), ``learning_curves.png``, ``metrics.json`` and ``training_args.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import torch

from ..models.auto import ARCHITECTURES
from ..models.autoencoder import AutoencoderConfig
from ..models.cnn import CNNConfig, CNNForImageClassification
from ..models.mlp import MLPForImageClassification
from ..models.vae import VAEConfig
from ..utils import atomic_write_text, share_files
from .arguments import TrainingArguments
from .gan_runner import GAN_PRESETS
from .sequence import DEFAULT_TOKENIZER, TrainingRun
from .tasks import ImageClassificationTask
from .trainer import Trainer

logger = logging.getLogger(__name__)

IMAGE_CLASSIFIERS = {"mlp": MLPForImageClassification, "cnn": CNNForImageClassification}
# The tasks each architecture trains from the command line.
TRAINABLE = {"mlp": ("image-classification",), "cnn": ("image-classification",),
             "rnn": ("text-generation", "text-classification", "time-series-forecasting"),
             # Image datasets; their labels only colour the latent-space picture.
             "autoencoder": ("image-classification",), "vae": ("image-classification",),
             "gan": ("image-classification",)}  # a GAN learns the images of a labelled image dataset
PRESETS = {
    "cnn": {"lenet5": CNNConfig.lenet5, "vgg_style": CNNConfig.vgg_style, "resnet_style": CNNConfig.resnet_style},
    "mlp": {},
    "rnn": {},
    "autoencoder": {"hinton_salakhutdinov": AutoencoderConfig.hinton_salakhutdinov},
    "vae": {"burda": VAEConfig.burda, "kingma_welling": VAEConfig.kingma_welling},
    "gan": GAN_PRESETS,
}
RUN_FILE = "run.json"


# Fields the dataset decides: the input shape and the label set.
DATASET_FIELDS = ("image_size", "num_channels", "input_size", "num_labels", "id2label", "label2id")


def model_fields(config_class) -> tuple[str, ...]:
    """The fields a user may set on ``config_class`` from the command line: the family's own, not the base
    config's bookkeeping and not what the dataset decides."""
    from transformers import PretrainedConfig

    base = {f.name for f in dataclasses.fields(PretrainedConfig)}
    return tuple(f.name for f in dataclasses.fields(config_class) if f.name not in base and f.name not in DATASET_FIELDS)


def build_config(arch: str, spec, preset: str | None = None, overrides: dict | None = None,
                 label_names: list[str] | None = None):
    """The model config for ``arch`` on a dataset ``spec``: preset defaults, then the dataset's shape and labels
    (``label_names``, default all of the dataset's), then ``overrides`` (field name -> value).

    Raises:
        ValueError: an unknown architecture or preset, an override of a field the config does not have or that the
            dataset decides, or a config that cannot take the dataset's images; the message says what to change.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of {', '.join(sorted(ARCHITECTURES))}.")
    config_class = ARCHITECTURES[arch]
    overrides = dict(overrides or {})
    owned = sorted(set(overrides) & set(DATASET_FIELDS))
    if owned:
        raise ValueError(
            f"{', '.join(owned)} cannot be overridden: --dataset {spec.name} decides the input shape "
            f"({spec.num_channels}x{spec.image_size[0]}x{spec.image_size[1]}) and the {spec.num_labels} labels. "
            f"Choose another --dataset instead."
        )
    allowed = model_fields(config_class)
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(
            f"{config_class.__name__} has no field {', '.join(map(repr, unknown))} (a {arch} model is configured by "
            f"{', '.join(allowed)}); check the spelling or the architecture."
        )
    labels = dict(enumerate(label_names or spec.label_names))
    shape = {"image_size": tuple(spec.image_size), "num_channels": spec.num_channels}
    try:
        if preset:
            presets = PRESETS.get(arch, {})
            if preset not in presets:
                available = ", ".join(sorted(presets)) or "none"
                raise ValueError(f"Unknown preset {preset!r} for {arch}; available: {available}.")
            config = presets[preset](num_labels=len(labels), **shape, **overrides)
        else:
            config = config_class(**shape, **overrides, num_labels=len(labels))
    except ValueError as err:
        if "too small" not in str(err):
            raise
        what = f"the {preset} preset" if preset else f"this {arch} config"
        raise ValueError(
            f"{what} cannot read the {spec.image_size[0]}x{spec.image_size[1]} images of --dataset {spec.name}: "
            f"{err} Choose a dataset with larger images, or change the stages (--config-overrides "
            f"kernel_sizes=..., paddings=..., pooling=none) or the preset."
        ) from err
    config.id2label, config.label2id = labels, {v: k for k, v in labels.items()}
    return config


def _run_signature(arch: str, dataset: str, config, classes=None) -> dict:
    return {"architecture": arch, "dataset": dataset, "classes": list(classes) if classes else None,
            "model_type": config.model_type, "config": json.loads(config.to_json_string(use_diff=False))}


def _describe(run: dict) -> str:
    return f"{run.get('architecture')} on {run.get('dataset')}"


def _config_differences(old: dict, new: dict) -> str:
    keys = sorted(k for k in set(old) | set(new) if k != "transformers_version" and old.get(k) != new.get(k))
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys[:6]) + (" ..." if len(keys) > 6 else "")


def prepare_output_dir_on_main(state, output_dir: str, signature: dict, args: TrainingArguments) -> None:
    """`prepare_output_dir` on the main process of ``state`` (an Accelerator or PartialState), its refusal raised
    on every process: the others would otherwise wait forever at the first collective operation."""
    from accelerate.utils import reduce

    error = None
    if state.is_main_process:
        try:
            prepare_output_dir(output_dir, signature, args)
        except (OSError, ValueError) as err:
            error = err
    if state.num_processes > 1:
        refused = reduce(torch.tensor([1.0 if error else 0.0], device=state.device), reduction="sum").item() > 0
        if refused and error is None:
            raise RuntimeError("The main process refused the output folder; see its error.")
    if error:
        raise error


def prepare_output_dir(output_dir: str, signature: dict, args: TrainingArguments) -> None:
    """Refuses to mix runs in one folder, and never deletes files classicnets did not write."""
    out = Path(output_dir)
    run_file = out / RUN_FILE
    existing = json.loads(run_file.read_text()) if run_file.is_file() else None
    if existing is not None and not (out / "checkpoints").exists() and not (out / "config.json").exists():
        # A run that stopped before its first checkpoint (a refusal at the first step, a crash): nothing to resume
        # and nothing to lose but its run.json, so it does not block a new start.
        existing = None
        run_file.unlink()
    same_kind = existing is not None and all(existing.get(k) == signature.get(k)
                                             for k in ("architecture", "dataset", "classes"))
    same = same_kind and existing.get("config") == signature.get("config")
    if args.resume_from_checkpoint:
        if existing is None:
            raise FileNotFoundError(
                f"--resume-from-checkpoint {args.resume_from_checkpoint}: {out} holds no classicnets run to resume. "
                f"Start without --resume-from-checkpoint."
            )
        if not same:
            what = (f"a run with another config ({_config_differences(existing['config'], signature['config'])})"
                    if same_kind else f"a different run ({_describe(existing)}, not {_describe(signature)})")
            raise ValueError(
                f"{out} holds {what}; resume it with the same architecture, dataset and model flags, or use another "
                f"--output-dir."
            )
        return
    if out.exists() and any(out.iterdir()):
        if existing is None:
            raise FileExistsError(
                f"--output-dir {out} is not empty and holds no classicnets run; refusing to write into it (or to "
                f"delete files classicnets did not write). Choose an empty or new folder."
            )
        if not args.overwrite_output_dir:
            if same:
                raise FileExistsError(
                    f"--output-dir {out} already holds this run ({_describe(existing)}). Pass "
                    f"--resume-from-checkpoint latest to continue it, --overwrite-output-dir to replace it, or choose "
                    f"another --output-dir."
                )
            what = (f"a {_describe(existing)} run with another config "
                    f"({_config_differences(existing['config'], signature['config'])})"
                    if same_kind else f"a different run ({_describe(existing)}, not {_describe(signature)})")
            raise FileExistsError(
                f"--output-dir {out} already holds {what}. Pass --overwrite-output-dir to replace it, or choose "
                f"another --output-dir."
            )
        for child in out.iterdir():  # --overwrite-output-dir: replace the previous classicnets run
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_file, json.dumps(signature, indent=2))


def split_train(n: int, validation_split: float, train_subset: int | None, seed: int):
    """Seeded indices of the training and validation parts of a training set of ``n`` examples."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(n * validation_split))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if train_subset is not None:
        train_idx = train_idx[:train_subset]
    return train_idx.sort().values, val_idx.sort().values


# Flags that change how a run is operated (logs, checkpoints, progress bar, sharing), not what it learns.
_OPERATIONAL = ("output_dir", "extra", "resume_from_checkpoint", "overwrite_output_dir", "disable_tqdm",
                "logging_steps", "save_steps", "save_total_limit", "report_to", "per_device_eval_batch_size",
                "push_to_hub", "hub_model_id", "hub_private_repo", "hub_revision", "log_gradient_norms")


def card_hyperparameters(args: TrainingArguments, num_processes: int = 1, task: str = "image-classification") -> dict:
    """The hyperparameters a reader needs to reproduce the run, for the model card's table.

    ``training_args.json`` keeps every argument; the card leaves out operational flags and settings that the
    chosen optimizer, schedule or augmentation ignores, and adds the effective batch size.
    """
    hyper = {k: v for k, v in args.to_dict().items() if k not in _OPERATIONAL}
    unused = {"adamw": ("momentum", "nesterov"), "adam": ("momentum", "nesterov"),
              "sgd": ("adam_beta1", "adam_beta2", "adam_epsilon"), "rmsprop": ("adam_beta1", "adam_beta2", "nesterov")}
    for name in unused[args.optimizer]:
        hyper.pop(name)
    if args.augment == "none":
        hyper.pop("max_shift"), hyper.pop("max_rotation")
    elif args.augment == "shift":
        hyper.pop("max_rotation")
    if task == "image-classification":
        for name in ("block_size", "tokenizer", "tokenizer_vocab_size"):
            hyper.pop(name)
    else:
        hyper.pop("augment")
        if task == "time-series-forecasting" or (args.tokenizer or DEFAULT_TOKENIZER.get(task)) != "bpe":
            hyper.pop("tokenizer_vocab_size")
    if args.max_steps > 0:
        hyper.pop("num_train_epochs")
    else:
        hyper.pop("max_steps")
    if args.early_stopping_patience is None:
        hyper.pop("early_stopping_patience"), hyper.pop("metric_for_best_model")
    if not args.init_from:
        for name in ("freeze_backbone", "backbone_lr_scale"):
            hyper.pop(name)
    hyper = {k: v for k, v in hyper.items() if v is not None}
    hyper["num_processes"] = num_processes
    hyper["total_train_batch_size"] = args.per_device_train_batch_size * args.gradient_accumulation_steps * num_processes
    return hyper


def load_initial_model(arch: str, spec, args: TrainingArguments, preset: str | None = None,
                       overrides: dict | None = None, label_names: list[str] | None = None):
    """The pretrained model named by ``args.init_from``, ready to fine-tune on the dataset ``spec``.

    Its output layer is replaced (freshly initialised) when the dataset's label set differs from the
    checkpoint's, and the trunk is frozen as ``args.freeze_backbone`` / ``args.freeze_up_to`` say.

    Returns:
        ``(model, head_replaced)``.

    Raises:
        ValueError: architecture flags given with ``--init-from`` (the checkpoint decides the architecture), a
            checkpoint of another architecture, or images of another shape than the checkpoint reads.
        FileNotFoundError, HubUnreachableError: the folder or Hub repo cannot be found or reached.
    """
    from transformers import AutoModelForImageClassification

    from ..loading import load_pretrained
    from ..transfer import freeze, replace_head

    if preset or overrides:
        given = ", ".join(([f"--preset {preset}"] if preset else []) + sorted(overrides or {}))
        raise ValueError(
            f"--init-from takes the architecture from the checkpoint; drop {given} (or train from scratch without "
            f"--init-from)."
        )
    model = load_pretrained(args.init_from, AutoModelForImageClassification, expected_model_type=f"classicnets_{arch}",
                            revision=args.init_from_revision)  # a folder, or a Hub repo downloaded to the cache
    config = model.config
    expected = (config.num_channels, *tuple(config.image_size))
    given = (spec.num_channels, *tuple(spec.image_size))
    if expected != given:
        raise ValueError(
            f"--init-from {args.init_from} reads {'x'.join(map(str, expected))} images but --dataset {spec.name} has "
            f"{'x'.join(map(str, given))} images; fine-tune it on a dataset with the same input shape, or train "
            f"from scratch."
        )
    names = [config.id2label.get(i, config.id2label.get(str(i))) for i in range(config.num_labels)]
    label_names = list(label_names or spec.label_names)
    head_replaced = names != label_names
    if head_replaced:
        replace_head(model, len(label_names), dict(enumerate(label_names)))
    if args.freeze_backbone:
        freeze(model)
    elif args.freeze_up_to:
        up_to = args.freeze_up_to
        try:
            freeze(model, up_to=int(up_to) if str(up_to).lstrip("-").isdigit() else up_to)  # a block name or a count
        except ValueError as err:
            raise ValueError(f"--freeze-up-to {up_to}: {err}") from None
    return model, head_replaced


def _transfer_section(args: TrainingArguments, base_name: str, model, head_replaced: bool, dataset: str) -> str:
    from ..transfer import trainable_summary

    summary = trainable_summary(model)
    head = (f"its output layer was replaced by a new one for the {model.config.num_labels} classes of {dataset}"
            if head_replaced else f"its output layer was kept ({dataset} has the same classes)")
    if args.freeze_backbone:
        how = "The pretrained trunk was frozen and only the output layer was trained (a linear probe on its features)."
    elif args.freeze_up_to:
        how = f"The pretrained blocks up to and including `{args.freeze_up_to}` were frozen; the rest was fine-tuned."
    else:
        how = "All layers were fine-tuned."
    if args.layer_decay is not None:
        how += (f" Discriminative learning rates: block k before the head trained at learning_rate x "
                f"{args.layer_decay:g}^k.")
    elif args.backbone_lr_scale != 1.0:
        how += f" The pretrained trunk trained at {args.backbone_lr_scale:g} x the head's learning rate."
    return (
        f"Initialised from `{base_name}`; {head}. {how} "
        f"Trainable parameters: {summary['trainable']:,} of {summary['total']:,}."
    )


def export(output_dir: str, model, processor, args: TrainingArguments, metrics: dict, history: list,
           arch: str, dataset_spec, preset: str | None, repo_id: str | None = None, head_replaced: bool = False,
           held_out_split: str = "test", facts: dict | None = None, gradient_recorder=None, card_task: str | None = None,
           write_extras=None) -> Path:
    """Writes the final model folder: every file is built in a temporary folder, then moved into place.

    ``processor`` (an image processor or a tokenizer, or ``None``) is saved beside the model so that pipelines
    load it; a language model also gets sampling defaults in ``generation_config.json``. ``write_extras(folder,
    model)`` may add pictures and card sections (autoencoders, VAEs); ``card_task`` replaces the dataset's task on
    the card.
    """
    from ..cards import write_model_card
    from ..hub import looks_like_repo_id

    out = Path(output_dir)
    tmp = out / ".export.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if dataset_spec.task == "text-generation":
            _set_generation_defaults(model)
        model.save_pretrained(tmp)
        if processor is not None:
            processor.save_pretrained(tmp)
        pictures = []
        try:
            from ..plots import plot_learning_curves

            plot_learning_curves(history, tmp / "learning_curves.png")
            pictures.append("learning_curves.png")
        except ImportError:
            warnings.warn("matplotlib is not installed (pip install 'classicnets[plots]'): no learning-curve plot.", stacklevel=2)
        if gradient_recorder is not None and gradient_recorder.history:
            gradient_recorder.save(tmp / "gradient_norms.json")
            try:
                from ..diagnostics import write_gradient_plots

                pictures += write_gradient_plots(gradient_recorder, tmp)
            except ImportError:
                pass  # matplotlib missing: warned about above
        extra_sections = {}
        if write_extras is not None:
            try:
                more, extra_sections = write_extras(tmp, model)
                pictures += more
            except ImportError:
                warnings.warn("matplotlib is not installed (pip install 'classicnets[plots]'): no pictures.", stacklevel=2)
        atomic_write_text(tmp / "metrics.json", json.dumps(metrics, indent=2))
        hyper = {k: v for k, v in args.to_dict().items() if k not in ("output_dir", "extra", "resume_from_checkpoint")}
        atomic_write_text(tmp / "training_args.json", json.dumps(hyper, indent=2))
        num_processes = metrics.get("num_processes", 1)
        prefix = f"{held_out_split}_"
        # Results only: a count such as nll_samples (the k of the NLL) is a setting, in the hyperparameters.
        card_metrics = {k.removeprefix(prefix): v for k, v in metrics.items()
                        if k.startswith(prefix) and not k.endswith("_samples")}
        dataset_name, suffix = dataset_spec.name, ""
        if args.classes:  # the card's dataset and split are those classes only
            dataset_name = f"{dataset_spec.name} (classes {', '.join(map(str, args.classes))})"
            suffix = "-classes-" + "".join(map(str, args.classes)) if all(c < 10 for c in args.classes) else "-subset"
        name = f"{preset or arch}-{dataset_spec.name}{suffix}"
        base_model, extra = None, None
        if args.init_from:
            base_model = args.init_from  # a Hub repo id goes to the card's metadata; a local folder only to its text
            base_name = args.init_from if looks_like_repo_id(args.init_from) else Path(args.init_from).name
            name = f"{preset or arch}-{Path(base_name).name}-{dataset_spec.name}{suffix}"
            extra = {"Transfer learning": _transfer_section(args, base_name, model, head_replaced, dataset_name)}
        if facts:
            extra = {**(extra or {}), "Data": _data_section(dataset_spec, held_out_split, facts)}
        if extra_sections:
            extra = {**(extra or {}), **extra_sections}
        write_model_card(
            tmp, family=arch, model_name=name, task=card_task or dataset_spec.task, dataset_name=dataset_name,
            dataset_id=dataset_spec.hub_id, dataset_split=held_out_split, metrics=card_metrics,
            hyperparameters={"architecture": arch, "preset": preset, **card_hyperparameters(args, num_processes, dataset_spec.task)},
            config=model.config.to_dict(),
            pictures=pictures, base_model=base_model, extra_sections=extra, repo_id=repo_id,
        )
        share_files(tmp)  # safetensors writes owner-only files; a model folder is meant to be shared
        # config.json last: a folder is only loadable once its config is in place.
        names = sorted(os.listdir(tmp), key=lambda f: f == "config.json")
        for name_ in names:
            os.replace(tmp / name_, out / name_)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _set_generation_defaults(model) -> None:
    """Sampling settings a language model's pipeline starts from (callers may override every one of them)."""
    config = model.generation_config
    config.do_sample, config.temperature, config.top_k, config.max_new_tokens = True, 0.8, 0, 200
    config.pad_token_id = model.config.pad_token_id
    config.bos_token_id, config.eos_token_id = model.config.bos_token_id, model.config.eos_token_id


def _data_section(spec, held_out_split: str, facts: dict) -> str:
    what = {
        "text-generation": "Trained on random windows of the training text (the state starts at zero in each); "
                           f"evaluated on the whole `{held_out_split}` text, read in long pieces with the state "
                           "carried, so every character is predicted with its full context. `loss` is the mean "
                           "negative log-likelihood per token in nats (per character with the char tokenizer).",
        "text-classification": "Texts are tokenized with the saved tokenizer (which starts every text with `<bos>`) "
                               "and truncated to `block_size` tokens; precision, recall and F1 are those of the "
                               f"positive class `{getattr(spec, 'label_names', ('', ''))[-1]}`.",
        "time-series-forecasting": "The model reads the last `context_length` values and predicts the next "
                                   "`prediction_length`; it standardises its input with the training part's mean "
                                   "and standard deviation (`input_mean`, `input_std` in its config) and returns "
                                   f"values in the series' units. MAE and RMSE are one-step-ahead errors on the "
                                   f"`{held_out_split}` part (rolling origin), next to the naive forecast's (the last "
                                   "observed value).",
    }[spec.task]
    rows = "\n".join(f"| {k} | {v:,} |" if isinstance(v, int) else f"| {k} | {v} |" for k, v in facts.items())
    return f"{what}\n\n| setting | value |\n|---|---|\n{rows}"


def run_training(arch: str, dataset: str, args: TrainingArguments, preset: str | None = None,
                 config_overrides: dict | None = None, data_source: str = "auto", callbacks=()) -> dict:
    """Trains ``arch`` on the named dataset and saves the model folder; returns the final metrics.

    Image datasets train ``mlp`` or ``cnn`` classifiers, ``autoencoder`` or ``vae`` representation models (see
    :mod:`classicnets.training.representation`) and ``gan`` generators (their own two-optimizer loop, see
    :mod:`classicnets.training.gan_runner`); text and time-series datasets train ``rnn`` models (a language model,
    a text classifier or a forecaster, as the dataset's task says; see :mod:`classicnets.training.sequence`).

    Example:
        >>> args = TrainingArguments(output_dir="runs/lenet5", num_train_epochs=1)
        >>> metrics = run_training("cnn", "mnist", args, preset="lenet5")
        >>> metrics["test_accuracy"] > 0.98
        True
    """
    from ..data import DATASETS

    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {', '.join(sorted(DATASETS))}.")
    if arch not in ARCHITECTURES or arch not in TRAINABLE:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of {', '.join(sorted(TRAINABLE))}.")
    spec = DATASETS[dataset]
    if spec.task not in TRAINABLE[arch]:
        fits = sorted(a for a, tasks in TRAINABLE.items() if spec.task in tasks)
        names = sorted(n for n, s in DATASETS.items() if s.task in TRAINABLE[arch])
        raise ValueError(f"{dataset} is a {spec.task} dataset, which {arch} does not train; use {' or '.join(fits)} "
                         f"for it, or give {arch} one of {', '.join(names)}.")
    if arch == "gan":  # two networks, two optimizers, its own loop, metrics and folder (see gan_runner.py)
        from .gan_runner import run_gan_training

        return run_gan_training(dataset, args, preset, config_overrides, data_source, **args.extra)
    repo_id = hub_repo_id(args) if args.push_to_hub else None
    if args.push_to_hub:  # fail before training, not after it
        from ..hub import check_repo_id, hub_endpoint, require_reachable, resolve_token

        check_repo_id(repo_id)
        resolve_token(args.hub_token)
        require_reachable(hub_endpoint(), f"push the trained model to {repo_id}", " Nothing was trained.")
    from accelerate.utils import set_seed

    set_seed(args.seed)
    if arch != "vae" and (args.binarize is not None or args.importance_samples is not None):
        raise ValueError(f"--binarize and --importance-samples are for vae (binarized images, importance-sampled "
                         f"likelihood); {arch} does not use them. Drop them.")
    if arch in ("autoencoder", "vae"):
        from .representation import build_representation_run

        run = build_representation_run(arch, spec, args, preset, config_overrides, data_source)
    elif spec.task == "image-classification":
        run = _image_run(arch, spec, args, preset, config_overrides, data_source)
    else:
        run = _sequence_run(arch, spec, args, preset, config_overrides, data_source)
    watched = args.metric_for_best_model.removeprefix("eval_")
    if args.early_stopping_patience is not None and watched not in run.task.greater_is_better:
        raise ValueError(f"--metric-for-best-model {args.metric_for_best_model}: {spec.task} reports "
                         f"{', '.join('eval_' + k for k in run.task.greater_is_better)}; watch one of those.")
    model = run.model
    signature = _run_signature(arch, dataset, model.config, args.classes)
    recorder = None
    if args.log_gradient_norms:
        recorder = _gradient_recorder(run, args)
        callbacks = [*callbacks, recorder]

    # Build the Trainer (and so the Accelerator) first: output-folder checks run on the main process only.
    trainer = Trainer(model, args, run.task, run.train_dataset, eval_dataset=run.eval_dataset or run.test_dataset,
                      test_dataset=run.test_dataset, callbacks=callbacks, test_prefix=run.held_out_split)
    acc = trainer.accelerator
    prepare_output_dir_on_main(acc, args.output_dir, signature, args)
    result = trainer.train()
    metrics = dict(result.metrics)
    if run.eval_dataset is None:  # periodic evaluation ran on the held-out split: report it once, under its name
        metrics = {k: v for k, v in metrics.items() if not k.startswith("eval_")}
    metrics["num_processes"] = acc.num_processes
    if acc.is_main_process:
        unwrapped = acc.unwrap_model(trainer.model)
        unwrapped = getattr(unwrapped, "_orig_mod", unwrapped)  # torch.compile wrapper
        export(args.output_dir, unwrapped, run.processor, args, metrics, result.history, arch, spec,
               preset, repo_id=card_target(args, repo_id), head_replaced=run.head_replaced,
               held_out_split=run.held_out_split, facts=run.facts, gradient_recorder=recorder,
               card_task=run.card_task, write_extras=run.write_extras)
    acc.wait_for_everyone()
    if args.push_to_hub and acc.is_main_process:
        from ..hub import push_to_hub

        try:
            metrics["hub_commit_url"] = push_to_hub(args.output_dir, repo_id, token=args.hub_token,
                                                    private=args.hub_private_repo, revision=args.hub_revision)
        except Exception as err:
            raise RuntimeError(
                f"Training finished and the model is saved in {args.output_dir}, but the push to {repo_id} failed: "
                f"{err} Push it later with `classicnets push {args.output_dir} --repo-id {repo_id}`."
            ) from err
    return metrics


def _gradient_recorder(run, args: TrainingArguments):
    """A gradient-norm recorder for ``--log-gradient-norms N``; a recurrent net also gets a fixed batch (8 examples of
    the held-out data) on which the gradient reaching every time step is measured at the first and last update."""
    from ..diagnostics import GradientNormRecorder

    inputs = None
    if getattr(run.model.config, "model_type", "") == "classicnets_rnn":
        dataset = run.eval_dataset or run.test_dataset
        batch = dataset.__getitems__(list(range(min(8, len(dataset)))))
        inputs = run.task.model_inputs(batch, train=False, generator=None, device="cpu")
        if "input_ids" in inputs and inputs["input_ids"].shape[1] > 257:  # stateful LM pieces: one window's worth
            inputs = {k: v[:, :257] for k, v in inputs.items()}
    return GradientNormRecorder(every=args.log_gradient_norms, time_step_inputs=inputs)


def _image_run(arch, spec, args, preset, config_overrides, data_source):
    """An image classifier and its datasets (the MNIST-style datasets)."""
    from ..data import check_classes, image_tensors, load_dataset, make_image_processor, select_classes
    if args.block_size or args.tokenizer:
        raise ValueError(f"--block-size and --tokenizer are for text and time series; {spec.name} is an image "
                         f"dataset. Drop them.")
    classes = check_classes(spec, args.classes)
    label_names = [spec.label_names[c] for c in classes] if classes else list(spec.label_names)
    head_replaced = False
    if args.init_from:
        model, head_replaced = load_initial_model(arch, spec, args, preset, config_overrides, label_names)
    else:
        model = IMAGE_CLASSIFIERS[arch](build_config(arch, spec, preset, config_overrides, label_names))
    task = ImageClassificationTask(spec.mean, spec.std, augment=args.augment, max_shift=args.max_shift,
                                   max_rotation=args.max_rotation)
    splits = load_dataset(spec.name, source=data_source)
    images, labels = select_classes(*image_tensors(splits["train"]), classes)
    train_idx, val_idx = split_train(len(labels), args.validation_split, args.train_subset, args.seed)
    test_images, test_labels = select_classes(*image_tensors(splits["test"]), classes)
    if args.eval_subset:
        test_images, test_labels = test_images[: args.eval_subset], test_labels[: args.eval_subset]
    return TrainingRun(model, task, task.dataset(images[train_idx], labels[train_idx]),
                       task.dataset(images[val_idx], labels[val_idx]) if len(val_idx) else None,
                       task.dataset(test_images, test_labels), "test", make_image_processor(spec),
                       head_replaced=head_replaced)


def _sequence_run(arch, spec, args, preset, config_overrides, data_source):
    """A recurrent model for a text or time-series dataset, with its tokenizer and datasets."""
    from .sequence import build_sequence_run

    if preset:
        raise ValueError(f"--preset {preset}: rnn has no presets; set its size with --cell-type, --hidden-size, "
                         f"--num-layers or --config-overrides.")
    if args.init_from:
        raise ValueError("--init-from fine-tunes image classifiers from the command line; to reuse a recurrent model "
                         "use classicnets.transfer (replace_head, freeze) in Python.")
    return build_sequence_run(spec, args, config_overrides, data_source)


def card_target(args: TrainingArguments, repo_id: str | None) -> str | None:
    """What the card's usage snippets load: the Hub repo (when its full id is known), else the output folder as
    given when it is relative (it works from where training ran), else ``None`` (the model name)."""
    if repo_id and "/" in repo_id:
        return repo_id  # a push rewrites a bare name to the namespaced id it was created under
    return None if os.path.isabs(args.output_dir) else Path(args.output_dir).as_posix()


def hub_repo_id(args: TrainingArguments) -> str:
    """``--hub-model-id``, or the name of ``--output-dir`` (the repo then goes to the token owner's namespace)."""
    return args.hub_model_id or Path(args.output_dir).resolve().name


__all__ = ["DATASET_FIELDS", "build_config", "hub_repo_id", "load_initial_model", "model_fields", "card_hyperparameters", "export", "prepare_output_dir", "prepare_output_dir_on_main", "run_training", "split_train", "PRESETS"]
