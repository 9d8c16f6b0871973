"""The GAN step (two networks, two optimizers) and a small Accelerate training loop for a [`GANModel`].

One step of Goodfellow et al. 2014 (Algorithm 1, with k = 1 discriminator update per generator update):

1. **Discriminator step**: draw ``z``, make ``G(z)`` without a graph, and descend
   ``L_D = mean softplus(-D(x)) + mean softplus(D(G(z)))`` in ``D``'s parameters only.
2. **Generator step**: draw a fresh ``z`` and descend the non-saturating ``L_G = mean softplus(-D(G(z)))`` in ``G``'s
   parameters only. ``D``'s parameters have ``requires_grad`` switched off for this step, so the gradient flows
   *through* ``D`` into ``G`` but no gradient is accumulated in ``D`` (nothing stale is left for ``D``'s next step).

Each network is updated only in its own step, parameters *and* buffers:

- Batch-norm batches: ``D`` sees the real batch and the fake batch in two separate forward passes, so each
  batch-norm batch is all-real or all-fake (as in DCGAN; a mixed batch lets ``D`` tell real from fake through the
  batch statistics). Both networks run in train mode (batch statistics, dropout) in both steps.
- Batch-norm running statistics: the network that is *not* being trained still normalises with the statistics of
  the batch in front of it, but its running averages are frozen (``frozen_batch_norm_statistics``): ``G``'s running
  statistics move only in ``G``'s step and ``D``'s only in ``D``'s. So the discriminator step leaves ``G``'s whole
  ``state_dict`` untouched and the generator step leaves ``D``'s untouched.
- Under data parallelism each network is wrapped by Accelerate (DDP) on its own and called through its wrapper
  only in its own step, so only the trained network's gradients are averaged across processes; the other network is
  called unwrapped. DDP broadcasts process 0's buffers at every wrapped forward, so running statistics follow
  process 0 while batch statistics are per process; :func:`train_gan` broadcasts process 0's buffers once more at
  the end so that every process ends with the same model.

Sample diversity (a mode-collapse indicator): the mean pairwise Euclidean distance between the generated images of
a batch divided by that between the real images of the same batch, in pixel space (:func:`sample_diversity`).
About 1 when the samples are as spread out as the data; it falls towards 0 when the generator collapses onto a few
modes (identical samples give exactly 0). It costs one ``pdist`` of the batch already at hand.

Checkpoints use the common loop's safe layout (:mod:`classicnets.training.checkpointing`: safetensors weights,
``weights_only`` optimizer states, per-process generator states); gradient accumulation, clipping and schedulers
belong to the general loop (``trainer.py``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration, PartialState
from accelerate.utils import broadcast, parse_flag_from_env, set_seed
from torch import nn
from torch.utils.data import DataLoader

from ..models.gan import GANModel
from .checkpointing import load_checkpoint, save_checkpoint
from .tasks import TensorBatchDataset, collate_batch
from .trainer import check_precision, check_world_size

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ helpers
@contextmanager
def frozen_batch_norm_statistics(module: nn.Module):
    """Inside, the batch-norm layers of ``module`` still normalise a training-mode batch with its own statistics
    but leave their running averages (and ``num_batches_tracked``) unchanged."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in norms:
        m.track_running_stats = False  # training mode + no tracking: batch statistics, no running update
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True


@contextmanager
def frozen_parameters(module: nn.Module):
    """Inside, no parameter of ``module`` requires a gradient: gradients flow through it but not into it."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def images_to_pixel_values(images: torch.Tensor) -> torch.Tensor:
    """8-bit images (uint8, 0..255) -> floats in [-1, 1], the range of the generator's ``tanh``: ``u / 127.5 - 1``."""
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 pixels (0..255), got {images.dtype}; e.g. image_tensors(split)[0].")
    return images.float() / 127.5 - 1.0


def sample_diversity(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean pairwise L2 distance of ``fake`` images over that of ``real`` images (both (batch, ...), batch >= 2).

    1 when the samples are as spread out as the data, 0 when they are all the same image (mode collapse).
    """
    if fake.shape[0] < 2 or real.shape[0] < 2:
        raise ValueError("sample_diversity needs at least 2 fake and 2 real images.")
    fake_spread = torch.pdist(fake.detach().flatten(1).float()).mean()
    real_spread = torch.pdist(real.detach().flatten(1).float()).mean()
    return fake_spread / real_spread.clamp_min(1e-12)


def _draw_latents(batch_size: int, latent_size: int, noise_generator: torch.Generator | None, like: torch.Tensor):
    device = noise_generator.device if noise_generator is not None else like.device
    z = torch.randn(batch_size, latent_size, generator=noise_generator, device=device)
    return z.to(device=like.device, dtype=like.dtype)  # (batch, latent_size)


def _gradient_norm(module: nn.Module, network: str, loss: torch.Tensor) -> torch.Tensor:
    """The L2 norm of ``module``'s gradients; raises before the optimizer can write NaN into the weights."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        raise ValueError(f"No parameter of the {network} received a gradient: are they all frozen (requires_grad=False)?")
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
    if not torch.isfinite(norm):
        for p in module.parameters():
            p.grad = None
        raise FloatingPointError(
            f"The {network} step produced a non-finite gradient (loss {loss.item():.4g}); its weights were not "
            f"updated. Lower the learning rate, or check the inputs and the weights for NaN or infinity."
        )
    return norm


def check_batch_fill(num_images: int, per_device_batch_size: int, num_processes: int) -> None:
    """Raises a `ValueError` when ``num_images`` cannot fill one batch on every process (a GAN step needs full
    batches); the command line calls it before its output folder is touched."""
    if num_images < per_device_batch_size * num_processes:
        raise ValueError(f"{num_images} training images cannot fill one batch of {per_device_batch_size} on each of "
                         f"{num_processes} process(es); lower per_device_batch_size (--per-device-train-batch-size).")


def _unwrap(accelerator: Accelerator | None, module: nn.Module) -> nn.Module:
    return accelerator.unwrap_model(module) if accelerator is not None else module


def _autocast(accelerator: Accelerator | None):
    return accelerator.autocast() if accelerator is not None else nullcontext()


def _backward(accelerator: Accelerator | None, loss: torch.Tensor) -> None:
    if accelerator is not None:
        accelerator.backward(loss)  # scales the loss under fp16, syncs DDP gradients
    else:
        loss.backward()


# ------------------------------------------------------------------------------------------------ the step
@dataclass
class GANStepOutput:
    """What one :func:`gan_step` measured (0-dim tensors on the training device, detached).

    ``real_score``/``fake_score`` are the discriminator's mean probability of "real", ``D(x)`` and ``D(G(z))``, in its
    step; ``fake_pixel_values`` are the generator step's samples.
    """

    d_loss: torch.Tensor
    g_loss: torch.Tensor
    real_score: torch.Tensor
    fake_score: torch.Tensor
    d_grad_norm: torch.Tensor
    g_grad_norm: torch.Tensor
    diversity: torch.Tensor
    fake_pixel_values: torch.Tensor = field(repr=False)

    SCALARS = ("d_loss", "g_loss", "real_score", "fake_score", "d_grad_norm", "g_grad_norm", "diversity")

    def scalars(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k) for k in self.SCALARS}


def discriminator_step(generator: nn.Module, discriminator: nn.Module, optimizer: torch.optim.Optimizer,
                       real: torch.Tensor, labels: torch.Tensor | None = None, *, accelerator: Accelerator | None = None,
                       noise_generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """One update of ``D`` on ``L_D``; ``G``'s parameters, gradients and buffers are left untouched.

    Args:
        generator, discriminator: ``model.generator`` and ``model.discriminator`` of a [`GANModel`], as returned by
            ``accelerator.prepare`` (possibly DDP-wrapped) or plain.
        optimizer: the discriminator's optimizer (prepared or plain).
        real: a batch of real images (batch, C, H, W) in [-1, 1].
        labels: their class ids (batch,) for a conditional GAN; the fakes get the same labels.
        accelerator: the `Accelerator` that prepared the objects (``None`` for plain single-process use).
        noise_generator: draws ``z``.

    Returns:
        ``d_loss``, ``real_score`` (mean ``D(x)``), ``fake_score`` (mean ``D(G(z))``) and ``d_grad_norm``.
    """
    if not torch.isfinite(real).all():
        raise ValueError("The real batch contains NaN or infinite values; no network was updated.")
    g = _unwrap(accelerator, generator)
    z = _draw_latents(real.shape[0], g.config.latent_size, noise_generator, real)
    with torch.no_grad(), frozen_batch_norm_statistics(g):
        fake = g(z, labels)  # G(z), (batch, C, H, W): no graph, so D's loss cannot reach G
    optimizer.zero_grad(set_to_none=True)
    with _autocast(accelerator):
        # Two forward passes: every batch-norm batch of D is all-real or all-fake.
        real_logits = discriminator(real, labels)  # (batch,)
        fake_logits = discriminator(fake, labels)  # (batch,)
        loss = GANModel.discriminator_loss(real_logits, fake_logits)
    _backward(accelerator, loss)
    grad_norm = _gradient_norm(discriminator, "discriminator", loss)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"d_loss": loss.detach(), "real_score": torch.sigmoid(real_logits.detach().float()).mean(),
            "fake_score": torch.sigmoid(fake_logits.detach().float()).mean(), "d_grad_norm": grad_norm.detach()}


def generator_step(generator: nn.Module, discriminator: nn.Module, optimizer: torch.optim.Optimizer,
                   batch_size: int, labels: torch.Tensor | None = None, *, accelerator: Accelerator | None = None,
                   noise_generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """One update of ``G`` on the non-saturating ``L_G``; ``D``'s parameters, gradients and buffers are left
    untouched (its parameters do not require gradients during the step).

    Args: as :func:`discriminator_step`, with the generator's optimizer and ``batch_size`` samples to draw.

    Returns:
        ``g_loss``, ``g_grad_norm`` and ``fake_pixel_values`` (the samples, detached).
    """
    d = _unwrap(accelerator, discriminator)
    like = next(d.parameters())
    z = _draw_latents(batch_size, _unwrap(accelerator, generator).config.latent_size, noise_generator, like)
    optimizer.zero_grad(set_to_none=True)
    # D is called unwrapped: under DDP only G's gradients are averaged across processes.
    with frozen_parameters(d), frozen_batch_norm_statistics(d):
        with _autocast(accelerator):
            fake = generator(z, labels)  # G(z), (batch, C, H, W), through G's wrapper
            loss = GANModel.generator_loss(d(fake, labels))  # -log D(G(z)), gradient through D into G
        _backward(accelerator, loss)
    grad_norm = _gradient_norm(generator, "generator", loss)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"g_loss": loss.detach(), "g_grad_norm": grad_norm.detach(), "fake_pixel_values": fake.detach()}


def gan_step(generator: nn.Module, discriminator: nn.Module, optimizer_g: torch.optim.Optimizer,
             optimizer_d: torch.optim.Optimizer, real: torch.Tensor, labels: torch.Tensor | None = None, *,
             accelerator: Accelerator | None = None, noise_generator: torch.Generator | None = None) -> GANStepOutput:
    """One discriminator update, then one generator update (Goodfellow et al. 2014, Algorithm 1 with k = 1).

    Both steps draw their own ``z``; in a conditional GAN the fakes take the real batch's labels, so ``D`` sees the
    same class mix in its real and fake batches.

    Example:
        >>> model = GANModel(GANConfig.mlp_gan())
        >>> opt_g = torch.optim.Adam(model.generator.parameters(), 2e-4, betas=(0.5, 0.999))
        >>> opt_d = torch.optim.Adam(model.discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
        >>> out = gan_step(model.generator, model.discriminator, opt_g, opt_d, real_batch)
    """
    d_out = discriminator_step(generator, discriminator, optimizer_d, real, labels, accelerator=accelerator,
                               noise_generator=noise_generator)
    g_out = generator_step(generator, discriminator, optimizer_g, real.shape[0], labels, accelerator=accelerator,
                           noise_generator=noise_generator)
    diversity = sample_diversity(g_out["fake_pixel_values"], real)
    return GANStepOutput(d_loss=d_out["d_loss"], g_loss=g_out["g_loss"], real_score=d_out["real_score"],
                         fake_score=d_out["fake_score"], d_grad_norm=d_out["d_grad_norm"],
                         g_grad_norm=g_out["g_grad_norm"], diversity=diversity.detach(),
                         fake_pixel_values=g_out["fake_pixel_values"])


# ------------------------------------------------------------------------------------------------ the loop
@dataclass
class GANTrainOutput:
    global_step: int
    history: list[dict]
    num_processes: int


def train_gan(model: GANModel, images: torch.Tensor, labels: torch.Tensor | None = None, *, max_steps: int = 1000,
              per_device_batch_size: int = 64, learning_rate: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
              seed: int = 0, logging_steps: int = 50, mixed_precision: str = "no",
              checkpoint_dir: str | os.PathLike | None = None, save_steps: int | None = None,
              save_total_limit: int = 2, resume_from: str | os.PathLike | None = None,
              on_log: Callable[[dict], None] | None = None) -> GANTrainOutput:
    """Trains ``model`` in place with :func:`gan_step` under Accelerate (one process, or ``accelerate launch`` with
    several: ``ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 script.py`` on CPU).

    Adam with ``learning_rate`` 2e-4 and ``betas`` (0.5, 0.999) for both networks are Radford et al.'s settings.
    Everything is seeded from ``seed`` (shuffling through Accelerate's seedable sampler, ``z`` from a generator per
    process, dropout), so the same call gives the same weights, and a run resumed from a checkpoint ends with the
    same weights and history as one that was never interrupted.

    Args:
        model: the [`GANModel`] to train.
        images: uint8 images (N, C, H, W) (``image_tensors(split)[0]``), scaled to [-1, 1] batch by batch.
        labels: their class ids (N,), required for a conditional GAN and refused otherwise.
        max_steps: GAN steps (each one discriminator and one generator update).
        per_device_batch_size: real images per process per step (the last incomplete batch of an epoch is dropped,
            so every batch-norm batch has the same size).
        logging_steps: every this many steps, the means over the steps since the last record (averaged over the
            processes) are appended to the history: ``d_loss``, ``g_loss``, ``real_score``, ``fake_score``,
            ``d_grad_norm``, ``g_grad_norm``, ``diversity``, plus ``step`` and ``elapsed`` seconds.
        checkpoint_dir: where to write resumable checkpoints (``checkpoint-<step>`` folders, the layout of
            :mod:`classicnets.training.checkpointing`: both networks' weights, both optimizers, the latent noise
            generator and the position in the data); ``None`` writes none.
        save_steps: write one every this many steps (``None``: at the end of every epoch); one is always written
            at the last step.
        save_total_limit: keep only the newest this many checkpoints.
        resume_from: a checkpoint folder written by this function for the same model, data, batch size and
            number of processes; training continues from its step up to ``max_steps``.
        on_log: called with each history record, on every process.

    Returns:
        A :class:`GANTrainOutput` with the history.

    Example:
        >>> from classicnets.data import load_dataset, image_tensors
        >>> x, y = image_tensors(load_dataset("mnist")["train"])
        >>> model = GANModel(GANConfig.conditional_gan(num_labels=10))
        >>> out = train_gan(model, x, y, max_steps=2000)
        >>> digits = model.sample(10, labels=list(range(10)))
    """
    config = model.config
    if images.dim() != 4 or tuple(images.shape[1:]) != config.image_shape:
        raise ValueError(f"images has shape {tuple(images.shape)} but the model makes (N, {', '.join(map(str, config.image_shape))}).")
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 pixels (0..255), got {images.dtype}.")
    if config.conditional and labels is None:
        raise ValueError("This GAN is conditional: train_gan needs the labels of the images.")
    if labels is not None:
        if not config.conditional:
            raise ValueError("This GAN is unconditional (conditional=False): train it without labels.")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}.")
        if labels.min() < 0 or labels.max() >= config.num_labels:
            raise ValueError(f"labels must lie in [0, {config.num_labels}), got {labels.min().item()}..{labels.max().item()}.")
    for name, value in (("max_steps", max_steps), ("per_device_batch_size", per_device_batch_size),
                        ("logging_steps", logging_steps), ("save_total_limit", save_total_limit)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if save_steps is not None and (not isinstance(save_steps, int) or save_steps < 1):
        raise ValueError(f"save_steps must be a positive int or None (a checkpoint per epoch), got {save_steps!r}.")
    if per_device_batch_size < 2:
        raise ValueError("per_device_batch_size must be at least 2 (batch normalization and the diversity need it).")

    partial_state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    check_world_size(partial_state)
    check_precision(partial_state.device.type, mixed_precision)
    check_batch_fill(images.shape[0], per_device_batch_size, partial_state.num_processes)
    acc = Accelerator(mixed_precision=mixed_precision,
                      dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=seed))
    set_seed(seed, device_specific=True)  # dropout masks differ between processes
    tensors = {"images": images} if labels is None else {"images": images, "labels": labels.long()}
    loader = DataLoader(TensorBatchDataset(**tensors), batch_size=per_device_batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed), collate_fn=collate_batch, num_workers=0)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=learning_rate, betas=betas)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=learning_rate, betas=betas)
    generator, discriminator, opt_g, opt_d, loader = acc.prepare(model.generator, model.discriminator, opt_g, opt_d,
                                                                 loader)
    noise = torch.Generator(device=acc.device).manual_seed(seed * 1000 + acc.process_index)
    optimizers = {"optimizer_g": opt_g, "optimizer_d": opt_d}

    # The position in the data, the history and the partial sums of the current logging window: what a checkpoint
    # must hold so that a resumed run continues exactly where the interrupted one was.
    # What must not change when a run is resumed: the optimizers' settings (their saved states would silently
    # override a new learning rate), the seed and the data.
    same_run = {"num_processes": acc.num_processes, "per_device_batch_size": per_device_batch_size,
                "learning_rate": learning_rate, "betas": list(betas), "seed": seed, "num_images": images.shape[0]}
    state = {"global_step": 0, "epoch": 0, "batch_in_epoch": 0, "history": [], "elapsed": 0.0, **same_run,
             "window_sums": None, "window_count": 0}
    if resume_from is not None:
        path = Path(resume_from)
        saved, _ = load_checkpoint(acc, path, model, optimizers, {"noise": noise})
        for key, value in same_run.items():
            if saved.get(key) != value:
                raise ValueError(
                    f"Checkpoint {path} was written with {key}={saved.get(key)} but this run has {value}; resume "
                    f"with the same value (the same flags as the interrupted run) to continue that run."
                )
        if saved["global_step"] > max_steps:
            raise ValueError(f"Checkpoint {path} is at step {saved['global_step']}, past max_steps={max_steps}; "
                             f"resume with max_steps >= {saved['global_step']}.")
        state.update(saved)
        if acc.is_main_process:
            logger.info("Resumed from %s at step %d (epoch %d, batch %d).", path, state["global_step"],
                        state["epoch"], state["batch_in_epoch"])

    def save():
        # The open logging window's sums differ between processes: store their mean over the processes, which
        # gives the same record at the next log as the sums themselves would (the record is a mean over them).
        state["window_sums"] = acc.reduce(sums, reduction="mean").tolist() if count else None
        state["window_count"] = count
        save_checkpoint(acc, Path(checkpoint_dir), state["global_step"], model, optimizers, state, {"noise": noise},
                        None, save_total_limit)
        state["last_saved_step"] = state["global_step"]

    model.train()
    count = state["window_count"]
    sums = torch.tensor(state["window_sums"], device=acc.device) if count else None
    t0 = time.perf_counter()
    step = state["global_step"]
    while step < max_steps:
        loader.set_epoch(state["epoch"])
        skip = state["batch_in_epoch"]
        for batch in acc.skip_first_batches(loader, skip) if skip else loader:
            real = images_to_pixel_values(batch["images"])  # (batch, C, H, W) in [-1, 1]
            out = gan_step(generator, discriminator, opt_g, opt_d, real, batch.get("labels"), accelerator=acc,
                           noise_generator=noise)
            scalars = torch.stack(list(out.scalars().values())).float()
            sums = scalars if sums is None else sums + scalars
            count += 1
            step += 1
            state["global_step"] = step
            state["batch_in_epoch"] += 1
            if step % logging_steps == 0 or step == max_steps:
                means = acc.reduce(sums / count, reduction="mean").tolist()
                record = {"step": step, **dict(zip(GANStepOutput.SCALARS, means, strict=True)),
                          "elapsed": round(state["elapsed"] + time.perf_counter() - t0, 3)}
                state["history"].append(record)
                if acc.is_main_process:
                    logger.info("step %d: " + ", ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "step"), step)
                if on_log is not None:
                    on_log(record)
                sums, count = None, 0
            if checkpoint_dir is not None and save_steps and step % save_steps == 0:
                state["elapsed"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                save()
            if step >= max_steps:
                break
        else:  # the epoch ran to its end
            state["epoch"] += 1
            state["batch_in_epoch"] = 0
            if checkpoint_dir is not None and not save_steps and step < max_steps:
                state["elapsed"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                save()
    state["elapsed"] += time.perf_counter() - t0
    # DDP keeps buffers in step by broadcasting process 0's at every wrapped forward; do it once more so that every
    # process ends with the same model.
    if acc.num_processes > 1:
        broadcast([b for b in model.buffers()], from_process=0)
    if checkpoint_dir is not None and state.get("last_saved_step") != step:
        save()
    acc.wait_for_everyone()
    return GANTrainOutput(global_step=step, history=state["history"], num_processes=acc.num_processes)


__all__ = [
    "GANStepOutput",
    "GANTrainOutput",
    "discriminator_step",
    "frozen_batch_norm_statistics",
    "frozen_parameters",
    "gan_step",
    "generator_step",
    "images_to_pixel_values",
    "sample_diversity",
    "train_gan",
]
