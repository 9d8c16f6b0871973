"""Resumable training checkpoints, written atomically and read without unpickling arbitrary objects.

A checkpoint folder ``<output_dir>/checkpoints/checkpoint-<step>/`` holds:

- ``model.safetensors``: the weights (and buffers);
- ``optimizer.pt``: the ``state_dict``s of the optimizers and schedulers, by name (``optimizer`` and ``scheduler``
  for the common loop, ``optimizer_g`` and ``optimizer_d`` for a GAN); tensors and numbers only, loaded with
  ``torch.load(weights_only=True)``;
- ``rng_state_<rank>.safetensors``: per process, the global torch RNG (dropout) and the loop's own generators by
  name (``augment`` for the common loop, ``noise`` for a GAN's latents);
- ``best_model.safetensors``: the best weights so far, when early stopping watches a validation split;
- ``trainer_state.json``: the position (update, epoch, batch within the epoch), history and early-stopping state.

Accelerate's ``save_state`` would pickle the sampler and custom objects and load them with
``weights_only=False``; this layout keeps every file loadable safely, so a checkpoint from someone else can
be resumed without executing code. Folders are written under a temporary name and renamed when complete,
so ``--resume-from-checkpoint latest`` never picks up a half-written one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..utils import atomic_write_text

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
STATE_NAME = "trainer_state.json"


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoint folders under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := CHECKPOINT_PATTERN.match(p.name))]
    return [p for _, p in sorted(found) if (p / STATE_NAME).is_file()]


def resolve_checkpoint(output_dir: str | os.PathLike, spec: str) -> Path:
    """Turns ``--resume-from-checkpoint`` (``latest`` or a path) into a checkpoint folder, or explains why not."""
    root = Path(output_dir) / "checkpoints"
    if spec == "latest":
        found = list_checkpoints(root)
        if not found:
            raise FileNotFoundError(
                f"--resume-from-checkpoint latest: no checkpoint found under {root}. Start the run without "
                f"--resume-from-checkpoint, or point --output-dir at the folder of the run to continue."
            )
        return found[-1]
    path = Path(spec)
    if not (path / STATE_NAME).is_file():
        raise FileNotFoundError(
            f"--resume-from-checkpoint {spec}: {path} is not a checkpoint folder (no {STATE_NAME}). Pass 'latest' or "
            f"one of the checkpoint-<step> folders under <output_dir>/checkpoints."
        )
    return path


def _state_dict_for_safetensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage and non-contiguous views: store plain contiguous copies.
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}


def save_checkpoint(accelerator, root: Path, step: int, model, stateful: dict, state: dict,
                    generators: dict[str, torch.Generator], best_state: dict | None, save_total_limit: int) -> Path:
    """Writes ``root/checkpoint-<step>`` atomically (all processes must call this).

    Args:
        model: the (possibly wrapped) model whose weights are saved.
        stateful: optimizers and schedulers by name, each saved through its ``state_dict()``.
        state: the loop's position and history (JSON).
        generators: the loop's ``torch.Generator``s by name (their states are saved per process).
    """
    final = root / f"checkpoint-{step}"
    tmp = root / f".checkpoint-{step}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    rank = accelerator.process_index
    save_file(
        {"torch": torch.get_rng_state(), **{name: g.get_state() for name, g in generators.items()}},
        str(tmp / f"rng_state_{rank}.safetensors"),
    )
    if accelerator.is_main_process:
        save_file(_state_dict_for_safetensors(accelerator.unwrap_model(model)), str(tmp / "model.safetensors"))
        if best_state is not None:
            save_file({k: v.contiguous() for k, v in best_state.items()}, str(tmp / "best_model.safetensors"))
        torch.save({name: obj.state_dict() for name, obj in stateful.items()}, tmp / "optimizer.pt")
        atomic_write_text(tmp / STATE_NAME, json.dumps(state, indent=2))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(root)[:-save_total_limit]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, path: Path, model, stateful: dict, generators: dict[str, torch.Generator]):
    """Restores everything ``save_checkpoint`` wrote (``stateful`` and ``generators`` named as when saved);
    returns ``(state, best_state)``.

    Raises:
        ValueError: a file is missing, truncated or corrupted, or belongs to another model.
    """
    def broken(name: str, err: Exception) -> ValueError:
        return ValueError(
            f"Checkpoint {path} is incomplete or corrupted ({name}: {err}). Delete that folder to resume from "
            f"the previous checkpoint, or start again without --resume-from-checkpoint."
        )

    try:
        state = json.loads((path / STATE_NAME).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise broken(STATE_NAME, err) from err
    try:
        weights = load_file(str(path / "model.safetensors"))
    except (OSError, SafetensorError) as err:
        raise broken("model.safetensors", err) from err
    unwrapped = accelerator.unwrap_model(model)
    expected = set(unwrapped.state_dict())
    if set(weights) != expected:
        missing, unexpected = sorted(expected - set(weights))[:5], sorted(set(weights) - expected)[:5]
        raise ValueError(
            f"Checkpoint {path} holds weights of another model (missing {missing}, unexpected {unexpected}). "
            f"Resume with the same architecture and config, or start a new run in another --output-dir."
        )
    try:
        unwrapped.load_state_dict(weights, strict=True)
    except RuntimeError as err:  # shape mismatch: another config of the same family
        raise ValueError(f"Checkpoint {path} does not fit this model: {err}") from err
    try:
        opt = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated zip files
        raise broken("optimizer.pt", err) from err
    missing = sorted(set(stateful) - set(opt))
    if missing:
        raise broken("optimizer.pt", KeyError(f"no state for {', '.join(missing)}"))
    for name, obj in stateful.items():
        try:
            obj.load_state_dict(opt[name])
        except (ValueError, KeyError, RuntimeError) as err:  # another optimizer layout: another model or loop
            raise ValueError(f"Checkpoint {path} holds {name} state that does not fit this run ({err}).") from err
    rng_file = path / f"rng_state_{accelerator.process_index}.safetensors"
    try:
        rng = load_file(str(rng_file))
    except (OSError, SafetensorError) as err:
        raise broken(rng_file.name, err) from err
    missing = sorted({"torch", *generators} - set(rng))
    if missing:
        raise broken(rng_file.name, KeyError(f"no state for {', '.join(missing)}"))
    torch.set_rng_state(rng["torch"])
    for name, g in generators.items():
        g.set_state(rng[name])
    best_state = None
    if (path / "best_model.safetensors").is_file():
        try:
            best_state = load_file(str(path / "best_model.safetensors"))
        except (OSError, SafetensorError) as err:
            raise broken("best_model.safetensors", err) from err
    return state, best_state


__all__ = ["list_checkpoints", "load_checkpoint", "resolve_checkpoint", "save_checkpoint"]
