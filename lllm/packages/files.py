"""Reading a package's files: prompt front matter, data files, the folder walk, and which names a module imports."""

from __future__ import annotations

import dis
import os
import re
import types
from pathlib import Path
from typing import Any, Dict, Iterator, Set, Tuple

from lllm.errors import ConfigError, PackageError

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)
PROMPT_EXT = (".md", ".txt")
CONFIG_EXT = (".yaml", ".yml")

_IMPORT_OPS = {dis.opmap["IMPORT_NAME"], dis.opmap["IMPORT_FROM"]}
_STORE_OPS = {dis.opmap["STORE_NAME"], dis.opmap["STORE_GLOBAL"]}
_PASS_OPS = {dis.opmap[n] for n in ("POP_TOP", "SWAP", "ROT_TWO", "COPY", "CACHE", "NOP") if n in dis.opmap}
_EXTENDED_ARG = dis.opmap["EXTENDED_ARG"]


def imported_names(code: types.CodeType) -> Set[str]:
    """Names that the module's top-level code binds with ``import`` statements (read from its bytecode)."""
    names: Set[str] = set()
    raw, co_names, pending, ext = code.co_code, code.co_names, False, 0
    for i in range(0, len(raw), 2):
        op, arg = raw[i], raw[i + 1] | ext
        if op == _EXTENDED_ARG:
            ext = arg << 8
            continue
        ext = 0
        if op in _IMPORT_OPS:
            pending = True
        elif op in _STORE_OPS:  # the last binding decides: `x = x.extend(...)` after an import defines x here
            (names.add if pending else names.discard)(co_names[arg])
            pending = False
        elif op not in _PASS_OPS:
            pending = False
    return names


def split_front_matter(text: str, file: Path) -> Tuple[Dict[str, Any], str]:
    """``(metadata, template)`` of a prompt file with optional ``---`` YAML front matter."""
    m = FRONT_MATTER.match(text)
    if m is None:
        return {}, text
    from lllm.packages.yamlsafe import load_yaml

    try:
        meta = load_yaml(m.group(1), f"{file}: front matter") or {}
    except ConfigError as e:
        raise PackageError(str(e)) from None
    if not isinstance(meta, dict):
        raise PackageError(f"{file}: front matter must be a mapping, got {type(meta).__name__}")
    return meta, text[m.end() :]


def read_data_file(path: Path) -> Any:
    """A custom resource file's value: JSON, YAML (safe, bounded: ``lllm.packages.yamlsafe``) and TOML are parsed,
    each at most ``MAX_YAML_BYTES``; anything else is bytes."""
    from lllm.packages.yamlsafe import load_yaml_file, read_text_capped

    suffix = path.suffix.lower()
    if suffix in CONFIG_EXT:
        return load_yaml_file(path)
    if suffix not in (".json", ".toml"):
        return path.read_bytes()
    text = read_text_capped(path)
    try:
        if suffix == ".json":
            import json

            return json.loads(text)
        from lllm.packages.manifest import parse_toml

        return parse_toml(text)
    except (ValueError, RecursionError) as e:  # a missing TOML parser (ImportError) is not the file's fault
        raise ConfigError(f"{path}: cannot parse {suffix[1:].upper()}: {e}") from None


def walk_files(root: Path, rel: Tuple[str, ...] = ()) -> Iterator[Tuple[Path, Tuple[str, ...]]]:
    """Files under ``root`` in name order, skipping ``_*``, ``.*`` (and so ``__pycache__``)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(("_", ".")):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from walk_files(Path(entry.path), rel + (entry.name,))
        elif entry.is_file():
            yield Path(entry.path), rel + (entry.name,)


__all__ = ["imported_names", "split_front_matter", "read_data_file", "walk_files", "PROMPT_EXT", "CONFIG_EXT"]
