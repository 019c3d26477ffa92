"""Package management (§6.6): install a package from a zip, export one to a zip, list and remove them.

Installed packages live in ``$LLLM_HOME/packages/<name>`` (scope ``user``) or
``<project root>/lllm_packages/<name>`` (scope ``project``), where auto-init finds them. Archives are
checked completely before anything is written, and installation is atomic."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import warnings
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Optional, Tuple

from lllm.errors import PackageError
from lllm.packages.discovery import PackageLoader
from lllm.packages.manifest import (
    MANIFEST_NAMES,
    NAME_RE,
    check_name,
    find_config_file,
    manifest_in,
    parse_toml,
    read_manifest,
    unnamed_problem,
)
from lllm.packages.runtime import Runtime, get_default_runtime
from lllm.packages.trust import lllm_home, trusted_packages

SCOPES = ("user", "project")
MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed, for members over 1 MiB
_RATIO_FLOOR = 1024 * 1024
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", ".git"}


def scope_dir(scope: str) -> Path:
    """The folder packages of ``scope`` are installed into."""
    if scope == "user":
        return lllm_home() / "packages"
    if scope == "project":
        found = find_config_file()
        return (found.parent if found is not None else Path.cwd()) / "lllm_packages"
    raise ValueError(f"Unknown scope {scope!r}; use one of {list(SCOPES)}")


# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------


def _check_archive(zf: zipfile.ZipFile, source: Path) -> Tuple[str, str]:
    """Validate every member; return ``(top folder or '', manifest member name)``. Raises ``PackageError``."""
    infos = zf.infolist()
    if not infos:
        raise PackageError(f"{source}: the archive is empty")
    if len(infos) > MAX_MEMBERS:
        raise PackageError(f"{source}: {len(infos)} members exceed the limit of {MAX_MEMBERS}")
    total = 0
    for info in infos:
        name = info.filename
        if "\\" in name or "\x00" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            raise PackageError(f"{source}: member {name!r} has an absolute or unsafe path; refusing to install")
        if ".." in PurePosixPath(name).parts:
            raise PackageError(f"{source}: member {name!r} contains '..'; refusing to install")
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no file type
        if kind == stat.S_IFLNK:
            raise PackageError(f"{source}: member {name!r} is a symbolic link; refusing to install")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise PackageError(f"{source}: member {name!r} is not a regular file or folder; refusing to install")
        total += info.file_size
        if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise PackageError(
                f"{source}: member {name!r} expands {info.file_size // max(info.compress_size, 1)}x "
                f"(limit {MAX_RATIO}x); refusing a likely zip bomb"
            )
    if total > MAX_TOTAL_BYTES:
        raise PackageError(f"{source}: {total} bytes uncompressed exceed the limit of {MAX_TOTAL_BYTES}")
    names = {i.filename for i in infos if not _macos_metadata(i.filename)}
    if not names:
        raise PackageError(f"{source}: the archive holds only macOS metadata (__MACOSX/)")
    at_root = _first_manifest(names, "")
    if at_root:
        return "", at_root
    tops = {PurePosixPath(n).parts[0] for n in names if PurePosixPath(n).parts}
    if len(tops) != 1:
        raise ValueError(
            f"{source}: lllm.toml must be at the archive root or inside exactly one top folder; "
            f"found top-level entries {sorted(tops)[:10]}"
        )
    top = tops.pop()
    nested = _first_manifest(names, f"{top}/")
    if not nested:
        raise ValueError(f"{source}: no lllm.toml at the archive root or in its top folder '{top}/'")
    return top, nested


def _macos_metadata(name: str) -> bool:
    """A member macOS Finder's "Compress" adds (``__MACOSX/...``): no part of the package, never installed."""
    return PurePosixPath(name).parts[:1] == ("__MACOSX",)


def _first_manifest(names: "set[str]", folder: str) -> Optional[str]:
    """The member discovery will read as the manifest of ``folder`` (``MANIFEST_NAMES`` order, like ``manifest_in``)."""
    return next((folder + m for m in MANIFEST_NAMES if folder + m in names), None)


def _package_name(manifest_text: str, fallback: str, source: Path, what: str = "archive's top folder") -> str:
    try:
        data = parse_toml(manifest_text)
    except ValueError as e:
        raise PackageError(f"{source}: the archive's lllm.toml is invalid TOML: {e}") from None
    pkg = data.get("package", {})
    if not isinstance(pkg, dict):
        raise PackageError(f"{source}: the archive's lllm.toml: [package] must be a table, got {type(pkg).__name__}")
    name = pkg.get("name", fallback)
    if not name:
        raise ValueError(f"{source}: the package has no name ([package].name) and none can be derived")
    if "name" not in pkg and not NAME_RE.match(name):
        raise ValueError(unnamed_problem(f"{source}: the archive's lllm.toml:", what, name))
    try:
        return check_name(name, f"{source}: [package].name")
    except PackageError as e:
        raise ValueError(str(e)) from None


def rename_in_manifest(text: str, new_name: str) -> str:
    """The manifest text with ``[package].name`` changed (comments and layout kept). The name the package
    was written under is kept as ``[package].original_name``: its code still says ``oldname.tools:x``,
    and loading makes that name reach the renamed package too."""
    import tomlkit

    doc = tomlkit.parse(text)
    if "package" not in doc:
        doc["package"] = tomlkit.table()
    old = doc["package"].get("name")
    if isinstance(old, str) and old != new_name and "original_name" not in doc["package"]:
        doc["package"]["original_name"] = str(old)
    doc["package"]["name"] = new_name
    return tomlkit.dumps(doc)


def install_package(
    zip_path: "str | os.PathLike[str]",
    *,
    alias: Optional[str] = None,
    scope: str = "user",
    load: bool = True,
    runtime: Optional[Runtime] = None,
) -> Path:
    """Install a package zip into ``scope`` and (by default) load it; returns the installed folder.

    Installing only checks the archive, copies its files and reads its manifest: no code of the package
    runs. Loading runs it, so a package that ``LLLM_TRUSTED_PACKAGES`` leaves out is installed but not
    loaded (a ``RuntimeWarning`` says so), and neither is a dependency it leaves out."""
    if scope not in SCOPES:
        raise ValueError(f"Unknown scope {scope!r}; use one of {list(SCOPES)}")
    if alias is not None:
        try:
            check_name(alias, "alias")
        except PackageError as e:
            raise ValueError(str(e)) from None
    source = Path(zip_path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(f"No such package archive: {source}")
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as e:
        raise PackageError(f"{source}: not a readable zip archive: {e}") from None
    with zf:
        top, manifest_member = _check_archive(zf, source)
        if zf.getinfo(manifest_member).file_size > 1024 * 1024:
            raise PackageError(f"{source}: {manifest_member} is larger than 1 MiB")
        manifest_text = zf.read(manifest_member).decode("utf-8", errors="replace")
        fallback = alias or top or source.stem  # a nameless package installed under an alias takes that name
        name = _package_name(manifest_text, fallback, source, "archive's top folder" if top else "archive file")
        folder = alias or name
        parent = scope_dir(scope)
        target = parent / folder
        if target.exists() or target.is_symlink():
            raise FileExistsError(
                f"Package '{folder}' is already installed at {target}; remove it first "
                f"(lllm pkg remove {folder}) or install under another name with alias=..."
            )
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".installing-{folder}-", dir=parent))
        try:
            dest_root = staging / folder
            dest_root.mkdir()
            _extract(zf, top, dest_root)
            manifest_file = dest_root / PurePosixPath(manifest_member).name
            if alias is not None and alias != name:
                manifest_file.write_text(rename_in_manifest(manifest_text, alias), encoding="utf-8")
            problems: List[str] = []
            read_manifest(manifest_file, problems.append)  # the whole manifest checked statically, before moving in
            try:
                os.replace(dest_root, target)  # atomic on one filesystem: the package appears whole or not at all
            except OSError:
                if target.exists():  # installed concurrently since the check above; never merge into it
                    raise FileExistsError(
                        f"Package '{folder}' was installed at {target} while this install "
                        f"was running; nothing was changed"
                    ) from None
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    allowed = trusted_packages()
    if load and allowed is not None and folder not in allowed:
        warnings.warn(
            f"Package '{folder}' is installed at {target} but not loaded: it is not in "
            f"LLLM_TRUSTED_PACKAGES, so none of its code ran. Add it there to use it.",
            RuntimeWarning,
            stacklevel=2,
        )
    elif load:
        try:
            PackageLoader(runtime or get_default_runtime(), allowed=allowed).load(target / manifest_file.name)
        except PackageError as e:  # strict mode, or a clash: the files are in place, say so
            raise PackageError(
                f"Package '{folder}' is installed at {target}, but loading it failed: {e} "
                f"(fix the package, or remove it: lllm pkg remove {folder})"
            ) from None
        return target
    for problem in problems:  # loading would have reported them
        warnings.warn(problem.replace(str(dest_root), str(target)), RuntimeWarning, stacklevel=2)
    return target


def _extract(zf: zipfile.ZipFile, top: str, dest_root: Path) -> None:
    root = dest_root.resolve()
    for info in zf.infolist():
        parts = PurePosixPath(info.filename).parts[1 if top else 0 :]
        if not parts or _macos_metadata(info.filename):
            continue
        dest = dest_root.joinpath(*parts)
        if not dest.resolve().is_relative_to(root):  # belt and braces: members were checked already
            raise PackageError(f"member {info.filename!r} would be written outside the package folder")
        if info.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1024 * 1024)


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------


def _static_packages() -> Dict[str, Path]:
    """Package name -> folder, read from manifests only (no package code runs): the project's package and its
    dependencies, then the installed packages (project scope first)."""
    found: Dict[str, Path] = {}
    project = find_config_file()
    if project is not None:
        try:
            found[read_manifest(project, lambda msg: None).name] = project.parent
            for folder, dep in _dependency_closure(project.parent):
                found.setdefault(dep, folder)
        except PackageError:
            pass  # a broken project manifest: only installed packages can be found
    for row in list_packages():
        found.setdefault(row["name"], Path(row["path"]))
    return found


def _package_dir(name: str, runtime: Runtime) -> Tuple[str, Path]:
    """The package's name and folder: loaded in ``runtime``, else found by its manifest (never imported)."""
    info = runtime.packages.get(name)
    if info is not None and info.base_dir:
        return info.name, Path(info.base_dir)
    static = _static_packages()
    if name not in static:
        raise ValueError(f"Unknown package '{name}'. Known packages: {sorted({*runtime.packages, *static})}")
    return name, static[name]


def _outside(path: Path, root: Path, real_root: Path) -> bool:
    """Whether ``path`` is a symbolic link out of the package (said in a warning: it is not exported), or
    into a part of it exporting leaves out (``.git``, hidden folders, ``__pycache__``)."""
    if not path.is_symlink():
        return False
    target = path.resolve()
    if target.is_relative_to(real_root):  # .env, .git/config: never exported through a link either
        return any(p.startswith(".") or p in _SKIP_DIRS for p in target.relative_to(real_root).parts)
    warnings.warn(
        f"{path}: a symbolic link to {path.resolve()}, outside the package {root}; not exported",
        RuntimeWarning,
        stacklevel=4,
    )
    return True


def _files(root: Path) -> List[Path]:
    """The files to export, sorted; a symbolic link (to a file or a folder) whose target is outside ``root``
    is left out with a warning, so exporting never copies files from elsewhere on the machine into the
    archive. A folder linked inside the package is exported through, as discovery loads it; a link to a
    folder it is already in (a loop) is not followed."""
    out = []
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        rel = here.relative_to(root)
        chain = [(root / p).resolve() for p in (*reversed(rel.parents), rel)]  # the real folders walked down
        keep = []
        for d in sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS):
            sub = here / d
            if _outside(sub, root, real_root):
                continue
            if sub.is_symlink() and any(c.is_relative_to(sub.resolve()) for c in chain):
                continue  # a loop back up the walk
            keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            path = here / f
            hidden = f.startswith(".") and not (here == root and f in MANIFEST_NAMES)  # .lllm.toml is the manifest
            if not hidden and not _outside(path, root, real_root):
                out.append(path)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def _dependency_closure(root: Path) -> List[Tuple[Path, str]]:
    """Transitive dependencies of the package at ``root``: ``(folder, package name)``, each once."""
    seen = {root.resolve()}
    out: List[Tuple[Path, str]] = []
    todo = [root]
    while todo:
        manifest = manifest_in(todo.pop(0))
        if manifest is None:
            continue
        m = read_manifest(manifest, lambda msg: None)
        for dep in m.dependencies:
            folder = dep.path if dep.path.is_dir() else dep.path.parent
            if manifest_in(folder) is None or folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
            dep_name = read_manifest(manifest_in(folder), lambda msg: None).name  # type: ignore[arg-type]
            if any(n == dep_name for _, n in out):
                raise PackageError(f"Cannot bundle: two different dependencies are named '{dep_name}'")
            out.append((folder, dep_name))
            todo.append(folder)
    return out


def _rewrite_dependencies(text: str, manifest_dir: Path, paths: Dict[Path, str]) -> str:
    """Point ``[dependencies].packages`` at the bundled copies (``paths``: folder -> new relative path),
    keeping aliases; dependencies that were not bundled (missing on disk) are dropped."""
    import tomlkit

    doc = tomlkit.parse(text)
    changed = _rewrite_section_paths(doc, manifest_dir, paths)
    manifest = manifest_in(manifest_dir)
    deps = read_manifest(manifest, lambda msg: None).dependencies if manifest is not None else []
    if "dependencies" not in doc or not deps:
        return tomlkit.dumps(doc) if changed else text
    entries = tomlkit.array()
    for dep in deps:
        new = paths.get((dep.path if dep.path.is_dir() else dep.path.parent).resolve())
        if new is not None:
            entries.append(new + (f" as {dep.alias}" if dep.alias else ""))
    doc["dependencies"]["packages"] = entries
    return tomlkit.dumps(doc)


def _moved_path(rel: str, manifest_dir: Path, paths: Dict[Path, str]) -> Optional[str]:
    """``rel`` (relative to ``manifest_dir``) re-pointed into the bundled copy it lies in, if any."""
    here = manifest_dir.resolve()
    target = (manifest_dir / rel).resolve()
    best = max((f for f in paths if f != here and target.is_relative_to(f)), key=lambda f: len(f.parts), default=None)
    if best is None or here.is_relative_to(best):
        return None
    rest = target.relative_to(best).as_posix()
    return paths[best] if rest == "." else f"{paths[best]}/{rest}"


def _rewrite_section_paths(doc: Any, manifest_dir: Path, paths: Dict[Path, str]) -> bool:
    """Point section folders that lie in a bundled dependency (``"../dep/prompts under x"``) at its
    bundled copy, so re-exports keep working from the archive. Returns whether anything changed."""
    changed = False
    for section, body in doc.items():
        if section in ("package", "dependencies") or not hasattr(body, "get"):
            continue
        for key in ("paths", "folders"):
            entries = body.get(key)
            if not isinstance(entries, list):
                continue
            for i, entry in enumerate(entries):
                if isinstance(entry, str):
                    m = re.match(r"(.+?)(\s+under\s+\S+)?\Z", entry.strip())
                    new = _moved_path(m.group(1), manifest_dir, paths) if m else None
                    if m is not None and new is not None:
                        entries[i] = new + (m.group(2) or "")
                        changed = True
                elif hasattr(entry, "get") and isinstance(entry.get("path"), str):
                    new = _moved_path(entry["path"], manifest_dir, paths)
                    if new is not None:
                        entry["path"] = new
                        changed = True
    return changed


def export_package(
    name: str, out: "str | os.PathLike[str]", *, bundle_deps: bool = False, runtime: Optional[Runtime] = None
) -> Path:
    """Zip a package as ``<name>/...`` (sorted; hidden files but a ``.lllm.toml`` manifest, ``__pycache__`` and
    ``.git`` skipped). It is looked up in ``runtime``, else among the project's and the installed packages by
    manifest: exporting never imports a package.

    With ``bundle_deps`` its transitive dependencies go into ``<name>/lllm_packages/<dep>/`` and the
    bundled manifests point there."""
    rt = runtime or get_default_runtime()
    pkg_name, root = _package_dir(name, rt)
    out_path = Path(out).expanduser()
    if out_path.suffix != ".zip":
        out_path = out_path.with_name(out_path.name + ".zip")
    members: List[Tuple[str, Any]] = []  # (archive name, Path or bytes)
    deps = _dependency_closure(root) if bundle_deps else []
    names = {folder.resolve(): dep for folder, dep in deps}
    for f in _files(root):
        rel = f.relative_to(root).as_posix()
        parts = rel.split("/")
        if len(parts) > 2 and parts[0] == "lllm_packages" and parts[1] in names.values():
            continue  # replaced by the bundled copy
        if f.resolve() == out_path.resolve():
            continue  # an earlier export written into the package itself
        if bundle_deps and f.parent == root and f.name in MANIFEST_NAMES:
            paths = {folder: f"lllm_packages/{dep}" for folder, dep in names.items()}
            members.append((f"{pkg_name}/{rel}", _rewrite_dependencies(f.read_text("utf-8"), root, paths).encode()))
        else:
            members.append((f"{pkg_name}/{rel}", f))
    for folder, dep in deps:
        for f in _files(folder):
            rel = f.relative_to(folder).as_posix()
            arc = f"{pkg_name}/lllm_packages/{dep}/{rel}"
            if f.parent == folder and f.name in MANIFEST_NAMES:
                paths = {**{d: f"../{n}" for d, n in names.items()}, root.resolve(): "../.."}
                members.append((arc, _rewrite_dependencies(f.read_text("utf-8"), folder, paths).encode()))
            elif rel.split("/")[0] != "lllm_packages":
                members.append((arc, f))
    members.sort(key=lambda m: m[0])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for arc, src in members:
                info = zipfile.ZipInfo(arc, date_time=_FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, src if isinstance(src, bytes) else src.read_bytes())
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path


# ---------------------------------------------------------------------------------------------
# list / remove
# ---------------------------------------------------------------------------------------------


def _installed(scope: str) -> List[Dict[str, Any]]:
    folder = scope_dir(scope)
    if not folder.is_dir():
        return []
    rows = []
    for child in sorted(folder.iterdir(), key=lambda p: p.name):
        manifest = manifest_in(child) if child.is_dir() and not child.name.startswith((".", "_")) else None
        if manifest is None:
            continue
        try:
            m = read_manifest(manifest, lambda msg: None, default_name=child.name)
            name, version, description = m.name, m.version, m.description
        except PackageError as e:
            name, version, description = child.name, "?", f"unreadable manifest: {e}"
        rows.append(
            {
                "name": name,
                "version": version,
                "description": description,
                "scope": scope,
                "path": str(child),
                "folder": child.name,
            }
        )
    return rows


def list_packages(scope: Optional[str] = None, *, runtime: Optional[Runtime] = None) -> List[Dict[str, Any]]:
    """Installed packages: ``[{name, version, description, scope, path}]`` (project scope first). Without
    ``scope``, the packages loaded in ``runtime`` (default: the default runtime, as it is) from elsewhere
    follow with scope ``"unknown"``, as in 0.1.x."""
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"Unknown scope {scope!r}; use one of {list(SCOPES)}")
    rows = []
    for s in ("project", "user") if scope is None else (scope,):
        rows += _installed(s)
    for row in rows:
        row.pop("folder")
    if scope is None:
        seen = {str(Path(r["path"]).resolve()) for r in rows}
        for info in list((runtime or get_default_runtime()).packages.values()):
            if info.alias is None and info.base_dir and str(Path(info.base_dir).resolve()) not in seen:
                seen.add(str(Path(info.base_dir).resolve()))
                rows.append(
                    {
                        "name": info.name,
                        "version": info.version,
                        "description": info.description,
                        "scope": "unknown",
                        "path": info.base_dir,
                    }
                )
    return rows


def remove_package(name: str, *, scope: Optional[str] = None, runtime: Optional[Runtime] = None) -> Path:
    """Delete an installed package (matched by folder or manifest name) and unregister it from the runtime."""
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"Unknown scope {scope!r}; use one of {list(SCOPES)}")
    matches = [
        r for s in (SCOPES if scope is None else (scope,)) for r in _installed(s) if name in (r["name"], r["folder"])
    ]
    if not matches:
        where = f"scope '{scope}'" if scope else "the project or user scope"
        raise FileNotFoundError(f"No installed package '{name}' in {where}")
    if len({m["scope"] for m in matches}) > 1:
        raise ValueError(
            f"Package '{name}' is installed in both scopes ({[m['path'] for m in matches]}); "
            f"pass scope='project' or scope='user'"
        )
    row = matches[0]
    path = Path(row["path"])
    base = str(path.resolve())
    if path.is_symlink():
        path.unlink()
    else:
        doomed = path.with_name(f".removing-{path.name}-{os.getpid()}")
        os.replace(path, doomed)  # disappears at once; the delete may take longer
        shutil.rmtree(doomed, ignore_errors=True)
    rt = runtime or get_default_runtime()
    inside = (base + os.sep, str(path) + os.sep)  # the dependencies bundled in it went with it
    for pkg in [
        p
        for p in list(rt.packages.values())
        if p.alias is None and p.base_dir and (p.base_dir in (base, str(path)) or p.base_dir.startswith(inside))
    ]:
        rt.unload_package(pkg.name)
    return path


__all__ = [
    "install_package",
    "export_package",
    "list_packages",
    "remove_package",
    "scope_dir",
    "rename_in_manifest",
    "SCOPES",
]
