"""The local JSON-file backend (§9.1): one file per key under a folder, written atomically, with
leases as small files changed under an ``flock``."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Union

from lllm.logging.backends import (
    SQLITE_SUFFIXES,
    Lease,
    LogBackend,
    LogStoreError,
    check_lease_args,
    is_segment,
    is_sqlite_file,
    validate_key,
    validate_prefix,
)


class LocalFileBackend(LogBackend):
    """One file per key under ``root``. Writes are atomic: a temp file in the same directory is
    fsynced, then renamed over the target, so a reader (or a crash) never sees a partial file.

    Temp names contain ``~``, which no key can, so leftovers of a killed writer are never listed; for the
    same reason leases live in ``~leases/`` as small JSON files, changed under an exclusive lock of
    ``~leases.lock`` (``fcntl.flock``: POSIX, local file systems)."""

    def __init__(self, root: Union[str, os.PathLike[str]]):
        self.root = Path(root)
        exists = self.root.exists()
        if exists and not self.root.is_dir():
            kind = "an SQLite database: open it with sqlite_store(path)" if is_sqlite_file(self.root) else "a file"
            raise LogStoreError(
                f"The JSON store path '{self.root}' is {kind}, not a folder; it was left untouched. "
                f"Pass a folder (new or existing) for a JSON store, or a .db file for SQLite."
            )
        if not exists and self.root.suffix.lower() in SQLITE_SUFFIXES:
            raise LogStoreError(
                f"The JSON store path '{self.root}' is named like an SQLite file; a JSON store is a folder, and none "
                f"was created. Open an SQLite store with sqlite_store('{self.root}'), or name the folder without "
                f"'{self.root.suffix}'."
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LogStoreError(
                f"Cannot create the JSON store folder '{self.root}': {e.strerror or e}. Pass a folder you can write to."
            ) from e
        self._lease_mutex = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def put(self, key: str, data: bytes) -> None:
        _atomic_write(self._path(key), data)

    def get(self, key: str) -> Optional[bytes]:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def list_keys(self, prefix: str = "") -> List[str]:
        validate_prefix(prefix)
        # Walk only the deepest directory the prefix names in full.
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*base.split("/")) if base else self.root
        keys = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            dirnames[:] = [d for d in dirnames if is_segment(d) and (rel + d).startswith(prefix[: len(rel + d)])]
            keys += [rel + n for n in filenames if is_segment(n) and (rel + n).startswith(prefix)]
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            pass

    # -- leases ----------------------------------------------------------------------------------
    def _lease_path(self, key: str) -> Path:
        """One flat folder; ``+`` (never in a key) stands for ``/``, so ``a/b`` and ``a/b/c`` can both exist."""
        return self.root / "~leases" / validate_key(key).replace("/", "+")

    @contextmanager
    def _lease_lock(self) -> Iterator[None]:
        """Exclusive across threads (the mutex) and processes (``flock`` on ``~leases.lock``)."""
        import fcntl

        with self._lease_mutex:
            fd = os.open(self.root / "~leases.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # drops the lock

    def _read_lease(self, path: Path) -> Optional[Lease]:
        try:
            data = json.loads(path.read_bytes())
            return Lease(str(data["holder"]), float(data["expires_at"]))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, KeyError, TypeError):  # a torn or foreign file: treat it as expired
            return Lease("", 0.0)

    def acquire_lease(self, key: str, holder: str, ttl: float) -> bool:
        path = self._lease_path(key)
        check_lease_args(holder, ttl)
        with self._lease_lock():
            current, now = self._read_lease(path), time.time()
            if current is not None and current.holder != holder and current.expires_at > now:
                return False
            _atomic_write(path, json.dumps({"holder": holder, "expires_at": now + ttl}).encode())
            return True

    def release_lease(self, key: str, holder: str) -> None:
        path = self._lease_path(key)
        with self._lease_lock():
            current = self._read_lease(path)
            if current is not None and current.holder == holder:
                path.unlink(missing_ok=True)

    def get_lease(self, key: str) -> Optional[Lease]:
        path = self._lease_path(key)
        with self._lease_lock():
            return self._read_lease(path)

    def __repr__(self) -> str:
        return f"LocalFileBackend({str(self.root)!r})"


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}~{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["LocalFileBackend"]
