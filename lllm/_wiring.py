"""The top of the import graph: hands core its runtime, invokers, session store, tools and proxies.

``import lllm`` installs ``LLLMServices`` into ``lllm.core.wiring``. Each method imports its subpackage on
first use, so ``import lllm`` stays cheap and the subpackages may import core freely (never the reverse)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Generator, List, Optional, Tuple

from lllm.core.wiring import Services, install

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.prompt import Function, Prompt
    from lllm.core.protocols import BatchLeasesLike, Invoker, LoadingLike, RuntimeLike, SessionStore
    from lllm.packages.runtime import Runtime


def _runtime(runtime: "RuntimeLike") -> "Runtime":
    """``runtime`` as lllm's own ``Runtime``, which the package machinery needs."""
    from lllm.packages.runtime import Runtime

    if not isinstance(runtime, Runtime):
        raise TypeError(
            f"lllm's package machinery needs an lllm.packages.Runtime, got {type(runtime).__name__}; "
            "install your own lllm.core.wiring.Services to use another registry"
        )
    return runtime


class LLLMServices(Services):
    """The implementations lllm ships (packages, invokers, logging, mcp, proxies)."""

    def default_runtime(self) -> "RuntimeLike":
        from lllm.packages.runtime import get_default_runtime

        return get_default_runtime()

    def target_runtime(self, explicit: "Optional[RuntimeLike]") -> "RuntimeLike":
        from lllm.packages.runtime import target_runtime

        return target_runtime(None if explicit is None else _runtime(explicit))

    def current_loading(self, runtime: "RuntimeLike") -> "Optional[LoadingLike]":
        from lllm.packages.runtime import Runtime, current_loading

        return current_loading(runtime) if isinstance(runtime, Runtime) else None

    def resolve_config(self, name: str, runtime: "RuntimeLike") -> Dict[str, Any]:
        from lllm.packages.config import resolve_config

        return resolve_config(name, runtime=_runtime(runtime))

    def vendor_config(self, config: Dict[str, Any], runtime: "RuntimeLike") -> Dict[str, Any]:
        from lllm.packages.config import vendor_config

        return vendor_config(config, runtime=_runtime(runtime))

    def prompt_functions(self, prompt: "Prompt", runtime: "Optional[RuntimeLike]") -> "Dict[str, Function]":
        from lllm.packages.tool_binding import resolve_prompt_functions

        return resolve_prompt_functions(prompt, None if runtime is None else _runtime(runtime))

    def tool_ref(self, ref: str, runtime: "RuntimeLike", where: str) -> "Function":
        from lllm.packages.tool_binding import resolve_tool_ref

        rt = _runtime(runtime)
        return resolve_tool_ref(ref, rt, rt.default_namespace, where)

    def resolve_skills(self, skills: Any, cache: Optional[Dict[str, Any]] = None) -> Any:
        if skills is None:
            return None  # no skills: nothing to load (the skills module and YAML stay unimported)
        from lllm.packages.skills import resolve_skills

        return resolve_skills(skills, cache=cache)

    def build_invoker(self, config: Dict[str, Any]) -> "Invoker":
        from lllm.invokers.base import build_invoker

        return build_invoker(config)

    def check_invoker_config(self, name: str, config: Any, where: str) -> None:
        from lllm.invokers.router import check_invoker_config

        check_invoker_config(name, config, where)

    def prewarm(self, invoker: "Invoker", models: List[Tuple[str, Dict[str, Any]]]) -> None:
        """For native providers: build the routed invoker, load the HTTP client and read the model's price."""
        if getattr(invoker, "name", None) not in ("auto", "openai", "anthropic"):
            return
        from lllm.invokers import http, pricing
        from lllm.invokers.router import native_route

        for model, model_args in models:
            hit = native_route(model)
            if hit is None or hit[0] == "test":
                continue
            invoker_for = getattr(invoker, "invoker_for", None)
            if invoker_for is not None:  # auto: build the provider's invoker now
                invoker_for(model, model_args)
            http.prepare(tls=not str(model_args.get("api_base") or "").startswith("http:"))
            pricing.get_rates(hit[1], hit[2])

    def local_store(self, path: str, runtime: "RuntimeLike") -> "SessionStore":
        from lllm.logging import local_store

        return local_store(path, runtime=runtime)

    def batch_leases(self, store: "Optional[SessionStore]", batch_id: str, ttl: float) -> "BatchLeasesLike":
        from lllm.logging.batch_leases import BatchLeases

        return BatchLeases(store, batch_id, ttl)

    def redact(self, config: Any) -> Any:
        from lllm.logging.redact import redact
        from lllm.secrets import register_settings

        register_settings(config)
        return redact(config)

    def run_batch(
        self, tactic: Any, tasks: List[Any], backend: str, options: Dict[str, Any]
    ) -> Generator[Tuple[int, Any], None, None]:
        if backend != "ray":
            from lllm.errors import ConfigError

            raise ConfigError(f"Tactic '{tactic.name}': unknown batch backend {backend!r}; use 'local' or 'ray'")
        from lllm.ray.backend import run_batch

        return run_batch(tactic, tasks, **options)

    def mcp_servers(self, config: Dict[str, Any], tools: Dict[str, Any]) -> Any:
        named = any(isinstance(t, str) and t.startswith("mcp:") for entries in tools.values() for t in entries)
        if not named and not config.get("mcp_servers"):
            return {}  # no MCP anywhere: the client stays unimported
        from lllm.mcp import mcp_servers_for

        return mcp_servers_for(config, tools)

    def mcp_scope(self, servers: Any) -> Any:
        from lllm.mcp import MCPScope

        return MCPScope(servers)

    def check_proxy(self, settings: Any) -> None:
        from lllm.proxies.agent_surface import proxy_settings

        proxy_settings(settings)

    def proxy_surface(self, settings: Any, system_prompt: Any, runtime: "RuntimeLike", tools: Any) -> Any:
        from lllm.proxies.agent_surface import build_proxy_surface

        return build_proxy_surface(settings, system_prompt, _runtime(runtime), tools=tools)


install(LLLMServices())

__all__ = ["LLLMServices"]
