"""Transfer learning: freezing (weights and batch-norm statistics), new heads, discriminative rates, features."""

import copy
import math

import numpy as np
import PIL.Image
import pytest
import torch
from torch import nn

from classicnets import (
    CNNConfig,
    CNNForImageClassification,
    CNNModel,
    MLPConfig,
    MLPForImageClassification,
    MLPForTabularClassification,
    MLPForTabularRegression,
)
from classicnets.transfer import (
    backbone_blocks,
    extract_features,
    freeze,
    frozen_parameter_names,
    head_parameters,
    parameter_groups,
    replace_head,
    trainable_summary,
    unfreeze,
)

CNN_BLOCKS = ["cnn.stages.0", "cnn.stages.1", "cnn.fc_layers.0"]
MLP_BLOCKS = ["mlp.layers.0", "mlp.layers.1"]


def bn_cnn(seed: int = 0) -> CNNForImageClassification:
    """A tiny batch-norm CNN: two 3x3 stages on 8x8 inputs (8 -> 4 -> 2), one 8-unit fully connected layer."""
    torch.manual_seed(seed)
    config = CNNConfig(num_channels=1, image_size=8, hidden_sizes=(4, 4), depths=(1, 1), kernel_sizes=(3, 3),
                       paddings=(1, 1), normalization="batch", fc_hidden_sizes=(8,), num_labels=3)
    return CNNForImageClassification(config)


def bn_mlp(cls=MLPForTabularClassification, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    kwargs = {"input_size": 6, "hidden_sizes": (5, 4), "normalization": "batch", "num_labels": 3, **kwargs}
    return cls(MLPConfig(**kwargs))


def inputs_for(model, n: int = 16, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if isinstance(model, CNNForImageClassification):
        x = {"pixel_values": torch.randn(n, 1, 8, 8, generator=g)}
    elif isinstance(model, MLPForImageClassification):
        x = {"pixel_values": torch.randn(n, 1, 2, 3, generator=g)}
    else:
        x = {"input_features": torch.randn(n, 6, generator=g) * 2 + 1}
    return x


def warm_up_statistics(model) -> None:
    """A few train-mode passes so the running statistics are no longer their initial 0 / 1."""
    model.train()
    with torch.no_grad():
        for seed in range(3):
            model(**inputs_for(model, seed=100 + seed))


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train_step(model, lr: float = 0.1) -> None:
    """One real AdamW update in train mode, on the groups transfer.parameter_groups builds."""
    model.train()
    optimizer = torch.optim.AdamW(parameter_groups(model, lr, weight_decay=0.1))
    x = inputs_for(model, seed=7)
    labels = torch.arange(16) % 3
    model(**x, labels=labels).loss.backward()
    optimizer.step()


def bn_modules(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


# ------------------------------------------------------------------------------------------------ blocks
@pytest.mark.parametrize(
    ("make", "names"),
    [
        (bn_cnn, CNN_BLOCKS),
        (lambda: bn_mlp(MLPForImageClassification, image_size=(2, 3), input_size=None), MLP_BLOCKS),
        (lambda: bn_mlp(MLPForTabularClassification), MLP_BLOCKS),
        (lambda: bn_mlp(MLPForTabularRegression, num_labels=2), MLP_BLOCKS),
        (lambda: CNNForImageClassification(CNNConfig.lenet5()),
         ["cnn.stages.0", "cnn.stages.1", "cnn.fc_layers.0", "cnn.fc_layers.1"]),
    ],
)
def test_blocks_and_head_partition_the_parameters(make, names):
    model = make()
    blocks = backbone_blocks(model)
    assert [name for name, _ in blocks] == names
    modules = dict(model.named_modules())
    assert all(modules[name] is block for name, block in blocks)
    in_blocks = [n for name, block in blocks for n, _ in block.named_parameters(prefix=name)]
    head = [n for n, _ in head_parameters(model)]
    assert head == ["classifier.weight", "classifier.bias"]
    assert [p for _, p in head_parameters(model)] == list(model.get_classifier().parameters())
    assert sorted(in_blocks + head) == sorted(n for n, _ in model.named_parameters())
    assert len(set(in_blocks)) == len(in_blocks)


def test_models_without_head_or_backbone_are_refused_by_name():
    with pytest.raises(TypeError, match="get_classifier"):
        backbone_blocks(CNNModel(CNNConfig.lenet5()))
    with pytest.raises(TypeError, match="get_classifier"):
        freeze(nn.Linear(2, 2))

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.classifier = nn.Linear(2, 2), nn.Linear(2, 2)

        def get_classifier(self):
            return self.classifier

    with pytest.raises(TypeError, match="backbone"):
        backbone_blocks(Probe())
    with pytest.raises(TypeError, match="reset_classifier"):
        replace_head(Probe(), 2)
    with pytest.raises(TypeError, match="forward_features"):
        extract_features(Probe(), torch.zeros(2, 2))


# ------------------------------------------------------------------------------------------------ freezing
def test_frozen_backbone_and_its_batchnorm_statistics_survive_a_training_step():
    model = bn_cnn()
    warm_up_statistics(model)
    names = freeze(model)
    assert names == [n for n, _ in model.named_parameters() if n.startswith("cnn.")]
    assert frozen_parameter_names(model) == names
    before_trunk, before_head = snapshot(model.cnn), snapshot(model.classifier)
    assert before_trunk["stages.0.layers.0.norm.running_var"].ne(1).all()  # the warm-up moved the statistics

    model.train()  # what every training loop does; the frozen batch norm must not follow
    with torch.no_grad():
        train_features = model.forward_features(**inputs_for(model))
    train_step(model)
    assert all(p.grad is None for n, p in model.named_parameters() if n in names)
    after_trunk = snapshot(model.cnn)
    assert before_trunk.keys() == after_trunk.keys()
    for key, value in before_trunk.items():  # weights, running_mean, running_var, num_batches_tracked
        assert torch.equal(value, after_trunk[key]), key
    for key, value in before_head.items():
        assert not torch.equal(value, model.classifier.state_dict()[key]), key
    # The frozen trunk computes in train mode exactly what it computes in eval mode.
    model.eval()
    with torch.no_grad():
        assert torch.equal(train_features, model.forward_features(**inputs_for(model)))
    assert trainable_summary(model).trainable == sum(p.numel() for p in model.classifier.parameters())


def test_without_freeze_norm_stats_the_statistics_drift():
    model = bn_cnn()
    freeze(model, freeze_norm_stats=False)
    before = snapshot(model.cnn)
    train_step(model)
    after = snapshot(model.cnn)
    assert torch.equal(before["stages.0.layers.0.conv.weight"], after["stages.0.layers.0.conv.weight"])
    assert not torch.equal(before["stages.0.layers.0.norm.running_mean"], after["stages.0.layers.0.norm.running_mean"])


def test_freeze_up_to_a_block_by_name_or_count():
    by_name, by_count, by_negative = bn_mlp(), bn_mlp(), bn_mlp()
    names = freeze(by_name, up_to="mlp.layers.0")
    assert names == ["mlp.layers.0.linear.weight", "mlp.layers.0.norm.weight", "mlp.layers.0.norm.bias"]
    assert freeze(by_count, up_to=1) == names == freeze(by_negative, up_to=-1)
    assert freeze(bn_mlp(), up_to=0) == []

    warm_up_statistics(by_name)
    before = snapshot(by_name)
    train_step(by_name)
    after = snapshot(by_name)
    # Frozen block: weights and statistics fixed. Later block and head: weights and statistics move.
    for key in before:
        if key.startswith("mlp.layers.0."):
            assert torch.equal(before[key], after[key]), key
        elif key.endswith("num_batches_tracked"):
            assert after[key] == before[key] + 1, key
        else:
            assert not torch.equal(before[key], after[key]), key
    assert sorted(before) == sorted(after) and any(k.startswith("mlp.layers.0.norm.running") for k in before)


def test_bad_block_selection_is_explained():
    model = bn_cnn()
    with pytest.raises(ValueError, match="valid block names") as info:
        freeze(model, up_to="cnn.stages.7")
    assert all(name in str(info.value) for name in CNN_BLOCKS)
    with pytest.raises(ValueError, match="out of range"):
        freeze(model, up_to=4)
    with pytest.raises(ValueError, match="out of range"):
        unfreeze(model, from_block=-4)
    with pytest.raises(ValueError, match="valid block names"):
        unfreeze(model, from_block="classifier")
    with pytest.raises(TypeError, match="up_to"):
        freeze(model, up_to=True)
    assert frozen_parameter_names(model) == []  # nothing half-done by a refused call


def test_gradual_unfreezing_from_the_head_down():
    model = bn_cnn()
    warm_up_statistics(model)
    freeze(model)
    trainable = lambda: {n.rsplit(".", 1)[0] for n, p in model.named_parameters() if p.requires_grad}  # noqa: E731
    unfreeze(model, from_block=-1)
    assert trainable() == {"cnn.fc_layers.0", "classifier"}
    unfreeze(model, from_block="cnn.stages.1")
    assert trainable() == {"cnn.stages.1.layers.0.conv", "cnn.stages.1.layers.0.norm", "cnn.fc_layers.0", "classifier"}
    # stage 0 is still held in eval mode; stage 1's batch norm follows the model again.
    bn0, bn1 = bn_modules(model.cnn.stages[0])[0], bn_modules(model.cnn.stages[1])[0]
    before = snapshot(model.cnn)
    train_step(model)
    assert torch.equal(before["stages.0.layers.0.norm.running_mean"], bn0.running_mean)
    assert not torch.equal(before["stages.1.layers.0.norm.running_mean"], bn1.running_mean)
    assert bn1.training and not bn0.training

    assert set(unfreeze(model)) == {n for n, _ in model.named_parameters()}
    assert frozen_parameter_names(model) == []
    model.train()
    with torch.no_grad():
        model(**inputs_for(model))
    assert bn0.training and not torch.equal(before["stages.0.layers.0.norm.running_mean"], bn0.running_mean)
    summary = trainable_summary(model)
    assert summary.trainable == summary.total == sum(p.numel() for p in model.parameters()) and summary.frozen == 0
    assert [row[0] for row in summary.blocks] == [*CNN_BLOCKS, "head"]
    freeze(model, up_to=1)
    summary = trainable_summary(model)
    stage0 = sum(p.numel() for p in model.cnn.stages[0].parameters())
    assert (summary["frozen"], summary["trainable"], summary["total"]) == (stage0, summary.total - stage0, summary.total)
    assert summary.blocks[0] == ("cnn.stages.0", 0, stage0) and "cnn.stages.0" in str(summary)


def test_a_frozen_model_copies_saves_and_loads_unchanged(tmp_path):
    model = bn_cnn()
    warm_up_statistics(model)
    keys = list(model.state_dict())
    freeze(model)
    assert list(model.state_dict()) == keys  # same classes, same checkpoint layout

    twin = copy.deepcopy(model)  # the hold travels with the copy and acts on the copy's own layers
    before = snapshot(twin.cnn)
    twin.train()
    with torch.no_grad():
        twin(**inputs_for(twin))
    assert all(torch.equal(v, twin.cnn.state_dict()[k]) for k, v in before.items())
    assert not any(bn.training for bn in bn_modules(model.cnn))  # held in eval mode from the freeze on

    model.save_pretrained(tmp_path)
    loaded = CNNForImageClassification.from_pretrained(tmp_path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


# ------------------------------------------------------------------------------------------------ new heads
def test_replace_head_keeps_the_trunk_and_round_trips(tmp_path):
    from transformers import AutoModelForImageClassification

    model = bn_cnn()
    warm_up_statistics(model)
    trunk = snapshot(model.cnn)
    frozen = freeze(model, up_to="cnn.stages.1")
    id2label = {0: "cat", 1: "dog", 2: "bird", 3: "fish", 4: "frog"}
    assert replace_head(model, 5, id2label=id2label) is model
    assert all(torch.equal(v, model.cnn.state_dict()[k]) for k, v in trunk.items())
    assert model.config.num_labels == 5 and model.config.id2label == id2label
    assert model.config.label2id == {"cat": 0, "dog": 1, "bird": 2, "fish": 3, "frog": 4}
    assert all(p.requires_grad for p in model.get_classifier().parameters())
    assert frozen_parameter_names(model) == frozen  # the freeze is kept
    x = inputs_for(model)
    model.eval()
    with torch.no_grad():
        logits = model(**x).logits
    assert logits.shape == (16, 5)

    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is CNNForImageClassification
    assert loaded.config.num_labels == 5 and loaded.config.id2label == id2label
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert torch.equal(loaded(**x).logits, logits)


def test_replace_head_on_a_regressor_and_bad_label_sets():
    model = bn_mlp(MLPForTabularRegression, num_labels=1)
    trunk = snapshot(model.mlp)
    replace_head(model, 2)
    assert model.config.id2label == {0: "LABEL_0", 1: "LABEL_1"}
    assert all(torch.equal(v, model.mlp.state_dict()[k]) for k, v in trunk.items())
    model.eval()
    assert model(**inputs_for(model)).predictions.shape == (16, 2)
    with pytest.raises(ValueError, match="keys 0..2"):
        replace_head(model, 3, id2label={0: "a", 1: "b"})
    with pytest.raises(ValueError, match="distinct"):
        replace_head(model, 2, id2label={0: "a", 1: "a"})
    with pytest.raises(ValueError, match="num_labels"):
        replace_head(model, 0)
    assert model.config.num_labels == 2  # refused calls change nothing


# ------------------------------------------------------------------------------------------------ groups
def group_index(groups) -> dict[str, dict]:
    return {g["name"]: g for g in groups}


def test_layer_decay_rates_block_by_block_and_the_weight_decay_split():
    model = bn_cnn()
    groups = parameter_groups(model, 0.01, weight_decay=0.05, layer_decay=0.3)
    by_name = group_index(groups)
    assert len(by_name) == len(groups)
    n = len(CNN_BLOCKS)
    for i, block in enumerate(CNN_BLOCKS):
        expected = 0.01 * 0.3 ** (n - i)  # k = n - i places below the head
        for kind in ("decay", "no_decay"):
            if f"{block}/{kind}" in by_name:
                assert by_name[f"{block}/{kind}"]["lr"] == pytest.approx(expected, rel=1e-12)
    assert by_name["head/decay"]["lr"] == by_name["head/no_decay"]["lr"] == 0.01
    # Batch norm makes the conv bias-free: stage 0 holds one kernel (decayed) and the norm's scale and shift.
    assert [p.shape for p in by_name["cnn.stages.0/decay"]["params"]] == [(4, 1, 3, 3)]
    assert [p.shape for p in by_name["cnn.stages.0/no_decay"]["params"]] == [(4,), (4,)]
    for g in groups:
        assert set(g) == {"params", "lr", "weight_decay", "name"}
        assert g["weight_decay"] == (0.05 if g["name"].endswith("/decay") else 0.0)
        assert all((p.dim() > 1) == g["name"].endswith("/decay") for p in g["params"])
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.parameters()}


def test_backbone_scale_and_frozen_parameters_left_out():
    model = bn_mlp()
    freeze(model, up_to=1)
    groups = parameter_groups(model, 0.02, backbone_lr_scale=0.1)
    assert [g["name"] for g in groups] == ["mlp.layers.1/decay", "mlp.layers.1/no_decay", "head/decay",
                                           "head/no_decay"]
    assert [g["lr"] for g in groups] == [0.02 * 0.1, 0.02 * 0.1, 0.02, 0.02]
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters() if p.requires_grad)
    assert not {id(p) for p in model.mlp.layers[0].parameters()} & set(ids)
    # Both options multiply: block k below the head gets lr * scale * decay**k.
    unfreeze(model)
    lrs = {g["name"]: g["lr"] for g in parameter_groups(model, 1.0, backbone_lr_scale=0.5, layer_decay=0.5)}
    assert lrs["mlp.layers.0/decay"] == 0.125 and lrs["mlp.layers.1/decay"] == 0.25 and lrs["head/decay"] == 1.0


def test_groups_drive_one_cycle_and_transformers_schedulers():
    from transformers import get_scheduler

    model = bn_cnn()
    groups = parameter_groups(model, 0.01, weight_decay=0.01, layer_decay=0.5)
    max_lr = [g["lr"] for g in groups]
    optimizer = torch.optim.AdamW(groups)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=10, pct_start=0.5)
    peak = None
    for _ in range(10):
        train_loss = model(**inputs_for(model), labels=torch.arange(16) % 3).loss
        optimizer.zero_grad()
        train_loss.backward()
        optimizer.step()
        scheduler.step()
        lrs = [g["lr"] for g in optimizer.param_groups]
        # Every group follows the same cycle, scaled by its own peak: the ratios of the layer decay hold.
        assert lrs == pytest.approx([m * lrs[-1] / max_lr[-1] for m in max_lr], rel=1e-9)
        if scheduler.last_epoch == 4:  # pct_start * total_steps - 1: the top of the cycle
            peak = lrs
    assert peak == pytest.approx(max_lr, rel=1e-9)  # every group reaches its own max_lr

    groups = parameter_groups(model, 0.01, layer_decay=0.5)
    initial = [g["lr"] for g in groups]  # (the optimizer adopts these dicts, and the scheduler then edits them)
    optimizer = torch.optim.SGD(groups, momentum=0.9)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=2, num_training_steps=10)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    factor = 1.0 - (4 - 2) / (10 - 2)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([lr * factor for lr in initial])
    assert {g["name"] for g in optimizer.param_groups} == {g["name"] for g in groups}


def test_groups_for_any_module_and_refused_arguments():
    plain = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    groups = parameter_groups(plain, 0.1, weight_decay=0.5)
    assert [(g["name"], g["lr"], g["weight_decay"], len(g["params"])) for g in groups] == [
        ("model/decay", 0.1, 0.5, 1), ("model/no_decay", 0.1, 0.0, 3)]
    with pytest.raises(TypeError, match="backbone"):
        parameter_groups(plain, 0.1, layer_decay=0.5)
    model = bn_cnn()
    for kwargs, field in [({"learning_rate": 0}, "learning_rate"), ({"layer_decay": 1.5}, "layer_decay"),
                          ({"layer_decay": 0.0}, "layer_decay"), ({"backbone_lr_scale": -1}, "backbone_lr_scale"),
                          ({"weight_decay": -0.1}, "weight_decay")]:
        with pytest.raises(ValueError, match=field):
            parameter_groups(model, **{"learning_rate": 0.1, **kwargs})
    freeze(model)
    model.get_classifier().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        parameter_groups(model, 0.1)


# ------------------------------------------------------------------------------------------------ features
def test_extract_features_is_eval_mode_forward_features_in_any_batch_size():
    model = bn_cnn()
    warm_up_statistics(model)
    model.train()
    x = inputs_for(model, n=11)["pixel_values"]
    with torch.no_grad():
        train_features = model.forward_features(x)
    before = snapshot(model)  # (that train-mode call moved the statistics; extract_features must not)
    features = extract_features(model, x, batch_size=11)
    assert model.training and all(m.training for m in model.modules())  # modes restored
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    model.eval()
    with torch.no_grad():
        expected = model.forward_features(x)
    assert torch.equal(features, expected) and not torch.allclose(features, train_features)
    assert features.shape == (11, 8) and not features.requires_grad
    for batch_size in (1, 4, 32):
        # Other batch sizes may reorder float sums (a few ulp), nothing more.
        torch.testing.assert_close(extract_features(model, x, batch_size=batch_size), expected, rtol=1e-6, atol=1e-6)

    # A DataLoader of (inputs, labels) tuples or of dicts gives the same features.
    pairs = torch.utils.data.TensorDataset(x, torch.zeros(11))
    torch.testing.assert_close(extract_features(model, torch.utils.data.DataLoader(pairs, batch_size=3)), expected)
    dicts = [{"pixel_values": chunk, "labels": None} for chunk in x.split(5)]
    torch.testing.assert_close(extract_features(model, dicts), expected)
    with pytest.raises(ValueError, match="pixel_values"):
        extract_features(model, [{"images": x}])
    with pytest.raises(ValueError, match="no input"):
        extract_features(model, x[:0])


def test_extract_features_of_mlps_reads_their_main_input():
    for model in (bn_mlp(MLPForTabularRegression, num_labels=2),
                  bn_mlp(MLPForImageClassification, image_size=(2, 3), input_size=None)):
        warm_up_statistics(model)
        x = next(iter(inputs_for(model, n=9).values()))
        model.eval()
        with torch.no_grad():
            expected = model.forward_features(x)
        torch.testing.assert_close(extract_features(model, x, batch_size=2), expected, rtol=1e-6, atol=1e-6)


def test_feature_extraction_pipeline_on_a_saved_cnn(tmp_path):
    from transformers import pipeline

    from classicnets.data import DATASETS, make_image_processor

    spec = DATASETS["mnist"]
    torch.manual_seed(0)
    model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10, id2label=spec.id2label, normalization="batch"))
    with torch.no_grad():  # move the batch-norm statistics away from 0 / 1
        model.train()(pixel_values=torch.randn(32, 1, 28, 28))
    model.eval().save_pretrained(tmp_path)
    processor = make_image_processor(spec)
    processor.save_pretrained(tmp_path)

    rng = np.random.default_rng(0)
    images = [PIL.Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)) for _ in range(3)]
    extractor = pipeline("image-feature-extraction", model=str(tmp_path), device="cpu")
    assert type(extractor.model) is CNNModel  # AutoModel: the headless trunk, the head's weights unused
    pooled = torch.tensor(extractor(images, pool=True)).squeeze(1)  # pooler_output: the head's input
    expected = extract_features(model, processor(images=images, return_tensors="pt").pixel_values)
    assert pooled.shape == (3, 84)
    torch.testing.assert_close(pooled, expected, rtol=0, atol=1e-5)
    # Without pool=True the pipeline returns last_hidden_state: the last feature map, (16, 5, 5) for LeNet-5.
    feature_map = torch.tensor(extractor(images[0]))
    with torch.no_grad():
        trunk = model.cnn(pixel_values=processor(images=images[0], return_tensors="pt").pixel_values)
    torch.testing.assert_close(feature_map, trunk.last_hidden_state, rtol=0, atol=1e-5)
    assert math.prod(feature_map.shape[1:]) == model.config.num_features


@pytest.mark.parametrize("arch", ["cnn", "mlp"])
def test_the_headless_model_loads_a_classifier_checkpoint_without_a_report(arch, tmp_path, caplog):
    """The image-feature-extraction pipeline loads AutoModel from a classifier folder: the head's weights are not
    used by design, so nothing is reported; every trunk tensor is the classifier's."""
    from transformers import AutoModel

    from classicnets import CNNConfig, CNNForImageClassification, MLPConfig, MLPForImageClassification

    torch.manual_seed(0)
    if arch == "cnn":
        model = CNNForImageClassification(CNNConfig.lenet5(num_labels=3))
    else:
        model = MLPForImageClassification(MLPConfig(image_size=8, hidden_sizes=(6,), num_labels=3))
    model.save_pretrained(tmp_path)
    with caplog.at_level("WARNING"):
        base, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    assert "LOAD REPORT" not in caplog.text
    trunk = getattr(model, model.base_model_prefix).state_dict()
    assert all(base.state_dict()[k].equal(v) for k, v in trunk.items())


def test_recurrent_classifiers_transfer_too():
    """An LSTM text classifier: embeddings and recurrent layers are the blocks; freezing them leaves both unchanged
    through a real step while the new head learns, and layer-wise rates reach the embeddings last."""
    from classicnets import RNNConfig, RNNForSequenceClassification

    torch.manual_seed(0)
    model = RNNForSequenceClassification(RNNConfig(cell_type="lstm", vocab_size=20, hidden_size=8, num_layers=2,
                                                   num_labels=3))
    assert [name for name, _ in backbone_blocks(model)] == ["rnn.embeddings", "rnn.layers.0", "rnn.layers.1"]
    replace_head(model, num_labels=2, id2label={0: "ham", 1: "spam"})
    groups = parameter_groups(model, 1.0, layer_decay=0.5)
    lr_of = {g["name"].split("/")[0]: g["lr"] for g in groups}
    assert lr_of == {"rnn.embeddings": 0.125, "rnn.layers.0": 0.25, "rnn.layers.1": 0.5, "head": 1.0}
    freeze(model)
    trunk = {k: v.clone() for k, v in model.rnn.state_dict().items()}
    head = model.get_classifier().weight.detach().clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model.train()
    ids = torch.randint(0, 20, (4, 6), generator=torch.Generator().manual_seed(1))
    model(input_ids=ids, labels=torch.tensor([0, 1, 1, 0])).loss.backward()
    optimizer.step()
    assert all(model.rnn.state_dict()[k].equal(v) for k, v in trunk.items())
    assert not model.get_classifier().weight.equal(head)
