"""Transfer learning: reuse a trained classicnets model for a new task.

A classifier is a *trunk* (the backbone: a stack of blocks from the input to the representation) and a
*head* (the output layer that reads that representation). Features of early blocks are general and those
of late blocks are specific to the task they were trained on (Yosinski, Clune, Bengio & Lipson, "How
transferable are features in deep neural networks?", NeurIPS 2014, arXiv:1411.1792), so a new task
usually keeps the trunk, puts a fresh head on it and then

* trains only the head on frozen features (``freeze`` + ``replace_head``, or ``extract_features`` and a
  linear model: a *linear probe*);
* fine-tunes everything with smaller learning rates for earlier blocks: *discriminative fine-tuning*,
  ``lr_k = lr * decay**k`` for the block ``k`` places below the head, and *gradual unfreezing*, one block
  more per stage from the head down (Howard & Ruder, "Universal Language Model Fine-tuning for Text
  Classification", ACL 2018, arXiv:1801.06146; ``parameter_groups`` and ``unfreeze``).

The functions read a model only through the transfer surface every classicnets classifier has
(``get_classifier()``, ``reset_classifier(num_labels, id2label)``, ``forward_features(...)``) and the blocks
named in :data:`BACKBONE_BLOCKS`; they never change a model's classes or its ``state_dict`` keys, so a
frozen or re-headed model saves and loads with ``save_pretrained``/``from_pretrained`` as before. Freezing
is a runtime state: it is not written to a checkpoint.

Example:
    >>> import torch
    >>> from classicnets import CNNConfig, CNNForImageClassification
    >>> from classicnets.transfer import freeze, parameter_groups, replace_head
    >>> model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))    # e.g. trained on MNIST
    >>> model = replace_head(model, num_labels=2, id2label={0: "even", 1: "odd"})
    >>> frozen = freeze(model, up_to="cnn.stages.1")                          # keep the convolutions
    >>> optimizer = torch.optim.AdamW(parameter_groups(model, 1e-3, layer_decay=0.5))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

# The ordered blocks inside each family's headless model (its ``base_model_prefix`` attribute), by
# ``config.model_type`` so that classes loaded as remote code are recognised too. Each entry names attributes
# that, in this order, take the input to the representation the head reads: an ``nn.ModuleList`` gives one
# block per element, any other module is one block, and ``None`` (an optional part) is skipped. A new
# architecture family adds its entry here.
BACKBONE_BLOCKS: dict[str, tuple[str, ...]] = {
    "classicnets_cnn": ("stages", "fc_layers"),  # conv stages, then the fully connected hidden layers
    "classicnets_mlp": ("layers",),  # the hidden layers
    "classicnets_rnn": ("embeddings", "layers"),  # the token embeddings (absent for time series), the recurrent layers
}


def _check_transfer_model(model: nn.Module) -> None:
    if not isinstance(model, nn.Module) or not callable(getattr(model, "get_classifier", None)):
        raise TypeError(
            f"{type(model).__name__} has no get_classifier(): transfer learning needs a model with a task head "
            f"(e.g. CNNForImageClassification, MLPForImageClassification, MLPForTabularClassification or "
            f"MLPForTabularRegression), not a headless CNNModel/MLPModel or another nn.Module."
        )


def _trunk(model: nn.Module) -> tuple[str, nn.Module, tuple[str, ...]]:
    """(prefix, headless model, block containers) of a classifier, or a TypeError naming what is missing."""
    _check_transfer_model(model)
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    prefix = getattr(model, "base_model_prefix", "")
    trunk = getattr(model, prefix, None) if prefix else None
    if model_type not in BACKBONE_BLOCKS or not isinstance(trunk, nn.Module) or trunk is model:
        raise TypeError(
            f"{type(model).__name__} (model_type={model_type!r}) has no known backbone: transfer learning needs a "
            f"PreTrainedModel whose base_model_prefix attribute is its headless trunk and whose model_type is one "
            f"of {sorted(BACKBONE_BLOCKS)} (add an entry to classicnets.transfer.BACKBONE_BLOCKS for a new family)."
        )
    return prefix, trunk, BACKBONE_BLOCKS[model_type]


def backbone_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The blocks of a classifier's trunk, ordered from the input to the representation the head reads.

    Names are module paths from the model's root (as in ``model.named_modules()``): ``cnn.stages.0``,
    ``cnn.stages.1``, ..., ``cnn.fc_layers.0``, ... for a CNN; ``mlp.layers.0``, ... for an MLP. Every
    parameter of the trunk lies in exactly one block; every other parameter belongs to the head (see
    :func:`head_parameters`), whose output layer is ``model.get_classifier()``.

    Args:
        model: a classicnets classifier or regressor (a model with ``get_classifier()`` and a trunk listed in
            :data:`BACKBONE_BLOCKS`).

    Returns:
        ``[(name, module), ...]``, input first. Empty for an MLP without hidden layers.

    Raises:
        TypeError: if the model has no ``get_classifier()`` or no known backbone.

    Example:
        >>> from classicnets import CNNConfig, CNNForImageClassification
        >>> model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
        >>> [name for name, _ in backbone_blocks(model)]
        ['cnn.stages.0', 'cnn.stages.1', 'cnn.fc_layers.0', 'cnn.fc_layers.1']
    """
    prefix, trunk, containers = _trunk(model)
    blocks = []
    for container_name in containers:
        container = getattr(trunk, container_name, None)
        if isinstance(container, nn.ModuleList):
            blocks.extend((f"{prefix}.{container_name}.{i}", block) for i, block in enumerate(container))
        elif isinstance(container, nn.Module):
            blocks.append((f"{prefix}.{container_name}", container))
    covered = {id(p) for _, block in blocks for p in block.parameters()}
    missed = [f"{prefix}.{n}" for n, p in trunk.named_parameters() if id(p) not in covered]
    if missed:
        raise TypeError(
            f"The backbone blocks {list(containers)} of {type(model).__name__} leave trunk parameters {missed} "
            f"outside every block; extend its entry in classicnets.transfer.BACKBONE_BLOCKS."
        )
    return blocks


def head_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The parameters outside the trunk: the output layer ``model.get_classifier()`` (dropout has none).

    Args:
        model: a classicnets classifier or regressor.

    Returns:
        ``[(name, parameter), ...]`` in ``named_parameters`` order.

    Example:
        >>> from classicnets import MLPConfig, MLPForTabularClassification
        >>> model = MLPForTabularClassification(MLPConfig(input_size=4, hidden_sizes=(8,), num_labels=3))
        >>> [name for name, _ in head_parameters(model)]
        ['classifier.weight', 'classifier.bias']
    """
    prefix, _, _ = _trunk(model)
    return [(n, p) for n, p in model.named_parameters() if not n.startswith(prefix + ".")]


def _boundary(blocks: list[tuple[str, nn.Module]], where: str | int, argument: str, inclusive: bool) -> int:
    """Index ``k`` that splits ``blocks`` into ``blocks[:k]`` and ``blocks[k:]``.

    A name selects that block (``inclusive``: it falls in ``blocks[:k]``); an int is a slice index.
    """
    names = [name for name, _ in blocks]
    if isinstance(where, bool) or not isinstance(where, (str, int)):
        raise TypeError(f"{argument} must be a block name (str), a number of blocks (int) or None, got {where!r}.")
    if isinstance(where, str):
        if where not in names:
            raise ValueError(f"{argument}={where!r} is not a backbone block; valid block names: {names}.")
        return names.index(where) + (1 if inclusive else 0)
    if not -len(blocks) <= where <= len(blocks):
        raise ValueError(
            f"{argument}={where} is out of range: this backbone has {len(blocks)} blocks ({names}); use an int "
            f"between {-len(blocks)} and {len(blocks)} (a slice index, counted from the input) or a block name."
        )
    return where % len(blocks) if where < 0 else where


def _holds_running_stats(module: nn.Module) -> bool:
    # _NormBase is the base of every BatchNorm and InstanceNorm; only those tracking statistics have some to hold.
    return isinstance(module, nn.modules.batchnorm._NormBase) and module.track_running_stats


def _hold_eval_mode(module: nn.Module, args) -> None:
    """Forward pre-hook: run this normalization layer in eval mode whatever ``model.train()`` set.

    In eval mode batch norm normalises with its running mean and variance and does not update them, so the
    frozen block computes the function it was trained to compute and its buffers stay fixed.
    """
    module.training = False


def _is_held(module: nn.Module) -> bool:
    # Compared by identity in the module's own hook table: survives deepcopy and pickling of the model.
    return any(hook is _hold_eval_mode for hook in module._forward_pre_hooks.values())


def _release(module: nn.Module, training: bool) -> None:
    for key in [k for k, hook in module._forward_pre_hooks.items() if hook is _hold_eval_mode]:
        del module._forward_pre_hooks[key]
    module.training = training


def freeze(model: nn.Module, up_to: str | int | None = None, *, freeze_norm_stats: bool = True) -> list[str]:
    """Freezes the backbone, or its blocks from the input up to and including ``up_to``; the head stays trainable.

    Frozen parameters get ``requires_grad=False``: they receive no gradient, an optimizer built from
    :func:`parameter_groups` leaves them out, and data-parallel training ignores them. With
    ``freeze_norm_stats`` (the default), every batch-norm layer inside a frozen block is also held in eval
    mode, even after ``model.train()``: it normalises with the running statistics it was trained with and
    no longer updates them, so the frozen blocks compute exactly what they computed before. (Without it the
    affine parameters are frozen but the running mean and variance keep drifting towards the new data.)
    The hold is a forward pre-hook on each such layer that sets its ``training`` flag to ``False`` before
    every call; classes, ``state_dict`` keys and checkpoints are unchanged. Freezing never unfreezes: blocks
    that were already frozen stay so.

    Args:
        model: a classicnets classifier or regressor.
        up_to: ``None`` freezes every backbone block; a block name (see :func:`backbone_blocks`) freezes the
            blocks from the input up to and including it; an int ``k`` freezes the first ``k`` blocks
            (``blocks[:k]``, so ``-1`` is all but the last).
        freeze_norm_stats: hold the batch-norm layers of the frozen blocks in eval mode.

    Returns:
        The names of the parameters of the frozen blocks, in ``named_parameters`` order.

    Raises:
        ValueError: for a name that is not a block (the message lists the valid names) or an int out of range.
        TypeError: for a model without ``get_classifier()`` or known backbone, or an ``up_to`` of another type.

    Example:
        >>> from classicnets import CNNConfig, CNNForImageClassification
        >>> model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
        >>> freeze(model, up_to="cnn.stages.0")
        ['cnn.stages.0.layers.0.conv.weight', 'cnn.stages.0.layers.0.conv.bias']
        >>> len(freeze(model))        # the whole backbone: 2 stages + 2 fully connected layers
        8
    """
    blocks = backbone_blocks(model)
    k = len(blocks) if up_to is None else _boundary(blocks, up_to, "up_to", inclusive=True)
    frozen_blocks = {name for name, _ in blocks[:k]}
    for _, block in blocks[:k]:
        block.requires_grad_(False)
        if freeze_norm_stats:
            for module in block.modules():
                if _holds_running_stats(module) and not _is_held(module):
                    module.register_forward_pre_hook(_hold_eval_mode)
                    module.training = False
    return [n for n, _ in model.named_parameters() if any(n.startswith(b + ".") for b in frozen_blocks)]


def unfreeze(model: nn.Module, from_block: str | int | None = None) -> list[str]:
    """Makes the head and the backbone blocks from ``from_block`` onward trainable again (gradual unfreezing).

    ``unfreeze(model)`` undoes every :func:`freeze`. Howard & Ruder (2018) fine-tune the head first, then
    unfreeze one more block per stage from the top down: ``unfreeze(model, -1)``, ``unfreeze(model, -2)``,
    ... (or by name). Batch-norm layers of the unfrozen blocks stop being held in eval mode and take the
    model's current mode. Build a new optimizer (:func:`parameter_groups`) after unfreezing: one built
    before does not hold the newly trainable parameters.

    Args:
        model: a classicnets classifier or regressor.
        from_block: ``None`` unfreezes everything; a block name unfreezes that block and all after it; an int
            ``k`` unfreezes ``blocks[k:]`` (the complement of ``freeze(model, up_to=k)``; ``-1``: the last block).

    Returns:
        The names of the parameters made trainable, in ``named_parameters`` order.

    Raises:
        ValueError: for a name that is not a block or an int out of range.
        TypeError: as :func:`freeze`.

    Example:
        >>> from classicnets import MLPConfig, MLPForTabularClassification
        >>> model = MLPForTabularClassification(MLPConfig(input_size=4, hidden_sizes=(8, 8), num_labels=3))
        >>> _ = freeze(model)
        >>> unfreeze(model, from_block="mlp.layers.1")
        ['mlp.layers.1.linear.weight', 'mlp.layers.1.linear.bias', 'classifier.weight', 'classifier.bias']
        >>> frozen_parameter_names(model)
        ['mlp.layers.0.linear.weight', 'mlp.layers.0.linear.bias']
    """
    blocks = backbone_blocks(model)
    k = 0 if from_block is None else _boundary(blocks, from_block, "from_block", inclusive=False)
    kept = {name for name, _ in blocks[:k]}
    for _, block in blocks[k:]:
        for module in block.modules():
            if _is_held(module):
                _release(module, model.training)
    names = []
    for n, p in model.named_parameters():
        if not any(n.startswith(b + ".") for b in kept):
            p.requires_grad_(True)
            names.append(n)
    return names


def frozen_parameter_names(model: nn.Module) -> list[str]:
    """Names of the parameters with ``requires_grad=False``, in ``named_parameters`` order (any ``nn.Module``).

    Example:
        >>> from classicnets import CNNConfig, CNNForImageClassification
        >>> model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
        >>> _ = freeze(model, up_to=1)
        >>> frozen_parameter_names(model)
        ['cnn.stages.0.layers.0.conv.weight', 'cnn.stages.0.layers.0.conv.bias']
    """
    return [n for n, p in model.named_parameters() if not p.requires_grad]


@dataclass(frozen=True)
class TrainableSummary:
    """Counts of scalar parameters: ``trainable`` of ``total``, and per block ``(name, trainable, total)``.

    Fields read as attributes (``summary.trainable``) or keys (``summary["trainable"]``, for report templates).
    """

    trainable: int
    total: int
    blocks: tuple[tuple[str, int, int], ...] = ()

    @property
    def frozen(self) -> int:
        return self.total - self.trainable

    def __getitem__(self, key: str):
        if key not in ("trainable", "total", "frozen", "blocks"):
            raise KeyError(f"{key!r}: a TrainableSummary has trainable, total, frozen and blocks.")
        return getattr(self, key)

    def __str__(self) -> str:
        width = max([len(name) for name, _, _ in self.blocks] + [5])
        rows = [f"{name:<{width}}  {t:>12,} / {n:,}" for name, t, n in self.blocks]
        rows.append(f"{'total':<{width}}  {self.trainable:>12,} / {self.total:,} trainable ({self.frozen:,} frozen)")
        return "\n".join(rows)


def trainable_summary(model: nn.Module) -> TrainableSummary:
    """How many parameters are trainable, overall and per backbone block and head.

    Args:
        model: any ``nn.Module``; per-block rows are given for classicnets classifiers (see
            :func:`backbone_blocks`), whose rows are the blocks from the input, then ``head``.

    Returns:
        A :class:`TrainableSummary`; ``print`` it for a table.

    Example:
        >>> from classicnets import MLPConfig, MLPForTabularClassification
        >>> model = MLPForTabularClassification(MLPConfig(input_size=4, hidden_sizes=(8,), num_labels=3))
        >>> _ = freeze(model)
        >>> summary = trainable_summary(model)
        >>> summary.trainable, summary.total, summary.blocks
        (27, 67, (('mlp.layers.0', 0, 40), ('head', 27, 27)))
    """

    def count(params) -> tuple[int, int]:
        params = list(params)
        return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)

    trainable, total = count(model.parameters())
    try:
        blocks = backbone_blocks(model)
    except TypeError:
        return TrainableSummary(trainable, total)
    rows = [(name, *count(block.parameters())) for name, block in blocks]
    rows.append(("head", *count(p for _, p in head_parameters(model))))
    return TrainableSummary(trainable, total, tuple(rows))


def replace_head(model: nn.Module, num_labels: int, id2label: Mapping[int, str] | None = None) -> nn.Module:
    """Puts a freshly initialised output layer for a new label set on the trained trunk.

    The trunk is not touched (every tensor stays bit-identical); the new layer is trainable even when the
    backbone is frozen, lies on the old layer's device and dtype, and is initialised as the model's
    ``_init_weights`` initialises an output layer (seed with ``torch.manual_seed`` for repeatability).
    ``config.num_labels``, ``id2label`` and ``label2id`` describe the new labels, so ``save_pretrained`` and
    ``from_pretrained`` round-trip the new model. Build the optimizer afterwards: the old head's parameters
    are gone.

    Args:
        model: a classicnets classifier or regressor (``reset_classifier`` is called on it).
        num_labels: classes (or regression targets) of the new task, >= 1.
        id2label: class names ``{0: "cat", 1: "dog", ...}`` with keys ``0..num_labels-1``;
            default ``LABEL_0``, ``LABEL_1``, ...

    Returns:
        The same model, changed in place (for chaining).

    Raises:
        TypeError: if the model has no ``reset_classifier``.
        ValueError: for ``num_labels < 1`` or an ``id2label`` whose keys are not ``0..num_labels-1``.

    Example:
        >>> from classicnets import CNNConfig, CNNForImageClassification
        >>> model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
        >>> model = replace_head(model, 2, id2label={0: "even", 1: "odd"})
        >>> model.config.num_labels, model.config.label2id, model.get_classifier().out_features
        (2, {'even': 0, 'odd': 1}, 2)
    """
    _check_transfer_model(model)
    if not callable(getattr(model, "reset_classifier", None)):
        raise TypeError(f"{type(model).__name__} has no reset_classifier(num_labels, id2label); cannot replace its head.")
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise ValueError(f"num_labels must be an int >= 1, got {num_labels!r}.")
    if id2label is not None:
        id2label = {int(k): str(v) for k, v in id2label.items()}
        if sorted(id2label) != list(range(num_labels)):
            raise ValueError(
                f"id2label must have the keys 0..{num_labels - 1} (one per label), got keys {sorted(id2label)}."
            )
        if len(set(id2label.values())) != num_labels:
            raise ValueError(f"id2label names must be distinct (label2id inverts them), got {list(id2label.values())}.")
    model.reset_classifier(num_labels, id2label)
    for p in model.get_classifier().parameters():
        p.requires_grad_(True)
    return model


def parameter_groups(
    model: nn.Module,
    learning_rate: float,
    weight_decay: float = 0.0,
    *,
    backbone_lr_scale: float = 1.0,
    layer_decay: float | None = None,
) -> list[dict]:
    """Optimizer parameter groups with discriminative learning rates per block (Howard & Ruder 2018).

    The head trains at ``learning_rate``. Backbone block ``k`` places below the head (``k = 1`` for the last
    block, ``k = n`` for the first of ``n``) trains at ``learning_rate * backbone_lr_scale * layer_decay**k``
    (``layer_decay=None`` counts as 1): ``backbone_lr_scale`` alone gives every block one smaller rate,
    ``layer_decay`` alone ULMFiT's geometric decay towards the input (Howard & Ruder used 1/2.6). Inside
    each block (and the head) weights are decayed with ``weight_decay`` and biases and normalization
    parameters are not (``classicnets.training.regularization.is_decayed``). Frozen parameters are left out;
    every trainable parameter is in exactly one group. Each group is a dict with ``params``, ``lr``,
    ``weight_decay`` and ``name`` (``"<block>/decay"``, ``"<block>/no_decay"``, ``"head/..."``) for logging;
    empty groups are omitted.

    The groups work with any ``torch.optim`` optimizer and with schedulers that scale each group's own
    rate: ``transformers.get_scheduler`` and ``OneCycleLR(max_lr=[g["lr"] for g in groups])``. (A scalar
    ``max_lr`` would overwrite the discriminative rates.)

    Models without a known backbone (any ``nn.Module``) get one ``model/decay`` and one ``model/no_decay``
    group, so a training loop can call this for every model, as long as it asks for no discriminative rate.

    Args:
        model: the model to optimise.
        learning_rate: the head's learning rate, > 0.
        weight_decay: decoupled (AdamW) or L2 (SGD) weight decay of the weights, >= 0.
        backbone_lr_scale: multiplier of every backbone block's rate, > 0 (to stop training a block,
            :func:`freeze` it).
        layer_decay: per-block decay factor in (0, 1], or ``None``.

    Returns:
        The parameter groups, from the input to the head.

    Raises:
        ValueError: for a rate, decay or scale out of range, or a model with no trainable parameter.
        TypeError: for ``backbone_lr_scale``/``layer_decay`` on a model without a known backbone.

    Example:
        >>> import torch
        >>> from classicnets import CNNConfig, CNNForImageClassification
        >>> model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
        >>> groups = parameter_groups(model, 1e-3, weight_decay=0.01, layer_decay=0.5)
        >>> [(g["name"], g["lr"]) for g in groups if g["name"].endswith("/decay")]  # doctest: +NORMALIZE_WHITESPACE
        [('cnn.stages.0/decay', 6.25e-05), ('cnn.stages.1/decay', 0.000125), ('cnn.fc_layers.0/decay', 0.00025),
         ('cnn.fc_layers.1/decay', 0.0005), ('head/decay', 0.001)]
        >>> optimizer = torch.optim.AdamW(groups)
        >>> scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in groups],
        ...                                                 total_steps=100)
    """
    # Imported here: classicnets.training imports its trainer, which builds its optimizer from this module.
    from .training.regularization import is_decayed

    for label, value in (("learning_rate", learning_rate), ("backbone_lr_scale", backbone_lr_scale)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{label} must be a number > 0, got {value!r}.")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or not weight_decay >= 0:
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}.")
    if layer_decay is not None and (
        isinstance(layer_decay, bool) or not isinstance(layer_decay, (int, float)) or not 0 < layer_decay <= 1
    ):
        raise ValueError(f"layer_decay must be in (0, 1] (or None), got {layer_decay!r}.")

    try:
        blocks = backbone_blocks(model)
    except TypeError as error:
        if backbone_lr_scale != 1.0 or layer_decay is not None:
            raise TypeError(f"backbone_lr_scale and layer_decay need a backbone: {error}") from error
        units = [("model", learning_rate, list(model.named_parameters()))]
    else:
        n = len(blocks)
        units = []
        for i, (name, block) in enumerate(blocks):
            k = n - i  # places below the head
            factor = backbone_lr_scale * (layer_decay**k if layer_decay is not None else 1.0)
            units.append((name, learning_rate * factor, list(block.named_parameters(prefix=name))))
        units.append(("head", learning_rate, head_parameters(model)))

    groups, seen = [], set()
    for unit, lr, named in units:
        decay, no_decay = [], []
        for param_name, p in named:
            if not p.requires_grad or id(p) in seen:  # frozen, or shared with an earlier block
                continue
            seen.add(id(p))
            (decay if is_decayed(param_name, p) else no_decay).append(p)
        if decay:
            groups.append({"params": decay, "lr": lr, "weight_decay": float(weight_decay), "name": f"{unit}/decay"})
        if no_decay:
            groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0, "name": f"{unit}/no_decay"})
    if not groups:
        raise ValueError(f"{type(model).__name__} has no trainable parameter (all frozen?): nothing to optimise.")
    return groups


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _batches(inputs, batch_size: int, input_name: str) -> Iterable[torch.Tensor]:
    if isinstance(inputs, torch.Tensor):
        if inputs.dim() == 0:
            raise ValueError(f"extract_features needs a batch of {input_name} (first dimension: examples), got a scalar.")
        if len(inputs):
            yield from inputs.split(batch_size)
        return
    if not isinstance(inputs, Iterable) or isinstance(inputs, (str, bytes, Mapping)):
        raise TypeError(
            f"extract_features takes a tensor or an iterable of batches (e.g. a DataLoader), got {type(inputs).__name__}."
        )
    for batch in inputs:
        if isinstance(batch, Mapping):
            if input_name not in batch:
                raise ValueError(f"A batch has the keys {sorted(batch)}; this model reads {input_name!r}.")
            batch = batch[input_name]
        elif isinstance(batch, (tuple, list)):
            batch = batch[0]  # (inputs, labels) as TensorDataset yields
        if not isinstance(batch, torch.Tensor):
            raise TypeError(f"A batch held {type(batch).__name__}, not a tensor of {input_name}.")
        yield batch


def extract_features(
    model: nn.Module,
    inputs: torch.Tensor | Iterable,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """The representations a trained model's head reads (``model.forward_features``), for a linear probe or search.

    Runs in eval mode (dropout off, batch norm on its running statistics) under ``torch.no_grad()``, one
    batch at a time, and restores every module's train/eval mode afterwards. The result does not depend
    on the batch size.

    Args:
        model: a model with ``forward_features`` (every classicnets classifier and regressor).
        inputs: the model's main input as one tensor (``pixel_values`` (N, C, H, W) or ``input_features``
            (N, F)), cut into batches of ``batch_size``; or an iterable of batches (a ``DataLoader``) whose
            items are tensors, ``(inputs, labels, ...)`` tuples or dicts holding ``model.main_input_name``.
            Inputs must be preprocessed as for the model (e.g. by its saved image processor).
        batch_size: rows per forward pass when ``inputs`` is a tensor (a DataLoader keeps its own batches).
        device: where to compute; the model is moved there (as ``pipeline(device=...)`` does). Default: the
            device the model is on.

    Returns:
        Features of shape ``(N, num_features)`` on the CPU, in the model's dtype.

    Raises:
        TypeError: for a model without ``forward_features`` or inputs of another kind.
        ValueError: for ``batch_size < 1``, no input at all, or dict batches without the model's input.

    Example:
        >>> import torch
        >>> from classicnets import CNNConfig, CNNForImageClassification
        >>> model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10))
        >>> extract_features(model, torch.randn(10, 1, 28, 28), batch_size=4).shape
        torch.Size([10, 84])
    """
    if not callable(getattr(model, "forward_features", None)):
        raise TypeError(
            f"{type(model).__name__} has no forward_features(); use a classicnets classifier or regressor (a headless "
            f"CNNModel/MLPModel gives the same features as its output's pooler_output)."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
    if device is not None:
        model.to(device)
    device = _device_of(model)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    input_name = getattr(model, "main_input_name", "pixel_values")
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    features = []
    try:
        with torch.no_grad():
            for x in _batches(inputs, batch_size, input_name):
                x = x.to(device=device, dtype=dtype if x.is_floating_point() else None)
                features.append(model.forward_features(**{input_name: x}).cpu())  # (batch, num_features)
    finally:
        for module, training in modes:
            module.training = training
    if not features:
        raise ValueError("extract_features got no input (an empty tensor or data loader).")
    return torch.cat(features)


__all__ = [
    "BACKBONE_BLOCKS",
    "TrainableSummary",
    "backbone_blocks",
    "extract_features",
    "freeze",
    "frozen_parameter_names",
    "head_parameters",
    "parameter_groups",
    "replace_head",
    "trainable_summary",
    "unfreeze",
]
