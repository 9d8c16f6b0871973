"""The loopback Hub (``tests/hub_server.py``) against the unchanged real clients.

Each test drives ``huggingface_hub``, transformers or datasets through their public API, in-process with the
``online_hub`` fixture or in a subprocess with ``hub_env`` (``HF_ENDPOINT`` is read at import), and checks
what reached the server: the bytes stored, the commits, the tokens, and that no request hit a route the
server does not know. These tests check the fixture that the Hub tests of classicnets build on.
"""

import json
import shutil
import socket
from pathlib import Path

import httpx2
import pytest
import torch
from hub_server import DUMMY_TOKEN, USERNAME, HubServer, hub_env, run_python
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    HfFileSystem,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from classicnets import CNNConfig, CNNForImageClassification

MODEL_CARD = "---\nlibrary_name: classicnets\ntags:\n- lenet\n---\n# LeNet-5 on the loopback Hub\n"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A LeNet-5 ``save_pretrained`` folder (config, safetensors, its own code) plus a model card."""
    folder = tmp_path_factory.mktemp("lenet5")
    torch.manual_seed(0)
    CNNForImageClassification(CNNConfig.lenet5(num_labels=10)).save_pretrained(folder)
    (folder / "README.md").write_text(MODEL_CARD)
    return folder


def folder_files(folder: Path) -> dict[str, bytes]:
    """``{relative posix path: content}`` of every file below ``folder`` (symlinks followed)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def assert_protocol_clean(server: HubServer) -> None:
    """The client only used routes the server implements, and the server never failed on its own."""
    assert server.unknown_requests == []
    assert server.failures == []


def test_upload_folder_snapshot_download_skips_unchanged_files_and_deletes(online_hub, checkpoint, tmp_path):
    api = HfApi(endpoint=online_hub.endpoint, token=DUMMY_TOKEN)
    repo_id = api.create_repo("lenet5").repo_id
    assert repo_id == f"{USERNAME}/lenet5"
    assert api.create_repo(repo_id, exist_ok=True).repo_id == repo_id  # the 409 carries the url
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo(repo_id)
    assert conflict.value.response.status_code == 409

    local = folder_files(checkpoint)
    assert {"config.json", "model.safetensors", "modeling_cnn.py", "configuration_cnn.py", "README.md"} <= set(local)
    first = api.upload_folder(folder_path=checkpoint, repo_id=repo_id, commit_message="Add LeNet-5")
    assert online_hub.repo_files(repo_id) == local
    assert first.oid == online_hub.resolve(repo_id, "main")
    assert set(online_hub.commits[-1].added) == set(local)

    info = api.model_info(repo_id)
    assert info.sha == first.oid
    assert {s.rfilename: s.size for s in info.siblings} == {path: len(content) for path, content in local.items()}
    assert info.card_data.library_name == "classicnets"

    snapshot = Path(snapshot_download(repo_id, cache_dir=tmp_path / "cache"))
    assert snapshot.name == first.oid
    assert folder_files(snapshot) == local

    # The same folder again: preupload reports the stored git oids, the client finds nothing changed and sends
    # no commit at all. With only the card edited, only the card travels.
    commits_before = len(online_hub.commits)
    assert api.upload_folder(folder_path=checkpoint, repo_id=repo_id).oid == first.oid
    assert len(online_hub.commits) == commits_before
    edited = shutil.copytree(checkpoint, tmp_path / "edited")
    (edited / "README.md").write_text(MODEL_CARD + "\nNow with a second paragraph.\n")
    second = api.upload_folder(folder_path=edited, repo_id=repo_id)
    assert online_hub.commits[-1].added == ("README.md",)

    api.create_commit(
        repo_id,
        [CommitOperationAdd("plots/a.txt", b"a"), CommitOperationAdd("plots/b.txt", b"b")],
        commit_message="Add plots",
    )
    api.create_commit(
        repo_id,
        [CommitOperationDelete("README.md"), CommitOperationDelete("plots/", is_folder=True)],
        commit_message="Remove the card and the plots",
    )
    assert online_hub.commits[-1].deleted == ("README.md", "plots/a.txt", "plots/b.txt")
    assert set(online_hub.repo_files(repo_id)) == set(local) - {"README.md"}
    # Commits are immutable snapshots: the old ones still resolve to what they held.
    assert online_hub.repo_files(repo_id, revision=first.oid) == local
    assert online_hub.repo_files(repo_id, revision=second.oid)["README.md"] == (edited / "README.md").read_bytes()

    # HfFileSystem reads byte ranges of a file at a revision.
    fs = HfFileSystem(endpoint=online_hub.endpoint, token=DUMMY_TOKEN, skip_instance_cache=True)
    with fs.open(f"{repo_id}/model.safetensors", "rb", revision=first.oid) as remote:
        remote.seek(8)
        assert remote.read(16) == local["model.safetensors"][8:24]
    assert any(r.status == 206 for r in online_hub.requests)

    assert online_hub.saw_token(DUMMY_TOKEN)
    assert_protocol_clean(online_hub)


def test_from_pretrained_round_trip_then_offline_from_the_same_cache(online_hub, checkpoint, tmp_path):
    api = HfApi(endpoint=online_hub.endpoint, token=DUMMY_TOKEN)
    repo_id = api.create_repo("lenet5-auto").repo_id
    api.upload_folder(folder_path=checkpoint, repo_id=repo_id)
    requests_before = len(online_hub.requests)

    load = f"""
        import json, torch, classicnets
        from safetensors.torch import load_file
        from transformers import AutoModelForImageClassification

        model = AutoModelForImageClassification.from_pretrained({repo_id!r})
        saved = load_file({str(checkpoint / "model.safetensors")!r})
        state = model.state_dict()
        print(json.dumps({{
            "class": type(model).__name__,
            "same_keys": sorted(state) == sorted(saved),
            "bit_identical": all(torch.equal(state[k], saved[k]) for k in saved),
        }}))
    """
    expected = {"class": "CNNForImageClassification", "same_keys": True, "bit_identical": True}
    home = tmp_path / "hf-home"

    online = run_python(load, hub_env(online_hub.endpoint, home), check=True)
    assert json.loads(online.stdout.splitlines()[-1]) == expected
    downloads = [r for r in online_hub.requests[requests_before:] if "/resolve/" in r.path]
    assert {Path(r.path).name for r in downloads if r.method == "GET"} >= {"config.json", "model.safetensors"}
    assert all(r.authenticated for r in downloads)  # HF_TOKEN from hub_env was sent
    assert_protocol_clean(online_hub)

    online_hub.stop()  # from here on a connection attempt would be refused
    offline = run_python(load, hub_env(online_hub.endpoint, home, offline=True), check=True)
    assert json.loads(offline.stdout.splitlines()[-1]) == expected


def test_branches_tags_and_commit_ids_resolve_and_missing_things_raise_the_clients_errors(online_hub, tmp_path):
    api = HfApi(endpoint=online_hub.endpoint, token=DUMMY_TOKEN)
    repo_id = api.create_repo("revisions").repo_id
    on_main = api.upload_file(path_or_fileobj=b"main", path_in_repo="weights.txt", repo_id=repo_id).oid
    api.create_branch(repo_id, branch="dev")
    dev_1 = api.upload_file(path_or_fileobj=b"dev 1", path_in_repo="weights.txt", repo_id=repo_id, revision="dev").oid
    api.create_tag(repo_id, tag="v1.0", revision="dev")
    dev_2 = api.create_commit(
        repo_id,
        [CommitOperationAdd("weights.txt", b"dev 2"), CommitOperationAdd("notes/only-on-dev.txt", b"notes")],
        commit_message="Second dev commit",
        revision="dev",
    ).oid
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_branch(repo_id, branch="dev")
    assert conflict.value.response.status_code == 409
    api.create_branch(repo_id, branch="dev", exist_ok=True)

    refs = api.list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": on_main, "dev": dev_2}
    assert {t.name: t.target_commit for t in refs.tags} == {"v1.0": dev_1}
    assert [c.commit_id for c in api.list_repo_commits(repo_id, revision="dev")][:3] == [dev_2, dev_1, on_main]
    assert api.model_info(repo_id, revision="v1.0").sha == dev_1

    cache = tmp_path / "cache"

    def read(revision: str, filename: str = "weights.txt") -> bytes:
        return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache)).read_bytes()

    assert read("main") == b"main"
    assert read("dev") == b"dev 2"
    assert read("v1.0") == b"dev 1"
    assert read(dev_1) == b"dev 1"
    assert read(on_main) == b"main"
    assert set(folder_files(Path(snapshot_download(repo_id, revision="dev", cache_dir=cache)))) == {
        "weights.txt",
        "notes/only-on-dev.txt",
    }
    assert set(folder_files(Path(snapshot_download(repo_id, revision=dev_1, cache_dir=cache)))) == {"weights.txt"}

    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "weights.txt", revision="no-such-branch", cache_dir=cache)
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(repo_id, revision="no-such-branch", cache_dir=cache)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="0" * 40)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(f"{USERNAME}/no-such-repo")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(f"{USERNAME}/no-such-repo", "config.json", cache_dir=cache)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "no-such-file.txt", cache_dir=cache)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "notes/only-on-dev.txt", revision="main", cache_dir=cache)
    # Commits go on branches only.
    with pytest.raises(HfHubHTTPError) as on_a_tag:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="weights.txt", repo_id=repo_id, revision="v1.0")
    assert on_a_tag.value.response.status_code == 400
    assert online_hub.resolve(repo_id, "v1.0") == dev_1
    assert_protocol_clean(online_hub)


def test_datasets_push_to_hub_then_load_dataset(hub_server, tmp_path):
    rows = {"x": [1, 2, 3], "label": ["a", "b", "c"]}
    run_python(
        f"""
        from datasets import Dataset
        Dataset.from_dict({rows!r}).push_to_hub("tiny-table")
        """,
        hub_env(hub_server.endpoint, tmp_path / "push-home"),
        check=True,
    )
    repo_id = f"{USERNAME}/tiny-table"
    stored = hub_server.repo_files(repo_id, repo_type="dataset")
    assert set(stored) == {"README.md", "data/train-00000-of-00001.parquet"}
    assert stored["data/train-00000-of-00001.parquet"][:4] == b"PAR1"
    # datasets preuploads its shards and deletes them before the commit: they must travel as LFS objects.
    assert any(r.path.endswith(".git/info/lfs/objects/batch") for r in hub_server.requests)

    loaded = run_python(
        f"""
        import json
        from datasets import load_dataset
        print(json.dumps(load_dataset({repo_id!r}, split="train").to_dict()))
        """,
        hub_env(hub_server.endpoint, tmp_path / "load-home"),
        check=True,
    )
    assert json.loads(loaded.stdout.splitlines()[-1]) == rows
    assert_protocol_clean(hub_server)


def test_writes_without_a_token_get_401_and_change_nothing(online_hub, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    anonymous = HfApi(endpoint=online_hub.endpoint, token=False)

    with pytest.raises(HfHubHTTPError) as refused:
        anonymous.create_repo("no-token")
    assert refused.value.response.status_code == 401
    assert not isinstance(refused.value, RepositoryNotFoundError)
    assert not online_hub.repo_exists(f"{USERNAME}/no-token")

    repo_id = f"{USERNAME}/existing"
    seeded = online_hub.add_repo(repo_id, {"weights.txt": b"v1"})
    with pytest.raises(HfHubHTTPError) as refused:
        anonymous.upload_file(path_or_fileobj=b"v2", path_in_repo="weights.txt", repo_id=repo_id)
    assert refused.value.response.status_code == 401
    assert online_hub.repo_files(repo_id) == {"weights.txt": b"v1"}
    assert anonymous.model_info(repo_id).sha == seeded  # reads of a public repo need no token

    assert online_hub.commits == []
    assert not any(r.authenticated for r in online_hub.requests)
    assert_protocol_clean(online_hub)


def test_silent_hub_accepts_connections_and_never_answers(silent_hub):
    with socket.create_connection(("127.0.0.1", silent_hub.port), timeout=1) as conn:
        conn.sendall(b"GET /api/models/a/b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        conn.settimeout(0.3)
        with pytest.raises(TimeoutError):
            conn.recv(1)
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.get(f"{silent_hub.endpoint}/api/models/a/b", timeout=1)
    assert silent_hub.connections == 2
