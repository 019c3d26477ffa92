"""The log-backend conformance suite (lllm.logging.conformance) run on every backend we ship.

PostgreSQL runs when ``LLLM_TEST_POSTGRES_DSN`` names a server (``.ci/start-postgres.sh`` starts one)."""

from __future__ import annotations

import os

import pytest

from lllm.logging import LocalFileBackend, NoOpBackend, SQLiteBackend
from lllm.logging.conformance import LogBackendConformance, LogStoreConformance

POSTGRES_DSN = os.environ.get("LLLM_TEST_POSTGRES_DSN")


def postgres_backend():
    """A PostgresBackend on emptied tables, or a skip saying why there is none."""
    if not POSTGRES_DSN:
        pytest.skip("LLLM_TEST_POSTGRES_DSN is not set (bash .ci/start-postgres.sh prints one)")
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'lllm[postgres]')")
    from lllm.logging import PostgresBackend

    backend = PostgresBackend(POSTGRES_DSN)
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute("TRUNCATE lllm_kv, lllm_session_index, lllm_leases")
    return backend


@pytest.fixture(params=["local", "sqlite-file", "sqlite-memory", "noop", "postgres", "postgres-scan"])
def backend(request, tmp_path):
    kind = request.param
    if kind == "local":
        b = LocalFileBackend(tmp_path / "store")
    elif kind == "sqlite-file":
        b = SQLiteBackend(tmp_path / "store.db")
    elif kind == "sqlite-memory":
        b = SQLiteBackend(":memory:")
    elif kind == "noop":
        b = NoOpBackend()
    else:
        b = postgres_backend()
        if kind == "postgres-scan":  # the text filters as a server without pg_trgm answers them
            b.search_index = "scan"
    yield b
    b.close()


class TestBackendConformance(LogBackendConformance, LogStoreConformance):
    pass


def test_a_closed_postgres_backend_stays_closed():
    """``close()`` is final: the backend does not quietly open (and leak) a new connection."""
    backend = postgres_backend()
    backend.put("p/k", b"v")
    backend.close()
    with pytest.raises(Exception, match="closed"):
        backend.get("p/k")
    assert backend._conn.closed
