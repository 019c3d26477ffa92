"""Metrics: plain functions that score one result (or compare two), registered by name.

A metric receives, by parameter name, any of ``task``, ``result``, ``expected``, ``session`` (the run's
``TacticCallSession``), ``recorded`` (the recorded session a re-run forks), ``error`` and ``case``; it
returns a number, a bool or ``None`` (not applicable). A pairwise metric receives ``task``, ``a`` and
``b`` (results; ``a_session``/``b_session``, ``expected`` too) and returns a preference in [-1, 1]:
positive when B is better. Register with ``@metric`` / ``@pairwise_metric`` or name ``module:function``."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, TypeVar, Union, overload

from lllm.errors import ConfigError

_F = TypeVar("_F", bound=Callable[..., Any])


class MetricError(ConfigError):
    """A metric that cannot be found, built or run; the message names it and what to pass instead."""


@dataclasses.dataclass
class Metric:
    """A named scoring function; ``higher_is_better`` orders wins and losses; ``pairwise`` compares A and B."""

    name: str
    fn: Callable[..., Any]
    higher_is_better: bool = True
    pairwise: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        params: Mapping[str, inspect.Parameter]
        try:
            params = inspect.signature(self.fn).parameters
        except (TypeError, ValueError):
            params = {}
        self._wants: Optional[frozenset[str]] = (
            None if any(p.kind is p.VAR_KEYWORD for p in params.values()) else frozenset(params)
        )

    def __call__(self, **values: Any) -> Optional[float]:
        """The function's value for the keyword ``values`` it asks for, as a float (``None``: not applicable)."""
        wants = self._wants
        kwargs = values if wants is None else {k: v for k, v in values.items() if k in wants}
        out = self.fn(**kwargs)
        if out is None:
            return None
        if isinstance(out, bool):
            return 1.0 if out else 0.0
        if isinstance(out, (int, float)) and math.isfinite(out):
            return float(out)
        raise MetricError(
            f"metric '{self.name}' returned {out!r} ({type(out).__name__}); return a finite number, a bool or None"
        )


REGISTRY: Dict[str, Metric] = {}
_FACTORIES: Dict[str, Callable[[str], Metric]] = {}  # metrics written NAME=ARG
_PLUGGED = {"judge": "lllm.eval.judge", "rubric": "lllm.eval.judge"}  # factories registered on import


def _register(m: Metric) -> Metric:
    REGISTRY[m.name] = m
    return m


@overload
def metric(fn: _F, *, name: Optional[str] = None, higher_is_better: bool = True) -> _F: ...
@overload
def metric(fn: None = None, *, name: Optional[str] = None, higher_is_better: bool = True) -> Callable[[_F], _F]: ...
def metric(
    fn: Optional[_F] = None, *, name: Optional[str] = None, higher_is_better: bool = True
) -> Union[_F, Callable[[_F], _F]]:
    """Register ``fn`` as a metric under ``name`` (default: the function's name); usable bare or with arguments.
    The decorated function stays callable as before."""

    def wrap(f: _F) -> _F:
        _register(Metric(name or f.__name__, f, higher_is_better, False, (f.__doc__ or "").strip()))
        return f

    return wrap(fn) if fn is not None else wrap


@overload
def pairwise_metric(fn: _F, *, name: Optional[str] = None) -> _F: ...
@overload
def pairwise_metric(fn: None = None, *, name: Optional[str] = None) -> Callable[[_F], _F]: ...
def pairwise_metric(fn: Optional[_F] = None, *, name: Optional[str] = None) -> Union[_F, Callable[[_F], _F]]:
    """Register ``fn(task, a, b, ...)`` as a pairwise metric: positive when B is better, in [-1, 1]."""

    def wrap(f: _F) -> _F:
        _register(Metric(name or f.__name__, f, True, True, (f.__doc__ or "").strip()))
        return f

    return wrap(fn) if fn is not None else wrap


def resolve_metric(ref: Union[str, Metric, Callable[..., Any]]) -> Metric:
    """A ``Metric`` from a registered name, ``name=ARG`` for the built-ins that take one (``field_match=answer``,
    ``regex=PATTERN``, ``json_schema=FILE``), ``module:function``, or a function / ``Metric`` itself."""
    if isinstance(ref, Metric):
        return ref
    if callable(ref):
        for m in REGISTRY.values():
            if m.fn is ref:
                return m
        return Metric(getattr(ref, "__name__", "metric"), ref)
    if not isinstance(ref, str) or not ref.strip():
        raise MetricError(f"metric {ref!r}: pass a registered name, NAME=ARG or module:function")
    ref = ref.strip()
    head, eq, arg = ref.partition("=")
    if head in _PLUGGED and head not in _FACTORIES:
        importlib.import_module(_PLUGGED[head])  # registers its factories
    if eq and head in _FACTORIES:
        return _FACTORIES[head](arg)
    if ref in REGISTRY:
        return REGISTRY[ref]
    if ref in _FACTORIES:
        raise MetricError(f"metric '{ref}' takes an argument: write {ref}=ARG (e.g. {_EXAMPLES[ref]})")
    if ":" in ref and not eq:
        return _import_metric(ref)
    known = sorted(REGISTRY) + [f"{k}=ARG" for k in sorted(_FACTORIES)]
    raise MetricError(
        f"unknown metric {ref!r}: use one of {known}, or module:function for your own (a function of task, "
        f"result, expected, session), or register one with @lllm.eval.metric"
    )


def _import_metric(ref: str) -> Metric:
    module, _, attr = ref.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise MetricError(
            f"metric {ref!r}: cannot import module '{module}' ({e}); check the name and sys.path"
        ) from None
    fn = getattr(mod, attr, None)
    if fn is None or not callable(fn):
        names = sorted(n for n, v in vars(mod).items() if inspect.isfunction(v) and not n.startswith("_"))
        raise MetricError(f"metric {ref!r}: module '{module}' has no function '{attr}' (functions: {names})")
    if isinstance(fn, Metric):
        return fn
    return resolve_metric(fn)


def resolve_metrics(refs: Iterable[Union[str, Metric, Callable[..., Any]]]) -> List[Metric]:
    """Metrics for ``refs``, refusing two with the same name."""
    out: List[Metric] = []
    for ref in refs:
        m = resolve_metric(ref)
        if any(o.name == m.name for o in out):
            raise MetricError(f"metric '{m.name}' is listed twice; list each metric once")
        out.append(m)
    return out


# ---------------------------------------------------------------------------------------------
# what a session tells
# ---------------------------------------------------------------------------------------------


def _agent_sessions(session: Any) -> Iterable[Any]:
    for calls in session.agent_sessions.values():
        yield from calls
    for subs in session.sub_tactic_sessions.values():
        for sub in subs:
            yield from _agent_sessions(sub)


def _trace_key(agent: str, trace: Any) -> Tuple[str, str]:
    msg = trace.message.content if trace.message is not None else None
    return agent, json.dumps([trace.model, [m.content for m in trace.messages], msg], default=str)


def model_latency(session: Any, recorded: Any = None) -> float:
    """Seconds spent in model calls; a call a re-run answered from ``recorded`` counts at its recorded latency."""
    lookup: Dict[Tuple[str, str], List[float]] = {}
    if recorded is not None:
        for a in _agent_sessions(recorded):
            for ts in a.invoke_traces.values():
                for t in ts:
                    lookup.setdefault(_trace_key(a.agent_name, t), []).append(t.latency_s)
    total = 0.0
    for a in _agent_sessions(session):
        for ts in a.invoke_traces.values():
            for t in ts:
                if t.latency_s == 0.0 and lookup:
                    found = lookup.get(_trace_key(a.agent_name, t))
                    total += found.pop(0) if found else 0.0
                else:
                    total += t.latency_s
    return total


def invocation_count(session: Any) -> int:
    """Model invocations recorded in the session (retries included, sub-tactics included)."""
    return sum(len(ts) for a in _agent_sessions(session) for ts in a.invoke_traces.values())


def tool_call_count(session: Any) -> int:
    """Tool calls the session's agents made (sub-tactics included)."""
    return sum(len(v) for a in _agent_sessions(session) for v in a.interrupts.values())


def tool_error_count(session: Any) -> int:
    """Tool calls of the session that failed (their ``error_message`` is set)."""
    return sum(bool(c.error_message) for a in _agent_sessions(session) for v in a.interrupts.values() for c in v)


def _plain(value: Any) -> Any:
    from lllm.core.jsonable import to_json_safe

    return to_json_safe(value)


# ---------------------------------------------------------------------------------------------
# built-ins
# ---------------------------------------------------------------------------------------------


@metric
def exact_match(result: Any, expected: Any) -> Optional[bool]:
    """1 when the result equals the expected value (text compared stripped), 0 otherwise; n/a without one."""
    if expected is None:
        return None
    a, b = _plain(result), _plain(expected)
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    return bool(a == b)


@metric
def success(error: Optional[str]) -> bool:
    """1 when the run finished without an error."""
    return error is None


@metric(higher_is_better=False)
def cost(session: Any) -> Optional[float]:
    """The run's cost in USD (sub-tactics included)."""
    return None if session is None else float(session.total_cost.cost)


@metric(higher_is_better=False)
def latency(session: Any, recorded: Any = None) -> Optional[float]:
    """Seconds in model calls; calls answered from the recording count at their recorded latency."""
    return None if session is None else model_latency(session, recorded)


@metric(higher_is_better=False)
def tool_calls(session: Any) -> Optional[int]:
    """How many tool calls the run made."""
    return None if session is None else tool_call_count(session)


@metric(higher_is_better=False)
def tool_errors(session: Any) -> Optional[int]:
    """How many of the run's tool calls failed."""
    return None if session is None else tool_error_count(session)


def _field(value: Any, path: str) -> Any:
    for key in path.split("."):
        if isinstance(value, dict):
            value = value.get(key)
        else:
            value = getattr(value, key, None)
    return value


def field_match(field: str) -> Metric:
    """1 when the result's ``field`` (dotted) equals the expected value's, n/a without an expected value."""
    if not field.strip():
        raise MetricError("field_match needs a field name: field_match=answer (dotted for nested fields)")

    def score(result: Any, expected: Any) -> Optional[bool]:
        if expected is None:
            return None
        return bool(_plain(_field(result, field)) == _plain(_field(expected, field)))

    return Metric(f"field_match={field}", score, description=f"the result's '{field}' equals the expected one")


def regex(pattern: str) -> Metric:
    """1 when ``pattern`` matches the result's text (``re.search``)."""
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise MetricError(f"regex={pattern!r}: not a valid regular expression ({e}); quote it for the shell") from None

    def score(result: Any, error: Optional[str] = None) -> bool:
        if error is not None:  # a failed run has no text (its None would match as "null")
            return False
        text = result if isinstance(result, str) else json.dumps(_plain(result), default=str)
        return compiled.search(text) is not None

    return Metric(f"regex={pattern}", score, description=f"the result matches /{pattern}/")


def json_schema(schema: Union[str, Dict[str, Any]]) -> Metric:
    """1 when the result (or the JSON in its text) is valid against ``schema`` (a dict, a file or inline JSON)."""
    label = schema if isinstance(schema, str) else "inline"
    if isinstance(schema, str):
        text = schema.strip()
        if not text.startswith("{"):
            if not Path(text).is_file():
                raise MetricError(f"json_schema={schema!r}: no such file; pass a JSON Schema file or inline JSON")
            text = Path(text).read_text(encoding="utf-8")
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as e:
            raise MetricError(f"json_schema={label!r}: the schema is not valid JSON ({e.msg})") from None
    try:
        import jsonschema
    except ImportError:
        raise MetricError("json_schema needs the jsonschema package: pip install jsonschema") from None
    if not isinstance(schema, dict):
        raise MetricError(f"json_schema={label!r}: a JSON Schema is an object, got {type(schema).__name__}")
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        raise MetricError(f"json_schema={label!r}: not a valid JSON Schema ({e.message})") from None

    def score(result: Any, error: Optional[str] = None) -> bool:
        if error is not None:  # a failed run has no document (its None may be valid)
            return False
        value = _plain(result)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return False
        return bool(validator.is_valid(value))

    return Metric(f"json_schema={label}", score, description="the result is valid against the JSON Schema")


_FACTORIES.update(
    {
        "field_match": field_match,
        "regex": regex,
        "json_schema": json_schema,
    }
)  # judge= and rubric= are added by lllm.eval.judge
_EXAMPLES = {
    "field_match": "field_match=answer",
    "regex": r"regex='^\d+$'",
    "json_schema": "json_schema=schema.json",
    "judge": "judge='more accurate and concise'",
    "rubric": "rubric='cites a source; under 50 words'",
}


__all__ = [
    "Metric",
    "MetricError",
    "REGISTRY",
    "metric",
    "pairwise_metric",
    "resolve_metric",
    "resolve_metrics",
    "exact_match",
    "success",
    "cost",
    "latency",
    "tool_calls",
    "tool_errors",
    "field_match",
    "regex",
    "json_schema",
    "model_latency",
    "tool_call_count",
    "invocation_count",
    "tool_error_count",
]
