"""The GAN step: each update changes only its own network, by exactly the gradient of its own loss; the
diversity indicator; the seeded training loop on MNIST; and two real data-parallel CPU processes.

The exact-update tests use plain SGD with learning rate 1, so an update ``theta' = theta - grad`` exposes the
gradient; the expected gradient is recomputed independently (``-log sigmoid``, ``-log(1 - sigmoid)`` written out,
``torch.autograd.grad`` on a copy of the model fed the same ``z`` and dropout masks).
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.nn import functional as F

from classicnets import GANConfig, GANModel
from classicnets.data import image_tensors, load_dataset
from classicnets.training.gan import (
    discriminator_step,
    gan_step,
    generator_step,
    images_to_pixel_values,
    sample_diversity,
    train_gan,
)

CONFIGS = {
    # Batch norm and dropout in D, so that buffers and dropout masks are part of what must match.
    "mlp_conditional": dict(architecture="mlp", conditional=True, num_labels=3, latent_size=4, image_size=(4, 3),
                            generator_hidden_sizes=(6,), discriminator_hidden_sizes=(7, 5),
                            discriminator_normalization="batch", discriminator_dropout_prob=0.25),
    "dcgan": dict(architecture="dcgan", latent_size=4, image_size=8, num_channels=2, generator_hidden_sizes=(6, 4),
                  discriminator_hidden_sizes=(4, 6)),
}


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def state(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def setup(name: str, batch_size: int = 6):
    config = GANConfig(**CONFIGS[name])
    torch.manual_seed(0)
    model = GANModel(config).train()
    real = torch.rand(batch_size, *config.image_shape, generator=seeded(1)) * 2 - 1
    labels = torch.tensor([0, 1, 2, 0, 1, 2][:batch_size]) if config.conditional else None
    with torch.no_grad():  # non-initial running statistics in both networks
        model(latents=torch.randn(batch_size, config.latent_size, generator=seeded(2)), labels=labels)
    return config, model, real, labels


def assert_update_is_minus_grad(module, before: dict, params, grads, what: str) -> None:
    for (name, _), g in zip(params, grads, strict=True):
        torch.testing.assert_close(module.state_dict()[name], before[name] - g, rtol=1e-5, atol=1e-7, msg=f"{what}.{name}")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_discriminator_step_updates_only_d_by_the_gradient_of_l_d(name):
    config, model, real, labels = setup(name)
    reference = copy.deepcopy(model)
    g_before, d_before = state(model.generator), state(model.discriminator)
    opt_g = torch.optim.SGD(model.generator.parameters(), lr=1.0)
    opt_d = torch.optim.SGD(model.discriminator.parameters(), lr=1.0)

    torch.manual_seed(7)  # dropout masks
    out = discriminator_step(model.generator, model.discriminator, opt_d, real, labels, noise_generator=seeded(3))

    # Independently: z from the same generator, G(z) in train mode without a graph, D on real then fake.
    torch.manual_seed(7)
    z = torch.randn(real.shape[0], config.latent_size, generator=seeded(3))
    with torch.no_grad():
        fake = reference.generator(z, labels)
    real_logits, fake_logits = reference.discriminator(real, labels), reference.discriminator(fake, labels)
    loss = -(F.logsigmoid(real_logits).mean() + torch.log1p(-torch.sigmoid(fake_logits)).mean())
    params = list(reference.discriminator.named_parameters())
    grads = torch.autograd.grad(loss, [p for _, p in params])

    torch.testing.assert_close(out["d_loss"], loss.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out["real_score"], torch.sigmoid(real_logits).mean().detach())
    assert_update_is_minus_grad(model.discriminator, d_before, params, grads, "discriminator")
    # D's running statistics moved as the reference's did (one real and one fake batch) ...
    for name_, buffer in model.discriminator.named_buffers():
        assert torch.equal(buffer, dict(reference.discriminator.named_buffers())[name_]), name_
    # ... and G is untouched: parameters, running statistics, gradients.
    assert all(torch.equal(v, g_before[k]) for k, v in model.generator.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    opt_g.zero_grad()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_generator_step_updates_only_g_by_the_gradient_of_l_g(name):
    config, model, real, labels = setup(name)
    reference = copy.deepcopy(model)
    g_before, d_before = state(model.generator), state(model.discriminator)
    opt_g = torch.optim.SGD(model.generator.parameters(), lr=1.0)

    torch.manual_seed(7)
    out = generator_step(model.generator, model.discriminator, opt_g, real.shape[0], labels, noise_generator=seeded(4))

    torch.manual_seed(7)
    z = torch.randn(real.shape[0], config.latent_size, generator=seeded(4))
    fake = reference.generator(z, labels)
    loss = -F.logsigmoid(reference.discriminator(fake, labels)).mean()  # the non-saturating -log D(G(z))
    params = list(reference.generator.named_parameters())
    grads = torch.autograd.grad(loss, [p for _, p in params])

    torch.testing.assert_close(out["g_loss"], loss.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out["fake_pixel_values"], fake.detach())
    assert_update_is_minus_grad(model.generator, g_before, params, grads, "generator")
    for name_, buffer in model.generator.named_buffers():
        assert torch.equal(buffer, dict(reference.generator.named_buffers())[name_]), name_
    # D: the same parameters and running statistics, no gradient left behind, parameters trainable again.
    assert all(torch.equal(v, d_before[k]) for k, v in model.discriminator.state_dict().items())
    assert all(p.grad is None and p.requires_grad for p in model.discriminator.parameters())
    assert all(p.grad is None for p in model.generator.parameters())


def test_gan_step_refuses_bad_batches_and_never_writes_nan():
    config, model, real, labels = setup("mlp_conditional")
    before = state(model)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=1e-3)
    bad = real.clone()
    bad[2, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        gan_step(model.generator, model.discriminator, opt_g, opt_d, bad, labels)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    # Finite but enormous weights overflow D's first layer to inf (and batch norm then to NaN): the step stops before
    # the optimizer writes NaN.
    with torch.no_grad():
        model.discriminator.layers[0].linear.weight.fill_(3e38)
    before = state(model)
    with pytest.raises(FloatingPointError, match="discriminator step produced a non-finite gradient"):
        gan_step(model.generator, model.discriminator, opt_g, opt_d, real, labels)
    after = state(model)
    assert all(torch.equal(after[k], before[k]) for k in before if "running" not in k and "num_batches" not in k)
    assert all(torch.isfinite(p).all() and p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="unconditional"):
        _, plain, real2, _ = setup("dcgan")
        gan_step(plain.generator, plain.discriminator, opt_g, opt_d, real2, torch.zeros(6, dtype=torch.long))


def test_sample_diversity():
    fake = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])  # pairwise distances 3, 4, 5
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # 1, 1, sqrt 2
    expected = 4.0 / ((2 + math.sqrt(2)) / 3)
    assert math.isclose(sample_diversity(fake, real).item(), expected, rel_tol=1e-6)
    assert sample_diversity(real, real).item() == 1.0
    assert sample_diversity(torch.ones(5, 1, 2, 2), real).item() == 0.0  # a collapsed generator
    with pytest.raises(ValueError, match="at least 2"):
        sample_diversity(fake[:1], real)


# ------------------------------------------------------------------------------------------ the loop, on MNIST
@pytest.fixture
def one_thread():
    """Runs a test on one intra-op thread: these tiny matrix products are fastest that way, and two threads spinning
    on a busy 2-core machine made the 600-step test ~40x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mnist():
    split = load_dataset("mnist", source="offline")
    return image_tensors(split["train"].select(range(2048))), image_tensors(split["test"].select(range(2000)))


def tiny_conditional_mlp() -> GANModel:
    torch.manual_seed(0)
    return GANModel(GANConfig.conditional_gan(num_labels=10, latent_size=32, generator_hidden_sizes=(128,),
                                              discriminator_hidden_sizes=(128,)))


def test_train_gan_is_reproducible_and_starts_at_d_one_half(mnist, one_thread):
    (x, y), _ = mnist
    runs = []
    for seed in (0, 0, 1):
        model = tiny_conditional_mlp()
        out = train_gan(model, x, y, max_steps=3, per_device_batch_size=32, logging_steps=1, seed=seed)
        runs.append((state(model), out.history))
    (s0, h0), (s1, h1), (s2, h2) = runs
    assert all(torch.equal(s0[k], s1[k]) for k in s0)
    assert [{k: v for k, v in r.items() if k != "elapsed"} for r in h0] == [
        {k: v for k, v in r.items() if k != "elapsed"} for r in h1]
    assert not torch.equal(s0["generator.output.weight"], s2["generator.output.weight"])
    # N(0, 0.02) weights make D's first logits small (|l| ~ 0.1), so D starts near 1/2: L_D near 2 log 2 (a summed
    # rather than averaged loss would be ~32 times larger), L_G near log 2.
    assert abs(h0[0]["d_loss"] - 2 * math.log(2)) < 0.1 and abs(h0[0]["g_loss"] - math.log(2)) < 0.1
    assert abs(h0[0]["real_score"] - 0.5) < 0.05 and abs(h0[0]["fake_score"] - 0.5) < 0.05


@pytest.mark.slow
def test_train_gan_learns_the_digits_mean_image(mnist, one_thread):
    """600 steps on real digits: the samples' mean image moves from flat grey (tanh(~0)) to the digits' mean,
    and the samples spread out (the diversity ratio rises from ~0.2 towards the data's 1)."""
    (x, y), (x_test, _) = mnist
    model = tiny_conditional_mlp()
    target = images_to_pixel_values(x_test).mean(0)  # (1, 28, 28)
    initial = ((model.sample(500, generator=seeded(0)).mean(0) - target) ** 2).mean().item()
    out = train_gan(model, x, y, max_steps=600, per_device_batch_size=64, logging_steps=200, seed=0)
    final = ((model.sample(500, generator=seeded(0)).mean(0) - target) ** 2).mean().item()
    assert initial > 0.5 and final < initial / 5, (initial, final)
    diversity = [r["diversity"] for r in out.history]
    assert diversity[-1] > 1.5 * diversity[0], diversity


def test_train_gan_refuses_bad_input(mnist):
    (x, y), _ = mnist
    model = tiny_conditional_mlp()
    with pytest.raises(ValueError, match="needs the labels"):
        train_gan(model, x, max_steps=1)
    with pytest.raises(ValueError, match="uint8"):
        train_gan(model, x.float(), y, max_steps=1)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        train_gan(model, x, y + 1, max_steps=1)
    with pytest.raises(ValueError, match="cannot fill one batch"):
        train_gan(model, x[:10], y[:10], max_steps=1, per_device_batch_size=16)
    with pytest.raises(ValueError, match="unconditional"):
        train_gan(GANModel(GANConfig(latent_size=4, generator_hidden_sizes=(8,), discriminator_hidden_sizes=(8,))),
                  x, y, max_steps=1)


def tiny_dcgan() -> GANModel:
    torch.manual_seed(0)
    return GANModel(GANConfig.dcgan(latent_size=8, generator_hidden_sizes=(8, 4), discriminator_hidden_sizes=(4, 8)))


@pytest.mark.parametrize("make", [tiny_conditional_mlp, tiny_dcgan], ids=["conditional-mlp", "dcgan-batchnorm"])
def test_train_gan_resumed_from_a_checkpoint_ends_where_an_uninterrupted_run_ends(mnist, one_thread, tmp_path, make):
    """40 steps straight (32 batches per epoch) against the same run resumed from checkpoints in the middle of a
    logging window, in the first epoch and in the second: the same weights and batch-norm statistics, bit for bit,
    and the same history. Resuming restores both optimizers, the latent noise and the position in the data."""
    (x, y), _ = mnist
    labels = y if make is tiny_conditional_mlp else None
    kwargs = dict(max_steps=40, per_device_batch_size=64, logging_steps=5, seed=3)
    model = make()
    straight = train_gan(model, x, labels, checkpoint_dir=tmp_path / "ckpt", save_steps=7, save_total_limit=10,
                         **kwargs)
    expected = state(model)
    saved = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert saved == [f"checkpoint-{s}" for s in sorted([7, 14, 21, 28, 35, 40], key=str)]
    assert {p.name for p in (tmp_path / "ckpt" / "checkpoint-28").iterdir()} == {
        "model.safetensors", "optimizer.pt", "rng_state_0.safetensors", "trainer_state.json"}
    for step in (28, 35):  # epoch 0 batch 28 (3 steps into a window); epoch 1 batch 3
        resumed_model = make()
        resumed = train_gan(resumed_model, x, labels, resume_from=tmp_path / "ckpt" / f"checkpoint-{step}", **kwargs)
        got = state(resumed_model)
        assert all(torch.equal(got[k], expected[k]) for k in expected), step
        strip = lambda history: [{k: v for k, v in r.items() if k != "elapsed"} for r in history]  # noqa: E731
        assert strip(resumed.history) == strip(straight.history)
    # A fresh model that is not resumed differs: the equality above is not trivial.
    fresh = make()
    train_gan(fresh, x, labels, **{**kwargs, "max_steps": 28})
    assert not all(torch.equal(state(fresh)[k], expected[k]) for k in expected)


def test_train_gan_refuses_a_checkpoint_of_another_run(mnist, tmp_path):
    (x, y), _ = mnist
    train_gan(tiny_conditional_mlp(), x, y, max_steps=4, per_device_batch_size=32, checkpoint_dir=tmp_path / "c",
              save_steps=2)
    with pytest.raises(ValueError, match="per_device_batch_size=32 but this run has 64"):
        train_gan(tiny_conditional_mlp(), x, y, max_steps=6, per_device_batch_size=64,
                  resume_from=tmp_path / "c" / "checkpoint-2")
    # Flags that the saved optimizer states or the data order would silently override are refused too.
    for changed, match in ((dict(learning_rate=1e-2), "learning_rate=0.0002 but this run has 0.01"),
                           (dict(seed=7), "seed=0 but this run has 7"),
                           (dict(images=x[:1024], labels=y[:1024]), f"num_images={len(x)} but this run has 1024")):
        call = dict(images=x, labels=y, max_steps=6, per_device_batch_size=32,
                    resume_from=tmp_path / "c" / "checkpoint-2")
        with pytest.raises(ValueError, match=match):
            train_gan(tiny_conditional_mlp(), **{**call, **changed})
    with pytest.raises(ValueError, match="past max_steps=3"):
        train_gan(tiny_conditional_mlp(), x, y, max_steps=3, per_device_batch_size=32,
                  resume_from=tmp_path / "c" / "checkpoint-4")
    with pytest.raises(ValueError, match="holds weights of another model"):
        train_gan(tiny_dcgan(), x, max_steps=6, per_device_batch_size=32, resume_from=tmp_path / "c" / "checkpoint-2")
    (tmp_path / "c" / "checkpoint-4" / "optimizer.pt").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="incomplete or corrupted .optimizer.pt"):
        train_gan(tiny_conditional_mlp(), x, y, max_steps=6, per_device_batch_size=32,
                  resume_from=tmp_path / "c" / "checkpoint-4")


# ------------------------------------------------------------------------------------------ two processes
DDP_SCRIPT = r'''
import json, sys
import torch
from accelerate import Accelerator
from safetensors.torch import save_file
from classicnets import GANConfig, GANModel
from classicnets.data import image_tensors, load_dataset
from classicnets.training.gan import discriminator_step, generator_step, images_to_pixel_values, train_gan

out = sys.argv[1]
x, y = image_tensors(load_dataset("mnist", source="offline")["train"].select(range(512)))
config = GANConfig.dcgan(conditional=True, num_labels=10, latent_size=8, generator_hidden_sizes=(8, 4),
                         discriminator_hidden_sizes=(4, 8), discriminator_dropout_prob=0.1)
torch.manual_seed(0)
model = GANModel(config)
result = train_gan(model, x, y, max_steps=4, per_device_batch_size=16, logging_steps=3, seed=0,
                   checkpoint_dir=f"{out}/ckpt", save_steps=2)
acc = Accelerator()
rank = acc.process_index
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{out}/trained_{rank}.safetensors")
# Resumed from step 2 (inside the first logging window) by both processes.
torch.manual_seed(0)
again = GANModel(config)
resumed = train_gan(again, x, y, max_steps=4, per_device_batch_size=16, logging_steps=3, seed=0,
                    resume_from=f"{out}/ckpt/checkpoint-2")
save_file({k: v.contiguous() for k, v in again.state_dict().items()}, f"{out}/resumed_{rank}.safetensors")

# The two steps one at a time on a second model, each process with its own real batch.
torch.manual_seed(1)
probe = GANModel(config).train()
opt_g = torch.optim.SGD(probe.generator.parameters(), lr=0.1)
opt_d = torch.optim.SGD(probe.discriminator.parameters(), lr=0.1)
g, d, opt_g, opt_d = acc.prepare(probe.generator, probe.discriminator, opt_g, opt_d)
real = images_to_pixel_values(x[rank * 16:(rank + 1) * 16])
labels = y[rank * 16:(rank + 1) * 16]
noise = torch.Generator().manual_seed(100 + rank)
snap = lambda: {k: v.detach().clone() for k, v in probe.state_dict().items()}
changed = lambda a, b: sorted(k for k in a if not torch.equal(a[k], b[k]))
s0 = snap()
d_out = discriminator_step(g, d, opt_d, real, labels, accelerator=acc, noise_generator=noise)
s1 = snap()
g_out = generator_step(g, d, opt_g, 16, labels, accelerator=acc, noise_generator=noise)
s2 = snap()
save_file({k: v.contiguous() for k, v in s2.items()}, f"{out}/probe_{rank}.safetensors")
report = {
    "num_processes": result.num_processes, "history": result.history, "resumed_history": resumed.history,
    "d_step_changed": changed(s0, s1), "g_step_changed": changed(s1, s2),
    "local_d_loss": d_out["d_loss"].item(), "local_g_loss": g_out["g_loss"].item(),
    "grads_left": [n for n, p in probe.named_parameters() if p.grad is not None],
    "keys": sorted(s0),
}
with open(f"{out}/report_{rank}.json", "w") as f:
    json.dump(report, f)
'''


@pytest.mark.multiprocess
def test_two_cpu_processes_hold_identical_weights_and_each_step_changes_one_network(tmp_path):
    script = tmp_path / "gan_ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(ACCELERATE_USE_CPU="1", HF_HUB_OFFLINE="1")
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    done = subprocess.run(
        [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", str(script), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    reports = [json.loads((tmp_path / f"report_{r}.json").read_text()) for r in (0, 1)]
    assert [r["num_processes"] for r in reports] == [2, 2]

    # train_gan: both processes end with the same parameters and buffers, and they moved away from the start.
    trained = [load_file(tmp_path / f"trained_{r}.safetensors") for r in (0, 1)]
    assert trained[0].keys() == trained[1].keys()
    for name in trained[0]:
        assert torch.equal(trained[0][name], trained[1][name]), name
    torch.manual_seed(0)
    start = GANModel(GANConfig.dcgan(conditional=True, num_labels=10, latent_size=8, generator_hidden_sizes=(8, 4),
                                     discriminator_hidden_sizes=(4, 8), discriminator_dropout_prob=0.1)).state_dict()
    assert not torch.equal(trained[0]["generator.output.weight"], start["generator.output.weight"])
    assert not torch.equal(trained[0]["discriminator.output.weight"], start["discriminator.output.weight"])
    histories = [[{k: v for k, v in r.items() if k != "elapsed"} for r in report["history"]] for report in reports]
    assert histories[0] == histories[1] and [r["step"] for r in histories[0]] == [3, 4]  # averaged over processes

    # Resumed by both processes from the checkpoint at step 2 (one step before the first log): the same weights on
    # both, equal to the uninterrupted run's, and the same records (the open window's sums were saved as their
    # mean over the processes, so the first record may differ in the last bits).
    resumed = [load_file(tmp_path / f"resumed_{r}.safetensors") for r in (0, 1)]
    for name in trained[0]:
        assert torch.equal(resumed[0][name], trained[0][name]) and torch.equal(resumed[1][name], trained[0][name]), name
    for report in reports:
        again = [{k: v for k, v in r.items() if k != "elapsed"} for r in report["resumed_history"]]
        assert [r["step"] for r in again] == [3, 4]
        for got, want in zip(again, histories[0], strict=True):
            assert got == pytest.approx(want, rel=1e-6, abs=1e-7)

    # The steps one at a time: the processes saw different batches (different local losses), yet hold the same
    # parameters (the gradients were averaged); the D step changed exactly D's tensors, the G step exactly G's.
    # (Running statistics last moved with each process's own batch; DDP re-broadcasts process 0's at the next
    # wrapped forward, and train_gan once more at its end, as checked above.)
    assert reports[0]["local_d_loss"] != reports[1]["local_d_loss"]
    probes = [load_file(tmp_path / f"probe_{r}.safetensors") for r in (0, 1)]
    parameters = [n for n in probes[0] if not n.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert len(parameters) == 15  # every parameter of G and D
    for name in parameters:
        assert torch.equal(probes[0][name], probes[1][name]), name
    keys = reports[0]["keys"]
    d_keys = sorted(k for k in keys if k.startswith("discriminator.") and not k.endswith("num_batches_tracked"))
    g_keys = sorted(k for k in keys if k.startswith("generator.") and not k.endswith("num_batches_tracked"))
    for report in reports:
        assert [k for k in report["d_step_changed"] if not k.endswith("num_batches_tracked")] == d_keys
        assert [k for k in report["g_step_changed"] if not k.endswith("num_batches_tracked")] == g_keys
        assert report["grads_left"] == []
