"""Vanishing and exploding gradients made visible: gradient norms per layer and per time step, drawn to PNG.

Two measurements:

- **Per layer, over training** (:class:`GradientNormRecorder`, a :class:`~classicnets.training.TrainerCallback`):
  every ``every`` optimizer updates, the L2 norm of the gradient of each group of parameters (one group per layer,
  see :func:`parameter_group`) and the global norm over all parameters, i.e. what gradient clipping compares with
  ``max_grad_norm``. One norm per group, computed from the gradients the optimizer is about to use.
- **Per time step, for recurrent nets** (:func:`time_step_gradient_norms`): for one batch and one loss ``L``, the
  norm of the adjoint ``dL/dh_t`` of the state ``h_t`` of every recurrent layer at every step ``t``. In a vanilla
  RNN this is ``dL/dh_T`` multiplied by the Jacobians ``dh_k/dh_{k-1} = diag(1 - h_k^2) W_hh`` of every later step,
  which shrink (or blow up) geometrically with the distance ``T - t`` (Bengio, Simard & Frasconi, "Learning long-term
  dependencies with gradient descent is difficult", IEEE Trans. Neural Networks 1994; Pascanu, Mikolov & Bengio, "On
  the difficulty of training recurrent neural networks", ICML 2013, arXiv:1211.5063). The LSTM's additive cell
  update and the GRU's interpolation ``z_t * h_{t-1}`` give the error a path through time without that product.

The pictures: :func:`plot_layer_gradient_norms` (norm against update, log scale), :func:`plot_time_step_gradient_norms`
(norm against time step, one line per layer) and :func:`plot_time_step_comparison` (several models or several moments
of training on one figure); :func:`write_gradient_plots` writes those of a recorder into a run folder.

Example:
    >>> import torch
    >>> from classicnets import RNNConfig, RNNForSequenceClassification
    >>> from classicnets.diagnostics import time_step_gradient_norms
    >>> model = RNNForSequenceClassification(RNNConfig(cell_type="rnn", vocab_size=20, hidden_size=16))
    >>> batch = {"input_ids": torch.randint(0, 20, (4, 30)), "labels": torch.tensor([0, 1, 0, 1])}
    >>> result = time_step_gradient_norms(model, batch)
    >>> result.norms.shape  # (layers, time steps)
    torch.Size([1, 30])
    >>> ratio = result.first_to_last_ratio()[0]  # ||dL/dh_1|| / ||dL/dh_30||: far below 1 when it vanishes
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .plots import _import_matplotlib, _number
from .training.trainer import TrainerCallback
from .utils import atomic_write_bytes, atomic_write_text

# Prefixes that wrappers add to parameter names: DistributedDataParallel ("module.") and torch.compile ("_orig_mod.").
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _strip_wrappers(name: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name, stripped = name[len(prefix):], True
    return name


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel / torch.compile wrappers (they share its parameters)."""
    while True:
        inner = getattr(model, "_orig_mod", None)
        if inner is None and isinstance(model, nn.parallel.DistributedDataParallel):
            inner = model.module
        if not isinstance(inner, nn.Module):
            return model
        model = inner


# ================================================================================== per layer
def parameter_group(name: str, depth: int = 2) -> str:
    """The layer a parameter belongs to, read from its name: its module path cut after ``depth`` names.

    A numeric component (an element of an ``nn.ModuleList``/``nn.Sequential``) right after the cut is kept, so each
    element of a list of layers is its own group. Wrapper prefixes (``module.``, ``_orig_mod.``) are ignored.

    Args:
        name: a name from ``model.named_parameters()``.
        depth: how many non-numeric module names to keep (2 suits the classicnets heads: ``<trunk>.<part>``).

    Returns:
        The group name, e.g. ``"rnn.layers.0"``, ``"rnn.embeddings"``, ``"classifier"``.

    Example:
        >>> parameter_group("rnn.layers.1.weight_hh_l0")
        'rnn.layers.1'
        >>> parameter_group("rnn.layers.0.forward_cell.W_hh")  # the scratch implementation groups the same way
        'rnn.layers.0'
        >>> parameter_group("classifier.weight"), parameter_group("rnn.embeddings.weight")
        ('classifier', 'rnn.embeddings')
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int, got {depth!r}.")
    parts = _strip_wrappers(name).split(".")
    path = parts[:-1] or parts  # the module path; a parameter of the root module is its own group
    kept, named = [], 0
    for part in path:
        if named == depth and not part.isdigit():
            break
        kept.append(part)
        if not part.isdigit():
            named += 1
        elif named == depth:
            break
    return ".".join(kept)


def layer_gradient_norms(model: nn.Module, depth: int = 2, scale: float = 1.0) -> tuple[float | None, dict[str, float | None]]:
    """The L2 norm of the current ``.grad`` of each parameter group and over all parameters.

    Parameters without a gradient (frozen, unused) are left out; a group none of whose parameters has one is absent.
    Shared (tied) parameters count once, under their first name.

    Args:
        model: any ``nn.Module`` (wrappers such as DDP and ``torch.compile`` are looked through).
        depth: see :func:`parameter_group`.
        scale: the gradients are divided by it (the loss scale of fp16 training).

    Returns:
        ``(global_norm, {group: norm})``, each ``None`` where it is not finite (an overflow or a NaN). The global norm
        is the one ``torch.nn.utils.clip_grad_norm_`` compares with its ``max_norm``.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
        >>> model(torch.ones(1, 3)).sum().backward()
        >>> total, groups = layer_gradient_norms(model)
        >>> sorted(groups)
        ['0', '1']
    """
    squares: dict[str, torch.Tensor] = {}
    for name, param in _unwrap(model).named_parameters():
        grad = param.grad
        if grad is None:
            continue
        if grad.is_sparse:
            grad = grad.coalesce().values()
        key = parameter_group(name, depth)
        square = torch.linalg.vector_norm(grad.detach(), dtype=torch.float32).square()
        squares[key] = squares[key] + square if key in squares else square
    if not squares:
        return None, {}
    keys = list(squares)
    stacked = torch.stack([squares[k].to(squares[keys[0]].device) for k in keys])  # (groups,)
    values = (torch.cat([stacked, stacked.sum()[None]]).sqrt() / scale).tolist()  # one device sync for them all
    finite = [v if math.isfinite(v) else None for v in values]
    return finite[-1], dict(zip(keys, finite[:-1], strict=True))


class GradientNormRecorder(TrainerCallback):
    """Records gradient norms per layer (and, for recurrent nets, per time step) while the Trainer trains.

    Every ``every`` updates (the first update included), just before gradient clipping and the optimizer step, it
    appends to :attr:`history` ``{"step": u, "global_norm": g, "layers": {group: norm}}`` for update ``u`` (1-based,
    the ``step`` of the training history). Under multi-process training the gradients are the synced (averaged) ones
    and only the main process records; the others keep an empty history. Cost: one norm per parameter and one
    device sync per recorded update. The recorder only reads the gradients and draws no random numbers, so training
    runs exactly as without it. Under fp16 the loss scale is divided out.

    With ``time_step_inputs`` (the model inputs of one fixed batch, labels included) and a classicnets RNN, it also
    measures :func:`time_step_gradient_norms` on that batch at the first update, every ``time_step_every`` updates
    and at the last one, appended to :attr:`time_steps` as ``{"step": u, "labels": [...], "norms": [[...], ...]}``.
    That measurement runs a copy of the model (a forward and a backward of one batch), so keep it sparse.

    Args:
        every: record the per-layer norms every this many updates.
        depth: how parameters are grouped into layers (see :func:`parameter_group`).
        time_step_inputs: one batch of model inputs for the per-time-step measurement (``None``: none).
        time_step_every: measure per time step every this many updates (``None``: only at the first and last).
        time_step_loss_fn: the loss to differentiate, from the model output (``None``: ``output.loss``).
        time_step_cell_state: also measure an LSTM's memory cells ``||dL/dc_t||``.

    Example:
        >>> recorder = GradientNormRecorder(every=10)
        >>> trainer = Trainer(model, args, task, train_dataset, callbacks=[recorder])  # doctest: +SKIP
        >>> trainer.train()  # doctest: +SKIP
        >>> write_gradient_plots(recorder, "runs/x")  # doctest: +SKIP
        ['gradient_norms_layers.png']
    """

    def __init__(self, every: int = 1, depth: int = 2, time_step_inputs: Mapping[str, torch.Tensor] | None = None,
                 time_step_every: int | None = None,
                 time_step_loss_fn: Callable[[Any], torch.Tensor] | None = None, time_step_cell_state: bool = False):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive int (record every N updates), got {every!r}.")
        if time_step_every is not None and (not isinstance(time_step_every, int) or time_step_every < 1):
            raise ValueError(f"time_step_every must be a positive int or None, got {time_step_every!r}.")
        parameter_group("x.y", depth)  # validates depth
        self.every = every
        self.depth = depth
        self.time_step_inputs = dict(time_step_inputs) if time_step_inputs is not None else None
        self.time_step_every = time_step_every
        self.time_step_loss_fn = time_step_loss_fn
        self.time_step_cell_state = time_step_cell_state
        self.history: list[dict] = []
        self.time_steps: list[dict] = []

    def record(self, model: nn.Module, step: int, scale: float = 1.0) -> dict:
        """Appends the per-layer norms of ``model``'s current gradients as update ``step``; returns the entry.

        Use it from a plain training loop, after ``backward()`` and before clipping and ``optimizer.step()``.
        """
        global_norm, layers = layer_gradient_norms(model, self.depth, scale)
        entry = {"step": int(step), "global_norm": global_norm, "layers": layers}
        self.history.append(entry)
        return entry

    def record_time_steps(self, model: nn.Module, step: int) -> dict:
        """Appends :func:`time_step_gradient_norms` of ``model`` on ``time_step_inputs`` as update ``step``."""
        if self.time_step_inputs is None:
            raise ValueError("This recorder has no time_step_inputs: pass GradientNormRecorder(time_step_inputs=batch).")
        device = next(_unwrap(model).parameters()).device
        inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.time_step_inputs.items()}
        result = time_step_gradient_norms(model, inputs, loss_fn=self.time_step_loss_fn,
                                          cell_state=self.time_step_cell_state)
        entry = {"step": int(step), **result.to_dict()}
        self.time_steps.append(entry)
        return entry

    def on_before_optimizer_step(self, trainer, state: dict) -> None:
        acc = trainer.accelerator
        if not acc.is_main_process:
            return
        step = state["global_step"] + 1  # the update these gradients are for
        scaler = getattr(acc, "scaler", None)
        scale = float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0
        if (step - 1) % self.every == 0:
            self.record(trainer.model, step, scale)
        if self.time_step_inputs is not None:
            last = state.get("total_updates")
            if step == 1 or step == last or (self.time_step_every and step % self.time_step_every == 0):
                self.record_time_steps(trainer.model, step)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """Everything recorded, as JSON-serialisable lists and dicts."""
        return {"every": self.every, "depth": self.depth, "history": self.history, "time_steps": self.time_steps}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GradientNormRecorder:
        recorder = cls(every=data.get("every", 1), depth=data.get("depth", 2))
        recorder.history = list(data.get("history", []))
        recorder.time_steps = list(data.get("time_steps", []))
        return recorder

    def save(self, path: str | os.PathLike) -> Path:
        """Writes :meth:`to_dict` as JSON, atomically."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")


# ================================================================================== per time step (recurrent nets)
@dataclass
class TimeStepGradients:
    """The result of :func:`time_step_gradient_norms`.

    Attributes:
        labels: one name per series: ``"layer l"``, or ``"layer l (forward)"`` / ``"layer l (backward)"`` for a
            bidirectional layer (0-based ``l``, as in the parameter names ``rnn.layers.l``); with ``cell_state``, an
            LSTM's memory cells follow their layer's ``h_t`` as ``"layer l (cell)"`` / ``"layer l (forward, cell)"``.
        norms: (series, seq_len), the batch-reduced norms, float64 on the CPU.
        reduction: how the batch was reduced, ``"sum"`` or ``"mean"``.
        per_example: (series, batch, seq_len), ``||dL/dh_{b,t}||`` for every example ``b`` (``None`` when loaded
            from JSON).
        mask: (batch, seq_len), True at the positions that were read (``None`` when loaded from JSON).
    """

    labels: list[str]
    norms: torch.Tensor
    reduction: str = "sum"
    per_example: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    def first_to_last_ratio(self) -> list[float]:
        """Per series, the norm at the first time step divided by the norm at the last: ``<< 1`` means vanishing.

        Positions that no example reads are skipped (their norm is 0); ``nan`` where the last norm is 0.
        """
        ratios = []
        for row in self.norms:
            valid = (row > 0).nonzero().flatten()
            if len(valid) == 0:
                ratios.append(float("nan"))
                continue
            ratios.append(float(row[valid[0]] / row[valid[-1]]))
        return ratios

    def to_dict(self) -> dict:
        return {"labels": list(self.labels), "reduction": self.reduction, "norms": self.norms.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TimeStepGradients:
        return cls(labels=list(data["labels"]), norms=torch.tensor(data["norms"], dtype=torch.float64),
                   reduction=data.get("reduction", "sum"))


def time_step_gradient_norms(
    model: nn.Module,
    inputs: Mapping[str, Any],
    loss_fn: Callable[[Any], torch.Tensor] | None = None,
    reduction: str = "sum",
    cell_state: bool = False,
) -> TimeStepGradients:
    """Norms of the gradient of a loss with respect to every recurrent state ``h_t^(l)`` of a classicnets RNN.

    What is measured: for every layer ``l`` (and direction), every example ``b`` and every step ``t``, the L2 norm
    over the hidden units of the adjoint ``dL/dh^(l)_{b,t}``, where ``h^(l)_{b,t}`` is the state that layer ``l``
    computes at step ``t`` (for the LSTM the hidden state ``h_t = o_t * tanh(c_t)``, not the cell ``c_t``). It is the
    total derivative through every path by which ``h_t`` reaches ``L``: the later steps of the same layer (back
    through time), the layers above, and the head. For a head that reads only the final state (sequence
    classification, forecasting) every path to an early step goes back through time, so the curve over ``t`` is the
    error signal that back-propagation through time delivers to step ``t``. For a language model the loss at step
    ``t`` adds a direct term at every step; pass a ``loss_fn`` that reads one position to see the time path alone.

    How: the model is copied onto the step-by-step ``implementation="scratch"`` cells (`to_implementation`, same
    function to float rounding, so fused ``"torch"`` models are measured too), each step's output state is kept, and
    ``torch.autograd.grad`` differentiates ``L`` with respect to all of them. The copy runs in eval mode (no dropout),
    so the result is deterministic; ``model``, its gradients and the global random state are left untouched.

    Padding is respected exactly: positions where ``attention_mask`` is 0 do not hold a state (the model skips them)
    and get 0; left or right padding gives the same norms at the same tokens as the sequence alone in its batch.

    Args:
        model: a classicnets RNN (``RNNForSequenceClassification``, ``RNNForCausalLM``,
            ``RNNForTimeSeriesForecasting`` or ``RNNModel``), any cell and implementation, uni- or bidirectional.
        inputs: the keyword arguments of ``model.forward`` for one batch, with ``labels`` unless ``loss_fn`` makes
            the loss without them.
        loss_fn: maps the model output to the scalar loss ``L`` (default: ``output.loss``).
        cell_state: for an LSTM, also measure ``||dL/dc_t||`` of the memory cell (series labelled ``"layer l
            (cell)"``): the path of Hochreiter & Schmidhuber's constant error carousel, ``dc_t/dc_{t-1} = f_t``.
        reduction: how the per-example norms are combined into :attr:`TimeStepGradients.norms`: ``"sum"`` over the
            batch (with the models' losses, which are means over the batch, this is the average over examples of
            ``||d loss_b / dh_{b,t}||`` of each example's own loss, independent of the batch size) or ``"mean"``
            over the batch (padded positions count as 0).

    Returns:
        A :class:`TimeStepGradients` with ``norms`` of shape (layers * directions, seq_len).

    Example:
        >>> from classicnets import RNNConfig, RNNForSequenceClassification
        >>> model = RNNForSequenceClassification(RNNConfig(cell_type="lstm", vocab_size=20, hidden_size=16))
        >>> batch = {"input_ids": torch.randint(0, 20, (4, 30)), "labels": torch.tensor([0, 1, 0, 1])}
        >>> result = time_step_gradient_norms(model, batch)
        >>> result.labels, result.norms.shape
        (['layer 0'], torch.Size([1, 30]))
        >>> ratio = result.first_to_last_ratio()[0]  # gradient at step 1 over gradient at step 30
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}.")
    base = _unwrap(model)
    config = getattr(base, "config", None)
    if getattr(config, "model_type", None) != "classicnets_rnn" or not callable(getattr(base, "to_implementation", None)):
        raise TypeError(
            f"time_step_gradient_norms measures classicnets recurrent nets (RNNForSequenceClassification, RNNForCausalLM, "
            f"RNNForTimeSeriesForecasting, RNNModel); got {type(base).__name__}. For any model, "
            f"layer_gradient_norms gives the norms per layer."
        )
    if not isinstance(inputs, Mapping):
        raise TypeError(f"inputs must be a dict of model inputs (keyword arguments of forward), got {type(inputs).__name__}.")
    device = next(base.parameters()).device
    # Building the copy initialises fresh weights (then overwritten): keep the caller's random streams untouched.
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        probe = base.to_implementation("scratch")
    probe.eval()

    # Every (layer, direction) cell of the copy, in layer order, with a list that its steps fill.
    series: list[tuple[str, bool, list[torch.Tensor]]] = []
    layers = [m for m in probe.modules() if hasattr(m, "forward_cell")]
    for index, layer in enumerate(layers):
        cells = [("forward", layer.forward_cell, False)]
        if getattr(layer, "backward_cell", None) is not None:
            cells.append(("backward", layer.backward_cell, True))
        for direction, cell, reverse in cells:
            names = [direction] if len(cells) > 1 else []
            stores: list[list[torch.Tensor]] = [[]]
            series.append((_series_label(index, names), reverse, stores[0]))
            if cell_state and getattr(cell, "num_states", 1) == 2:  # the LSTM's (h_t, c_t)
                stores.append([])
                series.append((_series_label(index, [*names, "cell"]), reverse, stores[1]))
            cell.step = _recording_step(cell.step, stores)  # an instance attribute on the copy only
    if not series:
        raise TypeError(f"{type(base).__name__} has no recurrent layers to measure.")

    with torch.enable_grad():
        output = probe(**inputs)
        loss = output.loss if loss_fn is None else loss_fn(output)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise ValueError(
                "There is no scalar loss to differentiate: pass labels in inputs (the model's loss is used) or a "
                "loss_fn(output) returning a scalar tensor."
            )
        states = [h for _, _, store in series for h in store]
        grads = torch.autograd.grad(loss, states, allow_unused=True)

    per_example_run = []
    position = 0
    for _, reverse, store in series:
        steps = []
        for h in store:
            g = grads[position]
            position += 1
            steps.append(torch.zeros(h.shape[0], device=h.device) if g is None
                         else torch.linalg.vector_norm(g.double(), dim=-1))  # (batch,)
        if reverse:  # the backward cell reads time reversed
            steps.reverse()
        per_example_run.append(torch.stack(steps, dim=1).cpu())  # (batch, T)
    per_example_run = torch.stack(per_example_run)  # (series, batch, T), in the order the model ran the positions

    # The model moves the valid positions of every row to the front (a stable sort) before running them: map the
    # run positions back to the caller's.
    batch_size, seq_len = per_example_run.shape[1:]
    attention_mask = inputs.get("attention_mask")
    if attention_mask is not None:
        mask = attention_mask[:, -seq_len:].bool().cpu()
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # (batch, T): caller position of run k
        per_example = torch.zeros_like(per_example_run).scatter_(
            2, order[None].expand_as(per_example_run), per_example_run)
    else:
        mask = torch.ones(batch_size, seq_len, dtype=torch.bool)
        per_example = per_example_run
    per_example = per_example.masked_fill(~mask[None], 0.0)
    norms = per_example.sum(dim=1) if reduction == "sum" else per_example.mean(dim=1)
    return TimeStepGradients(labels=[label for label, _, _ in series], norms=norms, reduction=reduction,
                             per_example=per_example, mask=mask)


def _series_label(layer: int, names: list[str]) -> str:
    return f"layer {layer}" + (f" ({', '.join(names)})" if names else "")


def _recording_step(step: Callable, stores: list[list[torch.Tensor]]) -> Callable:
    """Wraps a scratch cell's ``step`` so that the states it returns are also appended to ``stores``: ``h_t`` to the
    first, and ``c_t`` (the LSTM's ``new = (h_t, c_t)``) to the second when there is one. Each is (batch, hidden)."""

    def recording_step(u_t, state, W_h):
        new = step(u_t, state, W_h)
        for store, tensor in zip(stores, new, strict=False):
            store.append(tensor)
        return new

    return recording_step


# ================================================================================== pictures
def _save_png(fig, path: str | os.PathLike, dpi: int) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return atomic_write_bytes(path, buffer.getvalue())


def _new_figure(panels: int, dpi: int):
    Figure, FigureCanvasAgg = _import_matplotlib()
    fig = Figure(figsize=(5.0 * panels, 3.75), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, panels, squeeze=False)[0]


def _positive_points(history, value: Callable[[Mapping], Any]) -> tuple[list[float], list[float]]:
    """(steps, values) of the entries whose value is a positive finite number (a log axis has no place for 0)."""
    xs, ys = [], []
    for entry in history:
        y = _number(value(entry))
        if y is not None and y > 0:
            xs.append(float(entry["step"]))
            ys.append(y)
    return xs, ys


def plot_layer_gradient_norms(
    history: GradientNormRecorder | Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Draws the gradient norm of every layer and the global norm against the update, on a log scale.

    Args:
        history: a :class:`GradientNormRecorder` or its ``history`` (``{"step", "global_norm", "layers"}`` dicts).
        path: where to write the PNG (written atomically; parent folders are created).
        title: optional title.
        dpi: resolution; the figure is 5 x 3.75 inches.

    Returns:
        The path of the written PNG.

    Example:
        >>> import tempfile, os
        >>> history = [{"step": 1, "global_norm": 2.0, "layers": {"rnn.layers.0": 1.0, "classifier": 1.7}},
        ...            {"step": 2, "global_norm": 0.5, "layers": {"rnn.layers.0": 0.1, "classifier": 0.49}}]
        >>> plot_layer_gradient_norms(history, os.path.join(tempfile.mkdtemp(), "grads.png")).suffix
        '.png'
    """
    if isinstance(history, GradientNormRecorder):
        history = history.history
    if isinstance(history, Mapping) or not isinstance(history, Sequence):
        raise TypeError(f"history must be a GradientNormRecorder or a list of dicts, got {type(history).__name__}.")
    if not history:
        raise ValueError("The gradient-norm history is empty: train with a GradientNormRecorder first.")
    groups: dict[str, None] = {}
    for entry in history:
        groups.update(dict.fromkeys(entry.get("layers", {})))
    fig, (ax,) = _new_figure(1, dpi)
    marker = "o" if len(history) <= 30 else None
    for group in groups:
        xs, ys = _positive_points(history, lambda e, group=group: e.get("layers", {}).get(group))
        ax.plot(xs, ys, marker=marker, markersize=3, linewidth=1.3, label=group)
    xs, ys = _positive_points(history, lambda e: e.get("global_norm"))
    ax.plot(xs, ys, color="black", linestyle="--", linewidth=1.3, label="global")
    ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel("gradient L2 norm")
    ax.set_title(title or "Gradient norm per layer")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return _save_png(fig, path, dpi)


def _as_result(value: TimeStepGradients | Mapping[str, Any]) -> TimeStepGradients:
    if isinstance(value, TimeStepGradients):
        return value
    if isinstance(value, Mapping) and "norms" in value and "labels" in value:
        return TimeStepGradients.from_dict(value)
    raise TypeError(f"Expected a TimeStepGradients (or its to_dict()), got {type(value).__name__}.")


def _plot_time_steps(ax, result: TimeStepGradients, rows: Sequence[int], label: Callable[[int], str], color=None):
    steps = list(range(1, result.norms.shape[1] + 1))
    for row in rows:
        ys = [float(v) if v > 0 else float("nan") for v in result.norms[row]]  # 0 (padding) has no place on a log axis
        ax.plot(steps, ys, linewidth=1.4, label=label(row), color=color)


def _style_time_axis(ax, reduction: str, title: str, state: str = "h"):
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel(f"||dL/d{state}_t|| ({'sum' if reduction == 'sum' else 'mean'} over the batch)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")


def plot_time_step_gradient_norms(
    result: TimeStepGradients | Mapping[str, Any],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Draws ``||dL/dh_t||`` against the time step ``t``, one line per layer (and direction), on a log scale.

    A line that falls toward ``t = 1`` is a gradient vanishing back through time; one that rises is exploding.

    Args:
        result: from :func:`time_step_gradient_norms` (or its ``to_dict()``).
        path: where to write the PNG (written atomically).
        title: optional title.
        dpi: resolution; the figure is 5 x 3.75 inches.

    Returns:
        The path of the written PNG.

    Example:
        >>> result = time_step_gradient_norms(model, batch)  # doctest: +SKIP
        >>> plot_time_step_gradient_norms(result, "runs/x/time_steps.png")  # doctest: +SKIP
    """
    result = _as_result(result)
    fig, (ax,) = _new_figure(1, dpi)
    _plot_time_steps(ax, result, range(len(result.labels)), lambda row: result.labels[row])
    _style_time_axis(ax, result.reduction, title or "Gradient reaching each time step",
                     "c" if all("cell" in label for label in result.labels) else "h")
    return _save_png(fig, path, dpi)


def plot_time_step_comparison(
    results: Mapping[str, TimeStepGradients | Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Draws the ``||dL/dh_t||`` curves of several models (or of one model at several updates) on one figure.

    One panel per layer label (``"layer 0"``...), one line per entry of ``results`` in each, on a log scale: e.g.
    ``{"rnn": ..., "lstm": ..., "gru": ...}`` trained on the same task and measured on the same batch.

    Args:
        results: name -> :func:`time_step_gradient_norms` result (or its ``to_dict()``); insertion order is kept.
        path: where to write the PNG (written atomically).
        title: optional title above the panels.
        dpi: resolution; each panel is 5 x 3.75 inches.

    Returns:
        The path of the written PNG.

    Example:
        >>> results = {cell: time_step_gradient_norms(models[cell], batch) for cell in ("rnn", "lstm", "gru")}  # doctest: +SKIP
        >>> plot_time_step_comparison(results, "runs/x/rnn_lstm_gru.png")  # doctest: +SKIP
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty dict of name -> time_step_gradient_norms result.")
    results = {name: _as_result(value) for name, value in results.items()}
    labels: dict[str, None] = {}
    for result in results.values():
        labels.update(dict.fromkeys(result.labels))
    fig, axes = _new_figure(len(labels), dpi)
    colors = [f"C{i % 10}" for i in range(len(results))]
    for ax, layer in zip(axes, labels, strict=True):
        for (name, result), color in zip(results.items(), colors, strict=True):
            if layer in result.labels:
                _plot_time_steps(ax, result, [result.labels.index(layer)], lambda row, name=name: name, color=color)
        reduction = next(iter(results.values())).reduction
        _style_time_axis(ax, reduction, layer if len(labels) > 1 else title or "Gradient reaching each time step",
                         "c" if "cell" in layer else "h")
    if title and len(labels) > 1:
        fig.suptitle(title)
    return _save_png(fig, path, dpi)


def write_gradient_plots(recorder: GradientNormRecorder, output_dir: str | os.PathLike,
                         prefix: str = "gradient_norms", dpi: int = 100) -> list[str]:
    """Writes the pictures of what ``recorder`` holds into ``output_dir`` and returns their file names.

    ``<prefix>_layers.png`` (per-layer norms over training) when the per-layer history is not empty, and
    ``<prefix>_time_steps.png`` (the per-time-step curves at each measured update, one panel per layer) when time
    steps were measured. A recorder of a non-main process holds nothing: then nothing is written and ``[]`` is
    returned, so every process may call it. Files are written atomically.

    Args:
        recorder: a :class:`GradientNormRecorder` after training (or one rebuilt with ``from_dict``).
        output_dir: the folder (created when missing), e.g. the run's ``--output-dir``.
        prefix: the start of the file names.
        dpi: resolution.

    Returns:
        The names (relative to ``output_dir``) of the PNGs written, e.g. for a model card.

    Example:
        >>> write_gradient_plots(recorder, "runs/rnn-shakespeare")  # doctest: +SKIP
        ['gradient_norms_layers.png', 'gradient_norms_time_steps.png']
    """
    if not isinstance(recorder, GradientNormRecorder):
        raise TypeError(f"recorder must be a GradientNormRecorder, got {type(recorder).__name__}.")
    output_dir = Path(output_dir)
    names = []
    if recorder.history:
        name = f"{prefix}_layers.png"
        plot_layer_gradient_norms(recorder.history, output_dir / name, dpi=dpi)
        names.append(name)
    if recorder.time_steps:
        name = f"{prefix}_time_steps.png"
        snapshots = {f"update {entry['step']}": entry for entry in recorder.time_steps}
        plot_time_step_comparison(snapshots, output_dir / name, dpi=dpi,
                                  title="Gradient reaching each time step during training")
        names.append(name)
    return names


__all__ = [
    "GradientNormRecorder",
    "TimeStepGradients",
    "layer_gradient_norms",
    "parameter_group",
    "plot_layer_gradient_norms",
    "plot_time_step_comparison",
    "plot_time_step_gradient_norms",
    "time_step_gradient_norms",
    "write_gradient_plots",
]
