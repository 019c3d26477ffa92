"""The Agent: a system prompt + a model + the call loop.

The loop is written once, async (``arespond``/``acall``); the sync API (``respond``/``call``) runs it
on LLLM's background event loop. Each phase of a step is a small method: invoke (with provider-error
budgets), recover from invalid output in a forked working dialog, run tool calls, finish."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple, Type, Union

from pydantic import BaseModel

from lllm.core import events, wiring
from lllm.core.aio import run_sync
from lllm.core.const import APITypes, Roles
from lllm.core.message import FunctionCall, Message
from lllm.core.sessions import AgentCallSession, InvokeTrace, error_record
from lllm.errors import AgentCallError, ConfigError, ToolBindingError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.dialog import Dialog
    from lllm.core.prompt import Function, Prompt
    from lllm.core.protocols import Invoker, InvokeResult, RuntimeLike
    from lllm.core.stream import BaseStreamHandler

logger = logging.getLogger("lllm.agent")

MAX_BACKOFF_S = 30.0
_UNRECORDED_ARGS = frozenset({"api_key", "extra_headers"})  # never kept in a session's invoke traces

#: What ``Agent(output=...)`` takes: a pydantic model class, a JSON-Schema dict, or ``str``/``None`` for text.
OutputType = Union[Type[BaseModel], Dict[str, Any], Type[str], None]
#: An agent-level tool: a Function, a plain callable, or a tool/tactic URL.
ToolRef = Union["Function", Callable[..., Any], str]


def backoff_delay(attempt: int, retry_after: Optional[float] = None, scale: float = 1.0) -> float:
    """``min(30, 2**k) * U(0.5, 1)`` seconds (times ``scale``), or the provider's Retry-After if larger.

    The agent then bounds it: a Retry-After over ``max_retry_wait_s`` fails the call at once, and a wait
    that would cross ``call_deadline_s`` fails it too (see ``Agent``)."""
    delay = min(MAX_BACKOFF_S, 2.0**attempt) * random.uniform(0.5, 1.0) * scale
    if retry_after is not None and retry_after > delay:
        delay = float(retry_after)
    return delay


class Agent:
    """Holds a system prompt and a model; runs prompts through the call loop on its dialogs.

    Budgets of one call: ``max_exception_retry`` (recoveries from invalid output), ``max_interrupt_steps``
    (tool rounds), ``max_llm_recall`` (retries after transient provider errors such as HTTP 500; 2 by
    default, 0 in lllm-core 0.1.x), ``rate_limit_retries`` (retries after 429), ``max_retry_wait_s`` (the
    longest single wait before a retry, 60 s; a provider asking for a longer Retry-After fails the call
    at once, reason ``retry_wait``) and ``call_deadline_s`` (optional overall deadline of one call, every
    retry, backoff and tool round included; reason ``deadline``)."""

    #: Multiplies every backoff delay; tests may lower it. Retry-After from a provider always wins.
    backoff_scale: float = 1.0

    def __init__(
        self,
        name: str,
        system_prompt: Union["Prompt", str],
        model: Optional[str] = None,
        llm_invoker: Optional["Invoker"] = None,
        stream_handler: Optional["BaseStreamHandler"] = None,
        api_type: APITypes = APITypes.COMPLETION,
        model_args: Optional[Dict[str, Any]] = None,
        max_exception_retry: int = 3,
        max_interrupt_steps: int = 5,
        max_llm_recall: int = 2,
        context_manager: Optional[Callable[["Dialog"], "Dialog"]] = None,
        tools: Optional[Sequence[ToolRef]] = None,
        rate_limit_retries: int = 6,
        runtime: Optional["RuntimeLike"] = None,
        *,
        output: OutputType = None,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
        timeout: Optional[float] = None,
        max_retry_wait_s: float = 60.0,
        call_deadline_s: Optional[float] = None,
    ):
        """``output`` (a pydantic model) is what ``run`` returns; ``base_url``/``api_key``/``headers``/``timeout``
        set this agent's endpoint (they become ``model_args`` ``api_base``/``api_key``/``extra_headers``/``timeout``)."""
        for key, v in (
            ("max_exception_retry", max_exception_retry),
            ("max_interrupt_steps", max_interrupt_steps),
            ("max_llm_recall", max_llm_recall),
            ("rate_limit_retries", rate_limit_retries),
        ):
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"Agent '{name}': {key} must be an integer >= 0, got {v!r}")
        from lllm.core.spec import check_seconds

        retry_wait = check_seconds(f"Agent '{name}'", "max_retry_wait_s", max_retry_wait_s)
        assert retry_wait is not None  # only call_deadline_s may be None
        call_deadline_s = check_seconds(f"Agent '{name}'", "call_deadline_s", call_deadline_s)
        from lllm.core.prompt import Prompt

        if isinstance(system_prompt, str):
            system_prompt = Prompt(path=f"_inline/{name}/system", prompt=system_prompt)
        model_args = _endpoint_args(
            name, model_args, base_url=base_url, api_key=api_key, headers=headers, timeout=timeout
        )
        if llm_invoker is None:
            llm_invoker = default_invoker()
        self.output = _check_output(name, output)
        self.name = name
        self.system_prompt = system_prompt
        self.model = model
        self.llm_invoker = llm_invoker
        self.stream_handler = stream_handler
        self.api_type = APITypes(api_type)
        self.model_args = dict(model_args or {})
        self.max_exception_retry = max_exception_retry
        self.max_interrupt_steps = max_interrupt_steps
        self.max_llm_recall = max_llm_recall
        self.rate_limit_retries = rate_limit_retries
        self.max_retry_wait_s = retry_wait
        self.call_deadline_s = call_deadline_s
        self._deadline: Optional[float] = None  # time.monotonic() at which the running call must end
        self.context_manager = context_manager
        self.tools = list(tools or [])
        self.runtime = runtime
        self._dialogs: Dict[str, "Dialog"] = {}
        self._active: Optional[str] = None
        self._busy = False
        self._busy_lock = threading.Lock()
        self._tool_cache: Optional[Tuple["Prompt", Tuple[Any, ...], List["Function"]]] = None
        #: Called with every finished AgentCallSession (a tactic uses it to record its agents' calls).
        self.session_listeners: List[Any] = []
        #: The proxy tools and sandbox this agent was built with (see AgentSpec.build), if any.
        self.proxy_surface: Any = None

    def __repr__(self) -> str:
        return f"Agent({self.name!r}, model={self.model!r}, dialogs={list(self._dialogs)})"

    def clone(self) -> "Agent":
        """A new agent with this one's prompt, model, invoker, budgets and tools, and none of its dialogs or
        call state (a tactic clones one agent per call instead of building and checking it again). Its
        ``model_args`` and ``tools`` are copies; an agent holding a proxy sandbox cannot be cloned."""
        if self.proxy_surface is not None:
            raise ValueError(f"Agent '{self.name}' holds a proxy sandbox; build a new agent from its spec instead")
        agent = object.__new__(type(self))
        agent.__dict__.update(self.__dict__)
        agent.model_args = dict(self.model_args)
        agent.tools = list(self.tools)
        agent._deadline = None
        agent._dialogs = {}
        agent._active = None
        agent._busy = False
        agent._busy_lock = threading.Lock()
        agent._tool_cache = None
        agent.session_listeners = []
        return agent

    # ---------------------------------------------------------------------------------------
    # Dialog management (§3.1)
    # ---------------------------------------------------------------------------------------
    def open(
        self,
        alias: str,
        prompt_args: Optional[Dict[str, Any]] = None,
        session_name: Optional[str] = None,
        switch: bool = True,
    ) -> "Dialog":
        """Start a dialog seeded with the rendered system prompt."""
        from lllm.core.dialog import Dialog

        if alias in self._dialogs:
            raise ValueError(
                f"Agent '{self.name}' already has a dialog '{alias}'; use .fork('{alias}', "
                f"'<new alias>') to branch it or .close('{alias}') first."
            )
        dialog = Dialog(session_name=session_name, owner=self.name, runtime=self.runtime)
        dialog.put_prompt(self.system_prompt, prompt_args, name="system", role=Roles.SYSTEM)
        self._dialogs[alias] = dialog
        if switch:
            self._active = alias
        return dialog

    def fork(self, alias: str, child_alias: str, last_n: int = 0, first_k: int = 1, switch: bool = True) -> "Dialog":
        """Branch dialog ``alias`` into ``child_alias`` (see ``Dialog.fork`` for ``last_n``/``first_k``)."""
        if child_alias in self._dialogs:
            raise ValueError(f"Agent '{self.name}' already has a dialog '{child_alias}'")
        child = self._dialog(alias).fork(last_n=last_n, first_k=first_k)
        self._dialogs[child_alias] = child
        if switch:
            self._active = child_alias
        return child

    def close(self, alias: str) -> "Dialog":
        """Forget dialog ``alias`` and return it."""
        dialog = self._dialog(alias)
        del self._dialogs[alias]
        if self._active == alias:
            self._active = None
        return dialog

    def switch(self, alias: str) -> None:
        """Make ``alias`` the active dialog."""
        self._dialog(alias)
        self._active = alias

    def _dialog(self, alias: Optional[str]) -> "Dialog":
        if alias is None:
            return self.current_dialog
        try:
            return self._dialogs[alias]
        except KeyError:
            raise KeyError(f"Agent '{self.name}' has no dialog '{alias}'. Dialogs: {sorted(self._dialogs)}") from None

    @property
    def current_dialog(self) -> "Dialog":
        """The active dialog."""
        if self._active is None:
            raise RuntimeError(f"Agent '{self.name}' has no active dialog: call .open(alias) or .switch(alias) first.")
        return self._dialogs[self._active]

    @property
    def dialogs(self) -> Dict[str, "Dialog"]:
        """A copy of the alias → dialog map."""
        return dict(self._dialogs)

    @property
    def active_alias(self) -> Optional[str]:
        """The active dialog's alias, if any."""
        return self._active

    def receive(self, text: str, alias: Optional[str] = None, role: Roles = Roles.USER, name: str = "user") -> Message:
        """Append ``text`` as is (no rendering) to a dialog; agent-level tools stay available."""
        return self._dialog(alias).put_text(text, name=name, role=role)

    def receive_prompt(
        self,
        prompt: Union["Prompt", str],
        prompt_args: Optional[Dict[str, Any]] = None,
        alias: Optional[str] = None,
        name: str = "user",
        role: Roles = Roles.USER,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> Message:
        """Render ``prompt`` (or a prompt key) with ``prompt_args`` into a dialog; it sets the next turn's
        parser, format and tools."""
        return self._dialog(alias).put_prompt(prompt, prompt_args, name=name, metadata=metadata, role=role)

    def receive_image(
        self,
        image: Any,
        caption: Optional[str] = None,
        alias: Optional[str] = None,
        name: str = "user",
        role: Roles = Roles.USER,
    ) -> Message:
        """Append an image (path, PIL image, bytes or base64; PNG, JPEG, GIF or WebP) with an optional caption."""
        return self._dialog(alias).put_image(image, caption=caption, name=name, role=role)

    # ---------------------------------------------------------------------------------------
    # Calling
    # ---------------------------------------------------------------------------------------
    def respond(
        self,
        alias: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
        args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        return_session: bool = False,
    ) -> Union[Message, AgentCallSession]:
        """Run the call loop on a dialog and return the delivered Message (or the session)."""
        return run_sync(self.arespond(alias, metadata, args, parser_args, return_session))

    async def arespond(
        self,
        alias: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
        args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        return_session: bool = False,
    ) -> Union[Message, AgentCallSession]:
        """Async ``respond``."""
        session = await self._run(self._dialog(alias), metadata, args, parser_args)
        return session if return_session else _delivered(session)

    def call(self, dialog: "Dialog", **kw: Any) -> Union[Message, AgentCallSession]:
        """Run the loop on an explicit dialog owned by this agent."""
        return run_sync(self.acall(dialog, **kw))

    async def acall(
        self,
        dialog: "Dialog",
        metadata: Optional[Dict[str, Any]] = None,
        args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        return_session: bool = False,
    ) -> Union[Message, AgentCallSession]:
        """Async ``call``."""
        if dialog.owner not in (None, self.name):
            raise ValueError(
                f"Dialog {dialog.dialog_id} belongs to agent '{dialog.owner}', not '{self.name}'; "
                f"agents share content, not dialogs."
            )
        session = await self._run(dialog, metadata, args, parser_args)
        return session if return_session else _delivered(session)

    # ---------------------------------------------------------------------------------------
    # The short path: run(task) -> typed value (docs/getting-started.md)
    # ---------------------------------------------------------------------------------------
    _template: Optional["Agent"] = None  # set on a tactic call's copy of a module-level agent
    _output_cache: Optional[Tuple["Prompt", "Prompt"]] = None  # (turn, turn with the system prompt's output)

    def run(self, task: Any, *, continue_dialog: bool = False, return_session: bool = False, **prompt_args: Any) -> Any:
        """Send ``task`` as the user turn of a fresh dialog (``continue_dialog=True``: the last one) with this
        agent's tools and ``output`` type; return the typed value (or the AgentCallSession).

        ``prompt_args`` fill the system prompt's variables (and a Prompt task's). Inside a tactic call the
        run happens on that call's own copy of this agent and is recorded in the call's session."""
        agent, in_call = self._bound()
        return run_sync(agent._arun(task, continue_dialog, return_session, prompt_args, in_call))

    async def arun(
        self, task: Any, *, continue_dialog: bool = False, return_session: bool = False, **prompt_args: Any
    ) -> Any:
        """Async ``run``."""
        agent, in_call = self._bound()
        return await agent._arun(task, continue_dialog, return_session, prompt_args, in_call)

    def _bound(self) -> Tuple["Agent", bool]:
        """(the agent to run on, whether a tactic call is running), read in the caller's context."""
        from lllm.core.functional import bound_agent
        from lllm.core.tactic import _current_call

        return bound_agent(self), bool(_current_call.get())

    async def _arun(
        self, task: Any, continue_dialog: bool, return_session: bool, prompt_args: Dict[str, Any], in_call: bool
    ) -> Any:
        from lllm.core.prompt import Prompt

        self._require_model()
        turn = self._turn_prompt(task)
        if continue_dialog and self._active is not None:
            runner, dialog = self, self.current_dialog
        else:  # a fresh dialog on a light clone, so concurrent runs never share state
            runner = copy.copy(self)
            runner._dialogs, runner._active, runner._busy, runner._busy_lock = {}, None, False, threading.Lock()
            dialog = runner.open("run", prompt_args or None)
        dialog.put_prompt(turn, prompt_args if isinstance(task, Prompt) else None, name="user", role=Roles.USER)
        try:
            session = await runner._run(dialog, None, None, None)
        finally:
            if runner is not self:
                self._keep_run_dialog(dialog, keep_all=in_call)
        return session if return_session else _typed_value(_delivered(session), turn)

    def _require_model(self) -> str:
        if not self.model:
            raise ConfigError(
                f"Agent '{self.name}' has no model: pass model=... (e.g. 'gpt-4o-mini', or 'test' "
                f"to run offline), or run it in a tactic whose config sets global.model_name "
                f"(`lllm run ... --model M`)."
            )
        return self.model

    def _turn_prompt(self, task: Any) -> "Prompt":
        """The user turn for ``task``: a Prompt as is, anything else as literal text; ``output`` is its format."""
        from lllm.core.prompt import Prompt

        if isinstance(task, Prompt):
            if self.output is None or task.format is self.output:
                return task
            return task.extend(path=f"{task.path}/as_{self.name}", format=self.output)
        if isinstance(task, BaseModel):
            text = task.model_dump_json()
        elif isinstance(task, (dict, list)):
            text = json.dumps(task, default=str)
        else:
            text = str(task)
        return Prompt(
            path=f"_inline/{self.name}/task", prompt=text.replace("{", "{{").replace("}", "}}"), format=self.output
        )

    def _keep_run_dialog(self, dialog: "Dialog", keep_all: bool) -> None:
        """Keep a run's dialog: inside a tactic call all of them ("run", "run_2", ...), the session records
        them; outside, only the last one."""
        alias, n = "run", 1
        while keep_all and alias in self._dialogs:
            n += 1
            alias = f"run_{n}"
        self._dialogs[alias] = dialog
        self._active = alias

    # ---------------------------------------------------------------------------------------
    # The call loop (§3.2)
    # ---------------------------------------------------------------------------------------
    async def _run(
        self,
        dialog: "Dialog",
        metadata: Optional[Dict[str, Any]],
        args: Optional[Dict[str, Any]],
        parser_args: Optional[Dict[str, Any]],
    ) -> AgentCallSession:
        model = self._require_model()
        with self._busy_lock:
            if self._busy:
                raise RuntimeError(
                    f"Agent '{self.name}' is already responding; one agent runs one call at a time "
                    f"(build another agent, or fork a dialog, for parallel calls)."
                )
            self._busy = True
        session = AgentCallSession(
            agent_name=self.name,
            model=model,
            max_exception_retry=self.max_exception_retry,
            max_interrupt_steps=self.max_interrupt_steps,
            max_llm_recall=self.max_llm_recall,
            rate_limit_retries=self.rate_limit_retries,
            max_retry_wait_s=self.max_retry_wait_s,
            call_deadline_s=self.call_deadline_s,
        )
        events.emit(events.AgentCallStarted, self.name, model)
        try:
            task = self._with_system_output(dialog.top_prompt or self.system_prompt)
            st = _CallState(
                session,
                dialog,
                task,
                self.effective_tools(task),
                {**self.model_args, **args} if args else self.model_args,
                parser_args,
                metadata,
            )
            if self.call_deadline_s is None:
                await self._loop(st)
            else:
                await self._loop_within_deadline(st)
            return session
        finally:
            self._busy = False
            self._deadline = None
            events.emit(events.AgentCallFinished.of, self.name, session)
            for listener in self.session_listeners:  # observers: one that fails never breaks the call
                try:
                    listener(self.name, session)
                except Exception:  # noqa: BLE001 - nor masks its outcome (this runs in a finally)
                    logger.warning("agent %s: session listener %r failed", self.name, listener, exc_info=True)

    async def _loop_within_deadline(self, st: "_CallState") -> None:
        """``_loop`` stopped at ``call_deadline_s``: a model request or tool round still running is cancelled."""
        limit = self.call_deadline_s
        assert limit is not None  # _run calls this only with a deadline
        deadline = self._deadline = time.monotonic() + limit
        session = st.session
        try:
            await asyncio.wait_for(self._loop(st), limit)
        except asyncio.TimeoutError as e:
            if time.monotonic() < deadline - 0.05:  # a timeout raised inside the loop, not the deadline
                raise
            self._fail(
                session,
                "deadline",
                f"the call did not finish within call_deadline_s={limit:g}s "
                f"({session.invoke_count} model request(s), {session.interrupts_count} "
                f"tool round(s) so far); raise call_deadline_s in the agent config, "
                f"or set it to null for no overall deadline",
                e,
            )

    async def _loop(self, st: "_CallState") -> None:
        """Invoke, run the tools asked for, repeat until a final answer or a budget runs out (§3.2)."""
        steps = self.max_interrupt_steps + 1
        if self.max_interrupt_steps == 0:
            warnings.warn(
                f"Agent '{self.name}': max_interrupt_steps=0 means a budget of 100 steps", UserWarning, stacklevel=1
            )
            steps = 100
        session = st.session
        for st.step in range(steps):
            result = await self._invoke_step(st)
            message = result.message
            assert message is not None  # valid output (no execution_errors) always carries its message
            st.dialog.append(message)
            if not message.function_calls:
                session.success(message)
                logger.debug("agent %s delivered after %d step(s)", self.name, st.step + 1)
                return
            if st.final_sent:
                self._fail(
                    session,
                    "max_steps",
                    f"it asked for tools after the final-answer prompt "
                    f"(max_interrupt_steps={self.max_interrupt_steps})",
                )
            await self._run_tools(st, message)
        self._fail(session, "max_steps", f"no final answer within {steps} steps")

    async def _invoke_step(self, st: "_CallState") -> "InvokeResult":
        """One step: invoke on a working fork until the output is valid or a budget runs out."""
        session, task, step = st.session, st.task, st.step
        working = st.dialog.working_copy()  # joins the fork tree only if something is appended to it
        if self.context_manager is not None:
            working = self.context_manager(working)
        if working.top_prompt is not None:
            working.top_prompt = self._with_system_output(working.top_prompt)
        functions = [] if st.final_sent else st.tools
        while True:
            result = await self._invoke_with_budgets(st, working, functions)
            if not result.execution_errors:
                return result
            error = result.execution_errors[0]
            if result.message is not None:
                working.append(result.message)  # invalid output never reaches the canonical dialog
            if session.exception_retries_count >= self.max_exception_retry:
                self._fail(
                    session,
                    "exception_retries",
                    f"output still invalid after {self.max_exception_retry} recovery attempt(s): {error}",
                    error,
                )
            session.exception(error, step)
            events.emit(events.RetryScheduled, self.name, step, "invalid_output", 0.0, str(error))
            logger.debug("agent %s: invalid output at step %d, recovering: %s", self.name, step, error)
            handler_prompt = task.handler.on_exception(task, session)
            working.put_prompt(handler_prompt, {"error_message": "\n".join(map(str, result.execution_errors))})

    async def _invoke_with_budgets(
        self, st: "_CallState", working: "Dialog", functions: List["Function"]
    ) -> "InvokeResult":
        """Invoke once, retrying provider errors within the rate-limit and recall budgets."""
        session, step, model_args = st.session, st.step, st.model_args
        attempt = 0
        sent: Dict[str, Any] = {
            "model": session.model,
            "tools": tuple(f.name for f in functions),  # the trace validates them into lists
            "model_args": {k: v for k, v in model_args.items() if k not in _UNRECORDED_ARGS},
            "messages": tuple(working.messages),
        }
        while True:
            started = time.time()
            try:
                result = await self.llm_invoker.acall(
                    working,
                    session.model,
                    model_args,
                    st.parser_args,
                    self.name,
                    st.metadata,
                    self.api_type,
                    self.stream_handler,
                    functions=functions,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below; never escapes raw
                kind = self.llm_invoker.classify_error(exc)
                session.new_invoke_trace(
                    InvokeTrace(
                        step=step,
                        attempt=attempt,
                        **sent,
                        request=getattr(exc, "request", None) or {},
                        raw_response=getattr(exc, "body", None),
                        errors=[error_record(exc)],
                        retry_class=kind,
                        started_at=started,
                        latency_s=time.time() - started,
                    )
                )
                events.emit(events.InvokeFinished.of, self.name, session.invoke_traces[step][-1])
                attempt += 1
                await self._after_provider_error(session, step, exc, kind)
                continue
            msg = result.message
            session.new_invoke_trace(
                InvokeTrace(
                    step=step,
                    attempt=attempt,
                    **sent,
                    request=result.request,
                    raw_response=result.raw_response,
                    message=msg,
                    errors=[error_record(e) for e in result.execution_errors],
                    started_at=result.started_at or started,
                    latency_s=result.latency_s,
                    usage=msg.usage if msg is not None else {},
                )
            )
            events.emit(events.InvokeFinished.of, self.name, session.invoke_traces[step][-1])
            return result

    async def _after_provider_error(
        self, session: AgentCallSession, step: int, exc: Exception, kind: Optional[str]
    ) -> None:
        """Wait and return if a budget allows another attempt; otherwise fail the call. The wait is bounded:
        a provider's Retry-After over ``max_retry_wait_s`` fails at once, as does a wait past the deadline."""
        if kind == "rate_limit":
            k = session.rate_limit_retries_count
            if k >= self.rate_limit_retries:
                self._fail(
                    session,
                    "llm_error",
                    f"still rate-limited after {k} retries (rate_limit_retries={self.rate_limit_retries}): {exc}",
                    exc,
                )
        elif kind == "transient":
            k = session.llm_recalls_count
            if k >= self.max_llm_recall:
                self._fail(
                    session,
                    "llm_error",
                    f"transient provider error with no recall budget left "
                    f"(max_llm_recall={self.max_llm_recall}): {exc}",
                    exc,
                )
        else:
            self._fail(session, "llm_error", f"provider error: {type(exc).__name__}: {exc}", exc)
        asked = getattr(exc, "retry_after", None)
        if asked is not None and asked > self.max_retry_wait_s:
            self._fail(
                session,
                "retry_wait",
                f"the provider asked to wait {asked:g}s before retrying, over "
                f"max_retry_wait_s={self.max_retry_wait_s:g}s; raise "
                f"max_retry_wait_s in the agent config to wait that long: {exc}",
                exc,
            )
        waits = getattr(self.llm_invoker, "retry_waits", True)  # a replay answers at once: no wait
        delay = min(backoff_delay(k, asked, self.backoff_scale), self.max_retry_wait_s)
        if waits and self._deadline is not None and time.monotonic() + delay > self._deadline:
            self._fail(
                session,
                "deadline",
                f"retrying after this {kind} error means waiting {delay:g}s, past "
                f"call_deadline_s={self.call_deadline_s:g}s; raise call_deadline_s "
                f"in the agent config: {exc}",
                exc,
            )
        if kind == "rate_limit":
            session.rate_limited(delay, step)
        else:
            session.llm_recall(exc, step)
        events.emit(events.RetryScheduled, self.name, step, kind, delay if waits else 0.0, str(exc))
        if not waits:
            return
        logger.info("agent %s: %s error, retrying in %.2fs: %s", self.name, kind, delay, exc)
        await asyncio.sleep(delay)

    async def _run_tools(self, st: "_CallState", message: Message) -> None:
        """Answer every tool call of ``message`` exactly once, in order, then maybe ask for the final answer."""
        session, dialog, task, state = st.session, st.dialog, st.task, st
        calls = message.function_calls
        recorded = self.llm_invoker.recorded_tool_call  # a replay answers tools too (else None)
        jobs = []
        for call in calls:
            events.emit(events.ToolCallStarted, self.name, st.step, call.id, call.name, call.arguments)
            previous = next((c for c in state.executed if c.equals(call)), None)
            fn = state.by_name.get(call.name)
            replayed = recorded(self.name, call)
            if replayed is not None:
                jobs.append(_done(replayed))
            elif previous is not None:
                jobs.append(
                    _done(
                        call.model_copy(
                            update={
                                "result": previous.result,
                                "error_message": previous.error_message,
                                "result_str": f"This call was already made earlier in this turn with the same arguments; "
                                f"its result was:\n{previous.result_str}",
                            }
                        )
                    )
                )
            elif fn is None:
                jobs.append(
                    _done(
                        call.model_copy(
                            update={
                                "error_message": f"no tool '{call.name}'",
                                "result_str": f"Error: no tool '{call.name}'. Available: {sorted(state.by_name)}",
                            }
                        )
                    )
                )
            else:
                jobs.append(fn.acall(call))
        done: List[FunctionCall] = list(await asyncio.gather(*jobs)) if len(jobs) > 1 else [await jobs[0]]
        state.executed.extend(done)
        session.interrupt(done, st.step)
        interrupt_prompt = task.handler.on_interrupt(task, session)
        for call in done:
            events.emit(events.ToolCallFinished.of, self.name, st.step, call)
            logger.debug("agent %s: tool %s -> %s", self.name, call.name, (call.result_str or "")[:200])
            dialog.put_prompt(
                interrupt_prompt,
                {"call_results": call.result_str or ""},
                name=call.name,
                role=Roles.TOOL,
                metadata={"tool_call_id": call.id},
            )
        if len(session.interrupts) >= self.max_interrupt_steps:
            dialog.put_prompt(task.handler.on_interrupt_final(task, session), name="user", role=Roles.USER)
            state.final_sent = True

    def _fail(
        self, session: AgentCallSession, reason: str, detail: str, cause: Optional[BaseException] = None
    ) -> NoReturn:
        from lllm.secrets import scrub_exception

        scrub_exception(cause)  # a provider SDK's error may echo the key: scrubbed before it is recorded
        session.failure(cause, reason)
        counts = (
            f"exception retries {session.exception_retries_count}/{self.max_exception_retry}, "
            f"llm recalls {session.llm_recalls_count}/{self.max_llm_recall}, "
            f"rate-limit retries {session.rate_limit_retries_count}/{self.rate_limit_retries}, "
            f"tool steps {session.interrupts_count}/{self.max_interrupt_steps}"
        )
        err = AgentCallError(
            f"Agent '{self.name}' (model {self.model}) failed [{reason}]: {detail}. ({counts})",
            reason=reason,
            session=session,
        )
        raise err from cause

    def _with_system_output(self, turn: "Prompt") -> "Prompt":
        """``turn``, or a copy carrying the system prompt's parser and format when it has neither (0.1.x
        users put the output contract on the system prompt; it applies to every turn without its own)."""
        sp = self.system_prompt
        if (
            turn is sp
            or turn.parser is not None
            or turn.format is not None
            or (sp.parser is None and sp.format is None)
        ):
            return turn
        cached = self._output_cache
        if cached is not None and cached[0] is turn:
            return cached[1]
        out = turn.extend(path=turn.path, parser=sp.parser, format=sp.format)
        self._output_cache = (turn, out)
        return out

    # ---------------------------------------------------------------------------------------
    # Tools
    # ---------------------------------------------------------------------------------------
    def effective_tools(self, task: "Prompt") -> List["Function"]:
        """The task prompt's tools, then the system prompt's, then the agent's; earlier wins on a clash.

        Everything is bound here, so a ``ToolBindingError`` happens before any token is spent."""
        cached = self._tool_cache
        extra = tuple(self.tools)
        if cached is not None and cached[0] is task and cached[1] == extra:
            return cached[2]
        out: Dict[str, "Function"] = {}
        for source in (task, self.system_prompt):
            for fn in source.resolve_functions(self.runtime).values():
                out.setdefault(fn.name, fn)
        for ref in self.tools:
            agent_fn = self._resolve_agent_tool(ref)
            if agent_fn is not None:
                out.setdefault(agent_fn.name, agent_fn)
        for fn in out.values():
            if not fn.linked:
                raise ToolBindingError(
                    f"Agent '{self.name}': tool '{fn.name}' is declared but has no implementation; "
                    f"link one with prompt.with_functions({fn.name}=...) or register a package tool."
                )
        tools = list(out.values())
        self._tool_cache = (task, extra, tools)
        return tools

    def _resolve_agent_tool(self, ref: Any) -> Optional["Function"]:
        """An agent-level tool: a Function, a callable, or a tool/tactic URL (resolved in the default
        package). Proxy URLs return ``None``: they are activated when the agent is built."""
        from lllm.core.prompt import Function

        if isinstance(ref, Function):
            return ref
        if callable(ref):
            return Function.from_callable(ref)
        if isinstance(ref, str):
            rt = self.runtime or wiring.services.default_runtime()
            head = ref.partition("#")[0].rpartition(":")[0]
            if head.partition(".")[2] == "proxies" or (rt.has(ref, "proxy") and not rt.has(ref, "tool")):
                return None
            return wiring.services.tool_ref(ref, rt, f"Agent '{self.name}'")
        raise TypeError(
            f"Agent '{self.name}': tools entries must be Function objects, callables or tool URLs, "
            f"got {type(ref).__name__}"
        )


class _CallState:
    """One call's state, passed through the loop's phases: what it works on and what it has done so far."""

    __slots__ = (
        "session",
        "dialog",
        "task",
        "tools",
        "by_name",
        "model_args",
        "parser_args",
        "metadata",
        "step",
        "executed",
        "final_sent",
    )

    def __init__(
        self,
        session: AgentCallSession,
        dialog: "Dialog",
        task: "Prompt",
        tools: List["Function"],
        model_args: Dict[str, Any],
        parser_args: Optional[Dict[str, Any]],
        metadata: Optional[Dict[str, Any]],
    ):
        self.session = session
        self.dialog = dialog  # the canonical dialog: valid answers and tool results only
        self.task = task  # the prompt whose parser and handlers run this call
        self.tools = tools
        self.by_name = {f.name: f for f in tools}
        self.model_args = model_args
        self.parser_args = parser_args
        self.metadata = metadata
        self.step = 0
        self.executed: List[FunctionCall] = []  # tool calls answered so far (a repeat is answered from here)
        self.final_sent = False  # the final-answer prompt was sent: no more tools


async def _done(value: FunctionCall) -> FunctionCall:
    return value


# ---------------------------------------------------------------------------------------------
# Short-path helpers: endpoint keywords, the default invoker, output types
# ---------------------------------------------------------------------------------------------
_ENDPOINT_KEYS = {"base_url": "api_base", "api_key": "api_key", "headers": "extra_headers", "timeout": "timeout"}


def _endpoint_args(agent: str, model_args: Optional[Dict[str, Any]], **endpoint: Any) -> Dict[str, Any]:
    """``model_args`` plus the endpoint keywords under their model_args names; a conflicting value is an error."""
    out = dict(model_args or {})
    for kw, value in endpoint.items():
        if value is None:
            continue
        key = _ENDPOINT_KEYS[kw]
        given = out.get(key, out.get("base_url") if key == "api_base" else None)
        if given is not None and given != value:  # credentials are never echoed in a message
            visible = kw in ("base_url", "timeout")
            raise ConfigError(
                f"Agent '{agent}': {kw}={_shown(value, visible)} conflicts with model_args[{key!r}]="
                f"{_shown(given, visible)}; set it once."
            )
        out[key] = value
    return out


def _shown(value: Any, visible: bool) -> str:
    from lllm.secrets import strip_userinfo  # credentials are never echoed in a message

    return repr(strip_userinfo(value)) if visible else "<hidden>"


def _delivered(session: AgentCallSession) -> Message:
    """The message a finished call delivered (a call that returns has one; a failed call raises)."""
    assert session.delivery is not None
    return session.delivery


def default_invoker() -> "Invoker":
    """The invoker an agent builds for itself: routed per call by model name; with a base URL, a model with
    no native route (e.g. ``llama3.2`` on Ollama) goes to the OpenAI-compatible invoker at that URL."""
    return wiring.services.build_invoker({"invoker": "auto", "invoker_config": {}})


def _check_output(agent: str, output: Any) -> Union[Type[BaseModel], Dict[str, Any], None]:
    if output is None or output is str:
        return None
    if isinstance(output, dict) or (isinstance(output, type) and issubclass(output, BaseModel)):
        return output
    raise TypeError(
        f"Agent '{agent}': output must be a pydantic model class, a JSON-Schema dict or None (text), "
        f"got {output!r}; wrap other types in a model, e.g. class Answer(BaseModel): value: int."
    )


def _typed_value(message: Message, turn: "Prompt") -> Any:
    """What ``run`` returns: the ``format`` instance (or data), the parser's dict, else the text."""
    fmt = turn.format
    if isinstance(fmt, type):
        return message.parsed_as(fmt)
    if fmt is not None or turn.parser is not None:
        return {k: v for k, v in message.parsed.items() if k != "raw"} if fmt is not None else message.parsed
    return message.content


__all__ = ["Agent", "AgentCallSession", "backoff_delay"]
