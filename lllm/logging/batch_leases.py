"""Leases on the tasks of a durable batch: one runner per task among processes sharing a log store.

A runner takes a task's lease before running it, renews it every ``ttl / 3`` seconds while the task
runs and releases it once the task's session is saved. Another runner of the same batch skips a task
whose lease is held and comes back to it later (usually to read its result back from the store). A
lease whose holder died is taken over: at once when the holder was a process on this machine that no
longer exists, else when the lease expires."""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import secrets
import socket
import threading
from typing import Any, Optional, Set

from lllm.core.tactic import DEFAULT_LEASE_TTL
from lllm.logging.backends import check_lease_args

logger = logging.getLogger("lllm.tactic")

#: Seconds a task's lease lasts unless renewed (a dead runner's task waits this long on another machine).


def _machine() -> str:
    """This machine and PID namespace: process ids are comparable only within the same one."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").replace("/", "_")
    except OSError:
        namespace = "-"
    return f"{socket.gethostname()}:{namespace}"


def _holder_is_gone(holder: str) -> bool:
    """Whether ``holder`` was a process of this machine (and PID namespace) that no longer exists."""
    machine, _, rest = holder.partition("/")
    pid = rest.split("/", 1)[0]
    if os.name != "posix" or machine != _machine() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


class BatchLeases:
    """This runner's leases on the tasks of batch ``batch_id`` in ``store`` (a ``LogStore``)."""

    def __init__(self, store: Any, batch_id: str, ttl: float = DEFAULT_LEASE_TTL):
        try:
            check_lease_args("runner", ttl)
        except ValueError:
            raise ValueError(f"lease_ttl must be a number of seconds > 0, got {ttl!r}") from None
        self.store = store
        self.ttl = float(ttl)
        #: How long to wait before coming back to a task another runner holds.
        self.retry_after = min(self.ttl / 3, 2.0)
        self.holder = f"{_machine()}/{os.getpid()}/{secrets.token_hex(6)}"
        self._prefix = f"batch/{hashlib.sha256(batch_id.encode()).hexdigest()[:32]}"
        self._held: Set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._keeper: Optional[threading.Thread] = None
        store.get_lease(self.lease_name(0))  # a store without leases says so here, before any task runs

    def lease_name(self, index: int) -> str:
        """The store's name for task ``index``'s lease (the batch id is hashed into it)."""
        return f"{self._prefix}/{index}"

    def take(self, index: int) -> bool:
        """Take task ``index``'s lease: ``False`` while another live runner holds it."""
        name = self.lease_name(index)
        with self._lock:
            taken: bool = self.store.acquire_lease(name, self.holder, self.ttl)
            if not taken:
                lease = self.store.get_lease(name)
                if lease is not None and _holder_is_gone(lease.holder):
                    logger.info("batch task %d: its runner %s is gone; taking it over", index, lease.holder)
                    self.store.release_lease(name, lease.holder)  # only that holder's lease
                    taken = self.store.acquire_lease(name, self.holder, self.ttl)
            if taken:
                self._held.add(index)
                if self._keeper is None:
                    self._keeper = threading.Thread(target=self._keep, name="lllm-batch-leases", daemon=True)
                    self._keeper.start()
                    # a process stopped before the batch could close (Python 3.10's asyncio.run on a second
                    # Ctrl-C runs no more of its code) still releases its leases as it exits
                    atexit.register(self.close)
            return taken

    def release(self, index: int) -> None:
        """Release task ``index``'s lease (a failure to do so is logged: the lease then expires)."""
        with self._lock:
            self._held.discard(index)
            try:
                self.store.release_lease(self.lease_name(index), self.holder)
            except Exception:  # noqa: BLE001 - the lease expires by itself
                logger.warning("batch task %d: releasing its lease failed", index, exc_info=True)

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            with self._lock:
                for index in sorted(self._held):
                    try:
                        if not self.store.acquire_lease(self.lease_name(index), self.holder, self.ttl):
                            logger.warning(
                                "batch task %d: its lease expired and another runner took it over "
                                "(this runner stalled longer than lease_ttl); it may run twice",
                                index,
                            )
                    except Exception:  # noqa: BLE001 - retried at the next renewal
                        logger.warning("batch task %d: renewing its lease failed", index, exc_info=True)

    def close(self) -> None:
        """Stop renewing and release every lease still held."""
        atexit.unregister(self.close)
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join()
        for index in sorted(self._held):
            self.release(index)


__all__ = ["BatchLeases", "DEFAULT_LEASE_TTL"]
