"""The interfaces core needs from the parts around it, as structural types.

``lllm.packages.Runtime``, the invokers of ``lllm.invokers`` and ``lllm.logging.LogStore`` satisfy them
without importing this module (mypy checks it in CI where ``lllm/_wiring.py`` hands them to core), so
core's annotations name no subpackage. Any object with these members works: a test double, another
registry, another store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Protocol, Sequence

from lllm.core.const import APITypes
from lllm.core.message import FunctionCall, InvokeCost, Message

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.dialog import Dialog
    from lllm.core.prompt import Function, Prompt
    from lllm.core.sessions import TacticCallSession
    from lllm.core.stream import BaseStreamHandler


@dataclass
class InvokeResult:
    """Everything one invocation produced: the message, what was sent, what came back, and errors.

    ``execution_errors`` hold *invalid output* (parse/format failures, malformed tool arguments);
    provider failures are raised as ``lllm.errors.ProviderError`` instead."""

    message: Optional[Message] = None
    raw_response: Any = None
    model_args: Dict[str, Any] = field(default_factory=dict)
    execution_errors: List[Exception] = field(default_factory=list)
    request: Dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0
    latency_s: float = 0.0
    replayed: bool = False  # answered from a recording (a replay): nothing was spent on it

    @property
    def has_errors(self) -> bool:
        return bool(self.execution_errors)

    @property
    def error_message(self) -> str:
        return "\n".join(str(e) for e in self.execution_errors)

    @property
    def cost(self) -> InvokeCost:
        return self.message.cost if self.message is not None else InvokeCost()


class Invoker(Protocol):
    """What an agent calls to reach a model (``lllm.invokers.BaseInvoker`` and its subclasses)."""

    name: str
    retry_waits: bool

    async def acall(
        self,
        dialog: "Dialog",
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: "Optional[BaseStreamHandler]" = None,
        *,
        functions: "Optional[List[Function]]" = None,
    ) -> InvokeResult: ...

    def classify_error(self, exc: BaseException) -> Optional[str]: ...

    def recorded_tool_call(self, agent: str, call: FunctionCall) -> Optional[FunctionCall]: ...


class ResourceNodeLike(Protocol):
    """A registered resource: its key, package namespace and (loaded on first use) value."""

    key: str
    namespace: str

    @property
    def value(self) -> Any: ...


class RuntimeLike(Protocol):
    """The registry core resolves names in (``lllm.packages.Runtime``)."""

    default_namespace: Optional[str]

    @property
    def packages(self) -> Mapping[str, Any]: ...

    def get_node(self, key: str, resource_type: Optional[str] = None) -> Any: ...

    def has(self, key: str, resource_type: Optional[str] = None) -> bool: ...

    def keys(self, resource_type: Optional[str] = None) -> List[str]: ...

    def iter_nodes(self, resource_type: Optional[str] = None) -> Iterator[Any]: ...

    def get_prompt(self, key: str) -> "Prompt": ...

    def register_tactic(self, name: str, cls: type, overwrite: bool = False, namespace: str = "") -> Any: ...

    def get_context_manager(self, name: str) -> type: ...


class LoadingLike(Protocol):
    """A package being loaded: resources defined while it loads register into it."""

    def register(self, resource_type: str, key: str, value: Any, **meta: Any) -> Any: ...


class SessionStore(Protocol):
    """Where a tactic saves its sessions (``lllm.logging.LogStore``)."""

    def save_session(
        self,
        session: "TacticCallSession",
        tags: Optional[Dict[str, str]] = None,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> str: ...

    def load_session(self, session_id: str) -> "TacticCallSession": ...

    def list_sessions(
        self,
        tags: Optional[Dict[str, str]] = None,
        after: Any = None,
        before: Any = None,
        tactic_path: Optional[str] = None,
        state: Optional[str] = None,
        limit: Optional[int] = 100,
    ) -> Sequence[Any]: ...

    def batch_task(self, batch_id: str, index: int) -> Optional[Dict[str, Any]]: ...

    def record_batch_task(self, batch_id: str, index: int, session_id: str, task_md5: str) -> None: ...


class BatchLeasesLike(Protocol):
    """Leases on a durable batch's tasks, so two runners never run the same task at once."""

    retry_after: float  # seconds before looking again at a task another runner holds

    def take(self, index: int) -> bool: ...

    def release(self, index: int) -> None: ...

    def close(self) -> None: ...


__all__ = [
    "InvokeResult",
    "Invoker",
    "ResourceNodeLike",
    "RuntimeLike",
    "LoadingLike",
    "SessionStore",
    "BatchLeasesLike",
]
