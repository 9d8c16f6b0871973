"""The Accelerate loop on real data: learning, bit-identical resume, early stopping and refusals."""

import json

import pytest
import torch
from safetensors.torch import load_file

from classicnets import CNNConfig, CNNForImageClassification, MLPConfig, MLPForImageClassification
from classicnets.data import DATASETS, image_tensors, load_dataset
from classicnets.training import ImageClassificationTask, Trainer, TrainerCallback, TrainingArguments
from classicnets.training.runner import split_train


@pytest.fixture(scope="module")
def digits():
    spec = DATASETS["digits"]
    splits = load_dataset("digits", source="offline")
    return spec, image_tensors(splits["train"]), image_tensors(splits["test"])


def digits_trainer(digits, output_dir, callbacks=(), augment="shift", **kw):
    spec, (x, y), (xt, yt) = digits
    task = ImageClassificationTask(spec.mean, spec.std, augment=augment, max_shift=1)
    torch.manual_seed(0)
    model = MLPForImageClassification(MLPConfig(image_size=8, hidden_sizes=(64,), hidden_dropout_prob=0.2,
                                                num_labels=10))
    defaults = dict(output_dir=str(output_dir), num_train_epochs=3, per_device_train_batch_size=32,
                    learning_rate=3e-3, lr_scheduler_type="one_cycle", disable_tqdm=True, seed=7)
    defaults.update(kw)
    args = TrainingArguments(**defaults)
    return Trainer(model, args, task, task.dataset(x, y), task.dataset(xt, yt), task.dataset(xt, yt),
                   callbacks=callbacks), model


class Interrupt(TrainerCallback):
    """Simulates a crash right after update ``at`` (after that update's checkpoint was written)."""

    def __init__(self, at):
        self.at = at

    def on_step_end(self, trainer, state):
        if state["global_step"] == self.at:
            raise KeyboardInterrupt


def test_mlp_learns_digits(digits, tmp_path):
    trainer, _ = digits_trainer(digits, tmp_path, augment="none", num_train_epochs=20)
    metrics = trainer.train().metrics
    # A 64-unit MLP on the 450 held-out 8x8 digits; a linear model gets ~0.95, chance is 0.10.
    assert metrics["test_accuracy"] >= 0.975, metrics


def test_resume_mid_epoch_is_bit_identical(digits, tmp_path):
    # Dropout, augmentation, gradient accumulation and one-cycle all draw state that must be restored.
    kw = dict(save_steps=10, gradient_accumulation_steps=2, num_train_epochs=2)
    full, model_full = digits_trainer(digits, tmp_path / "full", **kw)
    full.train()
    updates_per_epoch = -(-len(full.train_dataset) // 32 // 2)  # 43 batches -> 22 updates
    stop_at = 30
    assert stop_at % 10 == 0 and stop_at % updates_per_epoch != 0  # mid-epoch, on a checkpoint
    crashed, _ = digits_trainer(digits, tmp_path / "resumed", callbacks=[Interrupt(stop_at)], **kw)
    with pytest.raises(KeyboardInterrupt):
        crashed.train()
    state = json.loads((tmp_path / "resumed" / "checkpoints" / f"checkpoint-{stop_at}" / "trainer_state.json").read_text())
    assert state["global_step"] == stop_at and state["batch_in_epoch"] > 0
    resumed, model_resumed = digits_trainer(digits, tmp_path / "resumed", resume_from_checkpoint="latest", **kw)
    resumed.train()
    a, b = model_full.state_dict(), model_resumed.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The saved final checkpoints agree too (same position, same weights).
    fa = load_file(str(tmp_path / "full" / "checkpoints" / "checkpoint-44" / "model.safetensors"))
    fb = load_file(str(tmp_path / "resumed" / "checkpoints" / "checkpoint-44" / "model.safetensors"))
    assert all(torch.equal(fa[k], fb[k]) for k in fa)


def test_checkpoints_are_pruned_and_safe_to_load(digits, tmp_path):
    trainer, _ = digits_trainer(digits, tmp_path, save_steps=5, save_total_limit=2, num_train_epochs=1)
    trainer.train()
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["checkpoint-40", "checkpoint-43"]
    ckpt = tmp_path / "checkpoints" / "checkpoint-43"
    assert not list(tmp_path.glob("checkpoints/.*"))  # no temporary folders left behind
    opt = torch.load(ckpt / "optimizer.pt", weights_only=True)  # no arbitrary objects inside
    assert set(opt) == {"optimizer", "scheduler"}
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "model.safetensors", "optimizer.pt", "rng_state_0.safetensors", "trainer_state.json"]


def test_corrupted_checkpoint_is_refused_with_a_fix(digits, tmp_path):
    trainer, _ = digits_trainer(digits, tmp_path, save_steps=10, num_train_epochs=1)
    trainer.train()
    weights = tmp_path / "checkpoints" / "checkpoint-43" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    again, _ = digits_trainer(digits, tmp_path, save_steps=10, num_train_epochs=1, resume_from_checkpoint="latest")
    with pytest.raises(ValueError, match="checkpoint-43.*corrupted.*Delete that folder"):
        again.train()


def test_resume_latest_without_checkpoints_says_what_to_do(digits, tmp_path):
    trainer, _ = digits_trainer(digits, tmp_path, resume_from_checkpoint="latest")
    with pytest.raises(FileNotFoundError, match="no checkpoint found.*without --resume-from-checkpoint"):
        trainer.train()


def test_early_stopping_stops_and_restores_the_best_weights(digits, tmp_path):
    spec, (x, y), (xt, yt) = digits
    train_idx, val_idx = split_train(len(y), 0.3, None, seed=0)
    task = ImageClassificationTask(spec.mean, spec.std)
    torch.manual_seed(0)
    model = MLPForImageClassification(MLPConfig(image_size=8, hidden_sizes=(256, 256), num_labels=10))
    # A constant, large learning rate over many epochs overfits the small training part: validation loss
    # rises again and early stopping must fire.
    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=60, learning_rate=3e-3,
                             lr_scheduler_type="constant", validation_split=0.3, early_stopping_patience=3,
                             per_device_train_batch_size=32, disable_tqdm=True, train_subset=300)
    trainer = Trainer(model, args, task, task.dataset(x[train_idx[:300]], y[train_idx[:300]]),
                      task.dataset(x[val_idx], y[val_idx]), task.dataset(xt, yt))
    out = trainer.train()
    evals = [h for h in out.history if "eval_loss" in h]
    assert out.metrics["stopped_early"] is True
    assert out.global_step < 60 * 10
    best = min(evals, key=lambda h: h["eval_loss"])
    assert evals[-1]["step"] - best["step"] == 3 * 10  # patience 3 evaluations, 10 updates per epoch
    # The returned model carries the best weights: its validation loss is the best one recorded.
    assert out.metrics["eval_loss"] == pytest.approx(best["eval_loss"], rel=1e-9)


def test_final_weights_are_evaluated_and_recorded(digits, tmp_path):
    # 1347 examples / 32 = 43 batches: the run ends on the last batch of epoch 2, where the loop stops before its
    # epoch-end hook. The final weights must still be evaluated, and that evaluation is the one reported.
    trainer, _ = digits_trainer(digits, tmp_path, augment="none", num_train_epochs=2)
    out = trainer.train()
    evals = [h for h in out.history if "eval_accuracy" in h]
    assert [h["step"] for h in evals] == [43, 86]
    assert evals[-1]["eval_accuracy"] == out.metrics["eval_accuracy"]
    saved = json.loads((tmp_path / "checkpoints" / "checkpoint-86" / "trainer_state.json").read_text())
    assert [h["step"] for h in saved["history"] if "eval_accuracy" in h] == [43, 86]


class StopAt(TrainerCallback):
    def __init__(self, accuracy):
        self.accuracy = accuracy

    def on_evaluate(self, trainer, state, metrics):
        if metrics["eval_accuracy"] >= self.accuracy:
            trainer.should_training_stop = True


def test_a_callback_can_end_training(digits, tmp_path):
    # Stop at the first evaluation that reaches 90%: a 64-unit MLP gets there within a few epochs of 20.
    trainer, _ = digits_trainer(digits, tmp_path, augment="none", num_train_epochs=20, callbacks=[StopAt(0.9)])
    out = trainer.train()
    evals = [h for h in out.history if "eval_accuracy" in h]
    assert evals[-1]["eval_accuracy"] >= 0.9 > max(h["eval_accuracy"] for h in evals[:-1])
    assert out.global_step == evals[-1]["step"] < 20 * 43
    assert out.metrics["stopped_early"] is False  # not early stopping: nothing is restored
    assert (tmp_path / "checkpoints" / f"checkpoint-{out.global_step}").is_dir()


def test_fp16_on_cpu_is_refused(digits, tmp_path):
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        digits_trainer(digits, tmp_path, mixed_precision="fp16")


@pytest.mark.parametrize("has_bf16", [False, True])
def test_bf16_on_cpu_is_warned_about_only_without_bf16_units(monkeypatch, caplog, has_bf16):
    # The check itself: Accelerate's state is process-wide, so a bf16 Accelerator cannot follow an fp32 one here.
    from classicnets.training import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "cpu_has_bf16", lambda: has_bf16)
    with caplog.at_level("WARNING", logger=trainer_module.__name__):
        trainer_module.check_precision("cpu", "bf16")
        trainer_module.check_precision("cpu", "no")
    warned = [r for r in caplog.records if "no bf16 units" in r.getMessage()]
    assert len(warned) == (0 if has_bf16 else 1)


def test_launcher_duplicates_are_refused(digits, tmp_path, monkeypatch):
    # What plain `accelerate launch --multi_gpu --num_processes 2` gives on a CPU machine: WORLD_SIZE=2 but
    # each process alone.
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="(?s)independent duplicates.*ACCELERATE_USE_CPU=1"):
        digits_trainer(digits, tmp_path)


@pytest.mark.slow
def test_lenet5_learns_an_mnist_subset(tmp_path):
    spec = DATASETS["mnist"]
    splits = load_dataset("mnist", source="offline")
    x, y = image_tensors(splits["train"])
    xt, yt = image_tensors(splits["test"])
    task = ImageClassificationTask(spec.mean, spec.std)
    torch.manual_seed(0)
    model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, learning_rate=3e-3,
                             lr_scheduler_type="one_cycle", disable_tqdm=True, seed=0)
    trainer = Trainer(model, args, task, task.dataset(x[:30000], y[:30000]), None, task.dataset(xt, yt))
    metrics = trainer.train().metrics
    # Half of the training set, two epochs (470 updates): LeNet-5 passes 97.5% on the 10k test set (chance: 10%).
    assert metrics["test_accuracy"] >= 0.975, metrics
