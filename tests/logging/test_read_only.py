"""A JSON store of an older schema on read-only storage (an archive, a mount, another user's folder) still lists
and loads: upgrading its index entries in place is skipped when they cannot be rewritten."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lllm.logging import local_store

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1"
SUCCESS, FAILURE = "20261126_073013_a0b60c6d", "20261126_073013_75f15526"


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` as a read-only folder: a read-only bind mount as root (whom file modes do not stop), else modes."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield path
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    mount = path.with_name(path.name + "_ro")
    mount.mkdir()
    if subprocess.run(["mount", "--bind", str(path), str(mount)], capture_output=True).returncode != 0:
        pytest.skip("running as root without the right to mount: cannot make a read-only folder")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], capture_output=True).returncode != 0:
            pytest.skip("running as root without the right to remount read-only")
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_an_old_json_store_on_read_only_storage_lists_and_loads(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "store")
    with read_only(tmp_path / "store") as path:
        with pytest.raises(OSError):
            (path / "probe").write_text("x")  # truly read-only
        store = local_store(path)
        assert [s.session_id for s in store.list_sessions(sort="calls")] == [FAILURE, SUCCESS]
        (summary,) = store.list_sessions(text="tea")
        assert (summary.session_id, summary.models, summary.task_preview) == (SUCCESS, ["test"], "tea")
        assert store.load_session(SUCCESS).tactic_name == "pipeline"


def test_an_sqlite_store_in_a_read_only_folder_says_so_and_what_to_do(tmp_path):
    from lllm.logging import LogStoreError, sqlite_store
    from lllm.logging.conformance import make_session

    (tmp_path / "store").mkdir()
    store = sqlite_store(tmp_path / "store" / "s.db")
    store.save_session(make_session())
    store.close()
    with read_only(tmp_path / "store") as path:
        with pytest.raises(LogStoreError) as ei:
            sqlite_store(path / "s.db")
    text = str(ei.value)
    assert "read-only" in text and "copy" in text and "new file" not in text
