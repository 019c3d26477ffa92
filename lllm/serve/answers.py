"""What every answer of ``lllm serve`` goes through: JSON bodies scrubbed of credentials, error bodies, the
tactic a route names, and task validation (422 naming what to fix)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from aiohttp import web
from pydantic import ValidationError

from lllm.core.jsonable import to_json_safe
from lllm.logging.store import finite_json
from lllm.secrets import environment_secrets, hide, known_secrets, scrub
from lllm.serve.calls import STATE, State
from lllm.serve.tactics import ServedTactic


class _Secrets:
    """The credentials to scrub: provider keys in the environment (read once per app: scanning the
    environment costs ~75 µs, more than the rest of an answer) plus every one registered so far."""

    def __init__(self) -> None:
        self.env: List[str] = []
        self.known: Any = None
        self.merged: List[str] = []

    def refresh_env(self) -> None:
        self.env, self.known = environment_secrets(), None

    def current(self) -> List[str]:
        known = known_secrets()
        if known is not self.known:
            self.known, self.merged = known, sorted(set(known).union(self.env), key=len, reverse=True)
        return self.merged


_SECRETS = _Secrets()
_SECRETS.refresh_env()


def dumps(data: Any) -> str:
    """JSON text with every known credential replaced (the last step of every body sent): in the values
    first, as JSON escapes a key holding ``"`` or ``\\`` in the text, then in the text. NaN and the
    infinities, which JSON lacks, are sent as ``null``."""
    safe = scrub(finite_json(to_json_safe(data)))
    return hide(json.dumps(safe, ensure_ascii=False, default=str), _SECRETS.current())


def refresh_secrets() -> None:
    """Read the provider keys in the environment again (an app reads them when it is built)."""
    _SECRETS.refresh_env()


def json_answer(data: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> web.Response:
    """A JSON response of ``data``, scrubbed (``dumps``)."""
    return web.Response(text=dumps(data), status=status, content_type="application/json", headers=headers)


def error_answer(status: int, message: str, **extra: Any) -> web.Response:
    """``{"error": message, ...}`` with ``status``."""
    return json_answer({"error": message, **extra}, status)


def busy(state: State, error: str) -> web.Response:
    """A 429 saying which limit is full, with Retry-After; counted as rejected."""
    state.metrics.rejected += 1
    return json_answer({"error": error}, 429, headers={"Retry-After": str(state.limits.retry_after_s)})


def served_tactic(request: web.Request) -> ServedTactic:
    """The served tactic the route's ``{name}`` names (404 otherwise)."""
    tactics = request.app[STATE].tactics
    name = request.match_info["name"]
    if name not in tactics:
        raise KeyError(f"No tactic '{name}' here; tactics: {sorted(tactics)} (GET /tactics)")
    return tactics[name]


class InvalidInput(Exception):
    """A body that does not validate; ``response`` is the 422 to send."""

    def __init__(self, response: web.Response):
        super().__init__("invalid input")
        self.response = response


def parse_task(t: ServedTactic, raw: bytes, where: str = "body") -> Any:
    """The task from a JSON body: the tactic's input model when it has one (422 otherwise), else any JSON."""
    if t.input_model is not None:
        try:
            return t.input_model.model_validate_json(raw or b"null")
        except ValidationError as e:
            raise InvalidInput(
                error_answer(
                    422,
                    f"The {where} is not a valid {t.input_model.__name__} for tactic "
                    f"'{t.name}' (see GET /tactics for its input_schema).{_wrapped_hint(t, raw)}",
                    detail=e.errors(include_url=False, include_context=False),
                )
            ) from None
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise InvalidInput(error_answer(422, f"The {where} is not JSON; send the task as a JSON value.")) from None


def _wrapped_hint(t: ServedTactic, raw: bytes) -> str:
    """A hint when the task came wrapped as ``{"task": ...}``, which the input model has no field for."""
    assert t.input_model is not None
    try:
        body = json.loads(raw)
    except ValueError:
        return ""
    if isinstance(body, dict) and list(body) == ["task"] and "task" not in t.input_model.model_fields:
        return ' The body is the task itself: send {"task": X} as X.'
    return ""


def validate_each(t: ServedTactic, tasks: List[Any]) -> List[Any]:
    """A batch's tasks as the tactic's input model (422 naming the first bad index)."""
    if t.input_model is None:
        return tasks
    out = []
    for i, task in enumerate(tasks):
        try:
            out.append(t.input_model.model_validate(task))
        except ValidationError as e:
            raise InvalidInput(
                error_answer(
                    422,
                    f"tasks[{i}] is not a valid {t.input_model.__name__} for tactic '{t.name}'.",
                    index=i,
                    detail=e.errors(include_url=False, include_context=False),
                )
            ) from None
    return out


__all__ = [
    "InvalidInput",
    "busy",
    "dumps",
    "error_answer",
    "json_answer",
    "parse_task",
    "refresh_secrets",
    "served_tactic",
    "validate_each",
]
