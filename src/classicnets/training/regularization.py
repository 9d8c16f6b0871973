"""Norm penalties and the parameter groups weight decay applies to.

Goodfellow, Bengio & Courville, *Deep Learning* (2016), section 7.1: the L2 penalty
``Omega(w) = 1/2 ||w||_2^2`` and the L1 penalty ``Omega(w) = ||w||_1`` are applied to the weights only;
biases and normalization parameters are left unregularised because they control a single unit each and
penalising them can cause underfitting.
"""

from __future__ import annotations

import torch
from torch import nn


def is_decayed(name: str, param: torch.Tensor) -> bool:
    """Weight matrices and kernels are regularised; biases, norm scales/shifts (1-D tensors) are not."""
    return param.dim() > 1


def penalized_parameters(model: nn.Module) -> list[torch.Tensor]:
    return [p for n, p in model.named_parameters() if p.requires_grad and is_decayed(n, p)]


def norm_penalty(params: list[torch.Tensor], l1_lambda: float = 0.0, l2_lambda: float = 0.0) -> torch.Tensor | None:
    """``l1_lambda * sum |w| + l2_lambda / 2 * sum w^2`` over ``params``; ``None`` when both weights are 0."""
    if not params or (l1_lambda == 0 and l2_lambda == 0):
        return None
    total = params[0].new_zeros(())
    for w in params:
        if l1_lambda:
            total = total + l1_lambda * w.abs().sum()
        if l2_lambda:
            total = total + 0.5 * l2_lambda * w.pow(2).sum()
    return total


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two optimizer groups: decayed weights and undecayed biases / normalization parameters."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if is_decayed(name, p) else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


__all__ = ["is_decayed", "norm_penalty", "parameter_groups", "penalized_parameters"]
