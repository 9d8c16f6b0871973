"""Training: one Accelerate loop for every task, its arguments, checkpoints and regularization."""

from .arguments import TrainingArguments
from .checkpointing import list_checkpoints, resolve_checkpoint
from .regularization import norm_penalty, parameter_groups
from .runner import build_config, run_training
from .tasks import ImageClassificationTask, ReconstructionTask, TensorBatchDataset, VAETask
from .trainer import Trainer, TrainerCallback, TrainOutput

__all__ = [
    "ImageClassificationTask",
    "ReconstructionTask",
    "TensorBatchDataset",
    "Trainer",
    "TrainerCallback",
    "TrainOutput",
    "TrainingArguments",
    "VAETask",
    "build_config",
    "list_checkpoints",
    "norm_penalty",
    "parameter_groups",
    "resolve_checkpoint",
    "run_training",
]
