"""The one JSON-safe converter LLLM uses (log store, dialogs' prompt arguments, CLI output): pydantic's."""

from __future__ import annotations

import warnings
from typing import Any, List, Optional

from pydantic_core import to_jsonable_python


def to_json_safe(value: Any, *, what: Optional[str] = None, stacklevel: int = 2) -> Any:
    """``value`` as JSON-ready data via ``pydantic_core.to_jsonable_python``: models dumped in JSON mode;
    dataclasses, enums, dates, sets, tuples and bytes converted; anything else becomes ``str``. With
    ``what``, such ``str`` replacements are announced in one ``UserWarning`` naming ``what`` and the types."""
    replaced: List[str] = []

    def fallback(v: Any) -> str:
        replaced.append(type(v).__name__)
        return str(v)

    out = to_jsonable_python(value, fallback=fallback)
    if replaced and what is not None:
        warnings.warn(
            f"{what} values of type {sorted(set(replaced))} are not JSON-serialisable and were stored as str",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
    return out


__all__ = ["to_json_safe"]
