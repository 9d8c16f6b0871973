"""A loopback Hugging Face Hub for the test suite: the Hub's HTTP protocol, served from memory on 127.0.0.1.

The real client (``huggingface_hub`` 2.x, and through it transformers' ``from_pretrained``/``push_to_hub`` and
datasets' ``push_to_hub``/``load_dataset``) runs UNCHANGED against this server: point it here with
``HF_ENDPOINT`` (read when ``huggingface_hub`` is imported, so in a subprocess, see :func:`hub_env` and
:func:`run_python`), or in-process with the ``online_hub`` fixture of ``tests/conftest.py`` (or ``endpoint=`` on
``HfApi``/``snapshot_download``/``hf_hub_download`` once offline mode is off).
It is a test helper, never shipped in the package, and it speaks only what those round trips need:

- repos of type ``model`` and ``dataset`` (spaces are not served), created empty;
- commits are immutable snapshots ``{path: bytes}`` with a 40-hex id; branches (``main`` first) and tags point
  at commits, and every revision argument accepts a branch, a tag or a full 40-hex commit id;
- files are plain git blobs: ``preupload`` answers ``uploadMode: "regular"``, so content travels base64 inside
  the ndjson commit, and file ids are git blob SHA-1s, so the client skips files that did not change. Paths
  ending in :attr:`HubServer.lfs_suffixes` (``.parquet`` by default) are the exception: datasets'
  ``push_to_hub`` preuploads its shards and deletes the temporary files before committing, which only works
  for LFS files. They go through the legacy git-LFS batch protocol (batch, PUT, verify), which the client uses
  only when Xet is off: :func:`hub_env` and the ``online_hub`` fixture turn it off (``HF_HUB_DISABLE_XET``).
  Xet itself is never offered (no ``X-Xet-Hash``, no Xet token routes);
- writes need ``Authorization: Bearer <any non-empty token>`` and get 401 without one; reads are open
  (private repos need a token, as on the Hub);
- errors carry the Hub's ``X-Error-Code`` header (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``),
  which the client turns into ``RepositoryNotFoundError``, ``RevisionNotFoundError``, ``EntryNotFoundError``.

Every request is recorded (method, path, status; never headers or tokens), routes the server does not know
answer 404 and are listed in :attr:`HubServer.unknown_requests`, and commits are listed with the paths whose
content was actually sent, so a test can assert what the client did. :class:`SilentServer` is the other
extreme: it accepts TCP connections and never answers, for tests of bounded failure.

Example:
    >>> from huggingface_hub import HfApi
    >>> with HubServer() as hub:                                       # doctest: +SKIP
    ...     api = HfApi(endpoint=hub.endpoint, token=DUMMY_TOKEN)
    ...     api.create_repo("loopback-user/tiny")
    ...     api.upload_file(path_or_fileobj=b"hi", path_in_repo="a.txt", repo_id="loopback-user/tiny")
    ...     hub.repo_files("loopback-user/tiny")
    {'a.txt': b'hi'}
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

__all__ = [
    "DUMMY_TOKEN",
    "USERNAME",
    "CommitRecord",
    "HubServer",
    "RequestRecord",
    "SilentServer",
    "git_blob_oid",
    "hub_env",
    "run_python",
]

#: Token the tests send; the server accepts any non-empty bearer token.
DUMMY_TOKEN = "hf_dummy_loopback_token"
#: Namespace of repos created without an organization, and the name ``whoami`` returns.
USERNAME = "loopback-user"

# URL segment <-> repo type, and the prefix of a repo's web/resolve URLs ("" for models).
_REPO_TYPES = {"models": "model", "datasets": "dataset"}
_URL_PREFIX = {"model": "", "dataset": "datasets/"}
# Words that follow a repo id in `/api/{type}s/{repo_id}/...`: a second path segment that is one of these
# belongs to the route, not to the repo id (so single-segment ids such as "gpt2" still parse).
_SUBROUTES = {"revision", "tree", "paths-info", "preupload", "commit", "commits", "refs", "branch", "tag", "resolve"}
_COMMIT_ID_LENGTH = 40


def git_blob_oid(content: bytes) -> str:
    """Git's object id of a blob: ``sha1(b"blob <size>\\0" + content)``, what the Hub reports as a file's ``oid``."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _lfs_pointer(content: bytes) -> bytes:
    """The git-LFS pointer file git stores in place of an LFS file's content."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{_sha256(content)}\nsize {len(content)}\n".encode()


def _now() -> str:
    """The current time in the Hub's JSON date format (``2024-05-01T12:00:00.000Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------------------------------------------
# Records a test can assert on
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered: no headers, no body, no token."""

    method: str
    path: str
    query: str
    status: int
    authenticated: bool


@dataclass(frozen=True)
class CommitRecord:
    """One commit the server accepted.

    ``added`` lists the paths the commit wrote: content sent base64 in the ndjson body, or (LFS) uploaded before
    and named by its SHA-256. A file the client skipped because its oid matched the preupload answer is not in
    it, and neither is its content sent anywhere.
    """

    repo_type: str
    repo_id: str
    branch: str
    oid: str
    title: str
    added: tuple[str, ...]
    deleted: tuple[str, ...]


# --------------------------------------------------------------------------------------------------------------
# The repository model
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Commit:
    """An immutable snapshot of a repo: every file's full content, plus the commit's metadata."""

    oid: str
    parents: tuple[str, ...]
    files: Mapping[str, bytes]
    lfs: frozenset[str]  # paths stored as git-LFS pointers (their content lives in the LFS store)
    title: str
    message: str
    date: str

    def blob_id(self, path: str) -> str:
        """The git object id of ``path``: of its content, or of its LFS pointer for an LFS file."""
        content = self.files[path]
        return git_blob_oid(_lfs_pointer(content) if path in self.lfs else content)

    def lfs_info(self, path: str) -> dict[str, Any] | None:
        """``{oid: sha256, size, pointerSize}`` for an LFS file, None for a regular one."""
        if path not in self.lfs:
            return None
        content = self.files[path]
        return {"oid": _sha256(content), "size": len(content), "pointerSize": len(_lfs_pointer(content))}


@dataclass
class _Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> _Commit | None:
        """A branch, a tag (also as ``refs/heads/x`` / ``refs/tags/x``) or a full commit id -> its commit."""
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix) and revision[len(prefix) :] in refs:
                return self.commits[refs[revision[len(prefix) :]]]
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if revision in self.tags:
            return self.commits[self.tags[revision]]
        if len(revision) == _COMMIT_ID_LENGTH:
            return self.commits.get(revision.lower())
        return None

    def history(self, commit: _Commit) -> list[_Commit]:
        """``commit`` and its ancestors, newest first (history is linear: every commit has at most one parent)."""
        chain = [commit]
        while chain[-1].parents:
            chain.append(self.commits[chain[-1].parents[0]])
        return chain

    def last_commit_of(self, commit: _Commit, path: str) -> _Commit:
        """The newest commit in ``commit``'s history that changed ``path`` (a file, or anything under a folder)."""

        def view(c: _Commit) -> dict[str, str]:
            return {p: git_blob_oid(b) for p, b in c.files.items() if p == path or p.startswith(path + "/")}

        chain = self.history(commit)
        for newer, older in zip(chain, chain[1:], strict=False):
            if view(newer) != view(older):
                return newer
        return chain[-1]


class HubError(Exception):
    """An error answer: HTTP status, the Hub's ``X-Error-Code`` (if any) and a message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


@dataclass
class _Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> _Response:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})


def _tree_oid(entries: dict[str, bytes], folder: str) -> str:
    """A stable 40-hex id for a folder: the hash of its (path, blob oid) listing (not git's tree format)."""
    listing = sorted((p, git_blob_oid(b)) for p, b in entries.items() if p.startswith(folder + "/"))
    return hashlib.sha1(json.dumps(listing).encode()).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------------------


class HubServer:
    """An in-memory Hub on ``127.0.0.1:<free port>``, served by a daemon thread.

    Attributes:
        endpoint: ``"http://127.0.0.1:PORT"``, for ``HF_ENDPOINT`` or ``endpoint=``.
        port: the port it listens on.
        requests: every :class:`RequestRecord`, in arrival order.
        unknown_requests: ``"METHOD /path"`` of requests no route matched (answered 404).
        failures: tracebacks of requests the server itself failed on (answered 500): a bug here, not in the client.
        commits: every :class:`CommitRecord`, in order.
        lfs_suffixes: paths ending with one of these are offered to the client as LFS uploads (see the module
            docstring); set it to ``()`` to make every file regular.
        refuse_commits: when set to a message, every commit is answered 403 with it (as the Hub answers a token
            without write access to the repo), to test what a failed push leaves behind.

    Example:
        >>> hub = HubServer().start()                                   # doctest: +SKIP
        >>> hub.add_repo("loopback-user/seeded", {"config.json": b"{}"})  # doctest: +SKIP
        >>> hub.stop()                                                  # doctest: +SKIP
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = USERNAME,
        lfs_suffixes: tuple[str, ...] = (".parquet",),
    ):
        self.username = username
        self.lfs_suffixes = lfs_suffixes
        self.refuse_commits: str | None = None
        self.requests: list[RequestRecord] = []
        self.unknown_requests: list[str] = []
        self.failures: list[str] = []
        self.commits: list[CommitRecord] = []
        self._tokens_seen: set[str] = set()
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._lfs_objects: dict[str, bytes] = {}  # sha256 -> content, shared by all repos as on the Hub
        self._lfs_uploads: dict[str, tuple[str, int]] = {}  # one-time upload id -> (sha256, size) announced
        self._lock = threading.RLock()
        self._commit_counter = 0
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.hub = self
        self.port: int = self._httpd.server_address[1]
        self.endpoint = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> HubServer:
        """Serve in a daemon thread; returns ``self``."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the port: later connections are refused. Safe to call twice."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    @property
    def running(self) -> bool:
        """Whether the server thread is serving (between :meth:`start` and :meth:`stop`)."""
        return self._thread is not None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inspection and seeding, for test assertions --------------------------------------------------------

    def saw_token(self, token: str) -> bool:
        """Whether any request carried ``Authorization: Bearer <token>`` (tokens are kept only for this check)."""
        with self._lock:
            return token in self._tokens_seen

    def repo_exists(self, repo_id: str, repo_type: str = "model") -> bool:
        with self._lock:
            return (repo_type, repo_id) in self._repos

    def repo_files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        """The files of ``repo_id`` at ``revision`` (branch, tag or commit id) as ``{path: content}``.

        Raises:
            KeyError: if the repo or the revision does not exist.
        """
        with self._lock:
            repo = self._repos[(repo_type, repo_id)]
            commit = repo.resolve(revision)
            if commit is None:
                raise KeyError(f"{repo_type} {repo_id} has no revision {revision!r}")
            return dict(commit.files)

    def resolve(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> str:
        """The commit id ``revision`` points at in ``repo_id``."""
        with self._lock:
            commit = self._repos[(repo_type, repo_id)].resolve(revision)
            if commit is None:
                raise KeyError(f"{repo_type} {repo_id} has no revision {revision!r}")
            return commit.oid

    def add_repo(
        self, repo_id: str, files: Mapping[str, bytes] | None = None, repo_type: str = "model", private: bool = False
    ) -> str:
        """Create ``repo_id`` server-side (no client involved) with one commit holding ``files``; returns its id.

        Raises:
            ValueError: if the repo already exists.
        """
        with self._lock:
            if (repo_type, repo_id) in self._repos:
                raise ValueError(f"{repo_type} {repo_id} already exists on the loopback Hub")
            repo = self._create_repo(repo_type, repo_id, private)
            if files:
                self._commit(repo, "main", dict(files), "Seed files", "")
            return repo.branches["main"]

    # -- state changes (callers hold the lock) --------------------------------------------------------------

    def _create_repo(self, repo_type: str, repo_id: str, private: bool) -> _Repo:
        repo = _Repo(repo_type=repo_type, repo_id=repo_id, private=private, created_at=_now())
        self._repos[(repo_type, repo_id)] = repo
        # The Hub starts a repo with an initial commit; this one is empty, so uploads compare byte-for-byte.
        self._commit(repo, "main", {}, "initial commit", "")
        return repo

    def _commit(
        self,
        repo: _Repo,
        branch: str,
        files: dict[str, bytes],
        title: str,
        message: str,
        lfs: frozenset[str] = frozenset(),
    ) -> _Commit:
        self._commit_counter += 1
        parent = repo.branches.get(branch)
        date = _now()
        identity = {
            "parent": parent,
            "tree": sorted((p, git_blob_oid(b)) for p, b in files.items()),
            "title": title,
            "message": message,
            "date": date,
            "counter": self._commit_counter,  # two identical commits in the same millisecond still differ
        }
        oid = hashlib.sha1(json.dumps(identity).encode()).hexdigest()
        commit = _Commit(
            oid=oid,
            parents=(parent,) if parent else (),
            files=MappingProxyType(dict(files)),
            lfs=frozenset(p for p in lfs if p in files),
            title=title,
            message=message,
            date=date,
        )
        repo.commits[oid] = commit
        repo.branches[branch] = oid
        return commit

    def _url(self, repo: _Repo) -> str:
        return f"{self.endpoint}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    hub: HubServer


class _Handler(BaseHTTPRequestHandler):
    """Parses a request, routes it to one method per Hub endpoint, and writes the answer.

    Every answer closes the connection, so :meth:`HubServer.stop` leaves no kept-alive connection being served.
    """

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    # -- plumbing ---------------------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log (requests are recorded in ``HubServer.requests`` instead)."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        """The whole request body (Content-Length or chunked): always read, so no unread data resets the socket."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        hub = self.server.hub
        url = urlsplit(self.path)
        self.method = method
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.body = self._read_body()
        auth = self.headers.get("Authorization", "")
        self.token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        # Split the raw path before unquoting: revisions arrive quoted with safe="" ("a%2Fb" is one segment).
        segments = [unquote(s) for s in url.path.split("/")[1:]]
        while segments and segments[-1] == "":
            segments.pop()
        try:
            with hub._lock:
                if self.token:
                    hub._tokens_seen.add(self.token)
                response = self._route(segments)
        except HubError as err:
            headers = {**err.headers}
            if err.code is not None:
                headers["X-Error-Code"] = err.code
            headers["X-Error-Message"] = err.message
            response = _Response.json({"error": err.message}, err.status, headers)
        except Exception:
            hub.failures.append(traceback.format_exc())
            response = _Response.json({"error": "loopback Hub internal error (see HubServer.failures)"}, 500)
        with hub._lock:
            hub.requests.append(RequestRecord(method, url.path, url.query, response.status, bool(self.token)))
        self._send(response)

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        headers = {"Content-Length": str(len(response.body)), **response.headers, "Connection": "close"}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.method != "HEAD":
            self.wfile.write(response.body)
        self.close_connection = True

    def _json_body(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.body or b"{}")
        except json.JSONDecodeError as err:
            raise HubError(400, f"Request body is not JSON: {err}") from None
        if not isinstance(payload, dict):
            raise HubError(400, "Request body must be a JSON object")
        return payload

    def _require_token(self) -> None:
        """Writes need a bearer token, as on the Hub (any non-empty token is accepted here)."""
        if not self.token:
            raise HubError(401, "Unauthorized: this operation needs an 'Authorization: Bearer <token>' header")

    def _unknown(self) -> HubError:
        self.server.hub.unknown_requests.append(f"{self.method} {urlsplit(self.path).path}")
        return HubError(404, f"loopback Hub: no route for {self.method} {urlsplit(self.path).path}")

    def _repo(self, repo_type: str, repo_id: str) -> _Repo:
        repo = self.server.hub._repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self.token):
            # The Hub answers 404/401 with this code for missing and for private-without-token alike.
            raise HubError(401 if repo else 404, f"Repository Not Found for {repo_type} {repo_id}", "RepoNotFound")
        return repo

    @staticmethod
    def _commit_at(repo: _Repo, revision: str) -> _Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    @staticmethod
    def _branch(repo: _Repo, revision: str) -> str:
        """The branch a write targets: commits go on branches only, never on a tag or a bare commit id."""
        branch = revision[len("refs/heads/") :] if revision.startswith("refs/heads/") else revision
        if branch in repo.branches:
            return branch
        if repo.resolve(revision) is not None:
            raise HubError(400, f"Can only commit to a branch, and {revision!r} is not one")
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    # -- routing ----------------------------------------------------------------------------------------------

    def _route(self, s: list[str]) -> _Response:
        m = self.method
        if not s and m in ("GET", "HEAD"):  # the landing page: what a reachability probe (classicnets.hub) asks for
            return _Response.json({"name": "loopback hub"})
        if s[:1] == ["api"]:
            if s == ["api", "whoami-v2"] and m == "GET":
                return self.whoami()
            if s == ["api", "agent-harnesses"] and m == "GET":
                return self.agent_harnesses()
            if s == ["api", "validate-yaml"] and m == "POST":
                return self.validate_yaml()
            if s == ["api", "repos", "create"] and m == "POST":
                return self.create_repo()
            if s == ["api", "repos", "delete"] and m == "DELETE":
                return self.delete_repo()
            if len(s) >= 3 and s[1] in _REPO_TYPES:
                return self._route_repo_api(_REPO_TYPES[s[1]], s[2:])
            raise self._unknown()
        if len(s) == 2 and s[0] == "lfs-upload" and m == "PUT":
            return self.lfs_upload(s[1])
        repo_type, rest = ("dataset", s[1:]) if s[:1] == ["datasets"] else ("model", s)
        # git-LFS: /[datasets/]{repo_id}.git/info/lfs/objects/{batch|verify}
        if len(rest) in (5, 6) and rest[-4:-1] == ["info", "lfs", "objects"] and rest[-5].endswith(".git"):
            repo_id = "/".join(rest[:-4])[: -len(".git")]
            if rest[-1] == "batch" and m == "POST":
                return self.lfs_batch(repo_type, repo_id)
            if rest[-1] == "verify" and m == "POST":
                return self.lfs_verify(repo_type, repo_id)
        # File downloads: /{repo_id}/resolve/{rev}/{path} and /datasets/{repo_id}/resolve/{rev}/{path}.
        for id_length in (2, 1):
            if len(rest) > id_length + 2 and rest[id_length] == "resolve" and m in ("GET", "HEAD"):
                repo_id = "/".join(rest[:id_length])
                return self.resolve_file(repo_type, repo_id, rest[id_length + 1], "/".join(rest[id_length + 2 :]))
        raise self._unknown()

    def _route_repo_api(self, repo_type: str, rest: list[str]) -> _Response:
        if len(rest) >= 2 and rest[1] not in _SUBROUTES:
            repo_id, tail = f"{rest[0]}/{rest[1]}", rest[2:]
        else:
            repo_id, tail = rest[0], rest[1:]
        m, route = self.method, tail[:1]
        if not tail and m == "GET":
            return self.repo_info(repo_type, repo_id, "main")
        if route == ["revision"] and len(tail) == 2 and m == "GET":
            return self.repo_info(repo_type, repo_id, tail[1])
        if route == ["tree"] and len(tail) >= 2 and m == "GET":
            return self.list_tree(repo_type, repo_id, tail[1], "/".join(tail[2:]))
        if route == ["paths-info"] and len(tail) == 2 and m == "POST":
            return self.paths_info(repo_type, repo_id, tail[1])
        if route == ["preupload"] and len(tail) == 2 and m == "POST":
            return self.preupload(repo_type, repo_id, tail[1])
        if route == ["commit"] and len(tail) == 2 and m == "POST":
            return self.commit(repo_type, repo_id, tail[1])
        if route == ["commits"] and len(tail) == 2 and m == "GET":
            return self.list_commits(repo_type, repo_id, tail[1])
        if route == ["refs"] and len(tail) == 1 and m == "GET":
            return self.list_refs(repo_type, repo_id)
        if route == ["branch"] and len(tail) == 2 and m in ("POST", "DELETE"):
            return self.branch(repo_type, repo_id, tail[1])
        if route == ["tag"] and len(tail) == 2 and m in ("POST", "DELETE"):
            return self.tag(repo_type, repo_id, tail[1])
        raise self._unknown()

    # -- endpoints --------------------------------------------------------------------------------------------

    def whoami(self) -> _Response:
        """``GET /api/whoami-v2`` (``HfApi.whoami``): the user behind the token, with a write-scoped token."""
        if not self.token:
            raise HubError(401, "Invalid credentials in Authorization header")
        name = self.server.hub.username
        return _Response.json(
            {
                "type": "user",
                "id": "0" * 24,
                "name": name,
                "fullname": name,
                "email": None,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "loopback", "role": "write"}},
            }
        )

    def agent_harnesses(self) -> _Response:
        """``GET /api/agent-harnesses``: the registry of AI-agent environment variables that ``huggingface_hub``
        fetches (3 s timeout, cached a day in ``HF_HOME``) the first time a process builds its user-agent header.
        Served empty, so no agent is ever detected and the user-agent stays the same whoever runs the tests.
        """
        return _Response.json({"standardEnvVars": [], "harnesses": {}})

    def validate_yaml(self) -> _Response:
        """``POST /api/validate-yaml`` (called by ``create_commit`` for any README.md): accept every model card."""
        return _Response.json({"errors": [], "warnings": []})

    def create_repo(self) -> _Response:
        """``POST /api/repos/create`` (``HfApi.create_repo``): ``{name, organization?, type?, private?|visibility?}``.

        An existing repo answers 409 with its ``url`` too, which ``exist_ok=True`` relies on.
        """
        self._require_token()
        payload = self._json_body()
        hub = self.server.hub
        repo_type = payload.get("type") or "model"
        if repo_type not in _URL_PREFIX:
            raise HubError(400, f"The loopback Hub serves models and datasets, not {repo_type!r}")
        name = payload.get("name")
        if not name or "/" in name:
            raise HubError(400, f"Invalid repo name {name!r}")
        repo_id = f"{payload.get('organization') or hub.username}/{name}"
        existing = hub._repos.get((repo_type, repo_id))
        if existing is not None:
            return _Response.json(
                {"error": f"You already created this {repo_type} repo", "url": hub._url(existing)}, status=409
            )
        private = bool(payload.get("private")) or payload.get("visibility") in ("private", "protected")
        repo = hub._create_repo(repo_type, repo_id, private)
        return _Response.json({"url": hub._url(repo), "name": repo_id, "id": repo_id})

    def delete_repo(self) -> _Response:
        """``DELETE /api/repos/delete`` (``HfApi.delete_repo``): ``{name, organization?, type?}``."""
        self._require_token()
        payload = self._json_body()
        hub = self.server.hub
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or hub.username}/{payload.get('name')}"
        self._repo(repo_type, repo_id)
        del hub._repos[(repo_type, repo_id)]
        return _Response.json({})

    def repo_info(self, repo_type: str, repo_id: str, revision: str) -> _Response:
        """``GET /api/{type}s/{repo}[/revision/{rev}]`` (``model_info``/``dataset_info``/``repo_info``).

        Returns ``id``, ``sha`` (the resolved commit), ``siblings`` with sizes and blob ids, dates, ``private``,
        and for a README.md with YAML front matter its ``cardData`` and ``tags`` (plus ``library_name`` and
        ``pipeline_tag`` for models), as the Hub does.
        """
        repo = self._repo(repo_type, repo_id)
        commit = self._commit_at(repo, revision)
        card = _card_data(commit.files.get("README.md"))
        info: dict[str, Any] = {
            "_id": hashlib.sha1(f"{repo_type}/{repo_id}".encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0] if "/" in repo_id else None,
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": list(card.get("tags") or []) if isinstance(card.get("tags"), list) else [],
            "siblings": [_sibling(commit, path) for path in sorted(commit.files)],
            "usedStorage": sum(len(content) for content in commit.files.values()),
        }
        if card:
            info["cardData"] = card
        if repo_type == "model":
            info["library_name"] = card.get("library_name")
            info["pipeline_tag"] = card.get("pipeline_tag")
            info["modelId"] = repo_id
        return _Response.json(info)

    def _entry(self, repo: _Repo, commit: _Commit, path: str, expand: bool) -> dict[str, Any]:
        """One ``tree``/``paths-info`` item: ``{type: "file", path, size, oid}`` or ``{type: "directory", ...}``."""
        if path in commit.files:
            entry: dict[str, Any] = {
                "type": "file",
                "path": path,
                "size": len(commit.files[path]),
                "oid": commit.blob_id(path),
            }
            if path in commit.lfs:
                entry["lfs"] = commit.lfs_info(path)
        else:
            entry = {"type": "directory", "path": path, "size": 0, "oid": _tree_oid(dict(commit.files), path)}
        if expand:
            last = repo.last_commit_of(commit, path)
            entry["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
        return entry

    def list_tree(self, repo_type: str, repo_id: str, revision: str, folder: str) -> _Response:
        """``GET /api/{type}s/{repo}/tree/{rev}[/{path}]?recursive=&expand=`` (``list_repo_tree``, ``HfFileSystem``).

        Lists ``folder``'s children (or, recursive, everything below it) as files and directories, sorted by
        path, in a single page (no ``Link`` header). A ``folder`` that is not a directory is ``EntryNotFound``.
        """
        repo = self._repo(repo_type, repo_id)
        commit = self._commit_at(repo, revision)
        recursive = self.query.get("recursive", "").lower() in ("1", "true")
        expand = self.query.get("expand", "").lower() in ("1", "true")
        folder = folder.strip("/")
        prefix = f"{folder}/" if folder else ""
        below = [p for p in commit.files if p.startswith(prefix)]
        if folder and not below:
            raise HubError(
                404, f"{folder} does not exist on {revision!r}", "EntryNotFound", {"X-Repo-Commit": commit.oid}
            )
        paths: set[str] = set()
        for path in below:
            parts = path[len(prefix) :].split("/")
            depth = len(parts) if recursive else 1
            for i in range(1, depth + 1):
                paths.add(prefix + "/".join(parts[:i]))
        return _Response.json([self._entry(repo, commit, p, expand) for p in sorted(paths)])

    def paths_info(self, repo_type: str, repo_id: str, revision: str) -> _Response:
        """``POST /api/{type}s/{repo}/paths-info/{rev}`` (``get_paths_info``, ``HfFileSystem``).

        Form body ``paths=a&paths=b&expand=...`` (JSON also accepted); paths that do not exist are left out.
        """
        repo = self._repo(repo_type, repo_id)
        commit = self._commit_at(repo, revision)
        if self.headers.get("Content-Type", "").startswith("application/json"):
            payload = self._json_body()
            paths, expand = payload.get("paths") or [], bool(payload.get("expand"))
        else:
            form = parse_qs(self.body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = (form.get("expand") or [""])[-1].lower() in ("1", "true")
        entries = []
        for path in paths:
            path = path.strip("/")
            if path in commit.files or any(p.startswith(path + "/") for p in commit.files):
                entries.append(self._entry(repo, commit, path, expand))
        return _Response.json(entries)

    def preupload(self, repo_type: str, repo_id: str, revision: str) -> _Response:
        """``POST /api/{type}s/{repo}/preupload/{rev}`` (``create_commit`` -> ``_fetch_upload_modes``).

        Files are ``uploadMode: "regular"`` (they travel base64 in the commit), except non-empty paths ending in
        one of ``HubServer.lfs_suffixes`` (``"lfs"``: see :meth:`lfs_batch`); none is ignored. ``oid`` identifies
        the file already stored at that path as the client computes it (git blob SHA-1 of a regular file, SHA-256
        of an LFS file's content), which lets the client drop files whose content did not change.
        """
        self._require_token()
        repo = self._repo(repo_type, repo_id)
        branch = self._branch(repo, revision)
        head = repo.commits[repo.branches[branch]]
        lfs_suffixes = self.server.hub.lfs_suffixes
        files = []
        for item in self._json_body().get("files", []):
            path = item["path"]
            stored = head.files.get(path)
            if stored is None:
                oid = None
            else:
                oid = _sha256(stored) if path in head.lfs else git_blob_oid(stored)
            lfs = bool(lfs_suffixes) and path.endswith(lfs_suffixes) and item.get("size", 1) > 0
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        return _Response.json({"files": files, "commitOid": head.oid})

    def lfs_batch(self, repo_type: str, repo_id: str) -> _Response:
        """``POST /[datasets/]{repo}.git/info/lfs/objects/batch`` (git-LFS batch API, ``post_lfs_batch_info``).

        For each announced ``{oid: sha256, size}`` not yet stored, an ``upload`` action (a one-time URL on this
        server, like the Hub's pre-signed storage URLs: the client sends no token there) and a ``verify`` action;
        objects already stored get no actions, so the client skips them.
        """
        self._require_token()
        self._repo(repo_type, repo_id)
        hub = self.server.hub
        payload = self._json_body()
        if payload.get("operation") != "upload":
            raise HubError(400, "The loopback Hub's LFS batch endpoint only takes uploads")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = str(obj.get("oid")), int(obj.get("size", -1))
            if oid in hub._lfs_objects:
                objects.append({"oid": oid, "size": size})
                continue
            upload_id = hashlib.sha1(f"{oid}:{size}:{len(hub._lfs_uploads)}:{os.urandom(8).hex()}".encode()).hexdigest()
            hub._lfs_uploads[upload_id] = (oid, size)
            prefix = _URL_PREFIX[repo_type]
            actions = {
                "upload": {"href": f"{hub.endpoint}/lfs-upload/{upload_id}"},
                "verify": {"href": f"{hub.endpoint}/{prefix}{repo_id}.git/info/lfs/objects/verify"},
            }
            objects.append({"oid": oid, "size": size, "authenticated": True, "actions": actions})
        return _Response.json(
            {"transfer": "basic", "objects": objects}, headers={"Content-Type": "application/vnd.git-lfs+json"}
        )

    def lfs_upload(self, upload_id: str) -> _Response:
        """``PUT /lfs-upload/{id}``: the object storage behind an ``upload`` action (basic transfer, one request).

        The content must hash to the announced SHA-256 and have the announced size.
        """
        hub = self.server.hub
        announced = hub._lfs_uploads.pop(upload_id, None)
        if announced is None:
            raise HubError(403, "Unknown or already used LFS upload URL")
        oid, size = announced
        if _sha256(self.body) != oid or len(self.body) != size:
            raise HubError(400, f"LFS upload does not match the announced object {oid} ({size} bytes)")
        hub._lfs_objects[oid] = self.body
        return _Response(200)

    def lfs_verify(self, repo_type: str, repo_id: str) -> _Response:
        """``POST /[datasets/]{repo}.git/info/lfs/objects/verify`` with ``{oid, size}``: is the object stored?"""
        self._require_token()
        self._repo(repo_type, repo_id)
        payload = self._json_body()
        stored = self.server.hub._lfs_objects.get(str(payload.get("oid")))
        if stored is None or len(stored) != payload.get("size"):
            raise HubError(404, f"LFS object {payload.get('oid')} was not uploaded")
        return _Response.json({"success": True})

    def commit(self, repo_type: str, repo_id: str, revision: str) -> _Response:
        """``POST /api/{type}s/{repo}/commit/{branch}`` (``create_commit``, ``upload_file``/``upload_folder``).

        The body is ndjson: a ``header`` line ``{summary, description, parentCommit?}`` then, in order, ``file``
        (``{path, content, encoding: "base64"}``), ``lfsFile`` (``{path, algo: "sha256", oid, size}``, content
        uploaded before through :meth:`lfs_batch`), ``deletedFile`` and ``deletedFolder`` (``{path}``) lines.
        A ``parentCommit`` that is no longer the branch head is refused with 412, as on the Hub.
        """
        self._require_token()
        hub = self.server.hub
        if hub.refuse_commits:
            raise HubError(403, hub.refuse_commits)
        repo = self._repo(repo_type, repo_id)
        branch = self._branch(repo, revision)
        head = repo.commits[repo.branches[branch]]
        try:
            lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise HubError(400, f"Commit body is not ndjson: {err}") from None
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first ndjson line of a commit must be its header")
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent and parent.lower() != head.oid:
            raise HubError(412, f"A commit has happened since {parent}. Please refresh and try again.")
        files, lfs = dict(head.files), set(head.lfs)
        added, deleted = [], []
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value") or {}
            path = _check_path(value.get("path", ""))
            if key == "file":
                content = value.get("content", "")
                files[path] = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                lfs.discard(path)
                added.append(path)
            elif key == "lfsFile":
                stored = hub._lfs_objects.get(str(value.get("oid")))
                if stored is None:
                    raise HubError(422, f"LFS object {value.get('oid')} for {path} was never uploaded")
                files[path] = stored
                lfs.add(path)
                added.append(path)
            elif key == "deletedFile":
                if path not in files:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                del files[path]
                deleted.append(path)
            elif key == "deletedFolder":
                inside = [p for p in files if p.startswith(path.rstrip("/") + "/")]
                if not inside:
                    raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                for p in inside:
                    del files[p]
                deleted.extend(inside)
            else:
                raise HubError(400, f"The loopback Hub does not accept {key!r} commit lines")
        title, description = header.get("summary") or "", header.get("description") or ""
        new = hub._commit(repo, branch, files, title, description, frozenset(lfs))
        hub.commits.append(CommitRecord(repo_type, repo_id, branch, new.oid, new.title, tuple(added), tuple(deleted)))
        return _Response.json(
            {
                "success": True,
                "commitOid": new.oid,
                "commitUrl": f"{hub._url(repo)}/commit/{new.oid}",
                "commitMessage": new.title,
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )

    def list_commits(self, repo_type: str, repo_id: str, revision: str) -> _Response:
        """``GET /api/{type}s/{repo}/commits/{rev}`` (``list_repo_commits``): newest first, one page."""
        repo = self._repo(repo_type, repo_id)
        chain = repo.history(self._commit_at(repo, revision))
        user = [{"user": self.server.hub.username}]
        return _Response.json(
            [{"id": c.oid, "title": c.title, "message": c.message, "authors": user, "date": c.date} for c in chain]
        )

    def list_refs(self, repo_type: str, repo_id: str) -> _Response:
        """``GET /api/{type}s/{repo}/refs`` (``list_repo_refs``): branches and tags with their target commits."""
        repo = self._repo(repo_type, repo_id)

        def refs(kind: str, table: dict[str, str]) -> list[dict[str, str]]:
            return [{"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": oid} for n, oid in sorted(table.items())]

        return _Response.json(
            {
                "branches": refs("heads", repo.branches),
                "tags": refs("tags", repo.tags),
                "converts": [],
                "pullRequests": [],
            }
        )

    def branch(self, repo_type: str, repo_id: str, name: str) -> _Response:
        """``POST``/``DELETE /api/{type}s/{repo}/branch/{name}`` (``create_branch``/``delete_branch``).

        A new branch starts at ``startingPoint`` (any revision) or at the head of ``main``; 409 if it exists.
        """
        self._require_token()
        repo = self._repo(repo_type, repo_id)
        if self.method == "DELETE":
            if name not in repo.branches:
                raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
            if name == "main":
                raise HubError(403, "The main branch cannot be deleted")
            del repo.branches[name]
            return _Response.json({})
        if name in repo.branches or name in repo.tags:
            raise HubError(409, f"Reference already exists: {name}")
        _check_ref_name(name)
        start = self._json_body().get("startingPoint") or "main"
        repo.branches[name] = self._commit_at(repo, start).oid
        return _Response.json({})

    def tag(self, repo_type: str, repo_id: str, segment: str) -> _Response:
        """``POST /api/{type}s/{repo}/tag/{rev}`` with ``{tag, message?}`` (``create_tag``), ``DELETE .../tag/{tag}``."""
        self._require_token()
        repo = self._repo(repo_type, repo_id)
        if self.method == "DELETE":
            if segment not in repo.tags:
                raise HubError(404, f"Invalid rev id: {segment}", "RevisionNotFound")
            del repo.tags[segment]
            return _Response.json({})
        name = self._json_body().get("tag") or ""
        target = self._commit_at(repo, segment)
        if name in repo.tags or name in repo.branches:
            raise HubError(409, f"Reference already exists: {name}")
        _check_ref_name(name)
        repo.tags[name] = target.oid
        return _Response.json({})

    def resolve_file(self, repo_type: str, repo_id: str, revision: str, path: str) -> _Response:
        """``HEAD``/``GET /[datasets/]{repo}/resolve/{rev}/{path}`` (``hf_hub_download``, ``HfFileSystem``).

        Headers as the Hub sends them: ``X-Repo-Commit``, a quoted ``ETag`` (git blob id, or SHA-256 for an LFS
        file, which the Hub would redirect to storage and which is served directly here), ``Content-Length``,
        ``Accept-Ranges``; no ``X-Xet-Hash``.
        A ``Range: bytes=a-b`` request gets 206 with ``Content-Range``. A missing file is ``EntryNotFound`` and
        still carries ``X-Repo-Commit`` (the client caches the absence under that commit).
        """
        repo = self._repo(repo_type, repo_id)
        commit = self._commit_at(repo, revision)
        if path not in commit.files:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        content = commit.files[path]
        # The Hub's ETag is the git blob id of a regular file and the SHA-256 of an LFS file; the client names the
        # cached blob after it.
        etag = _sha256(content) if path in commit.lfs else git_blob_oid(content)
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
        }
        byte_range = _parse_range(self.headers.get("Range"), len(content))
        if byte_range is None:
            return _Response(200, content, headers)
        start, end = byte_range
        if start >= len(content) or start > end:
            return _Response(416, b"", {**headers, "Content-Range": f"bytes */{len(content)}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        return _Response(206, content[start : end + 1], headers)


def _sibling(commit: _Commit, path: str) -> dict[str, Any]:
    """One ``siblings`` item of a repo info: ``{rfilename, size, blobId, lfs?: {size, sha256, pointerSize}}``."""
    sibling: dict[str, Any] = {"rfilename": path, "size": len(commit.files[path]), "blobId": commit.blob_id(path)}
    if (lfs := commit.lfs_info(path)) is not None:
        sibling["lfs"] = {"size": lfs["size"], "sha256": lfs["oid"], "pointerSize": lfs["pointerSize"]}
    return sibling


def _check_path(path: str) -> str:
    """A repo path must be relative, non-empty and free of ``.``/``..`` segments."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


def _check_ref_name(name: str) -> None:
    if not name or name.startswith(("/", "refs/")) or ".." in name or len(name) == _COMMIT_ID_LENGTH:
        raise HubError(400, f"Invalid reference name {name!r}")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> inclusive ``(start, end)``; None for no or unusable Range."""
    if not header or not header.strip().startswith("bytes=") or "," in header:
        return None
    first, _, last = header.strip()[len("bytes=") :].partition("-")
    try:
        if not first:  # suffix: the last n bytes
            return max(size - int(last), 0), size - 1
        return int(first), min(int(last), size - 1) if last else size - 1
    except ValueError:
        return None


def _card_data(readme: bytes | None) -> dict[str, Any]:
    """The YAML front matter of a README.md (``---\\n...\\n---``), or ``{}``."""
    if not readme:
        return {}
    text = readme.decode("utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    block, sep, _ = text[3:].partition("\n---")
    if not sep:
        return {}
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------------------------------------------
# A server that never answers
# --------------------------------------------------------------------------------------------------------------


class SilentServer:
    """Accepts TCP connections on ``127.0.0.1:<free port>`` and never sends a byte: a firewall that drops replies.

    Connections stay open until :meth:`stop`. A client without a timeout waits forever; that is the point.

    Attributes:
        endpoint: ``"http://127.0.0.1:PORT"``.
        port: the port it listens on.
        connections: how many connections it accepted so far.
    """

    def __init__(self, host: str = "127.0.0.1"):
        self._socket = socket.create_server((host, 0), backlog=64)
        self.port: int = self._socket.getsockname()[1]
        self.endpoint = f"http://{host}:{self.port}"
        self._accepted: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_forever, name="silent-hub", daemon=True)

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def _accept_forever(self) -> None:
        self._socket.settimeout(0.05)
        while not self._stopping.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(conn)  # held open, never read, never answered

    def start(self) -> SilentServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        for conn in self._accepted:
            conn.close()
        self._socket.close()

    def __enter__(self) -> SilentServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------------------------
# Subprocess helpers: HF_ENDPOINT is read when huggingface_hub is imported, so Hub round trips through
# transformers/datasets run in a fresh interpreter.
# --------------------------------------------------------------------------------------------------------------

# Variables of the calling environment that would change where the client goes or what it sends.
_HF_VARIABLES = (
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_ASSETS_CACHE",
    "HF_DATASETS_CACHE",
    "HF_MODULES_CACHE",
    "HF_XET_CACHE",
    "TRANSFORMERS_CACHE",
    "HUGGINGFACE_CO_STAGING",
)


def hub_env(
    endpoint: str | None, home: str | os.PathLike[str], *, offline: bool = False, token: str | None = DUMMY_TOKEN
) -> dict[str, str]:
    """The environment for a subprocess that talks to a loopback Hub (or, ``offline``, only to its cache).

    Starts from ``os.environ`` without any Hugging Face variable that could leak in (a developer's token,
    cache or endpoint), then sets ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` (``"1"``/``"0"``), ``HF_HOME`` and
    ``HF_HUB_CACHE`` (``<home>/hub``), ``HF_TOKEN`` (unless ``token`` is None), ``HF_HUB_DISABLE_XET=1`` (the
    server has no Xet storage; this only matters for LFS uploads) and quiet progress bars.

    Args:
        endpoint: the server's endpoint, or None to leave ``HF_ENDPOINT`` unset.
        home: folder for ``HF_HOME``: everything the subprocess caches (hub files, datasets, modules) goes there.
            Pass the same folder again to find the cache a previous run filled.
        offline: set ``HF_HUB_OFFLINE=1``.
        token: the token for ``HF_TOKEN``; None sends no token at all.

    Returns:
        A new ``dict`` for ``subprocess.run(env=...)`` / :func:`run_python`.

    Example:
        >>> env = hub_env(hub.endpoint, tmp_path / "hf-home")               # doctest: +SKIP
        >>> run_python("from huggingface_hub import whoami; print(whoami()['name'])", env, check=True)  # doctest: +SKIP
    """
    env = {k: v for k, v in os.environ.items() if k not in _HF_VARIABLES}
    home = str(Path(home))
    env.update(
        HF_HOME=home,
        HF_HUB_CACHE=str(Path(home) / "hub"),
        HF_HUB_OFFLINE="1" if offline else "0",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_XET="1",  # LFS files go through the git-LFS batch protocol this server speaks
        TOKENIZERS_PARALLELISM="false",
    )
    if endpoint is not None:
        env["HF_ENDPOINT"] = endpoint
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def run_python(
    code: str, env: Mapping[str, str], timeout: float = 120, *, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a fresh ``sys.executable`` with ``env``; capture text stdout/stderr.

    Args:
        code: Python source; indentation common to all lines is removed, so it can be written inline.
        env: the full environment (see :func:`hub_env`).
        timeout: seconds before ``subprocess.TimeoutExpired``.
        check: raise ``AssertionError`` with the output tails when the exit status is not 0.

    Returns:
        The ``subprocess.CompletedProcess``.
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"subprocess exited with {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}"
            f"\n--- stderr ---\n{proc.stderr[-8000:]}"
        )
    return proc
