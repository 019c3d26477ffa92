"""Re-running recorded sessions for an evaluation, and what each side ran: its fingerprint, the finished
runs a resumed evaluation reuses, the invoker it is given."""

from __future__ import annotations

import dataclasses
import inspect
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, Union, cast

from lllm.errors import ConfigError
from lllm.eval.datasets import Case, DatasetError
from lllm.eval.variants import Variant, VariantError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.invokers.base import BaseInvoker

InvokerArg = Union["BaseInvoker", Callable[..., "BaseInvoker"], None]
"""An invoker, or a function of the variant (and its config) that gives one; ``None``: the config's provider."""

VARIANT_MD5 = "lllm.eval_variant_md5"  # session tag: what a side ran; reused runs must have run the same


def rerun_md5(v: Variant, model: Optional[str]) -> str:
    """A fingerprint of what a side changes (its variant's overrides, prompts, config and model)."""
    from lllm.core.batch import task_md5
    from lllm.logging.redact import redact

    return task_md5(redact({"variant": v.model_dump(mode="json", exclude={"name"}), "model": v.model or model}))


def invoker_for(invoker: InvokerArg, variant: Variant, config: Dict[str, Any]) -> Optional["BaseInvoker"]:
    """``invoker`` itself, or what a factory gives: ``invoker(variant)`` or ``invoker(variant, config)``
    (``config``: the variant's config); ``None`` means the provider the config names."""
    if invoker is None or hasattr(invoker, "call"):
        return cast(Optional["BaseInvoker"], invoker)
    try:
        positional = [
            p
            for p in inspect.signature(invoker).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
    except (TypeError, ValueError):
        positional = []
    two = len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in positional)
    return invoker(variant, config) if two else invoker(variant)


def session_case(value: Any, index: int) -> Tuple[Case, Any]:
    """A recorded session (or its id, or a ``Case``) as ``(case, session or None)``."""
    from lllm.core.sessions import TacticCallSession

    if isinstance(value, TacticCallSession):
        return Case(id=value.session_id or str(index), session_id=value.session_id), value
    if isinstance(value, Case):
        return value, None
    if isinstance(value, str):
        return Case(id=value, session_id=value), None
    raise DatasetError(
        f"sessions[{index}] is a {type(value).__name__}; pass TacticCallSession objects or session ids with store=..."
    )


def recorded_session(case: Case, recorded: Any, store: Any) -> Any:
    """``case``'s recorded session: ``recorded`` when given, else loaded from ``store`` by id."""
    if recorded is not None:
        return recorded
    if store is None:
        raise DatasetError(f"session {case.session_id}: pass store=... to load sessions by id")
    return store.load_session(case.session_id)


def same_sides(store: Any, eval_id: str, md5s: Dict[str, str]) -> None:
    """Refuse to resume ``eval_id`` when one of its sides ran with other changes than it has now (its
    finished runs would be reused as this side's); runs recorded without a fingerprint are taken as they are."""
    if store is None:
        return
    for r in store.list_sessions(tags={"lllm.eval_id": eval_id}, limit=None):
        side, was = r.tags.get("lllm.eval_variant", ""), r.tags.get(VARIANT_MD5)
        if was is not None and side in md5s and was != md5s[side]:
            raise VariantError(
                f"evaluation '{eval_id}' ran '{side}' with other changes (overrides, prompts, config or model) than "
                f"it has now, and would reuse those runs; start a new evaluation with another --eval-id (eval_id=...)"
            )


def finished_reruns(store: Any, eval_id: str) -> Dict[Tuple[str, str], str]:
    """(case id, variant) -> session id of each run of ``eval_id`` in ``store`` that finished."""
    if store is None:
        return {}
    rows = store.list_sessions(tags={"lllm.eval_id": eval_id}, state="success", limit=None)
    return {(r.tags.get("lllm.eval_case", ""), r.tags.get("lllm.eval_variant", "")): r.session_id for r in rows}


@dataclasses.dataclass
class Reruns:
    """How an evaluation re-runs recorded sessions; ``done``: (case, variant) -> session id of the re-runs an
    earlier run of the same ``eval_id`` finished; ``md5s``: each variant's fingerprint (``rerun_md5``)."""

    store: Any
    tactic: Any
    runtime: Any
    model: Optional[str]
    invoker: Any
    live_tools: bool
    eval_id: str
    done: Dict[Tuple[str, str], str]
    md5s: Dict[str, str]

    def run(self, recorded: Any, case: Case, v: Variant) -> Tuple[Any, Optional[BaseException]]:
        """``(re-run session or None, its exception)`` of ``recorded`` under ``v``; a finished one is reused."""
        from lllm.logging.forks import recorded_tactic, without_redacted
        from lllm.logging.replay import rerun

        sid = self.done.get((case.id, v.name))
        if sid is not None:
            return self.store.load_session(sid), None
        recorded_tactic(recorded, self.tactic, self.runtime)  # a tactic that cannot be found stops the evaluation
        config = v.apply(without_redacted(recorded.config))
        inv = invoker_for(self.invoker, v, config)
        if inv is None:
            from lllm.invokers.base import build_invoker

            inv = build_invoker(config)
        extra: Dict[str, Any] = {}
        if v.prompts:
            extra["prompts"] = v.prompts
        if self.live_tools:
            extra["live_tools"] = True
        tags = {
            "lllm.replay_of": recorded.session_id or "",
            "lllm.eval_id": self.eval_id,
            "lllm.eval_variant": v.name,
            "lllm.eval_case": case.id,
            VARIANT_MD5: self.md5s[v.name],
        }
        try:
            new = rerun(
                recorded,
                tactic=self.tactic,
                runtime=self.runtime,
                overrides=v.overrides,
                invoker=inv,
                log_store=self.store,
                tags=tags,
                model=v.model or self.model,
                **extra,
            )
        except VariantError:
            raise
        except ConfigError as e:  # a bad override or prompt key: the variant is wrong, say so
            raise VariantError(f"variant '{v.name}': {e}") from None
        except Exception as e:  # noqa: BLE001 - a failing re-run is an outcome of the variant, not of the evaluation
            return None, e
        return new, None


__all__ = [
    "VARIANT_MD5",
    "Reruns",
    "rerun_md5",
    "same_sides",
    "finished_reruns",
    "invoker_for",
    "InvokerArg",
    "session_case",
    "recorded_session",
]
