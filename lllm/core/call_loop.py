"""The call loop of one agent call (§3.2): its state and its phases in one object.

``CallLoop`` is what one call works on and has done so far; its methods are the phases of a step:
invoke (with provider-error budgets), recover from invalid output in a forked working dialog, run tool
calls, finish or fail. ``Agent._run`` builds one per call and awaits ``run`` (or ``run_within_deadline``)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import warnings
from typing import TYPE_CHECKING, Any, Awaitable, Dict, List, NoReturn, Optional

from lllm.core import events
from lllm.core.aio import within
from lllm.core.const import Roles
from lllm.core.message import FunctionCall, Message
from lllm.core.sessions import AgentCallSession, InvokeTrace, error_record
from lllm.errors import AgentCallError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.agent import Agent
    from lllm.core.dialog import Dialog
    from lllm.core.prompt import Function
    from lllm.core.protocols import InvokeResult

logger = logging.getLogger("lllm.agent")  # the agent's logger: the loop's log lines are the agent's

MAX_BACKOFF_S = 30.0
ZERO_STEPS_BUDGET = 100  # the step budget max_interrupt_steps=0 means (0.1.x: no tool-round limit)
_UNRECORDED_ARGS = frozenset({"api_key", "extra_headers"})  # never kept in a session's invoke traces


def backoff_delay(attempt: int, retry_after: Optional[float] = None, scale: float = 1.0) -> float:
    """``min(30, 2**k) * U(0.5, 1)`` seconds (times ``scale``), or the provider's Retry-After if larger.

    The agent then bounds it: a Retry-After over ``max_retry_wait_s`` fails the call at once, and a wait
    that would cross ``call_deadline_s`` fails it too (see ``Agent``)."""
    delay = min(MAX_BACKOFF_S, 2.0 ** min(attempt, 64)) * random.uniform(0.5, 1.0) * scale  # 2.0**1024 overflows
    if retry_after is not None and retry_after > delay:
        delay = float(retry_after)
    return delay


class CallLoop:
    """One call of ``agent`` on ``dialog``: what it works on, what it has done so far, and its phases."""

    __slots__ = (
        "agent",
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
        "deadline",
    )

    def __init__(
        self,
        agent: "Agent",
        session: AgentCallSession,
        dialog: "Dialog",
        metadata: Optional[Dict[str, Any]],
        args: Optional[Dict[str, Any]],
        parser_args: Optional[Dict[str, Any]],
    ):
        """Resolve the call's task prompt and tools (a ``ToolBindingError`` happens here, before any token)."""
        task = agent._with_system_output(dialog.top_prompt or agent.system_prompt)
        tools = agent.effective_tools(task)
        self.agent = agent
        self.session = session
        self.dialog = dialog  # the canonical dialog: valid answers and tool results only
        self.task = task  # the prompt whose parser and handlers run this call
        self.tools = tools
        self.by_name = {f.name: f for f in tools}
        self.model_args = {**agent.model_args, **args} if args else agent.model_args
        self.parser_args = parser_args
        self.metadata = metadata
        self.step = 0
        self.executed: List[FunctionCall] = []  # tool calls answered so far (a repeat is answered from here)
        self.final_sent = False  # the final-answer prompt was sent: no more tools
        self.deadline: Optional[float] = None  # time.monotonic() at which the call must end

    async def run_within_deadline(self) -> None:
        """``run`` stopped at ``call_deadline_s``: a model request or tool round still running is cancelled."""
        limit = self.agent.call_deadline_s
        assert limit is not None  # Agent._run calls this only with a deadline
        deadline = self.deadline = time.monotonic() + limit
        session = self.session
        try:
            await within(self.run(), limit)
        except asyncio.TimeoutError as e:
            if time.monotonic() < deadline - 0.05:  # a timeout raised inside the loop, not the deadline
                raise
            self.fail(
                "deadline",
                f"the call did not finish within call_deadline_s={limit:g}s "
                f"({session.invoke_count} model request(s), {session.interrupts_count} "
                f"tool round(s) so far); raise call_deadline_s in the agent config, "
                f"or set it to null for no overall deadline",
                e,
            )

    async def run(self) -> None:
        """Invoke, run the tools asked for, repeat until a final answer or a budget runs out (§3.2)."""
        agent = self.agent
        steps = agent.max_interrupt_steps + 1
        if agent.max_interrupt_steps == 0:
            warnings.warn(
                f"Agent '{agent.name}': max_interrupt_steps=0 means a budget of {ZERO_STEPS_BUDGET} steps",
                UserWarning,
                stacklevel=1,
            )
            steps = ZERO_STEPS_BUDGET
        session = self.session
        for self.step in range(steps):
            result = await self.invoke_step()
            message = result.message
            assert message is not None  # valid output (no execution_errors) always carries its message
            if not message.function_calls:
                self.dialog.append(message)
                session.success(message)
                logger.debug("agent %s delivered after %d step(s)", agent.name, self.step + 1)
                return
            if self.final_sent:  # its tool-call turn stays out of the dialog, which never holds an unanswered call
                self.fail(
                    "max_steps",
                    f"it asked for tools after the final-answer prompt "
                    f"(max_interrupt_steps={agent.max_interrupt_steps})",
                )
            await self.run_tools(message)
        self.fail("max_steps", f"no final answer within {steps} steps")

    async def invoke_step(self) -> "InvokeResult":
        """One step: invoke on a working fork until the output is valid or a budget runs out."""
        agent, session, task, step = self.agent, self.session, self.task, self.step
        working = self.dialog.working_copy()  # joins the fork tree only if something is appended to it
        if agent.context_manager is not None:
            working = agent.context_manager(working)
        if working.top_prompt is not None:
            working.top_prompt = agent._with_system_output(working.top_prompt)
        functions = [] if self.final_sent else self.tools
        while True:
            result = await self.invoke(working, functions)
            if not result.execution_errors:
                return result
            error = result.execution_errors[0]
            if result.message is not None:
                working.append(result.message)  # invalid output never reaches the canonical dialog
            if session.exception_retries_count >= agent.max_exception_retry:
                self.fail(
                    "exception_retries",
                    f"output still invalid after {agent.max_exception_retry} recovery attempt(s): {error}",
                    error,
                )
            session.exception(error, step)
            events.emit(events.RetryScheduled, agent.name, step, "invalid_output", 0.0, str(error))
            logger.debug("agent %s: invalid output at step %d, recovering: %s", agent.name, step, error)
            handler_prompt = task.handler.on_exception(task, session)
            working.put_prompt(handler_prompt, {"error_message": "\n".join(map(str, result.execution_errors))})

    async def invoke(self, working: "Dialog", functions: List["Function"]) -> "InvokeResult":
        """Invoke once, retrying provider errors within the rate-limit and recall budgets."""
        agent, session, step, model_args = self.agent, self.session, self.step, self.model_args
        invoker = agent.llm_invoker
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
                result = await invoker.acall(
                    working,
                    session.model,
                    model_args,
                    self.parser_args,
                    agent.name,
                    self.metadata,
                    agent.api_type,
                    agent.stream_handler,
                    functions=functions,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded and classified there; never escapes raw
                await self.after_provider_error(exc, sent, attempt, started)
                attempt += 1
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
                    replayed=result.replayed,
                )
            )
            events.emit(events.InvokeFinished.of, agent.name, session.invoke_traces[step][-1])
            return result

    async def after_provider_error(self, exc: Exception, sent: Dict[str, Any], attempt: int, started: float) -> None:
        """Record the failed attempt; wait and return if a budget allows another, else fail the call. The wait
        is bounded: a Retry-After over ``max_retry_wait_s`` fails at once, as does a wait past the deadline."""
        agent, session, step = self.agent, self.session, self.step
        kind = agent.llm_invoker.classify_error(exc)
        session.new_invoke_trace(
            InvokeTrace(
                step=step,
                attempt=attempt,
                **sent,
                request=_dict_attr(exc, "request"),  # an HTTP library's error holds its own Request object
                raw_response=getattr(exc, "body", None),
                errors=[error_record(exc)],
                retry_class=kind,
                started_at=started,
                latency_s=time.time() - started,
            )
        )
        events.emit(events.InvokeFinished.of, agent.name, session.invoke_traces[step][-1])
        k = self.retries_so_far(exc, kind)
        asked = getattr(exc, "retry_after", None)
        if asked is not None and asked > agent.max_retry_wait_s:
            self.fail(
                "retry_wait",
                f"the provider asked to wait {asked:g}s before retrying, over "
                f"max_retry_wait_s={agent.max_retry_wait_s:g}s; raise "
                f"max_retry_wait_s in the agent config to wait that long: {exc}",
                exc,
            )
        waits = getattr(agent.llm_invoker, "retry_waits", True)  # a replay answers at once: no wait
        delay = min(backoff_delay(k, asked, agent.backoff_scale), agent.max_retry_wait_s)
        if waits and self.deadline is not None and time.monotonic() + delay > self.deadline:
            self.fail(
                "deadline",
                f"retrying after this {kind} error means waiting {delay:g}s, past "
                f"call_deadline_s={agent.call_deadline_s:g}s; raise call_deadline_s "
                f"in the agent config: {exc}",
                exc,
            )
        if kind == "rate_limit":
            session.rate_limited(delay, step)
        else:
            session.llm_recall(exc, step)
        events.emit(events.RetryScheduled, agent.name, step, kind, delay if waits else 0.0, str(exc))
        if not waits:
            return
        logger.info("agent %s: %s error, retrying in %.2fs: %s", agent.name, kind, delay, exc)
        await asyncio.sleep(delay)

    def retries_so_far(self, exc: Exception, kind: Optional[str]) -> int:
        """The retries after errors of ``kind`` made so far; fails the call if its budget is spent or the
        error is not retried (neither a rate limit nor transient)."""
        agent, session = self.agent, self.session
        if kind == "rate_limit":
            k = session.rate_limit_retries_count
            if k >= agent.rate_limit_retries:
                self.fail(
                    "llm_error",
                    f"still rate-limited after {k} retries (rate_limit_retries={agent.rate_limit_retries}): {exc}",
                    exc,
                )
        elif kind == "transient":
            k = session.llm_recalls_count
            if k >= agent.max_llm_recall:
                self.fail(
                    "llm_error",
                    f"transient provider error with no recall budget left "
                    f"(max_llm_recall={agent.max_llm_recall}): {exc}",
                    exc,
                )
        else:
            self.fail("llm_error", f"provider error: {type(exc).__name__}: {exc}", exc)
        return k

    async def run_tools(self, message: Message) -> None:
        """Answer every tool call of ``message`` exactly once, in order, then maybe ask for the final answer.
        ``message`` joins the dialog with its results, once the tools are done: a call ended meanwhile (deadline,
        cancellation) leaves no unanswered tool call there, which every provider would reject."""
        agent, session, dialog, task = self.agent, self.session, self.dialog, self.task
        recorded = agent.llm_invoker.recorded_tool_call  # a replay answers tools too (else None)
        calls = message.function_calls
        jobs: List[Awaitable[FunctionCall]] = []
        repeats: Dict[int, int] = {}  # index -> the index of an identical call before it
        for k, call in enumerate(calls):
            events.emit(events.ToolCallStarted, agent.name, self.step, call.id, call.name, call.arguments)
            replayed = recorded(agent.name, call)
            first = None if replayed is not None else next((j for j in range(k) if calls[j].equals(call)), None)
            if replayed is not None:
                jobs.append(_done(replayed))
            elif first is not None:  # identical to a call before it in this turn: answered from it once it has run
                repeats[k] = first
                jobs.append(_done(call))
            else:
                jobs.append(self.tool_job(call))
        done: List[FunctionCall] = list(await asyncio.gather(*jobs)) if len(jobs) > 1 else [await jobs[0]]
        for k, first in repeats.items():
            done[k] = _repeated(calls[k], done[first])
        self.executed.extend(done)
        session.interrupt(done, self.step)
        interrupt_prompt = task.handler.on_interrupt(task, session)
        dialog.append(message)
        for call in done:
            events.emit(events.ToolCallFinished.of, agent.name, self.step, call)
            logger.debug("agent %s: tool %s -> %s", agent.name, call.name, (call.result_str or "")[:200])
            dialog.put_prompt(
                interrupt_prompt,
                {"call_results": call.result_str or ""},
                name=call.name,
                role=Roles.TOOL,
                metadata={"tool_call_id": call.id},
            )
        if len(session.interrupts) >= (agent.max_interrupt_steps or ZERO_STEPS_BUDGET - 1):  # the last step answers
            dialog.put_prompt(task.handler.on_interrupt_final(task, session), name="user", role=Roles.USER)
            self.final_sent = True

    def tool_job(self, call: FunctionCall) -> "Awaitable[FunctionCall]":
        """What answers ``call``: an earlier identical call's result, a no-such-tool error, or the tool."""
        previous = next((c for c in self.executed if c.equals(call)), None)
        if previous is not None:
            return _done(_repeated(call, previous, "earlier, in a previous turn,"))
        fn = self.by_name.get(call.name)
        if fn is None:
            return _done(
                call.model_copy(
                    update={
                        "error_message": f"no tool '{call.name}'",
                        "result_str": f"Error: no tool '{call.name}'. Available: {sorted(self.by_name)}",
                    }
                )
            )
        return _run_tool(fn, call)

    def fail(self, reason: str, detail: str, cause: Optional[BaseException] = None) -> NoReturn:
        """Record the failure in the session and raise ``AgentCallError`` naming the budgets spent."""
        from lllm.secrets import scrub_exception

        agent, session = self.agent, self.session
        scrub_exception(cause)  # a provider SDK's error may echo the key: scrubbed before it is recorded
        session.failure(cause, reason)
        counts = (
            f"exception retries {session.exception_retries_count}/{agent.max_exception_retry}, "
            f"llm recalls {session.llm_recalls_count}/{agent.max_llm_recall}, "
            f"rate-limit retries {session.rate_limit_retries_count}/{agent.rate_limit_retries}, "
            f"tool steps {session.interrupts_count}/{agent.max_interrupt_steps}"
        )
        end = "" if detail.endswith((".", "?", "!")) else "."  # a provider's message often ends its own sentence
        err = AgentCallError(
            f"Agent '{agent.name}' (model {agent.model}) failed [{reason}]: {detail}{end} ({counts})",
            reason=reason,
            session=session,
        )
        raise err from cause


async def _done(value: FunctionCall) -> FunctionCall:
    return value


def _dict_attr(exc: BaseException, name: str) -> Dict[str, Any]:
    """``exc.<name>`` if it is a dict, else ``{}`` (httpx raises reading an unset ``request``)."""
    try:
        value = getattr(exc, name, None)
    except Exception:  # noqa: BLE001 - a property that raises holds nothing to record
        return {}
    return value if isinstance(value, dict) else {}


def _repeated(call: FunctionCall, previous: FunctionCall, when: str = "earlier in this turn") -> FunctionCall:
    """``call`` answered with the result of the identical ``previous`` call (made ``when``), without running the tool."""
    return call.model_copy(
        update={
            "result": previous.result,
            "error_message": previous.error_message,
            "result_str": f"This call was already made {when} with the same arguments; "
            f"its result was:\n{previous.result_str}",
        }
    )


async def _run_tool(fn: "Function", call: FunctionCall) -> FunctionCall:
    """``fn.acall(call)``; a tool that exits (``sys.exit``, argparse on bad arguments) gets an error result like
    one that raises: its SystemExit, reaching the event loop, would stop the loop and hang every sync call. So
    does one whose own work was cancelled (the call itself was not: Python 3.11+ can tell)."""
    start = time.perf_counter()
    try:
        return await fn.acall(call)
    except asyncio.CancelledError:
        cancelling = getattr(asyncio.current_task(), "cancelling", None)
        if cancelling is None or cancelling():  # the call is being cancelled (or, on Python 3.10, may be)
            raise
        msg = "the tool's work was cancelled"
    except SystemExit as e:
        msg = f"the tool exited (SystemExit({e.code!r}))"
    update = {"error_message": msg, "result_str": f"Error: {msg}", "duration_s": time.perf_counter() - start}
    return call.model_copy(update=update)


__all__ = ["CallLoop", "backoff_delay"]
