"""Package tools and decoupled binding (§2.6): turn a prompt's tool references and implementation-less
declarations into callable ``Function``s, using the runtime's packages.

Resolution is lazy (at turn start) and cached per runtime and prompt; the registered prompt is never
mutated, bound copies are returned instead."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from lllm.core.tools import Function
from lllm.errors import ResourceNotFoundError, ToolBindingError
from lllm.packages.runtime import Runtime, check_key, get_default_runtime

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.prompt import Prompt


def prompt_package(prompt: Any, runtime: Runtime) -> Optional[str]:
    """The package a prompt was registered from (its ``qualified_key``), else the runtime's default one."""
    qk = getattr(prompt, "qualified_key", None)
    if isinstance(qk, str) and ":" in qk:
        pkg = qk.split(":", 1)[0].partition(".")[0]
        if pkg in runtime.packages:
            return pkg
    return runtime.default_namespace


def home_package(prompt: Any, runtime: Runtime) -> Optional[str]:
    """For a prompt re-exported from another package's folder (``under``), that package's name."""
    home = getattr(prompt, "home_dir", None)
    if home is None:
        return None
    return next((p.name for p in runtime.packages.values() if p.base_dir == home and p.alias is None), None)


def resolve_prompt_functions(prompt: "Prompt", runtime: Optional[Runtime] = None) -> Dict[str, Function]:
    """Every tool of ``prompt`` as a ``Function`` with an implementation, by name."""
    rt = runtime or get_default_runtime()
    functions, refs = prompt.functions, prompt.function_refs
    signature = (rt.generation, tuple(functions.values()), tuple(refs))
    cached = rt.tool_cache.get(prompt)
    if cached is not None and cached[0] == signature:
        return dict(cached[1])
    where = f"Prompt '{prompt.path}'"
    package = prompt_package(prompt, rt)
    home = home_package(prompt, rt)
    out: Dict[str, Function] = {}
    for name, fn in functions.items():
        if fn.linked:
            out[name] = fn
        elif home is not None and home != package and rt.find_node(f"{home}.tools:{fn.name}", "tool") is not None:
            out[name] = bind_declaration(fn, rt, home, where)  # a re-exported prompt binds in its own package
        else:
            out[name] = bind_declaration(fn, rt, package, where)
    for ref in refs:
        fn = resolve_tool_ref(ref, rt, package, where)
        if fn.name in out:
            raise ValueError(
                f"{where}: tool reference '{ref}' resolves to a tool named '{fn.name}', which the "
                f"prompt already declares; tool names must be unique"
            )
        out[fn.name] = fn
    rt.tool_cache[prompt] = (signature, out)
    return dict(out)


def bind_declaration(header: Function, runtime: Runtime, package: Optional[str], where: str) -> Function:
    """Bind an implementation-less ``Function`` to the package tool ``<package>.tools:<name>`` (exact key)."""
    key = f"{package}.tools:{header.name}" if package else header.name

    def fail(problem: str) -> ToolBindingError:
        tools = [k for k in runtime.keys("tool") if not package or k.startswith(f"{package}.tools:")]
        scope = f"tools of package '{package}'" if package else "the prompt belongs to no package; tools loaded"
        return ToolBindingError(
            f"{where}: tool '{header.name}' is declared without an implementation and {problem} "
            f"(tried key '{key}'; {scope}: {tools}). Register it as "
            f"tools/{header.name}.py in the package, or link one with "
            f"prompt.with_functions({header.name}=...)."
        )

    node = runtime.find_node(key)
    if node is None:
        raise fail("no package tool has that key")
    impl = node.value
    if not isinstance(impl, Function):
        raise fail(f"'{key}' is a {type(impl).__name__}, not a Function")
    if impl.name != header.name:
        raise fail(f"'{key}' is named '{impl.name}'")
    if not impl.linked:
        raise fail(f"'{key}' has no implementation either")
    try:
        return header.bind(impl)
    except ToolBindingError as e:
        raise fail(f"'{key}' does not fit the declaration: {e}") from None


def _split_selector(ref: str) -> Tuple[str, Optional[str]]:
    url, _, sel = ref.partition("#")
    return url, (sel or None)


def resolve_tool_ref(ref: str, runtime: Runtime, package: Optional[str], where: str) -> Function:
    """A ``function_list`` (or agent ``tools:``) string: ``pkg.tools:key``, ``pkg.tactics:key[#sel]``,
    ``pkg:key`` or ``key`` (tool or tactic, in ``package`` first, then the default package)."""
    url, selector = _split_selector(ref)
    check_key(url)
    head, sep, rest = url.rpartition(":")
    if sep and "." in head:
        section = head.partition(".")[2]
        if section == "proxies":
            raise TypeError(
                f"{where}: '{ref}' is a proxy; proxies are activated in the agent config "
                f"(proxy: or tools:), not in a prompt's function_list"
            )
        if section == "tactics":
            return _tactic_function(ref, runtime)
        if section != "tools":
            raise ToolBindingError(f"{where}: '{ref}' is not a tool or tactic URL (section '{section}')")
        if selector is not None:
            raise ToolBindingError(
                f"{where}: '{ref}': a '#{selector}' selector picks a tactic's tool; a tool URL takes none (use '{url}')"
            )
        try:
            node = runtime.get_node(url, "tool")
        except ResourceNotFoundError as e:
            hint = f"Did you mean: {e.suggestions}?" if e.suggestions else f"Tools: {runtime.keys('tool')[:20]}"
            raise ToolBindingError(f"{where}: no tool '{url}' in runtime '{runtime.name}'. {hint}") from None
        return _checked(node.value, url, where)
    packages: List[Optional[str]] = (
        [head] if sep else [p for p in dict.fromkeys([package, runtime.default_namespace]) if p]
    )
    for pkg in packages or [None]:
        tool_key = f"{pkg}.tools:{rest}" if pkg else rest
        tactic_key = f"{pkg}.tactics:{rest}" if pkg else rest
        tool = runtime.find_node(tool_key, "tool") if selector is None else None
        tactic = runtime.find_node(tactic_key, "tactic")
        if tool is not None and tactic is not None:
            raise ValueError(
                f"{where}: '{ref}' is ambiguous: both '{tool_key}' and '{tactic_key}' exist; use the full URL"
            )
        if tool is not None:
            return _checked(tool.value, tool_key, where)
        if tactic is not None:
            return _tactic_function(tactic_key + (f"#{selector}" if selector else ""), runtime)
    tried = [f"{p}.tools:{rest}" for p in packages] + [f"{p}.tactics:{rest}" for p in packages]
    raise ToolBindingError(
        f"{where}: no tool or tactic '{ref}' (tried {tried or [rest]}). "
        f"Tools: {runtime.keys('tool')[:20]}; tactics: {runtime.keys('tactic')[:20]}"
    )


def _checked(value: Any, key: str, where: str) -> Function:
    if not isinstance(value, Function):
        raise ToolBindingError(f"{where}: '{key}' is a {type(value).__name__}, not a Function")
    if not value.linked:
        raise ToolBindingError(f"{where}: tool '{key}' has no implementation")
    return value


def _tactic_function(ref: str, runtime: Runtime) -> Function:
    from lllm.core.tactic_tools import build_tactic_function

    return build_tactic_function(ref, runtime=runtime)


__all__ = ["resolve_prompt_functions", "resolve_tool_ref", "bind_declaration", "prompt_package", "home_package"]
