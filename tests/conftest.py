"""Test-session settings shared by the whole suite (offline Hub, no progress bars) and the loopback-Hub fixtures."""

import os

import pytest
from hub_server import DUMMY_TOKEN, HubServer, SilentServer  # imports nothing from huggingface_hub

# No network here, and tqdm bars ("Loading weights", "Writing model shards") only clutter the logs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


# --------------------------------------------------------------------------------------------------------------
# A loopback Hugging Face Hub (tests/hub_server.py). `hub_server` only runs the server; `online_hub` also lets this
# process reach it (the session is offline by default); subprocesses get their environment from `hub_env`.
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def hub_server():
    """A fresh in-memory Hub on 127.0.0.1 (a :class:`hub_server.HubServer`), stopped after the test.

    Nothing in this process is switched online: pass ``hub_server.endpoint`` to ``hub_env(...)`` for subprocesses,
    or take ``online_hub`` for in-process calls. ``hub_server.stop()`` may be called mid-test.
    """
    with HubServer() as server:
        yield server


@pytest.fixture
def online_hub(hub_server, monkeypatch, tmp_path):
    """``hub_server``, with this process's ``huggingface_hub`` pointed at it as if ``HF_ENDPOINT`` had been set.

    The session is offline and ``HF_ENDPOINT`` was read at import, so this patches the module constants the
    client reads at call time: ``HF_HUB_OFFLINE`` off; ``ENDPOINT``, ``HUGGINGFACE_CO_URL_TEMPLATE`` and
    ``HF_URL_HOSTS`` on the loopback server (in-process calls may then omit ``endpoint=``); the Hub cache and the
    agent-registry file in ``tmp_path``; Xet off (as ``hub_env`` does). ``HF_TOKEN`` is the dummy token, so a
    developer's real cache, token and huggingface.co are never touched. datasets copies the endpoint when it is
    imported: drive datasets in a subprocess (``hub_env``/``run_python``).
    """
    from huggingface_hub import constants

    endpoint = hub_server.endpoint
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {"127.0.0.1"})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub-cache"))
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agent_harnesses.json"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # LFS uploads use the git-LFS protocol it serves
    monkeypatch.setenv("HF_TOKEN", DUMMY_TOKEN)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # libraries that read the variable itself (classicnets.hub)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    yield hub_server


@pytest.fixture
def silent_hub():
    """A :class:`hub_server.SilentServer`: accepts TCP connections on 127.0.0.1 and never answers.

    Yields the server; ``silent_hub.endpoint`` / ``silent_hub.port`` say where it listens.
    """
    with SilentServer() as server:
        yield server


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """A real ``classicnets train`` folder (card, metrics, learning-curve picture, run.json, checkpoints/): an MLP
    trained for 30 updates on digits. Tests that share it must never write into it."""
    from classicnets.training import TrainingArguments, run_training

    out = tmp_path_factory.mktemp("digits-run") / "mlp-digits"
    args = TrainingArguments(output_dir=str(out), max_steps=30, per_device_train_batch_size=32, learning_rate=3e-3,
                             seed=0, disable_tqdm=True)
    run_training("mlp", "digits", args, config_overrides={"hidden_sizes": (32,)}, data_source="offline")
    return out


def pytest_collection_modifyitems(config, items):
    """A contract test of the shared model tester whose parameter list is empty for an architecture (e.g. the
    transfer-surface tests for heads without a classifier, or config validation already covered by a sibling class)
    does not apply to it: deselect it instead of reporting a skip, so that every skip in a run means something."""
    inapplicable = [item for item in items
                    if any(mark.name == "skip" and "got empty parameter set" in str(mark.kwargs.get("reason", ""))
                           for mark in item.iter_markers())]
    if inapplicable:
        config.hook.pytest_deselected(items=inapplicable)
        items[:] = [item for item in items if item not in inapplicable]


# A reference classifier for the generative metrics, built once per session in a temporary cache with a short recipe
# (LeNet-5, 300 updates: ~97-98% MNIST test accuracy in a few seconds); the library's default recipe trains longer.
TEST_REFERENCE_RECIPE_KWARGS = {"max_steps": 300, "batch_size": 64, "learning_rate": 5e-3}


@pytest.fixture(scope="session")
def reference_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("reference-cache")


@pytest.fixture(scope="session")
def mnist_reference(reference_cache):
    """The MNIST :class:`classicnets.generative_metrics.ReferenceClassifier` built with the short test recipe."""
    from classicnets.generative_metrics import ReferenceRecipe, load_reference_classifier

    recipe = ReferenceRecipe(**TEST_REFERENCE_RECIPE_KWARGS)
    return load_reference_classifier("mnist", recipe=recipe, cache_root=reference_cache, data_source="offline")
