"""Forking a recorded session: the tactic that recorded it, and what a fork changes (prompt edits checked
against the recording, config overrides by dotted path or merge)."""

from __future__ import annotations

import copy
import difflib
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from lllm.core.dialog import prompt_key
from lllm.core.sessions import TacticCallSession
from lllm.errors import ConfigError, LLLMError


# ---------------------------------------------------------------------------------------------
# Edited prompts for a re-run
# ---------------------------------------------------------------------------------------------
@dataclass
class PromptUse:
    """A prompt a recorded session rendered (or its runtime offers): its key, the prompt object when it
    can be found (runtime, else the tactic's module), its template and the argument names of each render."""

    key: str
    prompt: Any = None
    template: Optional[str] = None
    hash: Optional[str] = None
    arg_sets: List[frozenset[str]] = field(default_factory=list)
    agents: List[str] = field(default_factory=list)

    def allowed_args(self) -> Optional[frozenset[str]]:
        """The placeholder names every render supplies (those of the original template if never rendered)."""
        if self.arg_sets:
            return frozenset.intersection(*self.arg_sets)
        if self.prompt is not None and self.prompt._template()[0] is not None:
            return frozenset(self.prompt.template_vars)
        return None


def _tactic_modules(cls: Any) -> List[Any]:
    names = []
    for klass in getattr(cls, "__mro__", (type(cls),)):
        mod = getattr(klass, "__module__", None)
        if mod and not mod.startswith("lllm.") and mod not in names and mod != "builtins":
            names.append(mod)
    return [sys.modules[n] for n in names if n in sys.modules]


def session_prompts(
    session: Union[TacticCallSession, Dict[str, Any]], *, runtime: Any = None, tactic: Any = None
) -> Dict[str, PromptUse]:
    """Every prompt the recorded session rendered, by the key its messages carry (``prompt_key``), with its
    current template: from ``runtime``, else a module-level ``Prompt`` of the tactic's module, else the
    dialog's top-prompt snapshot. Agents' system prompts are included (inline ones as ``_inline/<agent>/system``)."""
    from lllm.core.prompt import Prompt

    if isinstance(session, dict):
        session = TacticCallSession.model_validate(session)
    uses: Dict[str, PromptUse] = {}
    snapshots: Dict[str, str] = {}

    def walk(s: TacticCallSession) -> None:
        for agent, dialogs in s.dialogs.items():
            for d in dialogs:
                snap = d.get("top_prompt_snapshot") or {}
                if d.get("top_prompt_path") and isinstance(snap.get("template"), str):
                    snapshots.setdefault(d["top_prompt_path"], snap["template"])
                for m in d.get("messages") or ():
                    meta = (m.get("metadata") if isinstance(m, dict) else None) or {}
                    key = meta.get("prompt_key")
                    if not key:
                        continue
                    use = uses.setdefault(key, PromptUse(key, hash=meta.get("prompt_hash")))
                    args = meta.get("prompt_args")
                    use.arg_sets.append(frozenset(args) if isinstance(args, dict) else frozenset())
                    if agent not in use.agents:
                        use.agents.append(agent)
        for subs in s.sub_tactic_sessions.values():
            for sub in subs:
                walk(sub)

    walk(session)
    module_prompts: Dict[str, Any] = {}
    for mod in _tactic_modules(tactic) if tactic is not None else ():
        for value in vars(mod).values():
            if isinstance(value, Prompt):
                module_prompts.setdefault(prompt_key(value) or value.path, value)
    for key, use in uses.items():
        found = runtime.find_node(key, "prompt") if runtime is not None else None
        use.prompt = found.value if found is not None else module_prompts.get(key)
        use.template = use.prompt.prompt if use.prompt is not None else snapshots.get(key)
    return uses


def resolve_prompt_key(key: str, uses: Dict[str, PromptUse], runtime: Any) -> PromptUse:
    """The prompt ``key`` names: a recorded key, a runtime key (resolved as the runtime resolves it) or a
    short path that only one known prompt has."""
    if key in uses:
        return uses[key]
    node = None
    if runtime is not None:
        try:
            node = runtime.get_node(key, "prompt")
        except (KeyError, TypeError, ValueError):
            node = None
    if node is not None:
        return uses.get(node.qualified_key) or PromptUse(
            node.qualified_key, node.value, node.value.prompt, node.value.prompt_hash
        )
    known = {u.key: u for u in uses.values()}
    if runtime is not None:
        for n in runtime.iter_nodes("prompt"):
            known.setdefault(n.qualified_key, PromptUse(n.qualified_key, n.value, n.value.prompt, n.value.prompt_hash))
    matches = [u for k, u in known.items() if k.split(":", 1)[-1] == key or getattr(u.prompt, "path", None) == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(
            f"prompt {key!r} is ambiguous: it is the short path of {sorted(u.key for u in matches)}; use the full key"
        )
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.5)
    raise ConfigError(
        f"prompt {key!r}: no such prompt in the recorded session or the runtime. "
        + (f"Did you mean {close}? " if close else "")
        + f"The session rendered: {sorted(uses) or 'no prompt'}"
    )


@dataclass
class PromptEdit:
    """One checked prompt edit of a re-run: the key its renders carry and the new template."""

    key: str
    template: str
    original: Any = None


def prompt_edits(
    session: Union[TacticCallSession, Dict[str, Any]],
    prompts: Dict[str, str],
    *,
    runtime: Any = None,
    tactic: Any = None,
) -> Dict[str, PromptEdit]:
    """``prompts`` (key or unambiguous short path -> new template) checked against the recording, by the key
    the re-run's renders will carry. ``ConfigError`` names the key when it names no prompt, when the new
    template does not parse, uses a placeholder the tactic never supplies, or changes nothing."""
    from lllm.core.prompt import Prompt
    from lllm.packages.runtime import get_default_runtime

    if isinstance(session, dict):
        session = TacticCallSession.model_validate(session)
    runtime = runtime if runtime is not None else get_default_runtime()  # where the re-run's Tactic looks
    if tactic is None:
        try:
            tactic = recorded_tactic(session, None, runtime)
        except LLLMError:
            tactic = None
    uses = session_prompts(session, runtime=runtime, tactic=tactic)
    out: Dict[str, PromptEdit] = {}
    for given, text in prompts.items():
        if not isinstance(text, str):
            raise ConfigError(f"prompt {given!r}: the new template must be text, got {type(text).__name__}")
        use = resolve_prompt_key(given, uses, runtime)
        base = use.prompt
        try:
            trial = (
                base.extend(path=base.path, prompt=text)
                if base is not None
                else Prompt(path=use.key.split(":", 1)[-1] or "edited", prompt=text)
            )
        except (ValueError, TypeError) as e:
            raise ConfigError(
                f"prompt {use.key!r}: the new template does not parse ({e}); write literal braces as '{{{{' and '}}}}'"
            ) from None
        if text == use.template or (use.template is None and trial.prompt_hash == use.hash):
            raise ConfigError(f"prompt {use.key!r}: the new template is the recorded one; edit its text")
        allowed = use.allowed_args()
        names = trial._template()[0]
        extra = sorted(set(names or ()) - set(allowed)) if allowed is not None else []
        if extra:
            raise ConfigError(
                f"prompt {use.key!r}: the new template uses placeholder(s) {extra} that the tactic does not "
                f"supply when it renders this prompt (it passes {sorted(allowed or ()) or 'none'}); use only "
                f"those, or write literal braces as '{{{{' and '}}}}'"
            )
        if use.key in out:
            raise ConfigError(f"prompt {given!r}: {use.key!r} is edited twice in one re-run; give it once")
        out[use.key] = PromptEdit(use.key, text, base)
    return out


class PromptSubstitute:
    """The ``prompt_substitute`` of one re-run: a prompt whose key is edited is replaced by a copy with the
    new template (one copy per original, so handlers' derived prompts stay cached); others pass unchanged."""

    def __init__(self, edits: Dict[str, PromptEdit]):
        self.edits = edits
        self._copies: Dict[int, Tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, prompt: Any) -> Any:
        edit = self.edits.get(prompt_key(prompt) or "")
        if edit is None or prompt.prompt == edit.template:
            return prompt
        with self._lock:
            kept = self._copies.get(id(prompt))
            if kept is None or kept[0] is not prompt:
                edited = prompt.extend(path=prompt.path, prompt=edit.template)
                for attr in ("qualified_key", "home_dir"):  # set on registered prompts, not fields of Prompt
                    if attr in vars(prompt):
                        setattr(edited, attr, vars(prompt)[attr])
                kept = self._copies[id(prompt)] = (prompt, edited)
        return kept[1]


def set_path(config: Dict[str, Any], path: str, value: Any) -> Dict[str, Any]:
    """A copy of ``config`` with the dotted ``path`` set to ``value``; ``agent_configs.<name>.key``
    addresses the agent entry called ``name`` (a list in the config), as the CLI's ``--override`` does."""
    keys = [k for k in path.split(".")]
    if not path or any(not k for k in keys):
        raise ConfigError(
            f"override {path!r}: expected a dotted path such as 'global.model_name' or "
            f"'agent_configs.writer.system_prompt'"
        )
    out = copy.deepcopy(config)
    target: Any = out
    for i, k in enumerate(keys[:-1]):
        if isinstance(target, list):  # agent_configs: pick the entry by name
            entry = next((e for e in target if isinstance(e, dict) and e.get("name") == k), None)
            if entry is None:
                names = [e.get("name") for e in target if isinstance(e, dict)]
                raise ConfigError(f"override {path!r}: no agent '{k}' in {'.'.join(keys[:i])} (agents: {names})")
            target = entry
            continue
        if not isinstance(target, dict):
            raise ConfigError(f"override {path!r}: '{'.'.join(keys[:i])}' is a {type(target).__name__}, not a mapping")
        nxt = target.get(k)
        if nxt is None:
            nxt = target[k] = {}
        target = nxt
    if not isinstance(target, dict):
        raise ConfigError(f"override {path!r}: '{'.'.join(keys[:-1])}' is a {type(target).__name__}, not a mapping")
    target[keys[-1]] = value
    return out


def override_value(raw: str, where: str) -> Any:
    """An override's text (``--override``, ``--variant``) as a YAML value (``0.2``, ``true``, ``'quoted'``, flow
    ``[a, b]``/``{k: v}``); plain text that YAML would read as a mapping or a list, cut at a `` #`` comment, or
    refuse stays the text (a prompt sentence). ``where`` names the option in YAML's errors."""
    from lllm.packages.yamlsafe import load_yaml

    text = raw.strip()
    if not text:
        return ""
    if text.startswith(("{", "[", "'", '"')):
        return load_yaml(raw, where)
    try:
        value = load_yaml(raw, where)
    except ConfigError:
        return text
    return text if isinstance(value, (dict, list)) or (isinstance(value, str) and value != text) else value


def apply_overrides(config: Dict[str, Any], overrides: Dict[str, Any]) -> Dict[str, Any]:
    """``config`` with ``overrides`` applied: a key with dots is a path (``set_path``), any other key is
    merged as ``base`` inheritance merges (``merge_configs``: agent entries by name). An override that leaves the config as it was raises ``ConfigError``: a fork that
    silently reproduces its parent is never what was meant."""
    from lllm.packages.config import merge_configs

    out = config
    for key, value in overrides.items():
        before = out
        if isinstance(key, str) and "." in key:
            out = set_path(out, key, value)
        else:
            out = merge_configs(out, {key: value})
        if out == before:
            raise ConfigError(
                f"override {key!r} = {value!r} changes nothing: the recorded config already has "
                f"that value. Check the path (e.g. 'agent_configs.writer.system_prompt') and value."
            )
    return out


def recorded_tactic(session: TacticCallSession, tactic: Any = None, runtime: Any = None) -> Any:
    """The tactic class that recorded ``session`` (``tactic`` if given), looked up in ``runtime`` (else the
    default); ``LLLMError`` naming the tactic path when none is registered."""
    if tactic is not None:
        return tactic
    from lllm.core.tactic import stable_tactic_id
    from lllm.packages.runtime import get_default_runtime

    rt = runtime or get_default_runtime()
    for node in rt.iter_nodes("tactic"):
        cls = node.value
        if stable_tactic_id(node.namespace, cls.name) == session.tactic_path or node.key == session.tactic_path:
            return cls
    raise LLLMError(
        f"Cannot re-run session {session.session_id}: no tactic '{session.tactic_path}' is registered "
        f"in runtime '{rt.name}'. Load its package (load_runtime) or pass tactic=...; from the command line "
        f"(lllm replay, lllm ui), run in the folder of the project that defines it or set $LLLM_CONFIG to its "
        f"lllm.toml"
    )


def without_redacted(value: Any) -> Any:
    """The recorded config minus redacted secrets, so a re-run reads keys from the environment again."""
    if isinstance(value, dict):
        return {k: without_redacted(v) for k, v in value.items() if v != "[REDACTED]"}
    if isinstance(value, list):
        return [without_redacted(v) for v in value]
    return value


__all__ = [
    "PromptEdit",
    "PromptSubstitute",
    "PromptUse",
    "apply_overrides",
    "override_value",
    "prompt_edits",
    "recorded_tactic",
    "session_prompts",
    "resolve_prompt_key",
    "set_path",
    "without_redacted",
]
