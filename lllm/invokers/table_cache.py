"""The genai-prices entries this machine has looked up, kept in a small JSON file.

The whole table costs a process ~7 MiB and ~100 ms to load; a model's entry is a few numbers. So each
lookup's answer is written to ``$LLLM_CACHE_DIR`` (default ``$LLLM_HOME/cache``, else ``~/.lllm/cache``;
``off`` disables it) in a file named for the installed table, and a later process reads the file instead
of the table. A missing, unreadable or foreign file is ignored (the table is read as before); writes
are atomic and best effort, so a read-only home only costs the table load."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, Optional

logger = logging.getLogger("lllm.invokers")

MAX_ENTRIES = 2048  # per kind; model names come from configs, a runaway generator must not grow the file
_lock = threading.Lock()
_state: Dict[str, Any] = {}  # "path": Optional[Path], "data": {"prices": {...}, "windows": {...}}


def cache_dir() -> Optional[Path]:
    """Where the cache lives, or ``None`` when ``LLLM_CACHE_DIR=off``."""
    configured = os.environ.get("LLLM_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "none") else Path(configured).expanduser()
    home = os.environ.get("LLLM_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".lllm") / "cache"


def _table_file() -> Optional[Path]:
    """The cache file for the installed genai-prices table (named by its data file's size and mtime)."""
    where = cache_dir()
    spec = importlib.util.find_spec("genai_prices")  # locates the package without importing it
    if where is None or spec is None or spec.origin is None:
        return None
    data = Path(spec.origin).with_name("data.py")
    try:
        st = data.stat()
    except OSError:
        return None
    return where / f"genai-prices-{st.st_size}-{st.st_mtime_ns}.json"


def _data() -> Dict[str, Dict[str, Any]]:
    if "data" not in _state:
        path = _state["path"] = _table_file()
        data: Dict[str, Dict[str, Any]] = {"prices": {}, "windows": {}}
        if path is not None:
            try:
                loaded = json.loads(path.read_text())
                if isinstance(loaded, dict) and all(isinstance(loaded.get(k), dict) for k in data):
                    data = loaded
            except (OSError, ValueError):
                pass  # no file yet, or a broken one: it is rewritten on the next lookup
        _state["data"] = data
    out: Dict[str, Dict[str, Any]] = _state["data"]
    return out


def get(kind: str, key: str) -> Any:
    """The cached entry of ``kind`` (``prices`` or ``windows``) for ``key``, or ``None``."""
    with _lock:
        return _data()[kind].get(key)


def put(kind: str, key: str, entry: Any) -> None:
    """Remember ``entry`` in memory and in the file (atomically; failures are logged at debug level)."""
    with _lock:
        data = _data()
        table = data[kind]
        if len(table) >= MAX_ENTRIES:
            table.clear()
        table[key] = entry
        path = _state["path"]
        if path is None:
            return
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            os.replace(tmp, path)
        except OSError as e:
            logger.debug("price table cache %s not written: %s", path, e)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


def reset() -> None:
    """Forget what was read (tests; after changing ``LLLM_CACHE_DIR``)."""
    with _lock:
        _state.clear()


__all__ = ["cache_dir", "get", "put", "reset", "MAX_ENTRIES"]
