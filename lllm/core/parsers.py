"""Output parsers: turn a model's text into a dict, or raise ``ParseError`` so the agent loop retries."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any, Dict, Iterable, List, Optional, Pattern, Tuple

from lllm.errors import ParseError

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


class BaseParser(ABC):
    """A parser: ``parse(content, **runtime_args) -> dict``, raising ``ParseError`` on bad output."""

    @abstractmethod
    def parse(self, content: str, **runtime_args: Any) -> Dict[str, Any]:
        """Parse ``content``; ``runtime_args`` come from ``respond(parser_args=...)``."""

    def __call__(self, content: str, **runtime_args: Any) -> Dict[str, Any]:
        return self.parse(content, **runtime_args)


def fenced_blocks(content: str) -> List[Tuple[str, str]]:
    """``(info string, body)`` of every top-level fenced code block (fences nested inside one are body).

    A fence closes on a line of the same character at least as long; an unclosed one runs to the end."""
    blocks: List[Tuple[str, str]] = []
    opener: Optional[str] = None
    info, body = "", []  # type: str, List[str]
    for line in content.splitlines():
        m = _FENCE.match(line)
        if opener is None:
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                opener, info, body = m.group(1), m.group(2).strip(), []
        elif m and m.group(1)[0] == opener[0] and len(m.group(1)) >= len(opener) and not m.group(2).strip():
            blocks.append((info, "\n".join(body)))
            opener = None
        else:
            body.append(line)
    if opener is not None:
        blocks.append((info, "\n".join(body)))
    return blocks


class DefaultTagParser(BaseParser):
    """Extracts ``<tag>…</tag>`` blocks, fenced ```` ```tag ```` blocks and ``<SIGNAL>`` markers.

    Listed tags are optional (missing → ``[]``); ``required_*`` tags must occur at least once.
    The result always has the keys ``raw``, ``xml_tags``, ``md_tags`` and ``signal_tags``."""

    _TAG_ARGS = ("xml_tags", "md_tags", "signal_tags", "required_xml_tags", "required_md_tags")

    def __init__(
        self,
        xml_tags: Iterable[str] = (),
        md_tags: Iterable[str] = (),
        signal_tags: Iterable[str] = (),
        required_xml_tags: Iterable[str] = (),
        required_md_tags: Iterable[str] = (),
        parser_args: Optional[Dict[str, Any]] = None,
    ):
        self.xml_tags = list(xml_tags)
        self.md_tags = list(md_tags)
        self.signal_tags = list(signal_tags)
        self.required_xml_tags = list(required_xml_tags)
        self.required_md_tags = list(required_md_tags)
        self.parser_args = dict(parser_args or {})
        self._xml_patterns: Dict[str, Pattern[str]] = {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._TAG_ARGS if getattr(self, k))
        return f"{type(self).__name__}({args})"

    @property
    def all_xml_tags(self) -> List[str]:
        """Every XML tag extracted: the listed ones, then required ones not listed."""
        return _union(self.xml_tags, self.required_xml_tags)

    @property
    def all_md_tags(self) -> List[str]:
        return _union(self.md_tags, self.required_md_tags)

    def _xml_pattern(self, tag: str) -> Pattern[str]:
        pattern = self._xml_patterns.get(tag)
        if pattern is None:
            pattern = self._xml_patterns[tag] = re.compile(f"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", re.DOTALL)
        return pattern

    def parse(self, content: str, **runtime_args: Any) -> Dict[str, Any]:
        """Extract every tag; one ``ParseError`` lists all missing required tags with their syntax.

        ``parser_args`` and ``runtime_args`` may override the tag lists for this call."""
        spec = self
        overrides = {k: v for k, v in {**self.parser_args, **runtime_args}.items() if k in self._TAG_ARGS}
        if overrides:
            spec = DefaultTagParser(**{k: overrides.get(k, getattr(self, k)) for k in self._TAG_ARGS})
            spec._xml_patterns = self._xml_patterns
        xml = {t: [b.strip() for b in spec._xml_pattern(t).findall(content)] for t in spec.all_xml_tags}
        md: Dict[str, List[str]] = {}
        md_names = spec.all_md_tags
        if md_names:
            blocks = fenced_blocks(content)
            md = {t: [body.strip() for info, body in blocks if info.startswith(t)] for t in md_names}
        problems = [
            f"Missing required XML tag <{t}>: write it as <{t}>...</{t}>" for t in spec.required_xml_tags if not xml[t]
        ]
        problems += [
            f"Missing required markdown block '{t}': write it as a fenced block ```{t} ... ```"
            for t in spec.required_md_tags
            if not md[t]
        ]
        if problems:
            raise ParseError("\n".join(problems), detail=content)
        return {
            "raw": content,
            "xml_tags": xml,
            "md_tags": md,
            "signal_tags": {t: f"<{t}>" in content for t in spec.signal_tags},
        }


def _union(first: List[str], second: List[str]) -> List[str]:
    return first + [t for t in second if t not in first]


__all__ = ["BaseParser", "DefaultTagParser", "fenced_blocks"]
