"""Dialogs: append-only message lists owned by one agent and linked into a fork tree (§1.3–§1.5).

Messages are immutable by convention once appended; that is what lets the agent loop share them
between a dialog and its per-step working copies (see ``Dialog.fork(share_messages=True)``)."""

from __future__ import annotations

import base64
import contextvars
import logging
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union, overload

from lllm.core import wiring
from lllm.core.const import APITypes, Modalities, Roles
from lllm.core.dialog_tree import DialogTreeNode, MessageSequence, deep_copy
from lllm.core.ids import local_stamp, new_id, new_session_name
from lllm.core.images import load_image, sniff_image_mime
from lllm.core.jsonable import to_json_safe
from lllm.core.message import FunctionCall, InvokeCost, Message, TokenLogprob, freeze

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.prompt import Prompt
    from lllm.core.protocols import RuntimeLike

logger = logging.getLogger("lllm.agent")

SCHEMA_VERSION = 1
PLAIN_PROMPT_PATH = "__plain_text__"
Listener = Callable[["Dialog", Message], Any]


# ---------------------------------------------------------------------------------------------
# Prompts a dialog records
# ---------------------------------------------------------------------------------------------

# Within a context, every prompt a dialog renders passes through this function first (``rerun(prompts=...)``
# sets it to swap in edited templates); unset, it costs one ContextVar lookup per rendered prompt.
prompt_substitute: contextvars.ContextVar[Optional[Callable[["Prompt"], "Prompt"]]] = contextvars.ContextVar(
    "lllm_prompt_substitute", default=None
)


def prompt_key(prompt: Any) -> Optional[str]:
    """The key a prompt is recorded under: its qualified key if it knows one, else its path."""
    if prompt is None:
        return None
    return getattr(prompt, "qualified_key", None) or getattr(prompt, "path", None)


def _parser_name(parser: Any) -> Optional[str]:
    if parser is None:
        return None
    if isinstance(parser, type):
        return parser.__name__
    if callable(parser) and hasattr(parser, "__name__"):
        return str(parser.__name__)
    return type(parser).__name__


def _function_names(prompt: Any) -> List[str]:
    functions = getattr(prompt, "functions", None) or {}
    names = (
        [str(k) for k in functions]
        if isinstance(functions, Mapping)
        else [str(getattr(f, "name", f)) for f in functions]
    )
    return names + [str(r) for r in getattr(prompt, "function_refs", None) or ()]


def prompt_snapshot(prompt: Any) -> Optional[Dict[str, Any]]:
    """What ``to_dict`` records of the top prompt, enough to rebuild a template-only copy."""
    if prompt is None:
        return None
    return {
        "path": getattr(prompt, "path", None),
        "template": getattr(prompt, "prompt", None),
        "parser": _parser_name(getattr(prompt, "parser", None)),
        "functions": _function_names(prompt),
        "hash": getattr(prompt, "prompt_hash", None),
    }


_plain_prompt_cache: Optional["Prompt"] = None


def plain_prompt() -> "Prompt":
    """The shared top prompt of ``put_text``: no parser, format or tools (created once, lazily)."""
    global _plain_prompt_cache
    if _plain_prompt_cache is None:
        from lllm.core.prompt import Prompt

        _plain_prompt_cache = Prompt(path=PLAIN_PROMPT_PATH, prompt="")
    return _plain_prompt_cache


def _default_runtime() -> "RuntimeLike":
    return wiring.services.default_runtime()


# ---------------------------------------------------------------------------------------------
# Dialog
# ---------------------------------------------------------------------------------------------


class Dialog:
    """An append-only message list owned by one agent (§1.3). Grow it with ``append``/``put_*``;
    branch it with ``fork``; never edit messages in place."""

    def __init__(
        self,
        messages: Optional[Iterable[Message]] = None,
        session_name: Optional[str] = None,
        owner: Optional[str] = None,
        runtime: Optional["RuntimeLike"] = None,
        top_prompt: Optional["Prompt"] = None,
        tree_node: Optional[DialogTreeNode] = None,
    ):
        self._messages: List[Message] = [freeze(m) for m in messages] if messages else []
        self._view: Optional[MessageSequence] = None  # made on first read
        # Named when first read (most working dialogs never are); the name keeps the creation time.
        self._session_name: Optional[str] = session_name or None
        self._created = time.time()
        self._node: Optional[DialogTreeNode] = tree_node if tree_node is not None else DialogTreeNode(owner=owner)
        if owner is not None:
            self.tree_node.owner = owner
        self.runtime = runtime
        self.top_prompt = top_prompt
        self._parent: Optional[Dialog] = None
        # Children and listeners stay the shared empty tuple until the first one is added: most dialogs
        # have neither, and every live list is one more object for the garbage collector to walk.
        self._children: Union[List[Dialog], Tuple[()]] = ()
        self._listeners: Union[List[Listener], Tuple[()]] = ()
        self._fork_args: Tuple[int, int] = (0, 1)  # last_n, first_k of a working copy whose node is not made yet

    # -- identity and tree ---------------------------------------------------------------------
    @property
    def session_name(self) -> str:
        """The session this dialog belongs to (a child shares its parent's); ``YYYYMMDD_HHMMSS_<6hex>`` by default."""
        name = self._session_name
        if name is None:
            parent = self._parent
            name = parent.session_name if parent is not None else new_session_name(self._created)
            self._session_name = name
        return name

    @session_name.setter
    def session_name(self, name: str) -> None:
        self._session_name = name

    @property
    def tree_node(self) -> DialogTreeNode:
        """This dialog's place in its fork tree (a working copy gets it, and its id, when first asked)."""
        node = self._node
        if node is None:
            parent = self._parent
            assert parent is not None  # only a working copy has no node yet, and it always has a parent
            last_n, first_k = self._fork_args
            node = self._node = DialogTreeNode(
                owner=parent.owner, split_point=len(self._messages), last_n=last_n, first_k=first_k
            )
            parent._adopt(self)
        return node

    @tree_node.setter
    def tree_node(self, node: DialogTreeNode) -> None:
        self._node = node

    def _adopt(self, child: "Dialog") -> None:
        """Link ``child`` below this dialog (both the dialogs and their tree nodes)."""
        self.tree_node.add_child(child.tree_node)
        if not self._children:
            self._children = []
        self._children.append(child)  # a list from here on

    @property
    def owner(self) -> Optional[str]:
        node = self._node
        if node is None and self._parent is not None:  # a working copy inherits its parent's owner
            return self._parent.owner
        return self.tree_node.owner

    @owner.setter
    def owner(self, value: Optional[str]) -> None:
        self.tree_node.owner = value

    @property
    def dialog_id(self) -> str:
        return self.tree_node.dialog_id

    @property
    def parent(self) -> Optional["Dialog"]:
        return self._parent

    @property
    def children(self) -> List["Dialog"]:
        return list(self._children)

    @property
    def is_root(self) -> bool:
        return self.tree_node.is_root

    @property
    def depth(self) -> int:
        return self.tree_node.depth

    # -- messages ------------------------------------------------------------------------------
    @property
    def messages(self) -> MessageSequence:
        """A live read-only view; use ``append``/``put_*`` to add messages."""
        view = self._view
        if view is None:
            view = self._view = MessageSequence(self._messages)
        return view

    @property
    def head(self) -> Optional[Message]:
        return self._messages[0] if self._messages else None

    @property
    def tail(self) -> Optional[Message]:
        return self._messages[-1] if self._messages else None

    @property
    def cost(self) -> InvokeCost:
        """Cost of the messages present (retries are in ``AgentCallSession.cost``)."""
        return sum((m.cost for m in self._messages), InvokeCost())

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(self._messages)

    @overload
    def __getitem__(self, index: int) -> Message: ...
    @overload
    def __getitem__(self, index: slice) -> List[Message]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[Message, List[Message]]:
        return self._messages[index]

    def __repr__(self) -> str:
        return (
            f"Dialog(id={self.dialog_id[:8]}, owner={self.owner!r}, session={self.session_name!r}, "
            f"messages={len(self._messages)})"
        )

    # -- listeners -----------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> Listener:
        """Call ``fn(dialog, message)`` after every append; returns ``fn`` (usable as a decorator)."""
        if not callable(fn):
            raise TypeError(f"add_listener() needs a callable, got {type(fn).__name__}")
        self._listeners = [*self._listeners, fn]
        return fn

    def remove_listener(self, fn: Listener) -> None:
        """Stop calling ``fn``; silent if it was not registered."""
        if fn in self._listeners:
            listeners = list(self._listeners)
            listeners.remove(fn)
            self._listeners = listeners

    # -- writing -------------------------------------------------------------------------------
    def append(self, message: Message) -> Message:
        """Append ``message``, stamp ``metadata["dialog_id"]`` and notify listeners (their errors are logged).

        A message belongs to one dialog: append a copy to put the same content in another."""
        if not isinstance(message, Message):
            raise TypeError(f"Dialog.append() needs a Message, got {type(message).__name__}")
        # a dict of its own: a model_copy of a message shares the original's, which must not change
        object.__setattr__(message, "metadata", {**message.metadata, "dialog_id": self.tree_node.dialog_id})
        self._messages.append(freeze(message))  # the canonical history is immutable (0.1.x let it change)
        for fn in self._listeners:  # never changed in place: a listener may add or remove listeners
            try:
                fn(self, message)
            except Exception:
                logger.exception("Dialog listener %r failed on dialog %s", fn, self.dialog_id)
        return message

    def put_prompt(
        self,
        prompt: Union["Prompt", str],
        prompt_args: Optional[Dict[str, Any]] = None,
        name: str = "user",
        metadata: Optional[Dict[str, Any]] = None,
        role: Roles = Roles.USER,
    ) -> Message:
        """Render ``prompt`` (or the prompt registered under that key) and append it; it becomes ``top_prompt``."""
        if isinstance(prompt, str):
            prompt = (self.runtime if self.runtime is not None else _default_runtime()).get_prompt(prompt)
        swap = prompt_substitute.get()
        if swap is not None:  # rerun(prompts=...): an edited copy of this prompt, for this context only
            prompt = swap(prompt)
        args = dict(prompt_args or {})
        content = prompt(**args)
        meta = dict(metadata or {})
        meta.update(
            prompt_key=prompt_key(prompt),
            prompt_hash=getattr(prompt, "prompt_hash", None),
            prompt_args=to_json_safe(args),
        )
        message = Message(role=Roles(role), content=content, name=name, modality=Modalities.TEXT, metadata=meta)
        self.append(message)
        self.top_prompt = prompt
        return message

    def put_text(
        self, text: str, name: str = "user", metadata: Optional[Dict[str, Any]] = None, role: Roles = Roles.USER
    ) -> Message:
        """Append ``text`` unrendered; ``top_prompt`` becomes the plain prompt (no parser, format or tools)."""
        message = Message(
            role=Roles(role), content=text, name=name, modality=Modalities.TEXT, metadata=dict(metadata or {})
        )
        self.append(message)
        self.top_prompt = plain_prompt()
        return message

    def put_image(
        self,
        image: Any,
        caption: Optional[str] = None,
        name: str = "user",
        metadata: Optional[Dict[str, Any]] = None,
        role: Roles = Roles.USER,
    ) -> Message:
        """Append a PNG/JPEG/GIF/WebP image (path, PIL image, bytes or base64) as base64 content (§3.4)."""
        data, mime = load_image(image)
        meta = dict(metadata or {})
        meta.update(caption=caption, mime_type=mime)
        message = Message(
            role=Roles(role),
            content=base64.b64encode(data).decode("ascii"),
            name=name,
            modality=Modalities.IMAGE,
            metadata=meta,
        )
        return self.append(message)

    # -- forking -------------------------------------------------------------------------------
    def _select(self, last_n: int, first_k: int) -> List[Message]:
        if last_n < 0 or first_k < 0:
            raise ValueError(f"fork() needs non-negative last_n and first_k, got last_n={last_n}, first_k={first_k}")
        msgs, n = self._messages, len(self._messages)
        if last_n == 0 or last_n >= n:
            return list(msgs)
        t = n - last_n
        return msgs[: min(first_k, t)] + msgs[t:]

    def derive(self, messages: List[Message], last_n: int = 0, first_k: int = 1) -> "Dialog":
        """A child holding exactly ``messages`` (say, a context manager's pruned view), linked both ways and
        inheriting session, prompt, runtime and owner; ``last_n``/``first_k`` record how they were chosen."""
        child = self._detached_child(messages, last_n, first_k)
        child.tree_node = DialogTreeNode(owner=self.owner, split_point=len(messages), last_n=last_n, first_k=first_k)
        self._adopt(child)
        return child

    def _detached_child(self, messages: List[Message], last_n: int, first_k: int) -> "Dialog":
        child = Dialog.__new__(Dialog)
        child._messages = messages
        child._view = None
        child._session_name = self._session_name  # None: asked of the parent when first read
        child._created = self._created
        child._node = None
        child.runtime = self.runtime
        child.top_prompt = self.top_prompt
        child._parent = self
        child._children = ()
        child._listeners = ()
        child._fork_args = (last_n, first_k)
        return child

    def working_copy(self) -> "Dialog":
        """``fork(share_messages=True)`` for a per-step working copy (the call loop's): the child joins the
        fork tree, with an id, only when something reads its ``tree_node`` or ``dialog_id`` or is appended
        to it; one that is only sent costs no id and stays out of ``children``."""
        return self._detached_child(list(self._messages), 0, 1)

    def fork(self, last_n: int = 0, first_k: int = 1, *, share_messages: bool = False) -> "Dialog":
        """A child with deep copies of all messages, or of ``msgs[:min(first_k, t)] + msgs[t:]`` with
        ``t = len - last_n`` when ``0 < last_n < len`` (§1.4).

        ``share_messages=True`` shares the (immutable) Message objects instead: O(n) pointer copies, for
        per-step working copies. Appending to either dialog never affects the other."""
        selected = self._select(last_n, first_k)
        return self.derive(selected if share_messages else [deep_copy(m) for m in selected], last_n, first_k)

    # -- display -------------------------------------------------------------------------------
    def overview(self, remove_tail: bool = False, max_length: int = 100) -> str:
        """One ``[i. name (role)]: preview`` line per message, blank-line separated."""
        msgs = self._messages[:-1] if remove_tail else self._messages
        lines = []
        for i, m in enumerate(msgs):
            if m.modality == Modalities.IMAGE:
                text = f"<image {m.metadata.get('mime_type', '?')}>" + (
                    f" {m.metadata['caption']}" if m.metadata.get("caption") else ""
                )
            else:
                text = m.text
            if m.function_calls:
                text = (text + " " if text else "") + "; ".join(str(c) for c in m.function_calls)
            if max_length >= 0 and len(text) > max_length:
                text = text[:max_length] + "..."
            lines.append(f"[{i}. {m.name} ({m.role.value})]: {text}")
        return "\n\n".join(lines)

    def tree_overview(self) -> str:
        """The live fork tree below this dialog, one indented line per dialog."""
        lines: List[str] = []
        stack: List[Tuple[Dialog, int]] = [(self, 0)]
        while stack:
            d, level = stack.pop()
            node = d.tree_node
            line = (
                f"{'  ' * level}{'└─ ' if level else ''}[{d.dialog_id[:8]}] owner={d.owner} "
                f"msgs={len(d)} split@{node.split_point}"
            )
            if node.last_n:
                line += f" (last_n={node.last_n}, first_k={node.first_k})"
            lines.append(line)
            stack.extend((c, level + 1) for c in reversed(d._children))
        return "\n".join(lines)

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """JSON-safe record: messages, ids, tree node, top prompt key and snapshot (§1.5)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "messages": [m.to_dict() for m in self._messages],
            "session_name": self.session_name,
            "owner": self.owner,
            "tree_node": self.tree_node.to_dict(),
            "top_prompt_path": prompt_key(self.top_prompt),
            "top_prompt_snapshot": prompt_snapshot(self.top_prompt),
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any], runtime: Optional["RuntimeLike"] = None) -> "Dialog":
        """Rebuild a dialog; the top prompt comes from ``runtime`` (else the default runtime), or, on a
        miss, from the snapshot as a template-only prompt with a ``RuntimeWarning``."""
        version = d.get("schema_version", SCHEMA_VERSION)
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"Dialog schema_version {version} is newer than this library supports "
                f"({SCHEMA_VERSION}); upgrade lllm to load it."
            )
        node = DialogTreeNode.from_dict(d["tree_node"]) if d.get("tree_node") else None
        return cls(
            [Message.from_dict(m) for m in d.get("messages") or []],
            session_name=d.get("session_name"),
            owner=d.get("owner"),
            runtime=runtime,
            top_prompt=_restore_prompt(d.get("top_prompt_path"), d.get("top_prompt_snapshot"), runtime),
            tree_node=node,
        )

    @staticmethod
    def link(dialogs: Iterable["Dialog"]) -> List["Dialog"]:
        """Restore live parent/child links between deserialised dialogs by id; returns the roots present."""
        dialogs = list(dialogs)
        by_id = {x.dialog_id: x for x in dialogs}
        for x in dialogs:
            for cid in x.tree_node.children_ids:
                child = by_id.get(cid)
                if child is not None and child._parent is not x:
                    child._parent = x
                    x._children = [*x._children, child]
                    x.tree_node._attach(child.tree_node)
        return [x for x in dialogs if x._parent is None]


def _restore_prompt(path: Optional[str], snapshot: Optional[Dict[str, Any]], runtime: Any) -> Any:
    if path is None:
        return None
    if path == PLAIN_PROMPT_PATH:
        return plain_prompt()
    rt = runtime
    if rt is None:
        try:
            rt = _default_runtime()
        except ImportError:  # pragma: no cover
            rt = None
    if rt is not None:
        try:
            return rt.get_prompt(path)
        except (KeyError, TypeError):
            pass
    if not snapshot or snapshot.get("template") is None:
        warnings.warn(
            f"Dialog.from_dict: prompt '{path}' is not registered in the runtime and the record "
            f"has no snapshot; top_prompt is None.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    from lllm.core.prompt import Prompt

    prompt = Prompt(path=snapshot.get("path") or path.replace(":", "/"), prompt=snapshot["template"])
    warnings.warn(
        f"Dialog.from_dict: prompt '{path}' is not registered in the runtime; rebuilt a "
        f"template-only prompt from the snapshot (parser {snapshot.get('parser')} and tools "
        f"{snapshot.get('functions') or []} are not restored).",
        RuntimeWarning,
        stacklevel=3,
    )
    return prompt


__all__ = [
    "Dialog",
    "DialogTreeNode",
    "MessageSequence",
    "Message",
    "FunctionCall",
    "InvokeCost",
    "TokenLogprob",
    "Roles",
    "Modalities",
    "APITypes",
    "load_image",
    "sniff_image_mime",
    "new_id",
    "local_stamp",
    "new_session_name",
    "prompt_snapshot",
    "plain_prompt",
    "PLAIN_PROMPT_PATH",
    "SCHEMA_VERSION",
]

from lllm.lazy import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x names kept here

__getattr__ = _lazy_exports(
    __name__, {"ContextManager": "lllm.core.context", "DefaultContextManager": "lllm.core.context"}
)
