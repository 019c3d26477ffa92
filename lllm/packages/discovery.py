"""Package discovery: load ``lllm.toml`` packages (and their dependencies) into a Runtime (§6.1–§6.5).

Python files are imported as ``lllm._discovered.<pkg>.<section>.<path>`` while a loading context
is set, so decorators and Tactic subclasses register into the runtime being loaded. Only objects
*defined* in a module are registered; names bound by ``import`` statements are skipped."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import os
import re
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from lllm.errors import ConfigError, PackageError
from lllm.packages.files import CONFIG_EXT, PROMPT_EXT, imported_names, read_data_file, split_front_matter, walk_files
from lllm.packages.imports import register_package_imports
from lllm.packages.manifest import (
    STANDARD_SECTIONS,
    Manifest,
    PathEntry,
    check_name,
    find_config_file,
    manifest_in,
    read_manifest,
)
from lllm.packages.resource import PackageInfo, ResourceNode
from lllm.packages.runtime import (
    LoadingContext,
    Runtime,
    get_default_runtime,
    loading_context,
    loading_runtime,
    set_default_runtime,
    set_named_runtime,
)
from lllm.packages.trust import (
    env_flag,
    is_project_manifest,
    lllm_home,
    manifest_path,
    require_trusted,
    trusted_packages,
)

logger = logging.getLogger("lllm.config")

MODULE_ROOT = "lllm._discovered"  # modules of a package also import as <name>.<section>.<file> (package_imports)
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")


def load_trusted_package(path: "str | os.PathLike[str]", runtime: Runtime) -> Tuple[Optional[PackageInfo], bool]:
    """Load the package a command names by path (``lllm check PATH``): refused unless trusted (it runs its code),
    and its dependencies must be trusted too, unless it is the project's own (loaded as at ``import lllm``).
    Returns its ``PackageInfo`` (as ``load_package``) and whether it is the project's."""
    require_trusted(path)
    file = manifest_path(path)
    is_project = is_project_manifest(file)
    return PackageLoader(runtime, allowed=None if is_project else trusted_packages()).load(file), is_project


def _ensure_package_module(name: str, path: Optional[str] = None) -> types.ModuleType:
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = []
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
    if path is not None and path not in module.__path__:
        module.__path__.append(path)
    return module


class PackageLoader:
    """Loads packages into one runtime: dependencies first, each folder once, warnings or strict errors.

    With ``allowed`` (package names), a package not named there, dependencies included, is skipped
    before any of its files is read beyond the manifest: its code never runs."""

    def __init__(self, runtime: Runtime, strict: bool = False, allowed: Optional[Set[str]] = None):
        self.runtime = runtime
        self.strict = strict or env_flag("LLLM_STRICT", default=False)
        self.allowed = allowed
        self._in_progress: Set[str] = set()
        self._imports: Dict[str, Set[str]] = {}
        self._homes: Dict[str, Optional[str]] = {}  # folder -> folder of its nearest manifest

    def warn(self, message: str) -> None:
        if self.strict:
            raise PackageError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    def register(self, node: ResourceNode) -> ResourceNode:
        """Register a discovered node; replacing a different resource under the same key warns with both sources."""
        old = self.runtime.find_node(node.qualified_key)
        if old is not None and old.qualified_key == node.qualified_key and old.metadata.get("source"):
            same = (
                (old._value is node._value)
                if old.loaded and node.loaded
                else old.metadata.get("file_path") == node.metadata.get("file_path")
            )
            if not same:
                self.warn(
                    f"Resource key '{node.qualified_key}' is defined twice: in {old.metadata['source']} and in "
                    f"{node.metadata.get('source')}; the later one wins"
                )
        return self.runtime.register(node)

    def _keep_original_name(self, m: Manifest) -> None:
        """A package installed under an alias (``[package].original_name``) still answers to its own name,
        so its references to itself (``oldname.tools:x``, ``import oldname.tactics``) keep working."""
        original = m.extra.get("original_name")
        if not isinstance(original, str) or original == m.name:
            return
        try:
            check_name(original, f"{m.file}: [package].original_name")
        except PackageError as e:
            self.warn(f"{e}; ignored")
            return
        if original in self.runtime.packages:
            self.warn(
                f"{m.file}: package '{m.name}' was renamed from '{original}', but a package '{original}' is "
                f"loaded too, so its references to '{original}.…' resolve in that package"
            )
            return
        self.runtime.add_alias(m.name, original)
        register_package_imports(original, f"{MODULE_ROOT}.{m.name}")

    def _base_of(self, package: str) -> Optional[str]:
        info = self.runtime.packages.get(package)
        return info.base_dir if info is not None else None

    # -- packages ------------------------------------------------------------------------------
    def load(
        self, file: Path, alias: Optional[str] = None, manifest: Optional[Manifest] = None
    ) -> Optional[PackageInfo]:
        """Load the package whose manifest is ``file`` (already loaded or in progress: only add the alias)."""
        rt = self.runtime
        base = str(Path(file).parent.resolve())
        if base in rt.loaded_package_paths:
            info = next((p for p in rt.packages.values() if p.base_dir == base and p.alias is None), None)
            if base in self._in_progress:
                logger.debug("dependency cycle stopped at %s", base)
            if info is not None and alias:
                rt.add_alias(info.name, alias)
            return info
        m = manifest if manifest is not None else read_manifest(Path(file), self.warn)
        if self.allowed is not None and m.name not in self.allowed:  # the policy at work, not an error (even strict)
            warnings.warn(
                f"{m.file}: package '{m.name}' is not in LLLM_TRUSTED_PACKAGES; not loaded",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        other = rt.packages.get(m.name)
        if other is not None and renamed_from(other, m.name):  # the real package takes its name back
            self.warn(
                f"{m.file}: package '{m.name}' is loaded, and package '{other.name}' ({other.base_dir}) was renamed "
                f"from '{m.name}', so its references to '{m.name}.…' resolve in '{m.name}' from now on"
            )
            rt._drop_alias(other.name, m.name)
            other = None
        if other is not None:
            self.warn(
                f"{m.file}: package '{m.name}' is already loaded from {other.base_dir}; the first one wins "
                f"and this one is skipped"
            )
            return None
        info = PackageInfo(m.name, m.version, m.description, base_dir=base, extra={"manifest": str(m.file), **m.extra})
        rt.register_package(info)
        rt.loaded_package_paths.add(base)
        if alias:
            rt.add_alias(m.name, alias)
        self._keep_original_name(m)
        prefix = f"{MODULE_ROOT}.{m.name}."
        for stale in [k for k in sys.modules if k.startswith(prefix)]:  # a previous load's modules
            del sys.modules[stale]
        _ensure_package_module(MODULE_ROOT)
        _ensure_package_module(f"{MODULE_ROOT}.{m.name}").__path__[:] = [str(base)]  # its other folders import too
        register_package_imports(m.name, f"{MODULE_ROOT}.{m.name}")  # `import <name>.tactics.x` works too
        self._in_progress.add(base)
        try:
            for dep in m.dependencies:
                self._load_dependency(dep)
            for section, entries in m.sections.items():
                for entry in entries:
                    self._load_entry(m.name, section, entry)
        finally:
            self._in_progress.discard(base)
        return info

    def _load_dependency(self, dep: Any) -> None:
        target = dep.path
        file = target if target.is_file() else (manifest_in(target) if target.is_dir() else None)
        if file is None:
            self.warn(f"{dep.where}: dependency {target} not found (no lllm.toml there); skipped")
            return
        manifest = None
        if str(file.parent.resolve()) not in self.runtime.loaded_package_paths:
            try:
                manifest = read_manifest(file, self.warn)
            except PackageError as e:
                self.warn(f"{dep.where}: {e}; dependency skipped")
                return
        info = self.load(file, None, manifest)
        if info is not None and dep.alias:
            try:
                self.runtime.add_alias(info.name, dep.alias)
            except PackageError as e:  # a clash: name the manifest entry that asked for the alias
                raise PackageError(f"{dep.where}: {e}") from None

    # -- sections ------------------------------------------------------------------------------
    def _load_entry(self, package: str, section: str, entry: PathEntry) -> None:
        root = entry.path.resolve()
        module_base = f"{MODULE_ROOT}.{package}.{section}"
        _ensure_package_module(MODULE_ROOT)
        _ensure_package_module(f"{MODULE_ROOT}.{package}")
        _ensure_package_module(module_base, str(root))
        for path, rel in walk_files(root):
            bad = next((p for p in rel if not _SEGMENT.match(p)), None)
            if bad is not None:
                self.warn(
                    f"{path}: the name {bad!r} cannot be part of a resource key (use letters, digits, "
                    f"'.', '_' and '-'); file skipped"
                )
                continue
            name, suffix = os.path.splitext(rel[-1])
            stem = rel[:-1] + (name,)
            ctx = LoadingContext(self.runtime, package, section, entry.prefix, str(path), self)
            if suffix == ".py":
                self._load_module(ctx, path, stem, module_base)
            elif section == "prompts":
                if suffix in PROMPT_EXT:
                    self._load_prompt_file(ctx, path, "/".join(stem))
            elif section == "configs":
                if suffix in CONFIG_EXT:
                    self._add_lazy(ctx, "config", "/".join(stem), path)
            elif section not in STANDARD_SECTIONS:
                self._add_lazy(ctx, section, "/".join(rel), path)

    def _add_lazy(self, ctx: LoadingContext, rtype: str, key: str, path: Path) -> None:
        abspath = str(path)
        self.register(
            ResourceNode.lazy(
                _prefixed(ctx.prefix, key),
                lambda: read_data_file(Path(abspath)),
                f"{ctx.package}.{ctx.section}",
                rtype,
                file_path=abspath,
                source=abspath,
            )
        )

    def _load_prompt_file(self, ctx: LoadingContext, path: Path, key: str) -> None:
        from lllm.core.prompt import Prompt
        from lllm.packages.yamlsafe import read_text_capped

        key = _prefixed(ctx.prefix, key)
        try:
            meta, template = split_front_matter(read_text_capped(path), path)
        except (PackageError, ConfigError) as e:  # both name the file
            self.warn(f"{e}; prompt skipped")
            return
        try:
            prompt = Prompt(path=key, prompt=template, metadata=meta)
        except (ValueError, TypeError) as e:
            self.warn(f"{path}: not a valid prompt: {e}; prompt skipped")
            return
        self._add_object(ctx, "prompt", key, prompt, str(path))

    def _add_object(self, ctx: LoadingContext, rtype: str, key: str, value: Any, source: str) -> None:
        namespace = f"{ctx.package}.{ctx.section}"
        if rtype == "prompt":
            value.qualified_key = f"{namespace}:{key}"
            folder = os.path.dirname(ctx.source)
            home = (
                self._homes[folder]
                if folder in self._homes
                else self._homes.setdefault(folder, _home_package_dir(Path(folder)))
            )
            if home is not None and home != self._base_of(ctx.package):  # re-exported from another package
                value.home_dir = home  # its tool declarations bind in that package first (tool_binding)
        self.register(ResourceNode.eager(key, value, namespace, rtype, source=source, file_path=ctx.source))

    def _load_module(self, ctx: LoadingContext, path: Path, stem: Tuple[str, ...], module_base: str) -> None:
        parts = [p.replace(".", "_") for p in stem]
        modname = ".".join([module_base, *parts])
        for i in range(1, len(parts)):  # sub-folders become (namespace) packages
            _ensure_package_module(".".join([module_base, *parts[:i]]), str(path.parents[len(parts) - 1 - i]))
        loaded = self._import(ctx, path, modname)
        if loaded is None:
            return
        module, skip = loaded
        self._register_definitions(ctx, module, skip, stem, str(path))

    def _import(self, ctx: LoadingContext, path: Path, modname: str) -> Optional[Tuple[types.ModuleType, Set[str]]]:
        module = sys.modules.get(modname)
        if module is not None and getattr(module, "__file__", None) == str(path):  # imported by a sibling already
            if modname not in self._imports:
                code = module.__spec__.loader.get_code(modname)  # type: ignore[union-attr]
                self._imports[modname] = imported_names(code) if code is not None else set()
            return module, self._imports[modname]
        spec = importlib.util.spec_from_file_location(modname, path)
        if spec is None or spec.loader is None:
            self.warn(f"{path}: cannot be imported; file skipped")
            return None
        module = importlib.util.module_from_spec(spec)
        sys.modules[modname] = module
        tokens = (loading_runtime.set(self.runtime), loading_context.set(ctx))
        try:
            code = spec.loader.get_code(modname)  # type: ignore[attr-defined]
            exec(code, module.__dict__)  # noqa: S102 - discovery runs the package's own code, by design
        except PackageError:
            sys.modules.pop(modname, None)
            raise
        except (Exception, SystemExit) as e:  # noqa: BLE001 - reported, loading continues
            sys.modules.pop(modname, None)
            self.warn(f"{path}: import failed: {type(e).__name__}: {e}; file skipped")
            return None
        finally:
            loading_context.reset(tokens[1])
            loading_runtime.reset(tokens[0])
        parent, _, child = modname.rpartition(".")
        setattr(sys.modules[parent], child, module)
        self._imports[modname] = imported_names(code)
        return module, self._imports[modname]

    def _register_definitions(
        self, ctx: LoadingContext, module: types.ModuleType, skip: Set[str], stem: Tuple[str, ...], path: str
    ) -> None:
        """Register the prompts, tools and proxies defined (not imported) in ``module``."""
        from lllm.core.prompt import Prompt
        from lllm.core.tools import Function

        section = ctx.section
        custom = section not in STANDARD_SECTIONS
        base = _proxy_base()
        modkey = "/".join(stem)
        seen: Set[int] = set()
        for attr, value in list(vars(module).items()):
            if attr.startswith("__") or id(value) in seen:
                continue
            if isinstance(value, type):
                if value.__module__ != module.__name__ or not (section == "proxies" or custom):
                    continue
                is_proxy = (
                    base is not None and issubclass(value, base) and value is not base
                ) or "_proxy_path" in value.__dict__
                if is_proxy:
                    seen.add(id(value))
                    sub = value.__dict__.get("_proxy_path") or f"{modkey}/{value.__name__}"
                    self._add_object(ctx, "proxy", _prefixed(ctx.prefix, sub), value, f"{path}#{value.__name__}")
                continue
            if attr in skip:
                continue
            if isinstance(value, Prompt) and (section == "prompts" or custom):
                seen.add(id(value))
                key = _prefixed(ctx.prefix, f"{modkey}/{value.path}")
                self._add_object(ctx, "prompt", key, value, f"{path}#{attr}")
            elif isinstance(value, Function) and (section == "tools" or custom):
                seen.add(id(value))
                sub = modkey if stem[-1] == value.name else f"{modkey}/{value.name}"
                self._add_object(ctx, "tool", _prefixed(ctx.prefix, sub), value, f"{path}#{attr}")


def renamed_from(info: PackageInfo, name: str) -> bool:
    """Whether ``name`` reaches ``info`` only as the name its package was renamed from (an install ``alias``
    keeps the old one as ``[package].original_name``): a package really named ``name`` takes precedence."""
    return info.alias == name and info.extra.get("original_name") == name


def _home_package_dir(folder: Path) -> Optional[str]:
    """The folder of the nearest manifest at or above ``folder`` (the package a file belongs to)."""
    for d in (folder, *folder.parents):
        if manifest_in(d) is not None:
            return str(d.resolve())
    return None


def _prefixed(prefix: str, key: str) -> str:
    return f"{prefix}/{key}" if prefix else key


def _proxy_base() -> Optional[type]:
    """``BaseProxy`` if the proxies module is loaded (a module defining a proxy has imported it)."""
    for name in ("lllm.proxies.base", "lllm.proxies"):
        base = getattr(sys.modules.get(name), "BaseProxy", None)
        if isinstance(base, type):
            return base
    return None


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def load_package(
    path: "str | os.PathLike[str] | None" = None, *, runtime: Optional[Runtime] = None, strict: bool = False
) -> Optional[PackageInfo]:
    """Load a package (a manifest file or its folder; default: the project's manifest) and its dependencies.

    Returns its ``PackageInfo`` (``None`` if a package of that name was already loaded from elsewhere)."""
    if path is None:
        found = find_config_file()
        if found is None:
            raise FileNotFoundError("No lllm.toml found in the current folder or its parents (nor via $LLLM_CONFIG)")
        path = found
    return PackageLoader(runtime or get_default_runtime(), strict).load(manifest_path(path))


def load_cwd_fallback(runtime: Optional[Runtime] = None) -> bool:
    """Load the standard folders (prompts/, tools/, ...) of the cwd as a package; ``False`` if there are none."""
    cwd = Path.cwd()
    sections = [s for s in STANDARD_SECTIONS if (cwd / s).is_dir()]
    if not sections:
        return False
    name = re.sub(r"[^a-z0-9_-]", "_", cwd.name.lower()) or "project"
    warnings.warn(
        f"No lllm.toml found: loading the folders {sections} of {cwd} as package '{name}'. "
        f"Add an lllm.toml to name the package and silence this warning.",
        RuntimeWarning,
        stacklevel=2,
    )
    m = Manifest(
        file=cwd / "lllm.toml", name=name, sections={s: [PathEntry(cwd / s, "", f"{cwd / s}")] for s in sections}
    )
    PackageLoader(runtime or get_default_runtime()).load(m.file, manifest=m)
    return True


def shared_package_dirs(project_root: Optional[Path] = None) -> List[Path]:
    """Where drop-in packages live: ``<project root>/lllm_packages`` then ``$LLLM_HOME/packages``."""
    root = project_root if project_root is not None else _project_root()
    return [root / "lllm_packages", lllm_home() / "packages"]


def _project_root() -> Path:
    found = find_config_file()
    return found.parent if found is not None else Path.cwd()


def load_shared_packages(
    runtime: Optional[Runtime] = None, project_root: Optional[Path] = None, strict: bool = False
) -> List[str]:
    """Load drop-in packages (``*/lllm.toml``) alphabetically, skipping ones already loaded. Returns their names.

    If ``LLLM_TRUSTED_PACKAGES`` is set (comma-separated names), only those are loaded, and only those of
    their dependencies; the code of any other package is never run."""
    loader = PackageLoader(runtime or get_default_runtime(), strict, allowed=trusted_packages())
    loaded = []
    for folder in shared_package_dirs(project_root):
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir(), key=lambda p: p.name):
            file = manifest_in(child) if child.is_dir() and not child.name.startswith((".", "_")) else None
            if file is None:
                continue
            if str(child.resolve()) in loader.runtime.loaded_package_paths:
                continue
            try:
                manifest = read_manifest(file, loader.warn)
            except PackageError as e:
                loader.warn(f"{e}; drop-in package skipped")
                continue
            known = loader.runtime.packages.get(manifest.name)
            if known is not None and not renamed_from(known, manifest.name):
                logger.debug("drop-in %s skipped: package '%s' is already loaded", child, manifest.name)
                continue
            if loader.load(file, manifest=manifest) is not None:
                loaded.append(manifest.name)
    return loaded


def load_runtime(
    toml_path: "str | os.PathLike[str] | None" = None,
    name: Optional[str] = None,
    *,
    discover_cwd: bool = True,
    discover_shared_packages: bool = True,
) -> Runtime:
    """A fresh runtime filled from a manifest (default: the project's), else the cwd's standard folders,
    then drop-in packages. Without ``name`` it replaces the default runtime; with one, ``get_runtime(name)``."""
    rt = Runtime(name or "default")
    manifest = manifest_path(toml_path) if toml_path is not None else (find_config_file() if discover_cwd else None)
    if manifest is not None:
        load_package(manifest, runtime=rt)
    elif discover_cwd:
        load_cwd_fallback(rt)
    if discover_shared_packages:
        load_shared_packages(rt, manifest.parent if manifest is not None else Path.cwd())
    rt.discovery_done = True
    if name is None:
        set_default_runtime(rt)
    else:
        set_named_runtime(name, rt)
    return rt


def auto_init(runtime: Optional[Runtime] = None) -> None:
    """What ``import lllm`` does (§6.5). Never raises: a failure becomes a warning and ``runtime.init_error``."""
    rt = runtime or get_default_runtime()
    try:
        manifest = find_config_file()
        if manifest is not None:
            load_package(manifest, runtime=rt)
        elif env_flag("LLLM_AUTO_CWD_FALLBACK"):
            load_cwd_fallback(rt)
        if env_flag("LLLM_AUTO_SHARED_PACKAGES"):
            load_shared_packages(rt, manifest.parent if manifest is not None else Path.cwd())
    except Exception as e:  # noqa: BLE001 - auto-init must never break `import lllm`
        rt.init_error = f"{type(e).__name__}: {e}"
        warnings.warn(f"LLLM auto-init failed: {rt.init_error}", RuntimeWarning, stacklevel=2)
    rt.discovery_done = True


__all__ = [
    "load_package",
    "load_trusted_package",
    "load_runtime",
    "load_cwd_fallback",
    "load_shared_packages",
    "find_config_file",
    "auto_init",
    "PackageLoader",
    "imported_names",
    "split_front_matter",
    "read_data_file",
    "env_flag",
    "lllm_home",
    "trusted_packages",
    "require_trusted",
    "shared_package_dirs",
    "MODULE_ROOT",
]
