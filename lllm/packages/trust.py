"""Which packages may run their code here: ``LLLM_TRUSTED_PACKAGES``, on/off flags and ``LLLM_HOME``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional, Set

from lllm.errors import PackageError
from lllm.packages.manifest import find_config_file, manifest_in, read_manifest

_FALSY = ("0", "false", "no", "off")


def env_flag(name: str, default: bool = True) -> bool:
    """An on/off environment variable: ``0``, ``false``, ``no`` and ``off`` (any case) are off."""
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value not in _FALSY


def lllm_home() -> Path:
    """``$LLLM_HOME``, else ``~/.lllm``."""
    home = os.environ.get("LLLM_HOME")
    return Path(home).expanduser() if home else Path.home() / ".lllm"


def trusted_packages() -> Optional[Set[str]]:
    """The package names listed in ``LLLM_TRUSTED_PACKAGES`` (comma or space separated); ``None`` when it is
    unset or empty, which trusts every package."""
    value = os.environ.get("LLLM_TRUSTED_PACKAGES", "")
    names = {n for n in re.split(r"[,\s]+", value) if n}
    return names or None


def manifest_path(path: "str | os.PathLike[str]") -> Path:
    """The ``lllm.toml`` that ``path`` names: the file itself, or the manifest in that folder."""
    p = Path(path).expanduser()
    if p.is_dir():
        found = manifest_in(p)
        if found is None:
            raise FileNotFoundError(f"No lllm.toml in {p}")
        return found
    if not p.is_file():
        raise FileNotFoundError(f"No such manifest: {p}")
    return p


def is_project_manifest(file: Path) -> bool:
    """Whether ``file`` is the project's own manifest (``find_config_file()``)."""
    project = find_config_file()
    return project is not None and Path(project).resolve() == file.resolve()


def require_trusted(path: "str | os.PathLike[str]") -> None:
    """Refuse (``PackageError``) to load the package at ``path`` (a folder or manifest) when
    ``LLLM_TRUSTED_PACKAGES`` is set and does not name it; the project's own package is always trusted."""
    allowed = trusted_packages()
    if allowed is None:
        return
    file = manifest_path(path)
    if is_project_manifest(file):
        return
    name = read_manifest(file, lambda msg: None).name
    if name not in allowed:
        raise PackageError(
            f"{file}: package '{name}' is not in LLLM_TRUSTED_PACKAGES, and loading it would run "
            f"its code; add it there first"
        )


__all__ = ["env_flag", "lllm_home", "trusted_packages", "manifest_path", "is_project_manifest", "require_trusted"]
