"""``lllm.toml`` manifests: reading and validating one, and finding the project's manifest.

A manifest names a package and lists its resource sections and dependencies (§6.1). Every problem
names the file and the key; structural problems in one entry are reported through ``warn`` (a
warning, or an error in strict mode) and the entry is skipped, so the rest still loads."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from lllm.errors import PackageError

MANIFEST_NAMES = ("lllm.toml", ".lllm.toml", "LLLM.toml")
STANDARD_SECTIONS = ("prompts", "tools", "proxies", "configs", "tactics")
NAME_RE = re.compile(r"[a-z0-9_-]+\Z")
_SECTION_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")
_UNDER = re.compile(r"(.+?)\s+under\s+(\S+)\Z")
_AS = re.compile(r"(.+?)\s+as\s+(\S+)\Z")
_SECTION_KEYS = {"paths", "folders"}
MAX_MANIFEST_BYTES = 1024 * 1024

Warn = Callable[[str], None]


@dataclass
class PathEntry:
    """One folder of a section: where it is, the ``under`` prefix, and where it was declared."""

    path: Path
    prefix: str = ""
    where: str = ""


@dataclass
class Dependency:
    path: Path
    alias: Optional[str] = None
    where: str = ""


@dataclass
class Manifest:
    file: Path
    name: str
    version: str = ""
    description: str = ""
    sections: Dict[str, List[PathEntry]] = field(default_factory=dict)
    dependencies: List[Dependency] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.file.parent


def parse_toml(text: str) -> Dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except RecursionError:  # a hostile file nesting thousands of arrays or tables
        raise ValueError("it nests too deeply to parse") from None


def check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise PackageError(
            f"{what} {name!r} is not a valid package name: use lower-case letters, digits, '_' and '-' ([a-z0-9_-]+)"
        )
    return name


def unnamed_problem(where: str, what: str, name: str) -> str:
    """The message for a manifest without ``[package].name`` whose fallback name (the ``what``'s name) is invalid."""
    fix = re.sub(r"[^a-z0-9_-]", "_", name.lower()) or "my_package"
    return (
        f"{where} [package].name is not set, and the {what} name {name!r} is not a valid package name "
        f"(lower-case letters, digits, '_' and '-'); set one in the manifest, e.g. [package] name = \"{fix}\""
    )


def normalize_prefix(prefix: Any, where: str) -> str:
    """A ``under`` prefix as ``a/b`` (no leading or trailing '/'); traversal or odd characters are refused."""
    if not isinstance(prefix, str):
        raise PackageError(f"{where}: the prefix must be a string, got {type(prefix).__name__}")
    parts = [p for p in prefix.strip().strip("/").split("/") if p]
    for p in parts:
        if p in (".", "..") or not _PREFIX_SEGMENT.match(p):
            raise PackageError(
                f"{where}: invalid prefix {prefix!r} (use '/'-separated names of letters, digits, '.', '_' and '-')"
            )
    return "/".join(parts)


def read_manifest(file: Path, warn: Warn, default_name: Optional[str] = None) -> Manifest:
    """Parse and validate ``file``. Raises ``PackageError`` for unreadable TOML or a bad package name."""
    file = Path(file)
    try:
        with open(file, "rb") as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as e:
        raise PackageError(f"{file}: cannot read the manifest: {e}") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise PackageError(f"{file}: the manifest is larger than {MAX_MANIFEST_BYTES:,} bytes")
    try:
        data = parse_toml(raw.decode("utf-8"))
    except ValueError as e:  # tomllib.TOMLDecodeError, UnicodeDecodeError
        raise PackageError(f"{file}: invalid TOML: {e}") from None
    return manifest_from_dict(data, file, warn, default_name)


def manifest_from_dict(data: Dict[str, Any], file: Path, warn: Warn, default_name: Optional[str] = None) -> Manifest:
    root = file.parent
    pkg = data.get("package", {})
    if not isinstance(pkg, dict):
        raise PackageError(f"{file}: [package] must be a table, got {type(pkg).__name__}")
    name = pkg.get("name", default_name if default_name is not None else root.name)
    if "name" in pkg:
        check_name(name, f"{file}: [package].name")
    elif not NAME_RE.match(name):  # the culprit is the folder's name, and the fix is to set one
        raise PackageError(unnamed_problem(f"{file}:", "folder", name))
    version, description = pkg.get("version", ""), pkg.get("description", "")
    for key, value in (("version", version), ("description", description)):
        if not isinstance(value, str):
            warn(f"{file}: [package].{key} must be a string, got {type(value).__name__}; using {str(value)!r}")
    m = Manifest(
        file=file,
        name=name,
        version=str(version),
        description=str(description),
        extra={k: v for k, v in pkg.items() if k not in ("name", "version", "description")},
    )
    for section, body in data.items():
        if section == "package":
            continue
        if section == "dependencies":
            m.dependencies = _dependencies(body, file, warn)
            continue
        if not isinstance(body, dict):
            warn(f"{file}: top-level key '{section}' must be a table like [{section}] with paths = [...]; ignored")
            continue
        if not _SECTION_RE.match(section):
            warn(f"{file}: section name [{section}] may only use letters, digits, '_' and '-'; ignored")
            continue
        m.sections[section] = _section(section, body, root, file, warn)
    for section in STANDARD_SECTIONS:  # default folders of sections the manifest does not mention
        if section not in m.sections and (root / section).is_dir():
            m.sections[section] = [PathEntry(root / section, "", f"{file}: default [{section}] folder")]
    return m


def _section(section: str, body: Dict[str, Any], root: Path, file: Path, warn: Warn) -> List[PathEntry]:
    for key in sorted(set(body) - _SECTION_KEYS):
        warn(f"{file}: [{section}].{key} is not a known key (expected 'paths'); ignored")
    if "folders" in body:
        warn(f"{file}: [{section}].folders is deprecated; rename it to 'paths'")
    key = "paths" if "paths" in body else "folders"
    if body.get(key) is None:
        default = root / section
        if not default.is_dir():
            warn(f"{file}: [{section}] has no 'paths' and the default folder {default} does not exist")
            return []
        return [PathEntry(default, "", f"{file}: [{section}] default folder")]

    def entry(item: Any, where: str) -> PathEntry:
        path, prefix = _path_entry(item, where)
        full = Path(os.path.normpath(root / path))
        if not full.is_dir():
            raise PackageError(f"{where}: folder {full} does not exist")
        return PathEntry(full, prefix, where)

    return _entries(body[key], f"{file}: [{section}].{key}", entry, warn)


def _entries(raw: Any, where: str, parse: Callable[[Any, str], Any], warn: Warn) -> List[Any]:
    """``parse(item, where[i])`` for each item of the list ``raw`` (a lone string is a one-item list);
    an item that raises ``PackageError`` is reported through ``warn`` and skipped."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        warn(f"{where} must be a list, got {type(raw).__name__}; ignored")
        return []
    out = []
    for i, item in enumerate(raw):
        try:
            out.append(parse(item, f"{where}[{i}]"))
        except PackageError as e:
            warn(f"{e}; entry ignored")
    return out


def _split_entry(
    item: Any, where: str, pattern: "re.Pattern[str]", keys: "tuple[str, str, str]", shape: str
) -> "tuple[str, Any]":
    """``(path, option)`` of a ``"dir <word> option"`` string or a ``{path, <option key>}`` table."""
    if isinstance(item, str):
        m = pattern.match(item.strip())
        path, option = (m.group(1), m.group(2)) if m else (item.strip(), None)
    elif isinstance(item, dict):
        unknown = sorted(set(item) - set(keys))
        if unknown:
            raise PackageError(f"{where}: unknown key(s) {unknown} (expected {', '.join(keys[:-1])} or {keys[-1]})")
        path, option = item.get("path"), item.get(keys[1], item.get(keys[2]))
    else:
        raise PackageError(f"{where}: expected {shape}, got {type(item).__name__}")
    if not isinstance(path, str) or not path.strip():
        raise PackageError(f"{where}: 'path' must be a non-empty string")
    return path.strip(), option


def _path_entry(item: Any, where: str) -> "tuple[str, str]":
    path, prefix = _split_entry(
        item, where, _UNDER, ("path", "prefix", "under"), '"dir", "dir under prefix" or {path, prefix}'
    )
    return path, normalize_prefix(prefix if prefix is not None else "", where)


def _dependencies(body: Any, file: Path, warn: Warn) -> List[Dependency]:
    if not isinstance(body, dict):
        warn(f"{file}: [dependencies] must be a table with packages = [...]; ignored")
        return []
    for key in sorted(set(body) - {"packages"}):
        warn(f"{file}: [dependencies].{key} is not a known key (expected 'packages'); ignored")

    def entry(item: Any, where: str) -> Dependency:
        path, alias = _split_entry(item, where, _AS, ("path", "alias", "as"), '"dir", "dir as alias" or {path, alias}')
        if alias is not None:
            check_name(alias, f"{where}: alias")
        return Dependency(Path(os.path.normpath(file.parent / path)), alias, where)

    return _entries(body.get("packages", []), f"{file}: [dependencies].packages", entry, warn)


def manifest_in(directory: Path) -> Optional[Path]:
    """The manifest file directly inside ``directory``, if any."""
    for name in MANIFEST_NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def find_config_file(start: "str | os.PathLike[str] | None" = None) -> Optional[Path]:
    """``$LLLM_CONFIG`` (a manifest file, or a folder holding one) if it exists; else the nearest
    ``lllm.toml``, ``.lllm.toml`` or ``LLLM.toml`` from ``start`` (default: the cwd) upwards."""
    env = os.environ.get("LLLM_CONFIG")
    if env:
        p = Path(env).expanduser()
        if p.is_file():
            return p.resolve()
        if p.is_dir():
            found = manifest_in(p)
            if found is not None:
                return found.resolve()
    here = Path(start).resolve() if start is not None else Path.cwd()
    if here.is_file():
        here = here.parent
    for directory in (here, *here.parents):
        found = manifest_in(directory)
        if found is not None:
            return found
    return None


__all__ = [
    "Manifest",
    "PathEntry",
    "Dependency",
    "read_manifest",
    "manifest_from_dict",
    "find_config_file",
    "manifest_in",
    "check_name",
    "normalize_prefix",
    "parse_toml",
    "MANIFEST_NAMES",
    "STANDARD_SECTIONS",
]
