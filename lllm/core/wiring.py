"""What core uses but does not own: the runtime, invokers, the session store, tool sources and proxies.

Core imports none of the subpackages around it (``lllm.packages``, ``lllm.invokers``, ``lllm.logging``,
``lllm.proxies``, ``lllm.sandbox``, ``lllm.mcp``); it calls ``services`` instead. ``import lllm`` installs
the implementation in ``lllm/_wiring.py``; an embedder or a test may install another with ``install``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Generator, List, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.prompt import Function, Prompt
    from lllm.core.protocols import BatchLeasesLike, Invoker, LoadingLike, RuntimeLike, SessionStore


class Services:
    """The seams core calls. Each method here says what it must do; ``lllm/_wiring.py`` implements them."""

    def _missing(self, what: str) -> NotImplementedError:
        return NotImplementedError(
            f"lllm.core.wiring: no implementation of {what!r} is installed; "
            "import lllm (it installs lllm._wiring) or call lllm.core.wiring.install(...)"
        )

    # the runtime (lllm.packages)
    def default_runtime(self) -> "RuntimeLike":
        """The process-wide default runtime (auto-initialised on first use)."""
        raise self._missing("default_runtime")

    def target_runtime(self, explicit: "Optional[RuntimeLike]") -> "RuntimeLike":
        """``explicit``, else the runtime a package being loaded registers into, else the default."""
        raise self._missing("target_runtime")

    def current_loading(self, runtime: "RuntimeLike") -> "Optional[LoadingLike]":
        """The package being loaded into ``runtime`` right now, if any."""
        raise self._missing("current_loading")

    def resolve_config(self, name: str, runtime: "RuntimeLike") -> Dict[str, Any]:
        """The config registered under ``name``, with its ``base`` chain merged."""
        raise self._missing("resolve_config")

    def vendor_config(self, config: Dict[str, Any], runtime: "RuntimeLike") -> Dict[str, Any]:
        """A config mapping with its ``base`` chain resolved."""
        raise self._missing("vendor_config")

    def prompt_functions(self, prompt: "Prompt", runtime: "Optional[RuntimeLike]") -> "Dict[str, Function]":
        """The prompt's tools by name, every declaration bound to its implementation by package key."""
        raise self._missing("prompt_functions")

    def tool_ref(self, ref: str, runtime: "RuntimeLike", where: str) -> "Function":
        """The tool (or tactic tool) a config names by key."""
        raise self._missing("tool_ref")

    def resolve_skills(self, skills: Any, cache: Optional[Dict[str, Any]] = None) -> Any:
        """The agentskills.io skills a config names, loaded."""
        raise self._missing("resolve_skills")

    # invokers (lllm.invokers)
    def build_invoker(self, config: Dict[str, Any]) -> "Invoker":
        """The invoker a tactic config asks for (``invoker``/``invoker_config``; ``auto`` routes by model)."""
        raise self._missing("build_invoker")

    def check_invoker_config(self, name: str, config: Any, where: str) -> None:
        """Raise ``ConfigError`` for keys the named invoker would not read."""
        raise self._missing("check_invoker_config")

    def prewarm(self, invoker: "Invoker", models: List[Tuple[str, Dict[str, Any]]]) -> None:
        """Do once, before the first call, what that call would do lazily for these models (may do nothing)."""

    # sessions (lllm.logging)
    def local_store(self, path: str, runtime: "RuntimeLike") -> "SessionStore":
        """The default session store in a folder (a tactic's ``ckpt_dir``)."""
        raise self._missing("local_store")

    def batch_leases(self, store: "Optional[SessionStore]", batch_id: str, ttl: float) -> "BatchLeasesLike":
        """Leases on a durable batch's tasks, held in ``store``."""
        raise self._missing("batch_leases")

    def redact(self, config: Any) -> Any:
        """A config as recorded in a session: credentials registered and hidden."""
        raise self._missing("redact")

    # batch backends (lllm.ray)
    def run_batch(
        self, tactic: Any, tasks: List[Any], backend: str, options: Dict[str, Any]
    ) -> Generator[Tuple[int, Any], None, None]:
        """Run ``tactic`` on ``tasks`` on ``backend`` (``"ray"``): ``(index, result)`` in completion order, a
        failed task as its exception; ``options`` are the batch's (``address``, ``max_workers``, ``tags``,
        ``metadata``, ``return_sessions``, ``batch_id``, ``kw``). ``ConfigError`` for an unknown backend."""
        raise self._missing("run_batch")

    # tool servers and proxies (lllm.mcp, lllm.proxies)
    def mcp_servers(self, config: Dict[str, Any], tools: Dict[str, Any]) -> Any:
        """The MCP servers a tactic config declares (``None`` when none)."""
        raise self._missing("mcp_servers")

    def mcp_scope(self, servers: Any) -> Any:
        """A scope that connects to ``servers`` at first use and closes them with ``aclose()``."""
        raise self._missing("mcp_scope")

    def check_proxy(self, settings: Any) -> None:
        """Raise ``ConfigError`` unless ``settings`` is a valid agent ``proxy:`` block."""
        raise self._missing("check_proxy")

    def proxy_surface(self, settings: Any, system_prompt: Any, runtime: "RuntimeLike", tools: Any) -> Any:
        """The system prompt and tools an agent's ``proxy:`` block adds."""
        raise self._missing("proxy_surface")


services: Services = Services()
"""The installed implementation; core reads it at call time, so ``install`` takes effect at once."""


def install(impl: Services) -> Services:
    """Install ``impl`` as the services core calls; returns the previous one (to restore it)."""
    global services
    old, services = services, impl
    return old


__all__ = ["Services", "services", "install"]
