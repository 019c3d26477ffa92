"""What the ``lllm ui`` pages ask the session store, as plain functions over a ``LogStore``: a filtered,
keyset-paged session list, new sessions since a point, replay, fork, compare and a self-contained HTML
export; one session as a view model comes from ``lllm.ui.views``. The HTTP layer (``lllm.ui.server``) only
parses and serialises."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from lllm.core.jsonable import to_json_safe
from lllm.errors import LLLMError
from lllm.logging.filters import tactic_filter
from lllm.ui.views import BadRequest, check_session_id, session_row, session_view

STATIC = Path(__file__).resolve().parent / "static"
SORTS = ("newest", "oldest", "cost", "calls")
MAX_LIMIT = 500


@dataclass(frozen=True)
class Hooks:
    """What replay and fork take from the command line that serves the app (``lllm.ui.cli.replay_hooks``):
    the project's runtime, the offline-model rule and the ``--override`` parser of ``lllm replay``."""

    runtime: Callable[[], Any]
    offline_model: Callable[[Optional[str], Optional[Dict[str, Any]], Any], Optional[str]]
    parse_override: Callable[[str, Dict[str, Any]], Dict[str, Any]]


@dataclass
class ListQuery:
    """The session list's filters, sort and page."""

    tactic: Optional[str] = None
    tags: Dict[str, str] = field(default_factory=dict)
    state: Optional[str] = None
    after: Optional[str] = None
    before: Optional[str] = None
    batch: Optional[str] = None
    model: Optional[str] = None
    text: Optional[str] = None
    min_cost: Optional[float] = None
    max_cost: Optional[float] = None
    sort: str = "newest"
    limit: int = 50
    cursor: Optional[str] = None


def _time(name: str, value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    text = value.strip()
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise BadRequest(
            f"{name}={value!r} is not an ISO-8601 time; send e.g. 2026-01-31 or 2026-01-31T12:00:00Z"
        ) from None
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    if name == "before" and len(text) == 10:  # a bare date as upper bound means the whole day
        when += timedelta(days=1) - timedelta(microseconds=1)
    return when.isoformat(timespec="microseconds")


def _number(name: str, value: Optional[str]) -> Optional[float]:
    if value in (None, ""):
        return None
    try:
        return float(str(value))
    except ValueError:
        raise BadRequest(f"{name}={value!r} is not a number; send e.g. {name}=0.01") from None


def parse_query(params: Any) -> ListQuery:
    """A ``ListQuery`` from URL parameters (a multidict: ``tag`` may repeat as ``KEY=VALUE``); ``BadRequest``
    names the first bad one."""
    tags: Dict[str, str] = {}
    for pair in params.getall("tag", []) if hasattr(params, "getall") else params.get("tag", []):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadRequest(f"tag={pair!r}: send tags as KEY=VALUE")
        tags[key] = value
    sort = params.get("sort") or "newest"
    if sort not in SORTS:
        raise BadRequest(f"sort={sort!r} is not one of {list(SORTS)}")
    raw_limit = params.get("limit") or "50"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise BadRequest(f"limit={raw_limit!r}: send an integer from 1 to {MAX_LIMIT}")
    state = params.get("state") or None
    if state is not None and state not in ("initial", "running", "success", "failure"):
        raise BadRequest(f"state={state!r} is not one of ['running', 'success', 'failure']")
    return ListQuery(
        tactic=params.get("tactic") or None,
        tags=tags,
        state=state,
        after=_time("after", params.get("after")),
        before=_time("before", params.get("before")),
        batch=params.get("batch") or None,
        model=params.get("model") or None,
        text=params.get("q") or None,
        min_cost=_number("min_cost", params.get("min_cost")),
        max_cost=_number("max_cost", params.get("max_cost")),
        sort=sort,
        limit=int(raw_limit),
        cursor=params.get("cursor") or None,
    )


class SessionLister:
    """Pages of ``LogStore.list_sessions``, every filter and sort answered by the store's index: newest first
    pages by a keyset cursor (``TIMESTAMP|SESSION_ID``), the other sorts by an offset cursor."""

    def __init__(self, store: Any):
        self.store = store

    def _store_filters(self, q: ListQuery) -> Dict[str, Any]:
        tags = dict(q.tags)
        if q.batch:
            tags["lllm.batch_id"] = q.batch
        return {
            "tags": tags or None,
            "after": q.after,
            "before": q.before,
            "state": q.state,
            "model": q.model,
            "text": q.text,
            "min_cost": q.min_cost,
            "max_cost": q.max_cost,
            **tactic_filter(q.tactic),
        }

    def page(self, q: ListQuery) -> Dict[str, Any]:
        """``{"sessions": [...], "next": cursor or None}`` for one page of ``q``."""
        if q.sort != "newest":
            return self._sorted_page(q)
        rows, _ = self._after(self._store_filters(q), _cursor(q.cursor), q.limit + 1)
        nxt = None
        if len(rows) > q.limit:
            rows = rows[: q.limit]
            nxt = _cursor_text(rows[-1]["timestamp"], rows[-1]["session_id"])
        return {"sessions": rows, "next": nxt}

    def _after(
        self, filters: Dict[str, Any], cursor: Optional[Tuple[str, str]], n: int
    ) -> Tuple[List[Dict[str, Any]], bool]:
        """Up to ``n`` rows strictly older than ``cursor`` (newest first) and whether the store has no more."""
        f = dict(filters)
        if cursor is not None:
            f["before"] = cursor[0] if f.get("before") is None else min(cursor[0], f["before"])
        limit = n
        while True:
            rows = [session_row(s) for s in self.store.list_sessions(**f, limit=limit)]
            kept = [r for r in rows if cursor is None or (r["timestamp"], r["session_id"]) < cursor]
            if len(kept) >= n or len(rows) < limit:
                return kept[:n], len(rows) < limit and len(kept) <= n
            limit = limit * 2 + (len(rows) - len(kept))  # many sessions share the cursor's timestamp

    def _sorted_page(self, q: ListQuery) -> Dict[str, Any]:
        """Oldest first, most expensive or most agent calls first (ties newest first), paged by offset."""
        start = 0
        if q.cursor:
            if not q.cursor.isdigit():
                raise BadRequest(f"cursor={q.cursor!r} is not a cursor of sort={q.sort}; start without one")
            start = int(q.cursor)
        found = self.store.list_sessions(**self._store_filters(q), sort=q.sort, offset=start, limit=q.limit + 1)
        rows = [session_row(s) for s in found[: q.limit]]
        return {"sessions": rows, "next": str(start + q.limit) if len(found) > q.limit else None}

    def since(self, seen: Dict[str, str], lookback_s: float = 900.0) -> List[Dict[str, Any]]:
        """Sessions not in ``seen`` (session id -> timestamp) among those started up to ``lookback_s``
        before the newest seen one, oldest first; ``seen`` is updated and trimmed to that window.

        A session is indexed when it ends but dated by its start, so a window (not only the newest
        timestamp) catches a long session that ends after a shorter, later one."""
        newest = max(seen.values(), default=None)
        after = None
        if newest is not None:
            after = (datetime.fromisoformat(newest) - timedelta(seconds=lookback_s)).isoformat(timespec="microseconds")
        rows = [session_row(s) for s in self.store.list_sessions(after=after, limit=500)]
        fresh = []
        for r in reversed(rows):
            if r["session_id"] not in seen:
                seen[r["session_id"]] = r["timestamp"]
                fresh.append(r)
        if after is not None:
            for sid in [s for s, ts in seen.items() if ts < after]:
                del seen[sid]
        return fresh


def _cursor_text(timestamp: str, session_id: str) -> str:
    """A URL-safe keyset cursor (``Z`` for UTC, so no ``+`` to escape)."""
    return f"{timestamp.replace('+00:00', 'Z')}|{session_id}"


def _cursor(text: Optional[str]) -> Optional[Tuple[str, str]]:
    if not text:
        return None
    ts, sep, sid = text.partition("|")
    if not sep or not sid:
        raise BadRequest(f"cursor={text!r} is not a list cursor (TIMESTAMP|SESSION_ID); start without one")
    return (_time("cursor", ts) or "", sid)


# ---------------------------------------------------------------------------------------------
# Replay, fork, compare, export
# ---------------------------------------------------------------------------------------------
def _load(store: Any, session_id: str) -> Any:
    check_session_id(session_id)
    try:
        return store.load_session(session_id)
    except ValueError as e:  # stored by a newer lllm, or a bad id
        raise BadRequest(str(e)) from None


def session_prompts(store: Any, session_id: str, hooks: Hooks) -> Dict[str, Any]:
    """The prompts a session rendered that a fork can edit, with their current text: ``{"prompts": [{key,
    template, source, agents, args, system_of}]}``. ``template`` comes from the project's runtime, else the
    tactic's module, else the recording's snapshot (``None`` if none has it); ``args`` are the placeholders
    every render supplied; ``system_of`` names the agents whose ``system_prompt_path`` it is. Inline system
    prompts are not listed (the fork edits them as ``system_prompts``), nor the prompts handlers derive
    (``__<path>_<kind>``: tool results, retries)."""
    from lllm.logging.forks import recorded_tactic, session_prompts as recorded_prompts

    rt = hooks.runtime()
    recorded = _load(store, session_id)
    try:
        cls = recorded_tactic(recorded, None, rt)
    except LLLMError:  # the tactic is not in this project: the recording's snapshots still give text
        cls = None
    system_of: Dict[str, List[str]] = {}
    for a in recorded.config.get("agent_configs") or []:
        path = a.get("system_prompt_path") if isinstance(a, dict) else None
        if path:
            try:
                path = rt.get_node(path, "prompt").qualified_key
            except (KeyError, TypeError, ValueError):
                pass
            system_of.setdefault(path, []).append(str(a.get("name")))
    rows = []
    for key, use in sorted(recorded_prompts(recorded, runtime=rt, tactic=cls).items()):
        if key.startswith(
            ("_inline/", "__")
        ):  # inline system prompts; handlers' derived prompts (tool results, retries)
            continue
        node = rt.find_node(key, "prompt")
        allowed = use.allowed_args()
        rows.append(
            {
                "key": key,
                "template": use.template,
                "source": "runtime" if node is not None else "tactic module" if use.prompt is not None else "recording",
                "agents": use.agents,
                "args": sorted(allowed) if allowed is not None else None,
                "system_of": system_of.get(key, []),
            }
        )
    return {"session_id": session_id, "prompts": rows}


def _fork_invoker(
    recorded: Any, rt: Any, hooks: Hooks, overrides: Dict[str, Any], prompts: Dict[str, str], model: Optional[str]
) -> Tuple[Any, Optional[str]]:
    """The invoker and model a fork re-runs with; a wrong override path or prompt key fails before anything runs."""
    from lllm.invokers.base import build_invoker
    from lllm.logging.forks import apply_overrides, prompt_edits, recorded_tactic

    config = apply_overrides(recorded.config, overrides)  # ConfigError names a wrong path
    if prompts:
        prompt_edits(recorded, prompts, runtime=rt)  # ConfigError names a wrong key, before anything runs
    chosen = model or hooks.offline_model(None, config, recorded_tactic(recorded, None, rt)) or "test"
    invoker = build_invoker({"invoker": "test"}) if chosen == "test" else build_invoker(config)
    return invoker, None if chosen == "test" else model


def _replayed(session_id: str, recorded: Any, new: Any, forking: bool) -> Dict[str, Any]:
    """The answer of a replay that ran to its end: whether it reproduced the recording, and where it diverged."""
    same = to_json_safe(new.delivery) == to_json_safe(recorded.delivery)
    at = new.metadata.get("diverged_at")
    return {
        "replay_of": session_id,
        "session_id": new.session_id,
        "mode": "fork" if forking else "exact",
        "prompt_overrides": new.metadata.get("prompt_overrides"),
        "reproduced": at is None and same,
        "same_delivery": same,
        "diverged_at": at,
        "diff": at["diff"] if at else None,
        "replayed_calls": new.metadata.get("replayed_calls"),
        "delivery": to_json_safe(new.delivery),
    }


def replay(
    store: Any,
    session_id: str,
    hooks: Hooks,
    overrides: Optional[Dict[str, Any]] = None,
    model: Optional[str] = None,
    prompts: Optional[Dict[str, str]] = None,
) -> Dict[str, Any]:
    """Re-run a recorded session as ``lllm replay`` does: exactly and offline without ``overrides`` or
    ``prompts`` (key -> new template), else fork-and-rerun with them (the first differing call and all
    after go to ``model``: ``"test"``, LLLM's offline test model, by default). The new session is saved,
    tagged ``lllm.replay_of``."""
    from lllm.logging.replay import rerun

    rt = hooks.runtime()
    recorded = _load(store, session_id)
    invoker = None
    forking = bool(overrides or prompts)
    if forking:
        invoker, model = _fork_invoker(recorded, rt, hooks, overrides or {}, prompts or {}, model)
    try:
        new = rerun(
            recorded,
            runtime=rt,
            overrides=overrides or {},
            invoker=invoker,
            log_store=store,
            model=model,
            tags={"lllm.replay_of": recorded.session_id or ""},
            prompts=prompts or None,
        )
    except LLLMError as e:
        if forking or "Replay diverged" not in str(e):
            raise
        return {
            "replay_of": session_id,
            "reproduced": False,
            "session_id": None,
            "diverged_at": None,
            "diff": str(e),
            "same_delivery": False,
        }
    return _replayed(session_id, recorded, new, forking)


def fork_prompts(body: Dict[str, Any]) -> Dict[str, str]:
    """The edited prompts of a fork request: ``prompts`` ({prompt key: new template}, only changed ones)."""
    prompts = body.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()):
        raise BadRequest("prompts must map a prompt key (e.g. 'demo.prompts:ask') to its new template text")
    return dict(prompts)


def fork_overrides(
    body: Dict[str, Any], config: Dict[str, Any], hooks: Hooks, allow_empty: bool = False
) -> Dict[str, Any]:
    """Overrides from a fork request: ``system_prompts`` ({agent: text}, only changed ones) and ``overrides``
    (``KEY.PATH=VALUE`` lines, as ``lllm replay --override``); none at all is refused unless ``allow_empty``
    (the request edits a prompt instead)."""
    out: Dict[str, Any] = {}
    prompts = body.get("system_prompts") or {}
    if not isinstance(prompts, dict):
        raise BadRequest("system_prompts must map an agent name to its new system prompt")
    agents = {a.get("name"): a for a in config.get("agent_configs") or [] if isinstance(a, dict)}
    for name, text in prompts.items():
        if name not in agents:
            raise BadRequest(
                f"system_prompts: no agent {name!r} in the recorded config (agents: {sorted(map(str, agents))})"
            )
        if agents[name].get("system_prompt_path") and "system_prompt" not in agents[name]:
            raise BadRequest(
                f"system_prompts: agent {name!r} takes its system prompt from "
                f"{agents[name]['system_prompt_path']!r}; edit that prompt under prompts instead"
            )
        if text != agents[name].get("system_prompt"):
            out[f"agent_configs.{name}.system_prompt"] = text
    lines = body.get("overrides") or []
    if isinstance(lines, str):
        lines = [line for line in lines.splitlines() if line.strip()]
    for line in lines:
        try:
            out.update(hooks.parse_override(line, config))
        except Exception as e:  # CLIError: the message says what to send
            raise BadRequest(str(e)) from None
    if not out and not allow_empty:
        raise BadRequest(
            "Nothing to fork with: change a system prompt or a prompt, or add an override (KEY.PATH=VALUE)"
        )
    return out


def _lines(value: Any) -> List[str]:
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    )
    return text.splitlines()


def _dialog_text(view: Dict[str, Any]) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}

    def walk(node: Dict[str, Any], prefix: str) -> None:
        for d in node["dialogs"]:
            lines = []
            for m in d["messages"]:
                content = m.get("content")
                lines += [f"[{m.get('role')}] " + (content if isinstance(content, str) else json.dumps(content))]
                lines += [
                    f"  -> {c.get('name')}({json.dumps(c.get('arguments'), sort_keys=True)})"
                    for c in m.get("function_calls") or []
                ]
            out[f"{prefix}{d['agent']}/{d['alias']}"] = lines
        for sub in node["subs"]:
            walk(sub, f"{prefix}{sub['tool']}#{sub['index'] + 1}/")

    walk(view["tree"], "")
    return out


def compare(store: Any, a: str, b: str) -> Dict[str, Any]:
    """Two sessions side by side: their summaries and unified diffs of config, task, delivery and each dialog."""
    va, vb = session_view(store, a), session_view(store, b)
    diffs = []
    for what, x, y in (
        ("config", va["config"], vb["config"]),
        ("task", va["task"], vb["task"]),
        ("delivery", va["delivery"], vb["delivery"]),
    ):
        diffs.append({"what": what, "diff": "\n".join(difflib.unified_diff(_lines(x), _lines(y), a, b, lineterm=""))})
    da, db = _dialog_text(va), _dialog_text(vb)
    for key in sorted(set(da) | set(db)):
        diffs.append(
            {
                "what": f"dialog {key}",
                "diff": "\n".join(difflib.unified_diff(da.get(key, []), db.get(key, []), a, b, lineterm="")),
            }
        )
    return {"a": va, "b": vb, "diffs": diffs}


def export_html(store: Any, session_id: str) -> str:
    """One session as a single HTML file (styles, script and data inline) that opens offline."""
    data = json.dumps(session_view(store, session_id), ensure_ascii=False, default=str)
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    css = (STATIC / "app.css").read_text(encoding="utf-8")
    js = (STATIC / "app.js").read_text(encoding="utf-8").replace("</", "<\\/")
    page = page.replace('<link rel="stylesheet" href="static/app.css">', f"<style>\n{css}</style>")
    page = re.sub(
        r'<script src="static/app.js"></script>',
        lambda _: f'<script type="application/json" id="lllm-data">{data}</script>\n<script>\n{js}</script>',
        page,
    )
    return page


__all__ = [
    "BadRequest",
    "Hooks",
    "tactic_filter",
    "ListQuery",
    "SessionLister",
    "parse_query",
    "session_view",
    "replay",
    "session_prompts",
    "fork_prompts",
    "fork_overrides",
    "compare",
    "export_html",
    "SORTS",
]
