"""Training hyperparameters: one dataclass shared by the Python API and the CLI.

Names follow ``transformers.TrainingArguments`` where a counterpart exists (``output_dir``,
``per_device_train_batch_size``, ``gradient_accumulation_steps``, ``max_grad_norm``, ``lr_scheduler_type``...),
so that users of transformers and accelerate find what they expect.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

OPTIMIZERS = ("adamw", "adam", "sgd", "rmsprop")
SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine", "one_cycle")
MIXED_PRECISION = ("no", "bf16", "fp16")
AUGMENTATIONS = ("none", "shift", "shift_rotate")
REPORT_TO = ("none", "tensorboard")
TOKENIZERS = ("char", "bpe")
BINARIZATIONS = ("dynamic", "fixed", "none")  # variational autoencoders on grey-level images
# Metrics that early stopping may watch; the task must report the one chosen (checked when training starts).
BEST_MODEL_METRICS = ("eval_loss", "eval_accuracy", "eval_f1", "eval_mae", "eval_rmse", "eval_perplexity")
HIGHER_IS_BETTER = ("eval_accuracy", "eval_f1")


@dataclass
class TrainingArguments:
    """Everything that decides how a model is trained.

    Args:
        output_dir: Folder for the final model, its card, plots and the ``checkpoints/`` sub-folder.
        overwrite_output_dir: Replace a folder that already holds a run.
        seed: Seeds model initialisation, data order, dropout and augmentation.
        num_train_epochs: Passes over the training set (ignored when ``max_steps`` > 0).
        max_steps: Number of optimizer updates; overrides ``num_train_epochs`` when > 0.
        per_device_train_batch_size: Examples per process and forward pass.
        per_device_eval_batch_size: Examples per process in evaluation.
        learning_rate: Peak learning rate.
        optimizer: adamw (decoupled weight decay, Loshchilov & Hutter 2019), adam, sgd (with ``momentum``,
            ``nesterov``) or rmsprop.
        weight_decay: Decoupled weight decay for adamw; the classic L2 ``weight_decay`` term for the others.
            Biases and normalization parameters are never decayed.
        momentum, nesterov: SGD/RMSprop momentum.
        adam_beta1, adam_beta2, adam_epsilon: Adam(W) constants.
        lr_scheduler_type: constant, constant_with_warmup, linear, cosine or one_cycle (Smith & Topin 2017).
        warmup_ratio: Fraction of the updates spent warming up (linear/cosine/constant_with_warmup; one_cycle
            uses it as its rising phase, 0.3 when 0).
        gradient_accumulation_steps: Batches whose gradients are summed before one optimizer update.
        max_grad_norm: Clip the global gradient norm to this value (0 disables clipping).
        mixed_precision: no, bf16 or fp16 (fp16 needs a GPU; bf16 on a CPU without bf16 units is slow and warned).
        l1_lambda: Weight of the L1 penalty ``lambda * sum |w|`` over weight matrices and kernels.
        l2_lambda: Weight of the explicit L2 penalty ``lambda / 2 * sum w^2`` added to the loss.
        label_smoothing: Cross-entropy label smoothing ``epsilon`` (Szegedy et al. 2016).
        augment: none, shift (random translations up to ``max_shift`` pixels) or shift_rotate (also random
            rotations up to ``max_rotation`` degrees), applied on the fly to training batches only.
        validation_split: Fraction of the training set held out (seeded) for validation and early stopping.
        early_stopping_patience: Stop after this many evaluations without improving ``metric_for_best_model``
            on the validation split; the best weights are restored at the end. ``None`` disables it.
        metric_for_best_model: ``eval_loss`` (lower is better), ``eval_accuracy`` or ``eval_f1`` (higher is better),
            ``eval_mae``, ``eval_rmse`` (forecasting) or ``eval_perplexity`` (language models).
        eval_steps: Evaluate every N updates (``None``: at the end of every epoch).
        save_steps: Write a resumable checkpoint every N updates (``None``: at the end of every epoch).
        save_total_limit: Keep only the newest N checkpoints.
        logging_steps: Log the training loss every N updates.
        resume_from_checkpoint: ``"latest"`` or a checkpoint folder to continue from.
        report_to: none or tensorboard (logs under ``<output_dir>/logs``).
        block_size: Recurrent nets: tokens per training window of a language model (default 128), tokens kept per
            text of a classifier (default 256), or past values a forecaster reads (default 132 = 11 years of months).
        tokenizer: Recurrent nets on text: ``char`` (one token per character; the language-model default) or
            ``bpe`` (byte-level BPE trained on the training texts; the classifier default).
        tokenizer_vocab_size: Vocabulary size of a ``bpe`` tokenizer.
        classes: Keep only these label ids of the dataset (train and test), relabelled ``0..k-1`` in this order;
            e.g. ``(0, 1, 2, 3, 4)`` and ``(5, 6, 7, 8, 9)`` split MNIST into two tasks for transfer experiments.
        train_subset: Train on the first N examples of the (shuffled with ``seed``) training set; for quick runs.
        eval_subset: Evaluate on the first N test examples.
        log_gradient_norms: Every N updates, record the gradient norm of every layer (before clipping) and, for
            recurrent nets, the norm of the gradient reaching each time step's state on a fixed batch at the start
            and the end; written to ``gradient_norms.json`` and PNG plots in the output folder, shown in the card.
        binarize: Variational autoencoders with a Bernoulli decoder: ``dynamic`` (the default: each training image is
            binarized anew, ``Bernoulli`` of its intensities, every time it is seen), ``fixed`` (the training set is
            binarized once with ``seed``) or ``none`` (grey levels as targets: not a likelihood of discrete data).
            Held-out images are always binarized once with a fixed seed, unless ``none``.
        importance_samples: Variational autoencoders: samples ``k`` of the importance-sampled test negative
            log-likelihood measured at the end of training (default 100; 0 skips it).
        torch_compile: Compile the model with ``torch.compile`` (opt-in: helps MLPs, slows LeNet on CPU).
        disable_tqdm: Hide the progress bar.
        init_from: Start from a pretrained checkpoint (a local folder or a Hub repo id) of the same architecture
            instead of random weights: its trunk is kept, and its output layer is replaced when the dataset's
            label set differs (transfer learning).
        init_from_revision: The branch, tag or commit of an ``init_from`` Hub repo.
        freeze_backbone: Train only the output layer of the ``init_from`` model (a linear probe on its features).
        freeze_up_to: Freeze the blocks of the ``init_from`` trunk from the input up to and including this one
            (e.g. ``cnn.stages.1``); the later blocks and the head are fine-tuned.
        backbone_lr_scale: Learning rate of the pretrained trunk relative to ``learning_rate`` (discriminative
            fine-tuning; 1.0 trains all layers alike).
        layer_decay: Instead of one scale, block ``k`` counted back from the head trains at
            ``learning_rate * layer_decay ** k`` (Howard & Ruder 2018).
        push_to_hub: Push the finished model folder to the Hub repo ``hub_model_id``.
        hub_model_id: ``NAMESPACE/NAME`` of the repo (default: the name of ``output_dir`` in the token owner's
            namespace).
        hub_token: The write token (default: ``HF_TOKEN`` or ``hf auth login``). Never written to any file.
        hub_private_repo: Create the repo as private.
        hub_revision: The branch to push to (created when missing).
    """

    output_dir: str
    overwrite_output_dir: bool = False
    seed: int = 42
    num_train_epochs: float = 3.0
    max_steps: int = -1
    per_device_train_batch_size: int = 128
    per_device_eval_batch_size: int = 1000
    learning_rate: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    lr_scheduler_type: str = "linear"
    warmup_ratio: float = 0.0
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 0.0
    mixed_precision: str = "no"
    l1_lambda: float = 0.0
    l2_lambda: float = 0.0
    label_smoothing: float = 0.0
    augment: str = "none"
    max_shift: int = 2
    max_rotation: float = 10.0
    validation_split: float = 0.0
    early_stopping_patience: int | None = None
    metric_for_best_model: str = "eval_loss"
    eval_steps: int | None = None
    save_steps: int | None = None
    save_total_limit: int = 2
    logging_steps: int = 50
    resume_from_checkpoint: str | None = None
    report_to: str = "none"
    block_size: int | None = None
    tokenizer: str | None = None
    tokenizer_vocab_size: int = 8000
    classes: tuple[int, ...] | None = None
    train_subset: int | None = None
    eval_subset: int | None = None
    log_gradient_norms: int | None = None
    binarize: str | None = None
    importance_samples: int | None = None
    torch_compile: bool = False
    disable_tqdm: bool = False
    init_from: str | None = None
    init_from_revision: str | None = None
    freeze_backbone: bool = False
    freeze_up_to: str | None = None
    backbone_lr_scale: float = 1.0
    layer_decay: float | None = None
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_token: str | None = field(default=None, repr=False)
    hub_private_repo: bool | None = None
    hub_revision: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raises ``ValueError`` naming the argument, its value and what is allowed."""

        def choice(name, allowed):
            value = getattr(self, name)
            if value not in allowed:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag}={value!r} is not supported; choose one of {', '.join(allowed)}.")

        choice("optimizer", OPTIMIZERS)
        choice("lr_scheduler_type", SCHEDULERS)
        choice("mixed_precision", MIXED_PRECISION)
        choice("augment", AUGMENTATIONS)
        choice("report_to", REPORT_TO)
        choice("metric_for_best_model", BEST_MODEL_METRICS)
        if self.tokenizer is not None:
            choice("tokenizer", TOKENIZERS)
        if self.binarize is not None:
            choice("binarize", BINARIZATIONS)
        if self.importance_samples is not None and (isinstance(self.importance_samples, bool) or not isinstance(
                self.importance_samples, int) or self.importance_samples < 0):
            raise ValueError(f"--importance-samples must be an int >= 0 (0: no NLL estimate), got "
                             f"{self.importance_samples!r}.")
        positive = {
            "per_device_train_batch_size": self.per_device_train_batch_size,
            "per_device_eval_batch_size": self.per_device_eval_batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "learning_rate": self.learning_rate,
            "logging_steps": self.logging_steps,
            "save_total_limit": self.save_total_limit,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {value!r}.")
        if self.tokenizer_vocab_size < 260:
            raise ValueError(f"--tokenizer-vocab-size must be >= 260 (4 special tokens + 256 bytes), got "
                             f"{self.tokenizer_vocab_size!r}.")
        for name in ("eval_steps", "save_steps", "train_subset", "eval_subset", "early_stopping_patience",
                     "block_size", "log_gradient_norms"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0 when given, got {value!r}.")
        nonneg = ("weight_decay", "max_grad_norm", "l1_lambda", "l2_lambda", "warmup_ratio", "max_shift", "max_rotation")
        for name in nonneg:
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)!r}.")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise ValueError("Give a positive --epochs or --max-steps.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing!r}.")
        if not 0.0 <= self.validation_split < 1.0:
            raise ValueError(f"--validation-split must be in [0, 1), got {self.validation_split!r}.")
        if not self.warmup_ratio < 1.0:
            raise ValueError(f"--warmup-ratio must be < 1, got {self.warmup_ratio!r}.")
        if (self.freeze_backbone or self.freeze_up_to or self.backbone_lr_scale != 1.0 or self.layer_decay) \
                and not self.init_from:
            raise ValueError(
                "--freeze-backbone, --freeze-up-to, --backbone-lr-scale and --layer-decay fine-tune a pretrained model: "
                "add --init-from FOLDER_OR_REPO_ID."
            )
        if self.freeze_backbone and self.freeze_up_to:
            raise ValueError("Give either --freeze-backbone (the whole trunk) or --freeze-up-to BLOCK, not both.")
        if self.freeze_backbone and (self.backbone_lr_scale != 1.0 or self.layer_decay is not None):
            raise ValueError("--freeze-backbone keeps the trunk fixed, so --backbone-lr-scale / --layer-decay would "
                             "have no effect; drop them (or freeze less with --freeze-up-to BLOCK).")
        if self.init_from_revision and not self.init_from:
            raise ValueError("--init-from-revision needs --init-from REPO_ID.")
        if not self.backbone_lr_scale > 0:
            raise ValueError(
                f"--backbone-lr-scale must be > 0, got {self.backbone_lr_scale!r}; to keep the trunk fixed, use "
                f"--freeze-backbone."
            )
        if self.layer_decay is not None and not 0 < self.layer_decay <= 1:
            raise ValueError(f"--layer-decay must be in (0, 1], got {self.layer_decay!r}.")
        if self.layer_decay is not None and self.backbone_lr_scale != 1.0:
            raise ValueError("Give either --backbone-lr-scale or --layer-decay, not both.")
        if not self.push_to_hub and (self.hub_model_id or self.hub_revision or self.hub_private_repo):
            raise ValueError("--hub-model-id, --hub-revision and --hub-private-repo need --push-to-hub.")
        if self.early_stopping_patience is not None and self.validation_split == 0.0:
            raise ValueError(
                "--early-stopping-patience needs a validation split to watch: add e.g. --validation-split 0.1 "
                "(early stopping on the test set would leak it into model selection)."
            )

    def to_dict(self) -> dict:
        """Every argument except ``hub_token``, which must never reach a file, a log or a model card."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "hub_token"}


__all__ = ["TrainingArguments", "BINARIZATIONS", "BEST_MODEL_METRICS", "HIGHER_IS_BETTER", "TOKENIZERS", "OPTIMIZERS", "SCHEDULERS", "MIXED_PRECISION", "AUGMENTATIONS", "REPORT_TO"]
