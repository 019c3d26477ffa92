"""What a served tactic is: its route name, description, typed input and output, and the built tactic."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional, Tuple, Type

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from lllm.errors import LLLMError


class ServeError(LLLMError, ValueError):
    """``lllm serve`` cannot start or answer as asked; the message says what to change."""


def _model(hint: Any) -> Optional[Type[BaseModel]]:
    return hint if isinstance(hint, type) and issubclass(hint, BaseModel) else None


def io_models(tactic: Any) -> "tuple[Optional[Type[BaseModel]], Optional[Type[BaseModel]]]":
    """The pydantic models annotating ``tactic.call``'s first parameter and its return, if any."""
    fn = tactic.call
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations mean "untyped"
        return None, None
    params = [p for p in inspect.signature(fn).parameters if p not in ("self", "kw", "kwargs")]
    return _model(hints.get(params[0])) if params else None, _model(hints.get("return"))


@dataclass
class ServedTactic:
    """One tactic behind the server: ``name`` is its route (``/tactics/{name}/...``)."""

    name: str
    tactic: Any
    description: str = ""
    model: Optional[str] = None  # every agent runs on it (``--model`` or the offline default), if set
    input_model: Optional[Type[BaseModel]] = None
    output_model: Optional[Type[BaseModel]] = None

    @classmethod
    def of(
        cls, name: str, tactic: Any, model: Optional[str] = None, description: Optional[str] = None
    ) -> "ServedTactic":
        """Describe a built tactic: models from its ``call`` annotations, description from its docstring."""
        from lllm.secrets import register_settings

        register_settings(getattr(tactic, "config", None) or {})  # its keys are scrubbed from every answer
        inp, out = io_models(tactic)
        doc = description or inspect.cleandoc(type(tactic).__doc__ or "") or f"Run the '{name}' tactic."
        return cls(name, tactic, doc, model, inp, out)

    def input_schema(self) -> Dict[str, Any]:
        return self.input_model.model_json_schema() if self.input_model else {}

    def output_schema(self) -> Dict[str, Any]:
        return self.output_model.model_json_schema() if self.output_model else {}

    def describe(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tactic_path": getattr(self.tactic, "tactic_path", None),
            "input_schema": self.input_schema(),
            "output_schema": self.output_schema(),
        }


def _op(t: ServedTactic, suffix: str, summary: str, response: str, body: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "post": {
            "operationId": f"{t.name}_{suffix}",
            "summary": summary,
            "description": t.description,
            "tags": [t.name],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": {"description": "OK", "content": {response: {"schema": {}}}},
                "422": {
                    "description": "The body is not a valid input",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrorBody"}}},
                },
                "429": {"description": "Too many calls in flight; retry after Retry-After seconds"},
            },
        }
    }


def _schemas(tactics: List[ServedTactic]) -> Tuple[Dict[str, Any], Dict[Any, Dict[str, Any]]]:
    """The document's component schemas (every typed model's, plus the 422 body) and each model's reference."""
    models = {m for t in tactics for m in (t.input_model, t.output_model) if m is not None}
    schemas: Dict[str, Any] = {}
    refs: Dict[Any, Dict[str, Any]] = {}
    if models:
        keyed: List[Tuple[Type[BaseModel], Literal["validation"]]] = sorted(
            ((m, "validation") for m in models), key=lambda x: x[0].__name__
        )
        found, top = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
        refs = {m: s for (m, _), s in found.items()}
        schemas.update(top.get("$defs", {}))
    schemas["ValidationErrorBody"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "detail": {"type": "array", "items": {"type": "object"}}},
    }
    return schemas, refs


def _tactic_paths(t: ServedTactic, refs: Dict[Any, Dict[str, Any]]) -> Dict[str, Any]:
    """The invoke, stream and batch operations of one tactic."""
    body = refs.get(t.input_model, {}) if t.input_model else {"description": "the task (any JSON)"}
    result = refs.get(t.output_model, {}) if t.output_model else {}
    answer = {
        "type": "object",
        "required": ["result", "session_id", "cost"],
        "properties": {
            "result": result,
            "session_id": {"type": ["string", "null"]},
            "tactic": {"type": "string"},
            "cost": {"type": "object"},
        },
    }
    invoke = _op(t, "invoke", f"Run {t.name}", "application/json", body)
    invoke["post"]["responses"]["200"]["content"]["application/json"]["schema"] = answer
    batch = {
        "type": "object",
        "required": ["tasks"],
        "properties": {"tasks": {"type": "array", "items": body}, "batch_id": {"type": "string"}},
    }
    started = _op(t, "batch", f"Start a batch of {t.name} calls", "application/json", batch)
    responses = started["post"]["responses"]
    responses["202"] = {**responses.pop("200"), "description": "Accepted: the job id and its status_url"}
    responses["409"] = {"description": "The batch_id is running with other tasks or another tactic"}
    return {
        f"/tactics/{t.name}/invoke": invoke,
        f"/tactics/{t.name}/stream": _op(t, "stream", f"Run {t.name}, streaming events", "text/event-stream", body),
        f"/tactics/{t.name}/batch": started,
    }


_GET_PATHS = (
    ("/tactics", "The served tactics with their schemas"),
    ("/healthz", "Liveness"),
    ("/metrics", "Prometheus metrics"),
    ("/sessions/{id}", "A recorded session"),
    ("/jobs/{id}", "A batch job's progress"),
)


def openapi(
    tactics: List[ServedTactic], title: str = "LLLM tactics", version: str = "0.1.0", token: bool = False
) -> Dict[str, Any]:
    """An OpenAPI 3.1 document for ``tactics``: request and response schemas from their typed models."""
    schemas, refs = _schemas(tactics)
    paths: Dict[str, Any] = {}
    for t in tactics:
        paths.update(_tactic_paths(t, refs))
    for path, summary in _GET_PATHS:
        paths[path] = {"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}}
        if "{id}" in path:  # a template names a declared path parameter (OpenAPI requires it)
            paths[path]["get"]["parameters"] = [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ]
    doc: Dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc


__all__ = ["ServedTactic", "ServeError", "io_models", "openapi"]
