"""The tactic call in progress in this context, and the invoker or model every call here is put on.

Context variables, so threads and tasks started inside a call see it (``contextvars.copy_context``)."""

from __future__ import annotations

import contextlib
import contextvars
from typing import TYPE_CHECKING, Any, Iterator, List, Optional

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import Invoker
    from lllm.core.sessions import TacticCallSession

# An invoker that every tactic called in this context uses instead of its own (replay, tests).
invoker_override: contextvars.ContextVar[Any] = contextvars.ContextVar("lllm_invoker_override", default=None)
# A model that every agent of every tactic called in this context runs on (`lllm run --model`, offline runs).
model_override: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("lllm_model_override", default=None)

# [per-call copy, its session] of the call in progress, emptied when the call ends: contexts copied during the
# call (a cancelled timer handle keeps its copy until the loop drops it) then no longer keep the call alive.
current_call: contextvars.ContextVar[Optional[List[Any]]] = contextvars.ContextVar(
    "lllm_current_tactic_call", default=None
)


def current_session() -> Optional["TacticCallSession"]:
    """The running session of the tactic call in progress in this context (sub-tactics, tactic tools and
    agent tools included), else ``None``; e.g. to record work done elsewhere with ``record_sub_tactic_call``."""
    cell = current_call.get()
    return cell[1] if cell else None


@contextlib.contextmanager
def use_invoker(invoker: Optional["Invoker"]) -> Iterator[Optional["Invoker"]]:
    """Within the block, every tactic call (sub-tactics included) gives its agents ``invoker``."""
    token = invoker_override.set(invoker)
    try:
        yield invoker
    finally:
        invoker_override.reset(token)


def model_in_use() -> Optional[str]:
    """The model ``use_model`` put every agent on here, or ``None``."""
    return model_override.get()


@contextlib.contextmanager
def use_model(model: Optional[str]) -> Iterator[Optional[str]]:
    """Within the block, every agent of every tactic call (sub-tactics and tactic tools included) runs on
    ``model``; the session records it as ``metadata["model_override"]``. ``None`` changes nothing."""
    token = model_override.set(model) if model is not None else None
    try:
        yield model
    finally:
        if token is not None:
            model_override.reset(token)


__all__ = [
    "current_call",
    "invoker_override",
    "model_override",
    "current_session",
    "use_invoker",
    "model_in_use",
    "use_model",
]
