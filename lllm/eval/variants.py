"""Variants: a name plus the changes it makes to a run (dotted config overrides, prompt texts, a model).

On the command line a variant is ``NAME:KEY=VALUE`` (repeat the name to add changes): ``KEY`` is a
dotted config path as in ``lllm replay --override`` (``b:agent_configs.writer.system_prompt=Be terse.``),
``prompts.<PROMPT_KEY>`` replaces a prompt template, ``model`` runs every agent on a model and ``config``
starts from another config profile (data sets only). Values are read as YAML scalars."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional

from pydantic import BaseModel, Field

from lllm.errors import ConfigError

BASELINE = "baseline"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class VariantError(ConfigError):
    """A variant that cannot be read or applied; the message names it and shows the expected form."""


class Variant(BaseModel):
    """One side of a comparison. The baseline has no changes."""

    name: str
    overrides: Dict[str, Any] = Field(default_factory=dict)
    prompts: Dict[str, str] = Field(default_factory=dict)
    model: Optional[str] = None
    config: Optional[str] = None

    @property
    def is_baseline(self) -> bool:
        return self.name == BASELINE

    def apply(self, config: Dict[str, Any]) -> Dict[str, Any]:
        """``config`` with this variant's overrides applied (``apply_overrides``); errors name the variant."""
        from lllm.logging.forks import apply_overrides

        if not self.overrides:
            return config
        try:
            return apply_overrides(config, self.overrides)
        except ConfigError as e:
            raise VariantError(f"variant '{self.name}': {e}") from None

    def describe(self) -> str:
        """The changes as one line, e.g. ``agent_configs.writer.system_prompt='Be terse.', model=gpt-4o``."""
        parts = [f"{k}={v!r}" for k, v in self.overrides.items()]
        parts += [f"prompts.{k}={_clip(v)!r}" for k, v in self.prompts.items()]
        parts += [f"model={self.model}"] if self.model else []
        parts += [f"config={self.config}"] if self.config else []
        return ", ".join(parts) or "(no changes)"


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n] + "..."


def parse_variant(text: str) -> Variant:
    """``NAME:KEY=VALUE`` as a one-change ``Variant``; raises ``VariantError`` saying what is wrong."""
    name, colon, change = text.partition(":")
    key, eq, raw = change.partition("=")
    key = key.strip()
    if not colon or not eq or not key:
        raise VariantError(
            f"--variant {text!r}: expected NAME:KEY=VALUE, e.g. "
            f"b:agent_configs.writer.system_prompt='Be terse.', b:model=gpt-4o-mini or b:prompts.pkg/ask='...'"
        )
    name = name.strip()
    if not _NAME.match(name) or name == BASELINE:
        raise VariantError(
            f"--variant {text!r}: the name {name!r} is not usable; use letters, digits, '_', '-' or '.' "
            f"(and not '{BASELINE}', the name of the unchanged side)"
        )
    if any(not k for k in key.split(".")):
        raise VariantError(f"--variant {text!r}: {key!r} is not a dotted path such as global.model_name")
    if key.startswith("prompts."):
        return Variant(name=name, prompts={key[len("prompts.") :]: raw})
    if key in ("model", "config"):
        if not raw.strip():
            raise VariantError(f"--variant {text!r}: {key} needs a value, e.g. {name}:{key}=NAME")
        return Variant(name=name, model=raw.strip()) if key == "model" else Variant(name=name, config=raw.strip())
    from lllm.logging.forks import override_value

    return Variant(name=name, overrides={key: override_value(raw, f"--variant {name}:{key}")})


def parse_variants(texts: Iterable[str]) -> List[Variant]:
    """Variants from ``NAME:KEY=VALUE`` texts, changes of one name merged, in first-seen order."""
    out: Dict[str, Variant] = {}
    for text in texts:
        v = parse_variant(text)
        have = out.get(v.name)
        if have is None:
            out[v.name] = v
            continue
        for field, new in (("model", v.model), ("config", v.config)):
            old = getattr(have, field)
            if new is not None and old is not None and old != new:
                raise VariantError(f"variant '{v.name}' sets {field} twice ({old!r} and {new!r}); keep one")
            if new is not None:
                setattr(have, field, new)
        have.overrides.update(v.overrides)
        have.prompts.update(v.prompts)
    return list(out.values())


def check_variants(variants: List[Variant]) -> List[Variant]:
    """``variants`` after checking there is at least one and no two share a name."""
    if not variants:
        raise VariantError("no variant to compare with the baseline: pass --variant NAME:KEY=VALUE (repeatable)")
    names = [v.name for v in variants]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise VariantError(f"variant names must be unique; repeated: {dup}")
    for v in variants:
        if v.is_baseline:
            raise VariantError(f"'{BASELINE}' names the unchanged side; give the variant another name")
        if not (v.overrides or v.prompts or v.model or v.config):
            raise VariantError(f"variant '{v.name}' changes nothing; give it overrides, prompts, a model or a config")
    return variants


__all__ = ["BASELINE", "Variant", "VariantError", "parse_variant", "parse_variants", "check_variants"]
