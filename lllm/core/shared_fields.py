"""One fields-set object shared by the pydantic records built with the same fields.

A pydantic instance keeps a set of the fields it was given (~0.7 KiB once it holds five names); messages
and call records are built by the thousand with the same few fields, so they share one set per combination.
The shared set is a ``SharedFieldsSet``: a record copies it before a field of its own changes it."""

from __future__ import annotations

import threading
from typing import Dict, FrozenSet, Set

from pydantic import BaseModel

_MAX = 256  # combinations are few; odd ones must not grow the table
_table: Dict[FrozenSet[str], "SharedFieldsSet"] = {}
_lock = threading.Lock()


class SharedFieldsSet(set):  # type: ignore[type-arg]
    """A fields-set shared by several records: copy it (``own_fields_set``) before changing it."""

    __slots__ = ()


def share_fields_set(model: BaseModel) -> None:
    """Give ``model`` the shared set equal to its own fields-set."""
    given = frozenset(model.__pydantic_fields_set__)
    shared = _table.get(given)
    if shared is None:
        with _lock:
            if len(_table) >= _MAX:
                _table.clear()
            shared = _table.setdefault(given, SharedFieldsSet(given))
    object.__setattr__(model, "__pydantic_fields_set__", shared)


def own_fields_set(model: BaseModel) -> Set[str]:
    """``model``'s fields-set, made its own first if it was shared."""
    fields = model.__pydantic_fields_set__
    if type(fields) is SharedFieldsSet:
        fields = set(fields)
        object.__setattr__(model, "__pydantic_fields_set__", fields)
    return fields


__all__ = ["SharedFieldsSet", "own_fields_set", "share_fields_set"]
