"""Evaluation cases: tasks from a JSONL data set, or recorded sessions selected from a session store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from pydantic import BaseModel, Field

from lllm.errors import ConfigError
from lllm.logging.filters import tactic_filter

_CASE_KEYS = frozenset({"task", "expected", "id", "metadata"})


class DatasetError(ConfigError):
    """A data set file or line that cannot be read; the message names the file and line."""


class Case(BaseModel):
    """One item to evaluate: a task, optionally the expected result, and for traces the recorded session."""

    id: str
    task: Any = None
    expected: Any = None
    metadata: Dict[str, Any] = Field(default_factory=dict)
    session_id: Optional[str] = None


def case_from(value: Any, index: int) -> Case:
    """A case from one data set entry: ``{"task", "expected"?, "id"?, "metadata"?}``, else a bare task."""
    if isinstance(value, Case):
        return value
    if isinstance(value, dict) and "task" in value and set(value) <= _CASE_KEYS:
        return Case(
            id=str(value.get("id", index)),
            task=value["task"],
            expected=value.get("expected"),
            metadata=dict(value.get("metadata") or {}),
        )
    return Case(id=str(index), task=value)


def load_dataset(path: Union[str, Path]) -> List[Case]:
    """The cases of a JSONL file: each non-blank line a JSON value (a bare task, or an object with
    ``task`` and optionally ``expected``, ``id``, ``metadata``); a line that is not JSON is a text task."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"data set {str(path)!r} does not exist: pass a JSONL file, one task per line")
    raw = p.read_bytes()
    try:
        content = raw.decode("utf-8-sig")  # a byte order mark (Windows editors) is not part of the first line
    except UnicodeDecodeError as e:
        line_no = raw.count(b"\n", 0, e.start) + 1
        raise DatasetError(
            f"data set {p.name}, line {line_no}: not UTF-8 text ({e.reason}); save the file as UTF-8"
        ) from None
    cases: List[Case] = []
    lines: List[int] = []  # each case's line
    for n, line in enumerate(content.split("\n"), 1):  # not splitlines: JSON text may hold U+2028, U+0085
        text = line.strip()
        if not text:
            continue
        if text[0] in "{[":
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise DatasetError(
                    f"data set {p.name}, line {n}: not valid JSON ({e.msg} at column {e.colno}); "
                    f'write one JSON value per line, e.g. {{"task": "...", "expected": "..."}}'
                ) from None
        else:
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = text
        if isinstance(value, dict) and "task" in value and not set(value) <= _CASE_KEYS:
            extra = sorted(set(value) - _CASE_KEYS)
            raise DatasetError(
                f"data set {p.name}, line {n}: unknown key(s) {extra} next to 'task'; a case has only "
                f"{sorted(_CASE_KEYS)} (put a typed task's fields inside 'task')"
            )
        if isinstance(value, dict) and "task" in value and not isinstance(value.get("metadata") or {}, dict):
            raise DatasetError(
                f"data set {p.name}, line {n}: 'metadata' must be an object, got {value['metadata']!r}; "
                f'write e.g. "metadata": {{"source": "..."}}'
            )
        cases.append(case_from(value, len(cases)))
        lines.append(n)
    ids = [c.id for c in cases]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        where = ", ".join(f"line {n}" for n, i in zip(lines, ids) if i == dup[0])
        raise DatasetError(
            f"data set {p.name}: case ids must be unique; repeated: {dup} ({dup[0]!r} on {where}; a case "
            f"without an 'id' takes its position, counted from 0)"
        )
    if not cases:
        raise DatasetError(f"data set {p.name} has no tasks: write one JSON value or text per line")
    return cases


def select_sessions(
    store: Any,
    *,
    tactic: Optional[str] = None,
    tags: Optional[Dict[str, str]] = None,
    batch: Optional[str] = None,
    after: Optional[str] = None,
    before: Optional[str] = None,
    state: Optional[str] = None,
    limit: Optional[int] = None,
) -> List[Case]:
    """Cases for the recorded sessions of ``store`` matching the filters (as ``lllm sessions list``),
    newest first, at most ``limit``; earlier re-runs (replays, evaluation runs) are left out."""
    all_tags = dict(tags or {})
    if batch:
        all_tags["lllm.batch_id"] = batch
    rows = store.list_sessions(
        tags=all_tags or None,
        after=after,
        before=before,
        state=state,
        limit=None,
        sort="newest",
        **tactic_filter(tactic),
    )
    cases: List[Case] = []
    for r in rows:
        if limit is not None and len(cases) >= limit:
            break
        if "lllm.replay_of" in r.tags or "lllm.eval_id" in r.tags:
            continue
        cases.append(Case(id=r.session_id, session_id=r.session_id))
    if not cases:
        raise DatasetError(
            "no recorded session matches the filters"
            + (f" (tactic={tactic!r}, tags={all_tags}, after={after!r})" if tactic or all_tags or after else "")
            + ": check them with `lllm sessions list`, or record runs first (`lllm run`, `lllm batch`)"
        )
    return cases


__all__ = ["Case", "DatasetError", "case_from", "load_dataset", "select_sessions"]
