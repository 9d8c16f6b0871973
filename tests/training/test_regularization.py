"""Norm penalties, weight-decay groups, label smoothing, augmentation and argument validation."""

import math

import pytest
import torch
from torch.nn import functional as F

from classicnets import MLPConfig, MLPForImageClassification
from classicnets.training import ImageClassificationTask, TrainingArguments, norm_penalty, parameter_groups
from classicnets.training.regularization import penalized_parameters
from classicnets.training.tasks import affine_images, random_affine, shift_images


def tiny_mlp(**kw):
    torch.manual_seed(0)
    return MLPForImageClassification(MLPConfig(image_size=4, hidden_sizes=(5,), num_labels=3, **kw))


def test_norm_penalty_matches_closed_form_on_weights_only():
    model = tiny_mlp()
    weights = [model.mlp.layers[0].linear.weight, model.classifier.weight]
    expected = 0.3 * sum(w.abs().sum() for w in weights) + 0.5 * 0.7 * sum(w.pow(2).sum() for w in weights)
    got = norm_penalty(penalized_parameters(model), l1_lambda=0.3, l2_lambda=0.7)
    torch.testing.assert_close(got, expected)
    assert norm_penalty(penalized_parameters(model)) is None


def test_l1_penalty_gradient_is_lambda_times_sign():
    model = tiny_mlp()
    penalty = norm_penalty(penalized_parameters(model), l1_lambda=0.25)
    penalty.backward()
    w = model.classifier.weight
    torch.testing.assert_close(w.grad, 0.25 * torch.sign(w.detach()))
    assert model.classifier.bias.grad is None  # biases are not penalised


def test_weight_decay_skips_biases_and_norm_parameters():
    model = tiny_mlp(normalization="layer")
    groups = parameter_groups(model, weight_decay=0.1)
    decayed = {id(p) for p in groups[0]["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.dim() > 1), name
    assert groups[1]["weight_decay"] == 0.0
    # One AdamW step with zero gradients: decoupled decay shrinks weights by lr * wd, leaves biases alone.
    opt = torch.optim.AdamW(groups, lr=0.5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for name, p in model.named_parameters():
        factor = 1 - 0.5 * 0.1 if p.dim() > 1 else 1.0
        torch.testing.assert_close(p.detach(), before[name] * factor, msg=name)


def test_label_smoothing_loss_matches_formula():
    task = ImageClassificationTask((0.5,), (0.5,))
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    labels = torch.tensor([0, 2])
    out = type("Out", (), {"logits": logits, "loss": None})()
    eps, k = 0.1, 3
    logp = F.log_softmax(logits, -1)
    target = torch.full_like(logp, eps / k)
    target[torch.arange(2), labels] += 1 - eps
    expected = -(target * logp).sum(-1).mean()
    torch.testing.assert_close(task.loss(out, {"labels": labels}, label_smoothing=eps), expected)


def test_random_affine_identity_and_integer_shifts_are_exact():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 10, 10)
    torch.testing.assert_close(random_affine(x, 0, 0.0, g), x)
    y = random_affine(x, 1, 0.0, g)
    for i in range(len(x)):
        # Every output is the input rolled by one of the 9 integer shifts (compared away from the border).
        errs = [
            (torch.roll(x[i], (a, b), (1, 2)) - y[i])[:, 1:-1, 1:-1].abs().max().item()
            for a in (-1, 0, 1)
            for b in (-1, 0, 1)
        ]
        assert min(errs) < 1e-6


def test_affine_images_shift_and_rotation_match_roll_and_rot90():
    x = torch.rand(2, 1, 9, 9)
    # A shift of (+2, -1) pixels: out[y, x] = in[y + 1, x - 2], zeros where that falls outside.
    y = affine_images(x, torch.tensor([[2, -1], [0, 0]]), torch.zeros(2))
    expected = torch.zeros_like(x[0])
    expected[:, :8, 2:] = x[0, :, 1:, :7]
    torch.testing.assert_close(y[0], expected)
    torch.testing.assert_close(y[1], x[1])
    rotated = affine_images(x, torch.zeros(2, 2), torch.full((2,), math.pi / 2))
    torch.testing.assert_close(rotated, torch.rot90(x, 1, (2, 3)), atol=1e-5, rtol=0)


def test_shift_images_equals_resampling_at_integer_shifts():
    """The fast gather path and bilinear resampling agree exactly on whole-pixel shifts, per channel."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(64, 3, 7, 9, generator=g)
    shifts = torch.randint(-3, 4, (64, 2), generator=g)
    torch.testing.assert_close(shift_images(x, shifts), affine_images(x, shifts, torch.zeros(64)), rtol=0, atol=1e-6)
    # Shifted by the whole width: only background is left.
    assert torch.equal(shift_images(x[:1], torch.tensor([[9, 0]])), torch.zeros_like(x[:1]))
    assert torch.equal(shift_images(x, torch.zeros(64, 2, dtype=torch.long)), x)


@pytest.mark.parametrize(
    "kwargs, flag",
    [
        ({"optimizer": "adagrad"}, "--optimizer"),
        ({"lr_scheduler_type": "exp"}, "--lr-scheduler-type"),
        ({"per_device_train_batch_size": 0}, "--per-device-train-batch-size"),
        ({"learning_rate": -1.0}, "--learning-rate"),
        ({"label_smoothing": 1.0}, "--label-smoothing"),
        ({"validation_split": 1.5}, "--validation-split"),
        ({"early_stopping_patience": 2}, "--validation-split"),
        ({"l1_lambda": -0.1}, "--l1-lambda"),
        ({"augment": "flip"}, "--augment"),
    ],
)
def test_training_arguments_validation_names_the_flag(kwargs, flag):
    with pytest.raises(ValueError, match=flag):
        TrainingArguments(output_dir="x", **kwargs)


def test_one_cycle_schedule_spans_the_run():
    from classicnets.training.trainer import build_scheduler

    args = TrainingArguments(output_dir="x", learning_rate=0.1, lr_scheduler_type="one_cycle")
    opt = torch.optim.AdamW(tiny_mlp().parameters(), lr=0.1)
    sched = build_scheduler(opt, args, total_updates=100)
    lrs = []
    for _ in range(100):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    peak = max(range(100), key=lambda i: lrs[i])
    assert 25 <= peak <= 31  # pct_start 0.3
    assert math.isclose(max(lrs), 0.1, rel_tol=1e-3)
    assert lrs[-1] < 1e-3 * max(lrs)  # annealed far below the initial lr / 25
