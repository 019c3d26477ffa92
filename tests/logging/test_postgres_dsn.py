"""A PostgreSQL DSN's password never reaches an error message (libpq echoes parts of a DSN it cannot parse)."""

from __future__ import annotations

import traceback

import pytest

pytest.importorskip("psycopg", reason="needs lllm[postgres] (psycopg 3)")

from lllm.logging import postgres_store  # noqa: E402

PASSWORD = "pa%zzTopSecret99"  # an unencoded '%': libpq cannot decode it and quotes the token


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://bob:{PASSWORD}@127.0.0.1:1/db",
        "postgresql://bob@127.0.0.1:1/db?password=pa%zzTopSecret99",
    ],
)
def test_a_dsn_libpq_rejects_is_reported_without_its_password(dsn):
    with pytest.raises(Exception) as ei:
        postgres_store(dsn)
    text = "".join(traceback.format_exception(ei.type, ei.value, ei.tb))
    assert "TopSecret99" not in text
    assert str(ei.value).strip()  # still says what libpq refused
