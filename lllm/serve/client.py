"""``RemoteTactic``: a tactic served by ``lllm serve`` (or any server with the same routes), called like a
local one. Typed results: the given output class, else a model rebuilt from the served JSON Schema."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple, Type, Union

import aiohttp
from pydantic import BaseModel, Field, ValidationError, create_model
from pydantic_core import to_jsonable_python

from lllm.core.aio import run_sync
from lllm.core.events import SubTacticFinished, SubTacticStarted, emit
from lllm.core.sessions import TacticCallSession
from lllm.core.tactic import current_session
from lllm.errors import AgentCallError, ConfigError

_TYPES: Dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}


def model_from_schema(schema: Dict[str, Any], name: str = "RemoteOutput") -> Optional[Type[BaseModel]]:
    """A pydantic model rebuilt from an object JSON Schema (as ``model_json_schema()`` writes it): nested
    objects and ``$defs`` references become nested models, ``items`` typed lists, ``anyOf`` unions."""
    defs = schema.get("$defs") or {}
    built: Dict[str, Any] = {}  # $defs key -> its type (None while being built)
    model: Any
    if isinstance(schema.get("$ref"), str) and "properties" not in schema:  # a recursive model: its own definition
        model = _schema_type({"$ref": schema["$ref"]}, defs, name, built)
    elif schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        model = _object_model(schema, defs, str(schema.get("title") or name), built)
    else:
        return None
    names = {_ref_name(k): v for k, v in built.items() if v is not None}
    for m in [*built.values(), model]:
        if isinstance(m, type) and issubclass(m, BaseModel) and not m.__pydantic_complete__:
            m.model_rebuild(_types_namespace=names)  # resolves the references a recursive definition made
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _ref_name(key: str) -> str:
    return "_Ref_" + re.sub(r"\W", "_", key)


def _object_model(schema: Dict[str, Any], defs: Dict[str, Any], name: str, built: Dict[str, Any]) -> Type[BaseModel]:
    required = set(schema.get("required") or [])
    fields: Dict[str, Any] = {}
    for key, sub in schema["properties"].items():
        typ = _schema_type(sub if isinstance(sub, dict) else {}, defs, f"{name}_{key}", built)
        default = sub.get("default") if isinstance(sub, dict) else None
        spec = (typ, ...) if key in required else (Optional[typ], default)
        if key.startswith("_"):  # pydantic takes such a name for a private attribute: a field named otherwise
            attr = key.lstrip("_") + "_"
            while attr.startswith("_") or not attr.isidentifier() or attr in schema["properties"] or attr in fields:
                attr = "f_" + attr
            spec = (spec[0], Field(spec[1], alias=key))
            fields[attr] = spec
            continue
        fields[key] = spec
    return create_model(name, **fields)


def _schema_type(sub: Dict[str, Any], defs: Dict[str, Any], name: str, built: Dict[str, Any]) -> Any:
    ref = sub.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        key = ref.rsplit("/", 1)[1]
        if key in built and built[key] is None:  # being built: a recursive reference, resolved once it is
            return _ref_name(key)
        if key not in built and isinstance(defs.get(key), dict):
            target = defs[key]
            built[key] = None
            built[key] = (
                _object_model(target, defs, str(target.get("title") or key), built)
                if target.get("type") == "object" and isinstance(target.get("properties"), dict)
                else _schema_type(target, defs, key, built)
            )
        return built.get(key, Any)
    if "anyOf" in sub:
        options = [
            _schema_type(o, defs, name, built) for o in sub["anyOf"] if isinstance(o, dict) and o.get("type") != "null"
        ]
        nullable = any(isinstance(o, dict) and o.get("type") == "null" for o in sub["anyOf"])
        typ: Any = options[0] if len(options) == 1 else (Union[tuple(options)] if options else Any)
        return Optional[typ] if nullable else typ
    kind = sub.get("type")
    if kind == "object" and isinstance(sub.get("properties"), dict):
        return _object_model(sub, defs, str(sub.get("title") or name), built)
    if kind == "array":
        items = sub.get("items")
        return List[_schema_type(items, defs, name, built)] if isinstance(items, dict) else list  # type: ignore[misc]
    return _TYPES.get(str(kind), Any)


@dataclass
class RemoteCall:
    """What ``call(..., return_session=True)`` gives: the typed result, the remote session id and cost."""

    result: Any
    session_id: Optional[str]
    tactic: str
    cost: Dict[str, Any] = field(default_factory=dict)


class RemoteTactic:
    """The tactic ``name`` at ``url`` (e.g. ``http://127.0.0.1:8000``): ``call``/``acall``/``bcall``/``ccall``
    as a local tactic; a remote failure is raised as ``AgentCallError`` with the server's reason."""

    def __init__(
        self,
        url: str,
        name: str,
        token: Optional[str] = None,
        output_model: Optional[Type[BaseModel]] = None,
        timeout: float = 300.0,
    ):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"RemoteTactic: url must start with http:// or https://, got {url!r}")
        self.url, self.name, self.token, self.timeout = url.rstrip("/"), name, token, timeout
        self._output_model = output_model
        self._info: Optional[Dict[str, Any]] = None

    def __repr__(self) -> str:
        return f"RemoteTactic({self.url!r}, {self.name!r})"

    def _headers(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(headers=self._headers(), timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def _request(self, http: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> Tuple[int, Any]:
        data = None if body is None else json.dumps(_plain(body))
        try:
            async with http.request(
                method,
                self.url + path,
                data=data,
                headers={"Content-Type": "application/json"} if data is not None else None,
            ) as r:
                text = await r.text()
                try:
                    return r.status, json.loads(text) if text else None
                except ValueError:
                    return r.status, {"error": text[:500]}
        except asyncio.TimeoutError as e:
            raise AgentCallError(
                f"Remote tactic '{self.name}' at {self.url} did not answer within {self.timeout:g} s "
                f"(RemoteTactic timeout=...)",
                reason="remote_timeout",
            ) from e
        except aiohttp.ClientError as e:
            raise AgentCallError(
                f"Remote tactic '{self.name}' at {self.url}: {type(e).__name__}: {e}", reason="remote_unreachable"
            ) from e

    async def describe(self) -> Dict[str, Any]:
        """The served description of this tactic (name, description, input and output schemas)."""
        if self._info is None:
            async with self._session() as http:
                status, body = await self._request(http, "GET", "/tactics")
            if status != 200:
                raise self._error(status, body)
            found = [t for t in body.get("tactics", []) if t.get("name") == self.name]
            if not found:
                raise AgentCallError(
                    f"{self.url} serves no tactic '{self.name}'; it serves "
                    f"{[t.get('name') for t in body.get('tactics', [])]}",
                    reason="remote_not_found",
                )
            self._info = found[0]
        return self._info

    async def output_model(self) -> Optional[Type[BaseModel]]:
        """The class results are built as: the one given, else one rebuilt from the output schema."""
        if self._output_model is None:
            info = await self.describe()
            self._output_model = model_from_schema(info.get("output_schema") or {}, f"{self.name}_output")
        return self._output_model

    def _error(self, status: int, body: Any) -> AgentCallError:
        body = body if isinstance(body, dict) else {}
        reason = body.get("reason") or {
            401: "remote_unauthorized",
            404: "remote_not_found",
            413: "remote_too_large",
            422: "remote_invalid_input",
            429: "remote_busy",
            504: "remote_timeout",
        }.get(status, "remote_error")
        errors = body.get("detail") if isinstance(body.get("detail"), list) else []
        fields = "; ".join(
            f"{'.'.join(map(str, d.get('loc', ())))}: {d.get('msg')}" for d in errors if isinstance(d, dict)
        )
        return AgentCallError(
            f"Remote tactic '{self.name}' at {self.url} answered {status}: "
            f"{body.get('error') or 'no reason given'}" + (f" ({fields})" if fields else ""),
            reason=reason,
            detail=json.dumps(errors)[:4000] if errors else "",
        )

    async def _invoke(self, http: aiohttp.ClientSession, task: Any) -> RemoteCall:
        status, body = await self._request(http, "POST", f"/tactics/{self.name}/invoke", task)
        if status != 200:
            raise self._error(status, body)
        if not isinstance(body, dict) or "result" not in body:  # not an lllm serve answer (a proxy's page, say)
            text = body.get("error") if isinstance(body, dict) and set(body) == {"error"} else json.dumps(body)
            raise AgentCallError(
                f"Remote tactic '{self.name}' at {self.url} answered 200 without a result: {str(text)[:300]!r}; "
                f"check that the url is an lllm serve server",
                reason="remote_error",
            )
        model = await self.output_model()
        result = body.get("result")
        if model is not None and isinstance(result, dict):
            try:
                result = model.model_validate(result)
            except ValidationError as e:  # a failure like any remote one: ccall(return_exceptions=True) goes on
                fields = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in e.errors())
                raise AgentCallError(
                    f"Remote tactic '{self.name}' at {self.url} answered a result that is not a valid "
                    f"{model.__name__} ({fields}); give RemoteTactic the output_model the tactic returns, "
                    f"or none to use its served schema",
                    reason="remote_invalid_output",
                    detail=e.json(include_url=False)[:4000],
                ) from e
        return RemoteCall(result, body.get("session_id"), self.name, body.get("cost") or {})

    async def acall(self, task: Any, return_session: bool = False, record_in: Any = None) -> Any:
        """Run the remote tactic on ``task`` (a model, dict or any JSON value) and return its typed result.
        Inside a tactic call the remote call is recorded in that call's session as a sub-session under this
        tactic's name (``record_in``: another running ``TacticCallSession`` to record it in), with the remote
        session id and cost; observers of the call (``lllm.observe``) see it as a sub-tactic."""
        async with self._session() as http:
            out = await self._recorded(http, task, record_in, self.name)
        return out if return_session else out.result

    async def _recorded(self, http: aiohttp.ClientSession, task: Any, parent: Any, name: str) -> RemoteCall:
        """One call, recorded in ``parent`` (default: the tactic call in progress) and reported to observers."""
        parent = parent if parent is not None else current_session()
        if parent is not None:
            emit(SubTacticStarted, name, self.name)
        try:
            out = await self._invoke(http, task)
        except BaseException as e:  # a cancelled call or an unfitting result ends the sub-session too
            self._record(parent, name, task, None, e)
            raise
        self._record(parent, name, task, out, None)
        return out

    def _record(
        self, parent: Any, name: str, task: Any, out: Optional[RemoteCall], error: Optional[BaseException]
    ) -> None:
        if parent is None:
            return
        sub = TacticCallSession(
            tactic_name=self.name,
            tactic_path=f"{self.url}/tactics/{self.name}",
            session_id=out.session_id if out else None,
            state="running",
            task=_plain(task),
            metadata={"remote_url": self.url, "remote_cost": out.cost if out else {}},
        )
        if error is not None:
            sub.failure(error)
        else:
            assert out is not None
            sub.success(_plain(out.result))
        parent.record_sub_tactic_call(name, sub)
        emit(SubTacticFinished.of, name, sub)

    def call(self, task: Any, return_session: bool = False, record_in: Any = None) -> Any:
        """``acall`` from synchronous code."""
        return run_sync(self.acall(task, return_session, record_in))

    __call__ = call

    async def ccall(
        self, tasks: List[Any], max_workers: int = 8, return_exceptions: bool = False, return_sessions: bool = False
    ) -> AsyncIterator[Tuple[int, Any]]:
        """Yield ``(index, result)`` in completion order, ``max_workers`` calls at a time, as
        ``Tactic.ccall``; a failure is raised (or yielded) when it occurs and the rest are cancelled."""
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ConfigError(f"RemoteTactic: max_workers must be an integer >= 1, got {max_workers!r}")
        gate = asyncio.Semaphore(max_workers)
        parent = current_session()  # each call is recorded in the tactic call in progress, if any
        async with self._session() as http:

            async def one(i: int, task: Any) -> Tuple[int, Any]:
                async with gate:
                    try:
                        out = await self._recorded(http, task, parent, self.name)
                        return i, out if return_sessions else out.result
                    except AgentCallError as e:
                        if return_exceptions:
                            return i, e
                        raise

            running = [asyncio.ensure_future(one(i, t)) for i, t in enumerate(tasks)]
            try:
                for fut in asyncio.as_completed(running):
                    yield await fut
            finally:
                for f in running:
                    f.cancel()
                await asyncio.gather(*running, return_exceptions=True)

    async def _collect(
        self, tasks: List[Any], max_workers: int, return_exceptions: bool, return_sessions: bool
    ) -> List[Any]:
        out: List[Any] = [None] * len(tasks)
        async for i, r in self.ccall(tasks, max_workers, return_exceptions, return_sessions):
            out[i] = r
        return out

    def bcall(
        self, tasks: List[Any], max_workers: int = 8, fail_fast: bool = True, return_sessions: bool = False
    ) -> List[Any]:
        """Every task's result in task order; with ``fail_fast=False`` a failed slot holds its exception."""
        return run_sync(self._collect(tasks, max_workers, not fail_fast, return_sessions))

    def as_function(self, name: Optional[str] = None, description: Optional[str] = None) -> Any:
        """This remote tactic as a tool for an agent (a ``Function``; its input schema is the served one)."""
        from lllm.core.tools import Function

        info = run_sync(self.describe())
        schema = info.get("input_schema") or {}
        untyped = schema.get("type") != "object"
        props = {"task": {"description": "the task"}} if untyped else schema.get("properties", {})
        required = ["task"] if untyped else schema.get("required", [])
        fn = Function(
            name or self.name,
            description or info.get("description") or f"Run remote tactic {self.name}",
            props,
            required,
            defs=None if untyped else schema.get("$defs"),
        )

        tool = fn.name

        def run(**kwargs: Any) -> str:  # recorded in the calling tactic's session under the tool's name
            task = kwargs.get("task") if untyped else kwargs
            result = run_sync(self._as_tool(task, tool))
            return (
                result.model_dump_json(by_alias=True)
                if isinstance(result, BaseModel)
                else (result if isinstance(result, str) else json.dumps(result, default=str))
            )

        fn.function = run
        return fn

    async def _as_tool(self, task: Any, tool: str) -> Any:
        async with self._session() as http:
            return (await self._recorded(http, task, None, tool)).result


def _plain(value: Any) -> Any:
    """``value`` as on the wire: models (nested ones too), dates and the like as pydantic dumps them to JSON."""
    return to_jsonable_python(value, by_alias=True)


__all__ = ["RemoteTactic", "RemoteCall", "model_from_schema"]
