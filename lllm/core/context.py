"""Context managers: fit a dialog into a model's context window before each invocation (§1.6)."""

from __future__ import annotations

import difflib
import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Callable, ClassVar, Dict, List, Optional, Set

from lllm.core.const import Modalities, Roles
from lllm.core.dialog import Dialog
from lllm.core.message import Message
from lllm.core.tokens import REPLY_PRIMING, estimate_message_tokens, estimate_tokens
from lllm.errors import ConfigError, ResourceNotFoundError

logger = logging.getLogger("lllm.agent")

TRUNCATION_MARKER = "[...earlier content truncated...]\n"


class ContextManager(ABC):
    """Turns a dialog into the one to send: the same object, or a child fork. Never mutates its input."""

    name: ClassVar[str]

    @abstractmethod
    def __call__(self, dialog: Dialog) -> Dialog:
        """The dialog to invoke the model on."""


class DefaultContextManager(ContextManager):
    """Keeps the first message plus the newest messages that fit ``window - min(5000, window // 4)``.

    The border message keeps the *end* of its text; images drop whole; tool calls and their results
    are kept or dropped together; tool results whose call was dropped go too."""

    name: ClassVar[str] = "default"
    FALLBACK_WINDOW: ClassVar[int] = 4096
    MIN_BORDER_TOKENS: ClassVar[int] = 50

    def __init__(
        self,
        model_name: str,
        max_tokens: Optional[int] = None,
        *,
        window_lookup: Optional[Callable[[str], Optional[int]]] = None,
    ):
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0
        ):
            raise ConfigError(f"context_manager.max_tokens must be a positive integer, got {max_tokens!r}")
        self.model_name = model_name
        self.max_tokens = max_tokens
        self.window_lookup = window_lookup
        self._window: Optional[int] = None

    @property
    def window(self) -> int:
        """``max_tokens``, else the provider's window for the model, else 4096 (with a warning); cached."""
        if self._window is None:
            self._window = self._resolve_window()
        return self._window

    def _resolve_window(self) -> int:
        if self.max_tokens:
            return self.max_tokens
        if self.window_lookup is not None:
            try:
                w = self.window_lookup(self.model_name)
            except Exception as e:  # a lookup failure must not break the call
                logger.warning("Context window lookup for model '%s' failed: %s", self.model_name, e)
                w = None
            if w:
                return int(w)
        logger.warning(
            "Context window of model '%s' is unknown; assuming %d tokens. Set context_manager.max_tokens to override.",
            self.model_name,
            self.FALLBACK_WINDOW,
        )
        return self.FALLBACK_WINDOW

    @property
    def limit(self) -> int:
        w = self.window
        return w - min(5000, w // 4)

    def __call__(self, dialog: Dialog) -> Dialog:
        msgs: List[Message] = list(dialog.messages)
        costs = [estimate_message_tokens(m) for m in msgs]
        limit = self.limit
        if not msgs or sum(costs) + REPLY_PRIMING <= limit:
            return dialog
        remaining = limit - REPLY_PRIMING - costs[0]
        if remaining < 0:
            logger.warning(
                "The first message of dialog %s (%d tokens) alone exceeds the context limit "
                "(%d tokens) of model '%s'; sending it alone.",
                dialog.dialog_id,
                costs[0],
                limit,
                self.model_name,
            )
        kept: List[Message] = []  # newest first
        for unit in reversed(_units(msgs)):
            cost = sum(costs[i] for i in unit)
            if cost <= remaining:
                kept.extend(msgs[i] for i in reversed(unit))
                remaining -= cost
                continue
            if remaining > self.MIN_BORDER_TOKENS:
                kept.extend(reversed(self._truncate_unit([msgs[i] for i in unit], [costs[i] for i in unit], remaining)))
            break
        selected = _drop_orphans([msgs[0]] + kept[::-1])
        logger.debug(
            "Context for model '%s': %d messages / %d tokens over the limit of %d; kept %d.",
            self.model_name,
            len(msgs),
            sum(costs),
            limit,
            len(selected),
        )
        return dialog.derive(selected, last_n=len(selected) - 1, first_k=1)

    def _truncate_unit(self, unit: List[Message], costs: List[int], budget: int) -> List[Message]:
        """The border unit cut to ``budget``: its text messages keep their ends (shared out by size);
        a unit with an image, or whose fixed parts do not fit, drops whole."""
        cuttable = [i for i, m in enumerate(unit) if _cuttable(m)]
        if not cuttable or any(m.modality == Modalities.IMAGE for m in unit):
            return []
        text_tokens = {i: estimate_tokens(unit[i].text) for i in cuttable}
        fixed = sum(costs) - sum(text_tokens.values()) + estimate_tokens(TRUNCATION_MARKER) * len(cuttable)
        avail = budget - fixed
        if avail <= 0:
            return []
        total = sum(text_tokens.values()) or 1
        out = list(unit)
        for i in cuttable:
            share = avail * text_tokens[i] // total
            if text_tokens[i] > share:
                out[i] = _keep_end(unit[i], share)
        return out


def _cuttable(m: Message) -> bool:
    return m.modality != Modalities.IMAGE and not m.function_calls and bool(m.text)


def _keep_end(m: Message, tokens: int) -> Message:
    """A copy of ``m`` whose text is the marker plus the last ``tokens`` tokens' worth of characters."""
    text = m.text
    keep = max(0, tokens) * 4
    body = text[-keep:] if keep else ""
    return m.model_copy(
        update={"content": TRUNCATION_MARKER + body, "metadata": {**m.metadata, "context_truncated": True}}
    )


def _units(msgs: List[Message]) -> List[List[int]]:
    """Indices of ``msgs[1:]`` grouped so a tool-call message and the results that follow it stay together."""
    units: List[List[int]] = []
    open_ids: Set[str] = set()
    for i in range(1, len(msgs)):
        m = msgs[i]
        if m.role == Roles.TOOL and units:
            cid = m.metadata.get("tool_call_id")
            if (cid in open_ids) if cid else bool(open_ids):
                units[-1].append(i)
                continue
        units.append([i])
        open_ids = {c.id for c in m.function_calls}
    return units


def _drop_orphans(msgs: List[Message]) -> List[Message]:
    """Remove tool results whose ``tool_call_id`` is not answered by a tool call still present."""
    call_ids = {c.id for m in msgs for c in m.function_calls}
    return [
        m
        for m in msgs
        if not (m.role == Roles.TOOL and m.metadata.get("tool_call_id") and m.metadata["tool_call_id"] not in call_ids)
    ]


# ---------------------------------------------------------------------------------------------
# Registry and config (§1.6)
# ---------------------------------------------------------------------------------------------

_REGISTRY: Dict[str, type] = {"default": DefaultContextManager}


def register_context_manager(cls: type, registry: Optional[Dict[str, type]] = None) -> type:
    """Register ``cls`` under ``cls.name`` (in ``registry``, default the module's); usable as a decorator."""
    if not isinstance(cls, type):
        raise TypeError(f"register_context_manager() needs a class, got {type(cls).__name__}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"Context manager class {cls.__name__} must define a non-empty class attribute "
            f"`name` (e.g. name = 'my_manager')."
        )
    (_REGISTRY if registry is None else registry)[name] = cls
    return cls


def registered_context_managers(runtime: Any = None) -> Dict[str, type]:
    """Module-registered classes, overridden by the runtime's ``context_managers``."""
    out = dict(_REGISTRY)
    extra = getattr(runtime, "context_managers", None) if runtime is not None else None
    if isinstance(extra, Mapping):
        out.update(extra)
    return out


def _accepts(cls: type, param: str) -> bool:
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover
        return False
    return any(p.name == param or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def build_context_manager(
    config: Any, model_name: str, runtime: Any = None, *, window_lookup: Optional[Callable[[str], Optional[int]]] = None
) -> Optional[ContextManager]:
    """Build the manager an agent's ``context_manager`` block asks for; ``None`` disables management.

    ``config`` is the block itself: ``{type: default|<registered>|null, max_tokens, ...kwargs}``
    (``type`` defaults to ``default``). A ContextManager instance is returned as is. The class is
    built as ``cls(model_name, **kwargs)``, plus ``window_lookup`` if its constructor takes it."""
    if config is None:
        return None
    if isinstance(config, ContextManager):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"context_manager must be a mapping such as {{type: default, max_tokens: 100000}} "
            f"or null, got {type(config).__name__}: {config!r}"
        )
    kwargs = dict(config)
    kind = kwargs.pop("type", "default")
    if kind is None:
        return None
    if not isinstance(kind, str):
        raise ConfigError(f"context_manager.type must be a string or null, got {type(kind).__name__}: {kind!r}")
    available = registered_context_managers(runtime)
    cls = available.get(kind)
    if cls is None:
        close = difflib.get_close_matches(kind, list(available), n=5)
        raise ResourceNotFoundError(
            f"Unknown context manager type '{kind}'. Registered: {sorted(available)}"
            + (f"; did you mean {close}?" if close else ""),
            key=kind,
            suggestions=close,
        )
    if window_lookup is not None and "window_lookup" not in kwargs and _accepts(cls, "window_lookup"):
        kwargs["window_lookup"] = window_lookup
    try:
        manager: ContextManager = cls(model_name, **kwargs)
        return manager
    except TypeError as e:
        raise ConfigError(
            f"context_manager type '{kind}' ({cls.__name__}) rejected the options "
            f"{sorted(k for k in config if k != 'type')}: {e}"
        ) from e


__all__ = [
    "ContextManager",
    "DefaultContextManager",
    "build_context_manager",
    "register_context_manager",
    "registered_context_managers",
    "TRUNCATION_MARKER",
]
