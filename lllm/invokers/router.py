"""Model routing (§4.1): which invoker serves a model name, and where an OpenAI-compatible call goes.

Names follow LiteLLM's ``provider/model`` convention so configs stay portable:
``openai/…`` and bare OpenAI names, and the OpenAI-compatible providers below → the native
OpenAI invoker; ``anthropic/…`` and bare ``claude-…`` → the native Anthropic invoker; ``test``
→ ``TestInvoker``; anything else → ``LiteLLMInvoker`` if LiteLLM is installed.

Where a call goes, first match wins: ``model_args`` ``api_base``/``base_url`` (an Agent's ``base_url=``
keyword lands there), then ``invoker_config`` ``api_base``/``base_url``, then the provider's environment
variables (``OPENAI_BASE_URL``, ...), then the provider's default. Keys follow the same order. Environment
variables are read at call time (never at import) and keys are never logged."""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Coroutine, Dict, List, Mapping, Optional, Tuple

from lllm.core.const import APITypes
from lllm.errors import ConfigError, ProviderError
from lllm.invokers.base import _BUILDERS, BaseInvoker, InvokeResult, build_invoker, classify_exception, register_invoker
from lllm.secrets import register_headers, register_url

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.dialog import Dialog
    from lllm.core.message import Message
    from lllm.core.prompt import Function
    from lllm.core.stream import BaseStreamHandler


@dataclass(frozen=True)
class ProviderSpec:
    """How to reach one OpenAI-compatible provider."""

    name: str
    api_base: Optional[str]  # default base URL (None: must be configured)
    base_env: Tuple[str, ...] = ()  # env vars for the base URL, first set wins
    key_env: Tuple[str, ...] = ()  # env vars for the API key, first set wins
    key_required: bool = True  # only enforced against the default api_base
    local: bool = False  # a local server: "/v1" is added to a bare host URL


PROVIDERS: Dict[str, ProviderSpec] = {
    p.name: p
    for p in (
        ProviderSpec(
            "openai", "https://api.openai.com/v1", ("OPENAI_BASE_URL", "OPENAI_API_BASE"), ("OPENAI_API_KEY",)
        ),
        ProviderSpec(
            "azure", None, ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"), ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY")
        ),
        ProviderSpec("groq", "https://api.groq.com/openai/v1", ("GROQ_API_BASE",), ("GROQ_API_KEY",)),
        ProviderSpec("mistral", "https://api.mistral.ai/v1", ("MISTRAL_API_BASE",), ("MISTRAL_API_KEY",)),
        ProviderSpec("openrouter", "https://openrouter.ai/api/v1", ("OPENROUTER_API_BASE",), ("OPENROUTER_API_KEY",)),
        ProviderSpec("deepseek", "https://api.deepseek.com/v1", ("DEEPSEEK_API_BASE",), ("DEEPSEEK_API_KEY",)),
        ProviderSpec("xai", "https://api.x.ai/v1", ("XAI_API_BASE",), ("XAI_API_KEY",)),
        ProviderSpec(
            "together_ai",
            "https://api.together.xyz/v1",
            ("TOGETHER_API_BASE", "TOGETHERAI_API_BASE"),
            ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_AI_API_KEY"),
        ),
        ProviderSpec(
            "fireworks_ai",
            "https://api.fireworks.ai/inference/v1",
            ("FIREWORKS_AI_API_BASE", "FIREWORKS_API_BASE"),
            ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"),
        ),
        ProviderSpec(
            "ollama",
            "http://localhost:11434/v1",
            ("OLLAMA_API_BASE", "OLLAMA_HOST"),
            ("OLLAMA_API_KEY",),
            key_required=False,
            local=True,
        ),
        ProviderSpec(
            "ollama_chat",
            "http://localhost:11434/v1",
            ("OLLAMA_API_BASE", "OLLAMA_HOST"),
            ("OLLAMA_API_KEY",),
            key_required=False,
            local=True,
        ),
        ProviderSpec(
            "hosted_vllm",
            "http://localhost:8000/v1",
            ("HOSTED_VLLM_API_BASE", "VLLM_API_BASE"),
            ("HOSTED_VLLM_API_KEY", "VLLM_API_KEY"),
            key_required=False,
            local=True,
        ),
        ProviderSpec(
            "vllm",
            "http://localhost:8000/v1",
            ("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"),
            ("VLLM_API_KEY", "HOSTED_VLLM_API_KEY"),
            key_required=False,
            local=True,
        ),
        ProviderSpec(
            "lm_studio",
            "http://localhost:1234/v1",
            ("LM_STUDIO_API_BASE",),
            ("LM_STUDIO_API_KEY",),
            key_required=False,
            local=True,
        ),
    )
}
OPENAI_COMPATIBLE = frozenset(PROVIDERS)
AZURE_DEFAULT_API_VERSION = "2024-10-21"
# provider prefixes stripped when `invoker: openai` is forced on a name routed elsewhere
KNOWN_PREFIXES = OPENAI_COMPATIBLE | {
    "anthropic",
    "gemini",
    "vertex_ai",
    "bedrock",
    "cohere",
    "huggingface",
    "replicate",
    "perplexity",
    "cerebras",
    "sambanova",
    "nvidia_nim",
    "custom_openai",
    "text-completion-openai",
    "litellm_proxy",
}
_BARE_OPENAI = re.compile(r"^(gpt-|o\d|chatgpt-|text-|davinci|babbage|ft:|omni-|codex-|computer-use-|gpt\d)")
_TEST_NAMES = frozenset({"test", "lllm/test"})
LITELLM_HINT = "pip install 'lllm[litellm]'"

_routes: Dict[str, Tuple[str, str, str]] = {}


def _native_route(model: str) -> Optional[Tuple[str, str, str]]:
    if model in _TEST_NAMES:
        return ("test", "test", model)
    prefix, sep, rest = model.partition("/")
    if sep and rest:
        if prefix in OPENAI_COMPATIBLE:
            return ("openai", prefix, rest)
        if prefix == "anthropic":
            return ("anthropic", "anthropic", rest)
        return None
    if _BARE_OPENAI.match(model):
        return ("openai", "openai", model)
    if model.startswith("claude-"):
        return ("anthropic", "anthropic", model)
    return None


def native_route(model: str) -> Optional[Tuple[str, str, str]]:
    """``(invoker_name, provider, wire_model)`` when a native invoker serves ``model``, else ``None``."""
    return _native_route(model) if isinstance(model, str) and model else None


def route(model: str) -> Tuple[str, str, str]:
    """``(invoker_name, provider, wire_model)`` for ``model``; unknown names need LiteLLM (else ConfigError)."""
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"Model name must be a non-empty string, got {model!r}.")
    hit = _routes.get(model)
    if hit is not None:
        return hit
    r = _native_route(model)
    if r is not None:
        _routes[model] = r
        return r
    if importlib.util.find_spec("litellm") is None:
        raise ConfigError(
            f"Model '{model}' is not served by a native invoker (OpenAI-compatible: openai/…, gpt-*, o1*/o3*/o4*, "
            f"{', '.join(p + '/…' for p in sorted(OPENAI_COMPATIBLE - {'openai'}))}; Anthropic: anthropic/…, "
            f"claude-*; offline: test). Other providers go through LiteLLM: {LITELLM_HINT}"
        )
    prefix, sep, rest = model.partition("/")
    return ("litellm", prefix if sep else "", model)


def openai_target(model: str) -> Tuple[str, str]:
    """``(provider, wire_model)`` for the OpenAI-compatible invoker, also when it is forced on any name:
    a known OpenAI-compatible prefix selects that provider, another known provider prefix is stripped
    (the call goes to the ``openai`` provider, e.g. a proxy at ``api_base``), other names pass unchanged."""
    prefix, sep, rest = model.partition("/")
    if sep and rest:
        if prefix in OPENAI_COMPATIBLE:
            return prefix, rest
        if prefix in KNOWN_PREFIXES:
            return "openai", rest
    return "openai", model


# ---------------------------------------------------------------------------------------------
# Endpoint resolution (called per request; the built URL and headers are cached)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where a request goes: URL and headers (which hold the key: never log or record them)."""

    provider: str
    url: str
    headers: Mapping[str, str]
    official: bool  # the provider's own default API host (e.g. api.openai.com)


_endpoints: Dict[Tuple[Any, ...], Endpoint] = {}


def _env(names: Tuple[str, ...]) -> Optional[str]:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def _normalise_base(base: str, local: bool, default: Optional[str] = None) -> str:
    base = base.rstrip("/")
    if local and "://" not in base:  # Ollama's own OLLAMA_HOST form: host[:port], no scheme
        from urllib.parse import urlsplit

        base = "http://" + base
        try:
            port = urlsplit(default).port if default else None
            if port is not None and urlsplit(base).port is None:
                host, sep, path = base[7:].partition("/")
                base = f"http://{host}:{port}{sep}{path}"
        except ValueError:  # an unreadable port: the request reports the URL as invalid
            pass
    if local and base.count("/") <= 2:  # "http://host:port" without a path: the OpenAI-compatible API is at /v1
        base += "/v1"
    return base


def resolve_endpoint(
    provider: str,
    wire_model: str,
    *,
    api_base: Optional[str] = None,
    api_key: Optional[str] = None,
    extra_headers: Optional[Mapping[str, str]] = None,
    api_version: Optional[str] = None,
    path: str = "/chat/completions",
) -> Endpoint:
    """URL and headers for a call; ``api_base``/``api_key`` from the caller (model_args), else the env.

    A provider that needs a key and has none raises a fatal ProviderError naming the env var."""
    spec = PROVIDERS.get(provider) or PROVIDERS["openai"]
    base = api_base or _env(spec.base_env) or spec.api_base
    key = api_key or _env(spec.key_env)
    if provider == "azure":
        api_version = api_version or os.environ.get("AZURE_API_VERSION") or AZURE_DEFAULT_API_VERSION
    cache_key = (
        provider,
        base,
        key,
        path,
        api_version,
        wire_model if provider == "azure" else None,
        tuple(sorted(extra_headers.items())) if extra_headers else None,
    )
    ep = _endpoints.get(cache_key)
    if ep is not None:
        return ep
    if not base:
        raise ProviderError(
            f"No API base URL for provider '{provider}': set {' or '.join(spec.base_env)} "
            f"or pass model_args['api_base'].",
            provider=provider,
        )
    official = spec.api_base is not None and base.rstrip("/") == spec.api_base and not spec.local
    if not key and spec.key_required and (official or provider == "azure"):
        raise ProviderError(
            f"No API key for provider '{provider}': set the environment variable "
            f"{' or '.join(spec.key_env)} or pass model_args['api_key'].",
            provider=provider,
        )
    base = _normalise_base(base, spec.local, spec.api_base)
    headers: Dict[str, str] = {"Content-Type": "application/json"}
    if provider == "azure":
        url = f"{base}/openai/deployments/{wire_model}{path}?api-version={api_version}"
        if key:
            headers["api-key"] = key
    else:
        url = base + path
        if key:
            headers["Authorization"] = "Bearer " + key
    if extra_headers:
        headers.update({str(k): str(v) for k, v in extra_headers.items()})
    ep = Endpoint(provider=provider, url=url, headers=headers, official=official)
    register_headers(headers)  # once per endpoint: the secrets registry only grows (lllm.secrets)
    register_url(url)
    if len(_endpoints) > 256:  # keys rotate rarely; keep the cache bounded anyway
        _endpoints.clear()
    _endpoints[cache_key] = ep
    return ep


# ---------------------------------------------------------------------------------------------
# invoker_config of the built-in invokers
# ---------------------------------------------------------------------------------------------

#: What the built-in invokers read from ``invoker_config`` (aliases on the right are renamed to the left).
INVOKER_CONFIG_KEYS = ("api_base", "api_key", "extra_headers", "api_version", "system_role")
_CONFIG_ALIASES = {"base_url": "api_base", "headers": "extra_headers"}
BUILTIN_INVOKERS = ("auto", "openai", "anthropic", "litellm")


def invoker_settings(config: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """``config`` with ``base_url``/``headers`` renamed ``api_base``/``extra_headers`` (both given and
    different → ConfigError), so a base URL set either way is honoured."""
    out = dict(config or {})
    for alias, key in _CONFIG_ALIASES.items():
        if alias in out:
            value = out.pop(alias)
            if out.get(key) is not None and value is not None and out[key] != value:
                raise ConfigError(
                    f"invoker_config sets both '{alias}' ({value!r}) and '{key}' ({out[key]!r}); keep one."
                )
            if out.get(key) is None:
                out[key] = value
    return out


def check_invoker_config(invoker: str, config: Any, owner: str) -> None:
    """Refuse an ``invoker_config`` a built-in invoker would partly ignore (unknown keys, wrong type)."""
    if invoker not in BUILTIN_INVOKERS:
        return
    if not isinstance(config, dict):
        raise ConfigError(f"{owner}: invoker_config must be a mapping, got {type(config).__name__}")
    unknown = sorted(k for k in config if k not in INVOKER_CONFIG_KEYS and k not in _CONFIG_ALIASES)
    if unknown:
        raise ConfigError(
            f"{owner}: invoker_config key(s) {unknown} are not read by the '{invoker}' invoker "
            f"(it reads {sorted([*INVOKER_CONFIG_KEYS, *_CONFIG_ALIASES])}). Request options such "
            f"as timeout go in model_args, e.g. global: {{model_args: {{timeout: 30}}}}."
        )


# ---------------------------------------------------------------------------------------------
# AutoInvoker and the built-in registrations
# ---------------------------------------------------------------------------------------------


class AutoInvoker(BaseInvoker):
    """Dispatches each call by model name (``route``) to a cached invoker of the routed kind."""

    name = "auto"

    def __init__(self, config: Optional[Dict[str, Any]] = None):
        super().__init__(invoker_settings(config))
        self._invokers: Dict[str, BaseInvoker] = {}
        self._lock = threading.Lock()

    def invoker_for(self, model: str, model_args: Optional[Dict[str, Any]] = None) -> BaseInvoker:
        """The invoker that serves ``model`` (built once on first use, also when threads race, then reused).

        With a base URL (in ``model_args`` or this invoker's config) a name no native invoker knows, such
        as ``llama3.2`` on Ollama, goes to the OpenAI-compatible invoker at that URL, not to LiteLLM."""
        base = (model_args or {}).get("api_base") or (model_args or {}).get("base_url") or self.config.get("api_base")
        name = "openai" if base and native_route(model) is None else route(model)[0]
        inv = self._invokers.get(name)
        if inv is None:
            with self._lock:
                inv = self._invokers.get(name)
                if inv is None:
                    inv = build_invoker({"invoker": name, "invoker_config": self.config})
                    self._invokers[name] = inv
        return inv

    def call(
        self,
        dialog: "Dialog",
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Optional["BaseStreamHandler"] = None,
        *,
        functions: Optional[List["Function"]] = None,
    ) -> InvokeResult:
        return self.invoker_for(model, model_args).call(
            dialog, model, model_args, parser_args, responder, metadata, api_type, stream_handler, functions=functions
        )

    def acall(
        self,
        dialog: "Dialog",
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Optional["BaseStreamHandler"] = None,
        *,
        functions: Optional[List["Function"]] = None,
    ) -> Coroutine[Any, Any, InvokeResult]:
        # Not ``async``: hands back the chosen invoker's coroutine, one frame fewer per call in flight.
        return self.invoker_for(model, model_args).acall(
            dialog, model, model_args, parser_args, responder, metadata, api_type, stream_handler, functions=functions
        )

    def classify_error(self, exc: BaseException) -> Optional[str]:
        kind = classify_exception(exc)
        if kind is not None or isinstance(exc, ProviderError):
            return kind
        for inv in list(self._invokers.values()):
            kind = inv.classify_error(exc)
            if kind is not None:
                return kind
        return None

    def count_tokens(self, model: str, messages: List["Message"]) -> int:
        try:
            return self.invoker_for(model).count_tokens(model, messages)
        except ConfigError:
            return super().count_tokens(model, messages)

    def context_window(self, model: str) -> Optional[int]:
        try:
            return self.invoker_for(model).context_window(model)
        except ConfigError:
            return None

    async def aclose(self) -> None:
        for inv in list(self._invokers.values()):
            await inv.aclose()


def _build_openai(config: Dict[str, Any]) -> BaseInvoker:
    from lllm.invokers.openai import OpenAIInvoker

    return OpenAIInvoker(invoker_settings(config))


def _build_anthropic(config: Dict[str, Any]) -> BaseInvoker:
    from lllm.invokers.anthropic import AnthropicInvoker

    return AnthropicInvoker(invoker_settings(config))


def _build_litellm(config: Dict[str, Any]) -> BaseInvoker:
    if importlib.util.find_spec("litellm") is None:
        raise ConfigError(f"The 'litellm' invoker needs LiteLLM, which is not installed: {LITELLM_HINT}")
    from lllm.invokers.litellm import LiteLLMInvoker

    return LiteLLMInvoker(invoker_settings(config))


def _build_test(config: Dict[str, Any]) -> BaseInvoker:
    from lllm.invokers.offline import TestInvoker

    return TestInvoker(config)


def register_builtin_invokers() -> None:
    """Register auto/openai/anthropic/litellm/test unless a user registration already took the name."""
    for name, builder in (
        ("auto", AutoInvoker),
        ("openai", _build_openai),
        ("anthropic", _build_anthropic),
        ("litellm", _build_litellm),
        ("test", _build_test),
    ):
        if name not in _BUILDERS:
            register_invoker(name, builder)


__all__ = [
    "route",
    "native_route",
    "invoker_settings",
    "check_invoker_config",
    "INVOKER_CONFIG_KEYS",
    "openai_target",
    "resolve_endpoint",
    "Endpoint",
    "ProviderSpec",
    "PROVIDERS",
    "OPENAI_COMPATIBLE",
    "AutoInvoker",
    "register_builtin_invokers",
]
