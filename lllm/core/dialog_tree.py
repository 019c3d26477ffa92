"""What a dialog forks with: its node in the fork tree, the read-only view of its messages, and the
deep copy of message data a fork makes."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, Iterable, Iterator, List, Optional, Union, overload

from pydantic import BaseModel

from lllm.core.ids import new_id
from lllm.core.message import Message

# ---------------------------------------------------------------------------------------------
# Fork tree
# ---------------------------------------------------------------------------------------------


@dataclass(eq=True, slots=True)
class DialogTreeNode:
    """A dialog's place in its fork tree: ids and fork arguments only, so a tree can be rebuilt
    from a flat store. ``parent``/``children`` are live links (not serialised, not compared)."""

    dialog_id: str = field(default_factory=lambda: new_id())
    owner: Optional[str] = None
    parent_id: Optional[str] = None
    split_point: Optional[int] = None
    last_n: Optional[int] = None
    first_k: Optional[int] = None
    children_ids: List[str] = field(default_factory=list)
    parent: Optional["DialogTreeNode"] = field(default=None, init=False, repr=False, compare=False)
    children: List["DialogTreeNode"] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def is_root(self) -> bool:
        return self.parent_id is None

    @property
    def depth(self) -> int:
        """Forks between this node and the root (follows live links; 0 for an unlinked node)."""
        d, cur = 0, self.parent
        while cur is not None:
            d, cur = d + 1, cur.parent
        return d

    def add_child(self, child: "DialogTreeNode") -> None:
        """Link ``child`` below this node, by id and by live reference."""
        if child.parent is self:
            return
        child.parent_id = self.dialog_id
        self.children_ids.append(child.dialog_id)
        self._attach(child)

    def _attach(self, child: "DialogTreeNode") -> None:
        """Set the live links only (ids are already in place)."""
        if child.parent is not self:
            child.parent = self
            self.children.append(child)

    def subtree_ids(self) -> List[str]:
        """Ids of this node and every live descendant, breadth-first, self first."""
        out, queue, i = [], [self], 0
        while i < len(queue):
            node = queue[i]
            i += 1
            out.append(node.dialog_id)
            queue.extend(node.children)
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {
            "dialog_id": self.dialog_id,
            "owner": self.owner,
            "parent_id": self.parent_id,
            "split_point": self.split_point,
            "last_n": self.last_n,
            "first_k": self.first_k,
            "children_ids": list(self.children_ids),
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "DialogTreeNode":
        return cls(
            dialog_id=d["dialog_id"],
            owner=d.get("owner"),
            parent_id=d.get("parent_id"),
            split_point=d.get("split_point"),
            last_n=d.get("last_n"),
            first_k=d.get("first_k"),
            children_ids=list(d.get("children_ids") or []),
        )

    @staticmethod
    def link(nodes: Iterable["DialogTreeNode"]) -> List["DialogTreeNode"]:
        """Restore live links between deserialised nodes from their ids; returns the roots present."""
        nodes = list(nodes)
        by_id = {n.dialog_id: n for n in nodes}
        for n in nodes:
            for cid in n.children_ids:
                child = by_id.get(cid)
                if child is not None:
                    n._attach(child)
        return [n for n in nodes if n.parent is None]


# ---------------------------------------------------------------------------------------------
# Read-only view of a dialog's messages
# ---------------------------------------------------------------------------------------------


class MessageSequence(Sequence[Message]):
    """A live, read-only view of a dialog's messages; slices and ``+`` return new lists."""

    __slots__ = ("_items",)

    def __init__(self, items: List[Message]):
        self._items = items

    @overload
    def __getitem__(self, index: int) -> Message: ...
    @overload
    def __getitem__(self, index: slice) -> List[Message]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[Message, List[Message]]:
        return self._items[index]  # a slice is a new list

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Message]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[Message]:
        return reversed(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MessageSequence):
            return self._items == other._items
        if isinstance(other, (list, tuple)):
            return self._items == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: Iterable[Message]) -> List[Message]:
        return self._items + list(other)

    def __radd__(self, other: Iterable[Message]) -> List[Message]:
        return list(other) + self._items

    def __repr__(self) -> str:
        return f"MessageSequence({self._items!r})"


# ---------------------------------------------------------------------------------------------
# Copies of message data
# ---------------------------------------------------------------------------------------------


_ATOMS = frozenset((str, int, float, bool, type(None)))


def deep_copy(value: Any) -> Any:
    """``copy.deepcopy`` with fast paths for JSON-like data and pydantic models without private or extra
    state (``fork`` copies every message); public pydantic API only."""
    t = type(value)
    if t in _ATOMS or isinstance(value, Enum):
        return value
    if t is dict:
        return {k: deep_copy(v) for k, v in value.items()}
    if t is list:
        return [deep_copy(v) for v in value]
    if isinstance(value, BaseModel):
        if value.model_extra or t.__private_attributes__:  # state model_construct would not carry over
            return value.model_copy(deep=True)
        fields = {k: getattr(value, k) for k in t.model_fields}
        return t.model_construct(
            _fields_set=set(value.model_fields_set),
            **{k: v if type(v) in _ATOMS else deep_copy(v) for k, v in fields.items()},
        )
    return copy.deepcopy(value)


__all__ = ["DialogTreeNode", "MessageSequence", "deep_copy"]
