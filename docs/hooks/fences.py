"""MkDocs hook: strip the test markers from code fences before rendering.

``tests/docs/test_examples.py`` reads markers in a fence's info string, e.g. ```` ```python {test="skip"} ````
or ```` ```toml {file="pkg/lllm.toml"} ```` (see ``docs/contributing-docs.md``). Readers should not see them:
``test`` markers are dropped and a ``file`` marker becomes the block's title."""
from __future__ import annotations

import re

FENCE = re.compile(r'^(?P<indent> *)(?P<ticks>```+)(?P<lang>[\w+-]+) *\{(?P<attrs>[^}]*)\} *$', re.M)
ATTR = re.compile(r'(\w+)="([^"]*)"')


def _strip(m: re.Match) -> str:
    attrs = dict(ATTR.findall(m.group("attrs")))
    head = f"{m.group('indent')}{m.group('ticks')}{m.group('lang')}"
    if "file" in attrs:
        head += f' title="{attrs["file"]}"'
    return head


def on_page_markdown(markdown: str, page, config, files) -> str:
    return FENCE.sub(_strip, markdown)
