"""The Agent: a system prompt + a model + its dialogs, tools and budgets.

The call loop is written once, async (``arespond``/``acall``), in ``lllm.core.call_loop``; the sync API
(``respond``/``call``) runs it on LLLM's background event loop."""

from __future__ import annotations

import copy
import json
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

from pydantic import BaseModel

from lllm.core import events, wiring
from lllm.core.aio import run_sync
from lllm.core.call_context import current_call
from lllm.core.call_loop import CallLoop, backoff_delay
from lllm.core.const import APITypes, Roles
from lllm.core.dialog import Dialog  # at module level: an import in open() looks up the module's lazy __path__
from lllm.core.message import Message
from lllm.core.sessions import AgentCallSession
from lllm.errors import ConfigError, ToolBindingError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.prompt import Function, Prompt
    from lllm.core.protocols import Invoker, RuntimeLike
    from lllm.core.stream import BaseStreamHandler

logger = logging.getLogger("lllm.agent")

#: What ``Agent(output=...)`` takes: a pydantic model class, a JSON-Schema dict, or ``str``/``None`` for text.
OutputType = Union[Type[BaseModel], Dict[str, Any], Type[str], None]
#: An agent-level tool: a Function, a plain callable, or a tool/tactic URL.
ToolRef = Union["Function", Callable[..., Any], str]


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
        ``model_args``, ``tools`` and ``session_listeners`` are copies (a clone made inside a tactic call is
        recorded in its session too); an agent holding a proxy sandbox cannot be cloned."""
        if self.proxy_surface is not None:
            raise ValueError(f"Agent '{self.name}' holds a proxy sandbox; build a new agent from its spec instead")
        agent = object.__new__(type(self))
        agent.__dict__.update(self.__dict__)
        agent.model_args = dict(self.model_args)
        agent.tools = list(self.tools)
        agent._dialogs = {}
        agent._active = None
        agent._busy = False
        agent._busy_lock = threading.Lock()
        agent._tool_cache = None
        agent.session_listeners = list(self.session_listeners)
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

        return bound_agent(self), bool(current_call.get())

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
    # The call loop (§3.2): lllm/core/call_loop.py
    # ---------------------------------------------------------------------------------------
    async def _run(
        self,
        dialog: "Dialog",
        metadata: Optional[Dict[str, Any]],
        args: Optional[Dict[str, Any]],
        parser_args: Optional[Dict[str, Any]],
    ) -> AgentCallSession:
        """Run one call (a ``CallLoop``) on ``dialog``; one at a time per agent. Listeners see every session."""
        model = self._require_model()
        with self._busy_lock:
            if self._busy:
                raise RuntimeError(
                    f"Agent '{self.name}' is already responding; one agent runs one call at a time. For "
                    f"parallel calls use agent.clone() (same settings, its own state), or agent.run(), which "
                    f"runs each task on a copy."
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
            loop = CallLoop(self, session, dialog, metadata, args, parser_args)
            if self.call_deadline_s is None:
                await loop.run()
            else:
                await loop.run_within_deadline()
            return session
        except BaseException as e:
            if session.ended_at is None:  # ended by no budget: cancelled, or an error outside the loop's budgets
                from lllm.secrets import scrub_exception

                scrub_exception(e)
                session.failure(e)
            raise
        finally:
            self._busy = False
            events.emit(events.AgentCallFinished.of, self.name, session)
            for listener in self.session_listeners:  # observers: one that fails never breaks the call
                try:
                    listener(self.name, session)
                except Exception:  # noqa: BLE001 - nor masks its outcome (this runs in a finally)
                    logger.warning("agent %s: session listener %r failed", self.name, listener, exc_info=True)

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
