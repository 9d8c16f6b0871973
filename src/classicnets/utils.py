"""Small helpers shared outside ``models/``: atomic file and folder writes, cache location.

A crash must never leave a half-written file that looks whole: everything is written under a temporary
name in the destination's own folder (same file system), flushed, and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    """The classicnets cache: ``$CLASSICNETS_CACHE`` or ``~/.cache/classicnets``."""
    root = os.environ.get("CLASSICNETS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "classicnets"
    )
    return Path(root)


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file: ``0o666`` minus the process umask.

    ``tempfile.mkstemp`` (and safetensors, which writes through a temporary file) create files readable by
    their owner only; a model folder meant for sharing should get the permissions any other file gets.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def share_files(folder: str | os.PathLike) -> None:
    """Gives every file directly in ``folder`` the default permissions (see :func:`default_file_mode`)."""
    mode = default_file_mode()
    for child in Path(folder).iterdir():
        if child.is_file():
            os.chmod(child, mode)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename); the file gets
    the permissions a plain ``open(path, "w")`` would give it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False):
    """Yields a temporary folder beside ``path``; on success it replaces ``path`` in one rename.

    If the block raises, the temporary folder is removed and ``path`` is left exactly as it was. With
    ``overwrite=True`` an existing ``path`` is moved aside first and deleted only after the new folder is
    in place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = ["atomic_directory", "atomic_write_bytes", "atomic_write_text", "cache_dir", "default_file_mode", "share_files"]
