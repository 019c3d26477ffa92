"""MkDocs hook: generate the CLI reference page (``cli.md``) from ``lllm.cli.build_parser()`` at build time.

The page is never written to disk, so it cannot go stale: every build renders the parser as it is."""
from __future__ import annotations

import argparse
from typing import Iterator, List, Tuple

from mkdocs.structure.files import File, Files

SRC_URI = "cli.md"
WIDTH = 100

INTRO = """# CLI reference

The `lllm` command runs tactics, lists resources, manages packages and inspects recorded sessions.
This page is generated from the command's argument parser (`lllm.cli.build_parser`) each time the
documentation is built, so it always matches `lllm COMMAND --help`.

Errors print `Error: <message>` on stderr and exit with status 1; usage errors exit with status 2.
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=WIDTH)


def walk(parser: argparse.ArgumentParser, path: Tuple[str, ...] = ("lllm",)) -> Iterator[Tuple[Tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser and sub-parser, depth first, with its command path."""
    yield path, parser
    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, path + (name,))


def render() -> str:
    """The Markdown of the CLI reference."""
    from lllm.cli import build_parser
    parser = build_parser()
    out: List[str] = [INTRO]
    for path, p in walk(parser):
        p.formatter_class = _formatter
        depth = min(len(path) + 1, 4)
        out.append(f"{'#' * depth} `{' '.join(path)}`\n")
        out.append("```text\n" + p.format_help().rstrip() + "\n```\n")
    return "\n".join(out)


def on_files(files: Files, config) -> Files:
    existing = files.get_file_from_path(SRC_URI)
    if existing is not None:
        files.remove(existing)
    files.append(File.generated(config, SRC_URI, content=render()))
    return files
