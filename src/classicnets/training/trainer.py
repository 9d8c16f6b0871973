"""The one Accelerate training loop that serves every task.

The same code runs on one CPU, on several CPU processes (``ACCELERATE_USE_CPU=1 accelerate launch
--multi_gpu --num_processes 2 ...``) and on GPUs. It seeds everything and uses Accelerate's seedable sampler,
so a run resumed from a checkpoint sees exactly the batches (and augmentations and dropout masks) an
uninterrupted run would; it accumulates gradients, clips them, evaluates with ``gather_for_metrics``,
checkpoints atomically every N updates, stops early on a validation split, and logs to TensorBoard.

Scheduler policy under data parallelism: the learning-rate schedule is defined over optimizer updates and
stepped by this loop once per update on every process. It is not handed to ``accelerator.prepare`` (which
would advance it once per process per update), so the same ``--epochs`` give the same schedule shape
whatever the number of processes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration, PartialState
from accelerate.utils import ProjectConfiguration, parse_flag_from_env, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .arguments import HIGHER_IS_BETTER, TrainingArguments
from .checkpointing import load_checkpoint, resolve_checkpoint, save_checkpoint
from .regularization import norm_penalty, parameter_groups, penalized_parameters
from .tasks import collate_batch

logger = logging.getLogger(__name__)


class TrainerCallback:
    """Hooks into the loop. Subclass and override what you need; return nothing.

    A callback ends training cleanly (final evaluation, checkpoint and export still run) by setting
    ``trainer.should_training_stop = True``, as transformers' ``TrainerControl.should_training_stop`` does.
    """

    def on_before_optimizer_step(self, trainer: Trainer, state: dict) -> None:
        """Called on every process once the gradients of an update are complete (``accelerator.sync_gradients``):
        after backward and before gradient clipping, so callbacks see the raw (synced) gradients. ``trainer.model``
        is the prepared model; ``state["global_step"]`` still counts the updates done before this one."""

    def on_step_end(self, trainer: Trainer, state: dict) -> None:
        """Called after every optimizer update (and after any checkpoint written at that update)."""

    def on_evaluate(self, trainer: Trainer, state: dict, metrics: dict) -> None:
        """Called after every periodic evaluation."""


@dataclass
class TrainOutput:
    global_step: int
    metrics: dict
    history: list


def cpu_has_bf16() -> bool:
    """Whether the CPU has bf16 arithmetic units (AVX512-BF16 or AMX-BF16), read from ``/proc/cpuinfo``; ``False``
    where that file does not exist (then the bf16 warning errs on the side of telling)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_precision(device: str, mixed_precision: str) -> None:
    """Refuses fp16 on CPU (Accelerate would silently train in fp32) and warns about bf16 on a CPU without bf16
    units (it runs, several times slower than fp32)."""
    if device == "cpu" and mixed_precision == "fp16":
        raise ValueError(
            "--mixed-precision fp16 needs a GPU: on CPU Accelerate would silently train in fp32. "
            "Use --mixed-precision no (or bf16, which runs on CPU but is slow without bf16 units)."
        )
    if device == "cpu" and mixed_precision == "bf16" and not cpu_has_bf16():
        logger.warning(
            "--mixed-precision bf16: this CPU has no bf16 units (no AVX512-BF16 or AMX), so bf16 autocast runs "
            "several times slower than fp32 here. Use --mixed-precision no on this machine."
        )


def check_world_size(accelerator: Accelerator | PartialState) -> None:
    """Refuses to run when the launcher started processes that do not form one data-parallel group.

    ``accelerate launch --multi_gpu`` on a machine without GPUs (and without ``ACCELERATE_USE_CPU=1``) starts
    ``WORLD_SIZE`` processes that each believe they are alone: every one would train on the whole data set
    and write the same files. Compare what the launcher promised with what the Accelerator sees.
    """
    expected = int(os.environ.get("WORLD_SIZE", "1"))
    if expected != accelerator.num_processes:
        raise RuntimeError(
            f"The launcher started {expected} processes but each sees a world of {accelerator.num_processes}: they "
            f"would train as independent duplicates. On CPU, start real data-parallel processes with\n"
            f"  ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes {expected} -m classicnets train ...\n"
            f"(`--cpu --num_processes N` runs a single process)."
        )


def build_optimizer(model: torch.nn.Module, args: TrainingArguments) -> torch.optim.Optimizer:
    if args.backbone_lr_scale != 1.0 or args.layer_decay is not None:
        from ..transfer import parameter_groups as transfer_groups  # discriminative learning rates per block

        groups = transfer_groups(model, args.learning_rate, args.weight_decay,
                                 backbone_lr_scale=args.backbone_lr_scale, layer_decay=args.layer_decay)
    else:
        groups = parameter_groups(model, args.weight_decay)
    if not any(group["params"] for group in groups):
        raise ValueError("The model has no trainable parameters (everything is frozen); unfreeze at least the head.")
    if args.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2),
                                 eps=args.adam_epsilon)
    if args.optimizer == "adam":
        return torch.optim.Adam(groups, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2),
                                eps=args.adam_epsilon)
    if args.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=args.learning_rate, momentum=args.momentum, nesterov=args.nesterov)
    return torch.optim.RMSprop(groups, lr=args.learning_rate, momentum=args.momentum, eps=args.adam_epsilon)


def build_scheduler(optimizer, args: TrainingArguments, total_updates: int):
    if args.lr_scheduler_type == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[group["lr"] for group in optimizer.param_groups], total_steps=max(total_updates, 1),
            pct_start=args.warmup_ratio or 0.3,
            # Adam's beta1 (or SGD's momentum) cycles inversely to the learning rate, as in Smith & Topin.
            cycle_momentum=args.optimizer in ("adamw", "adam") or args.momentum > 0,
        )
    from transformers import get_scheduler

    return get_scheduler(args.lr_scheduler_type, optimizer, num_warmup_steps=int(args.warmup_ratio * total_updates),
                         num_training_steps=total_updates)


class Trainer:
    """Trains ``model`` on ``train_dataset`` for ``task`` as ``args`` say.

    Args:
        model: a classicnets (or any transformers) model whose ``forward(**inputs)`` returns ``loss``/``logits``.
        args: the hyperparameters.
        task: turns batches into model inputs, losses and metrics (e.g. ``ImageClassificationTask``).
        train_dataset: a map-style dataset of tensors (``TensorBatchDataset``).
        eval_dataset: evaluated every ``eval_steps`` (the validation split when there is one).
        test_dataset: evaluated once at the end (metrics prefixed ``test_prefix``).
        test_prefix: the prefix of the test metrics: ``test``, or the held-out split's name (e.g. ``validation``).
        callbacks: ``TrainerCallback`` instances.

    Example:
        >>> trainer = Trainer(model, TrainingArguments(output_dir="runs/x"), task, train_ds, eval_ds)
        >>> result = trainer.train()
    """

    def __init__(self, model, args: TrainingArguments, task, train_dataset, eval_dataset=None, test_dataset=None,
                 callbacks=(), test_prefix: str = "test"):
        self.model = model
        self.args = args
        self.task = task
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.test_dataset = test_dataset
        self.callbacks = list(callbacks)
        self.test_prefix = test_prefix
        self.should_training_stop = False
        self.state: dict | None = None  # the training state, once train() has returned
        # Refuse before building the Accelerator: its state is process-wide and cannot be rebuilt. The first
        # PartialState fixes that state for the process, so it must honour ACCELERATE_USE_CPU exactly as the
        # Accelerator would (PartialState alone ignores it and a CPU "multi-GPU" launch would fall apart).
        state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
        check_world_size(state)
        check_precision(state.device.type, args.mixed_precision)
        kwargs = {}
        if args.report_to == "tensorboard":
            kwargs["log_with"] = "tensorboard"
        self.accelerator = Accelerator(
            gradient_accumulation_steps=args.gradient_accumulation_steps,
            mixed_precision=args.mixed_precision,
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed),
            project_config=ProjectConfiguration(project_dir=args.output_dir,
                                                logging_dir=os.path.join(args.output_dir, "logs")),
            **kwargs,
        )
        self._check_cpu_threads()

    # ------------------------------------------------------------------ set-up
    def _check_cpu_threads(self) -> None:
        """Warns when CPU training leaves cores idle.

        ``accelerate launch`` exports ``OMP_NUM_THREADS=1`` unless it is given ``--num_cpu_threads_per_process``
        (or ``--cpu``), so a one-process run on a 2-core machine silently trains on one core, ~1.5x slower.
        """
        if self.accelerator.device.type != "cpu":
            return
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads, processes = torch.get_num_threads(), self.accelerator.num_processes
        if threads * processes < cores and self.accelerator.is_main_process:
            logger.warning(
                "Training uses %d thread(s) in each of %d process(es) on a machine with %d cores. `accelerate launch` "
                "sets OMP_NUM_THREADS=1 unless told otherwise: add `--num_cpu_threads_per_process %d` to it (or set "
                "OMP_NUM_THREADS) to use every core.", threads, processes, cores, max(cores // processes, 1),
            )

    def _dataloader(self, dataset, train: bool) -> DataLoader:
        batch_size = self.args.per_device_train_batch_size if train else self.args.per_device_eval_batch_size
        # An explicit generator makes the seedable sampler's order depend on --seed and the epoch only.
        generator = torch.Generator().manual_seed(self.args.seed) if train else None
        return DataLoader(dataset, batch_size=batch_size, shuffle=train, generator=generator,
                          collate_fn=collate_batch, num_workers=0)

    def log(self, message: str) -> None:
        if self.accelerator.is_main_process:
            logger.info(message)

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, dataloader, prefix: str = "eval") -> dict:
        """Metrics over the whole (unsharded) dataset, gathered from every process without duplicates.

        Runs under the training's mixed precision while training; once training has ended, ``self.model`` has lost
        Accelerate's autocast wrapper and this measures the saved full-precision weights, as ``from_pretrained``
        and ``classicnets evaluate`` load them."""
        model, task, acc = self.model, self.task, self.accelerator
        was_training = model.training
        model.eval()
        parts = []
        autocast = acc.autocast if self.state is None else contextlib.nullcontext
        for batch in dataloader:
            inputs = task.model_inputs(batch, train=False, generator=None, device=acc.device)
            with autocast():
                # A task may evaluate through the model's own methods instead of forward (the VAE's fixed-noise ELBO).
                outputs = task.eval_forward(model, inputs) if hasattr(task, "eval_forward") else model(**inputs)
            parts.append([t.cpu() for t in acc.gather_for_metrics(task.eval_tensors(outputs, inputs))])
        model.train(was_training)
        columns = [torch.cat(col) for col in zip(*parts, strict=True)]
        metrics = task.compute_metrics(*columns)
        return {f"{prefix}_{k}": v for k, v in metrics.items()}

    # ------------------------------------------------------------------ training
    def train(self) -> TrainOutput:
        args, acc, task = self.args, self.accelerator, self.task
        set_seed(args.seed)
        self.state = None
        model = self.model
        if args.torch_compile:
            model = torch.compile(model)
        optimizer = build_optimizer(model, args)
        train_dl = self._dataloader(self.train_dataset, train=True)
        eval_dl = self._dataloader(self.eval_dataset, train=False) if self.eval_dataset is not None else None
        test_dl = self._dataloader(self.test_dataset, train=False) if self.test_dataset is not None else None
        model, optimizer, train_dl = acc.prepare(model, optimizer, train_dl)
        eval_dl = acc.prepare(eval_dl) if eval_dl is not None else None
        test_dl = acc.prepare(test_dl) if test_dl is not None else None
        self.model = model

        updates_per_epoch = math.ceil(len(train_dl) / args.gradient_accumulation_steps)
        total_updates = args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * updates_per_epoch)
        scheduler = build_scheduler(optimizer, args, total_updates)
        # Augmentation draws from its own generator so that its stream is saved with the checkpoint.
        generator = torch.Generator().manual_seed(args.seed * 1000 + acc.process_index)
        penalized = penalized_parameters(model) if (args.l1_lambda or args.l2_lambda) else []
        watch = args.early_stopping_patience is not None
        ckpt_root = os.path.join(args.output_dir, "checkpoints")

        state = {"global_step": 0, "epoch": 0, "batch_in_epoch": 0, "history": [], "best_metric": None,
                 "best_step": None, "bad_evals": 0, "elapsed": 0.0, "stopped_early": False,
                 "total_updates": total_updates, "num_processes": acc.num_processes}
        best_state = None
        if args.resume_from_checkpoint:
            path = resolve_checkpoint(args.output_dir, args.resume_from_checkpoint)
            saved, best_state = load_checkpoint(acc, path, model, {"optimizer": optimizer, "scheduler": scheduler},
                                                {"augment": generator})
            if saved.get("num_processes") != acc.num_processes:
                raise ValueError(
                    f"Checkpoint {path} was written by {saved.get('num_processes')} process(es) but this run has "
                    f"{acc.num_processes}; resume with the same number of processes to replay the same batches."
                )
            state.update(saved)
            state["total_updates"] = total_updates
            self.log(f"Resumed from {path} at update {state['global_step']} (epoch {state['epoch']}, "
                     f"batch {state['batch_in_epoch']}).")

        if args.report_to == "tensorboard":
            hparams = {k: v for k, v in args.to_dict().items() if isinstance(v, (int, float, str, bool))}
            acc.init_trackers("tensorboard", config=hparams)

        def save():
            save_checkpoint(acc, Path(ckpt_root), state["global_step"], model,
                            {"optimizer": optimizer, "scheduler": scheduler}, state, {"augment": generator},
                            best_state, args.save_total_limit)
            state["last_saved_step"] = state["global_step"]

        def periodic_eval():
            nonlocal best_state
            if eval_dl is None:
                return
            metrics = self.evaluate(eval_dl, "eval")
            state["last_eval_step"] = state["global_step"]
            record = {"step": state["global_step"], "epoch": round(state["epoch"] + state["batch_in_epoch"] / max(
                len(train_dl), 1), 4), **metrics, "elapsed": round(state["elapsed"] + time.perf_counter() - t0, 3)}
            state["history"].append(record)
            if args.report_to == "tensorboard":
                acc.log(metrics, step=state["global_step"])
            if watch:
                key = args.metric_for_best_model
                value, best = metrics[key], state["best_metric"]
                better = best is None or (value > best if key in HIGHER_IS_BETTER else value < best)
                if better:
                    state.update(best_metric=value, best_step=state["global_step"], bad_evals=0)
                    best_state = {k: v.detach().cpu().clone() for k, v in acc.unwrap_model(model).state_dict().items()}
                else:
                    state["bad_evals"] += 1
                    if state["bad_evals"] >= args.early_stopping_patience:
                        state["stopped_early"] = True
            for cb in self.callbacks:
                cb.on_evaluate(self, state, metrics)

        progress = tqdm(total=total_updates, initial=state["global_step"], desc="train", dynamic_ncols=True,
                        disable=args.disable_tqdm or not acc.is_local_main_process)
        model.train()
        t0 = time.perf_counter()
        running_loss, running_count = torch.zeros((), device=acc.device), 0
        self.should_training_stop = False

        def stop_requested() -> bool:
            return state["stopped_early"] or self.should_training_stop

        done = state["global_step"] >= total_updates or stop_requested()
        while not done:
            train_dl.set_epoch(state["epoch"])
            skip = state["batch_in_epoch"]
            dataloader = acc.skip_first_batches(train_dl, skip) if skip else train_dl
            for batch in dataloader:
                inputs = task.model_inputs(batch, train=True, generator=generator, device=acc.device)
                with acc.accumulate(model):
                    outputs = model(**inputs)
                    loss = task.loss(outputs, inputs, args.label_smoothing)
                    penalty = norm_penalty(penalized, args.l1_lambda, args.l2_lambda)
                    total = loss + penalty if penalty is not None else loss
                    acc.backward(total)
                    if acc.sync_gradients:
                        for cb in self.callbacks:
                            cb.on_before_optimizer_step(self, state)
                    if acc.sync_gradients and args.max_grad_norm > 0:
                        acc.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                state["batch_in_epoch"] += 1
                running_loss += loss.detach()
                running_count += 1
                if not acc.sync_gradients:
                    continue
                scheduler.step()
                state["global_step"] += 1
                progress.update(1)
                step = state["global_step"]
                if step % args.logging_steps == 0 or step == total_updates:
                    mean_loss = acc.reduce(running_loss / running_count, reduction="mean").item()
                    lr = scheduler.get_last_lr()[0]
                    state["history"].append({
                        "step": step, "epoch": round(state["epoch"] + state["batch_in_epoch"] / len(train_dl), 4),
                        "train_loss": mean_loss, "learning_rate": lr,
                        "elapsed": round(state["elapsed"] + time.perf_counter() - t0, 3)})
                    progress.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}")
                    if args.report_to == "tensorboard":
                        acc.log({"train_loss": mean_loss, "learning_rate": lr}, step=step)
                    running_loss.zero_()
                    running_count = 0
                if args.eval_steps and step % args.eval_steps == 0:
                    periodic_eval()
                if args.save_steps and step % args.save_steps == 0:
                    state["elapsed"] += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    save()
                for cb in self.callbacks:
                    cb.on_step_end(self, state)
                if step >= total_updates or stop_requested():
                    done = True
                    break
            else:  # the epoch ran to its end
                state["epoch"] += 1
                state["batch_in_epoch"] = 0
                if not args.eval_steps:
                    periodic_eval()
                    done = done or stop_requested()
                if not args.save_steps and not done:
                    state["elapsed"] += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    save()
            if state["global_step"] >= total_updates:
                done = True
        progress.close()
        # The last update can end the loop before its epoch-end evaluation: evaluate the final weights too, so
        # that the history (and early stopping's choice of the best weights) includes them.
        if eval_dl is not None and not state["stopped_early"] and state.get("last_eval_step") != state["global_step"]:
            periodic_eval()
        state["elapsed"] += time.perf_counter() - t0
        state["finished"] = True
        if state.get("last_saved_step") != state["global_step"]:
            save()

        if watch and best_state is not None:
            acc.unwrap_model(model).load_state_dict(best_state)
            self.log(f"Restored the best weights (update {state['best_step']}, "
                     f"{args.metric_for_best_model}={state['best_metric']:.4f}).")
        # The reported metrics describe the saved full-precision weights: drop the DDP container and the
        # mixed-precision forward wrapper (bf16 autocast moves the measured loss).
        self.model = acc.unwrap_model(model, keep_fp32_wrapper=False)
        self.state = state
        metrics = {"train_runtime": round(state["elapsed"], 3), "global_step": state["global_step"],
                   "epoch": round(state["epoch"] + state["batch_in_epoch"] / len(train_dl), 4),
                   "stopped_early": state["stopped_early"]}
        if eval_dl is not None:
            metrics.update(self.evaluate(eval_dl, "eval"))
        if test_dl is not None:
            metrics.update(self.evaluate(test_dl, self.test_prefix))
            if hasattr(task, "final_metrics"):  # measured once, on the final weights (e.g. the VAE's sampled NLL)
                final = task.final_metrics(self.model, self.test_dataset)
                metrics.update({f"{self.test_prefix}_{k}": v for k, v in final.items()})
        if args.report_to == "tensorboard":
            acc.log({k: v for k, v in metrics.items() if isinstance(v, float)}, step=state["global_step"])
            acc.end_training()
        return TrainOutput(global_step=state["global_step"], metrics=metrics, history=state["history"])


__all__ = ["Trainer", "TrainerCallback", "TrainOutput", "build_optimizer", "build_scheduler", "check_precision", "check_world_size", "cpu_has_bf16"]
