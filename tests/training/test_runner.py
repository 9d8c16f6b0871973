"""What `classicnets train` writes beside the weights: the card's hyperparameter table."""

import pytest

from classicnets.training import TrainingArguments
from classicnets.training.runner import card_hyperparameters


def test_card_table_keeps_what_reproduces_the_run():
    args = TrainingArguments(output_dir="runs/x", optimizer="adamw", augment="shift", max_shift=2, num_train_epochs=8,
                             gradient_accumulation_steps=2, per_device_train_batch_size=64, disable_tqdm=True)
    table = card_hyperparameters(args, num_processes=2)
    # 64 examples x 2 accumulated batches x 2 processes per optimizer update.
    assert table["total_train_batch_size"] == 256 and table["num_processes"] == 2
    assert table["num_train_epochs"] == 8 and table["max_shift"] == 2 and table["adam_beta2"] == 0.999
    # Operational flags, and settings AdamW / shift-only augmentation / an epoch budget ignore, are left out.
    for absent in ("output_dir", "disable_tqdm", "logging_steps", "save_total_limit", "momentum", "nesterov",
                   "max_rotation", "max_steps", "early_stopping_patience", "train_subset"):
        assert absent not in table, absent


@pytest.mark.parametrize(
    ("optimizer", "kept", "dropped"),
    [("sgd", ("momentum", "nesterov"), ("adam_beta1", "adam_beta2", "adam_epsilon")),
     ("rmsprop", ("momentum", "adam_epsilon"), ("adam_beta1", "nesterov")),
     ("adam", ("adam_beta1", "adam_epsilon"), ("momentum", "nesterov"))],
)
def test_card_table_follows_the_optimizer(optimizer, kept, dropped):
    table = card_hyperparameters(TrainingArguments(output_dir="x", optimizer=optimizer, max_steps=10))
    assert all(k in table for k in kept) and not any(k in table for k in dropped)
    assert table["max_steps"] == 10 and "num_train_epochs" not in table
