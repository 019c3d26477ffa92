"""A package that ``LLLM_TRUSTED_PACKAGES`` leaves out never runs: installing copies its files and reads its
manifest only, and no `lllm` command (list, run, check, pkg list/export) imports it or a dependency it
leaves out. Every module of the package under test appends its name to a marker file when imported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest
from support.pkgtree import fresh_default_runtime, isolated  # noqa: F401 - autouse fixtures

from lllm.packages.install import install_package
from lllm.packages.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


def lllm_command() -> list:
    script = shutil.which("lllm", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "lllm.cli"]


def cli(*args: str, cwd: Path, home: Path, **env: str) -> subprocess.CompletedProcess:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LLLM_HOME": str(home), **env}
    return subprocess.run([*lllm_command(), *args], cwd=cwd, capture_output=True, text=True, env=full, timeout=120)


def snapshot(root: Path) -> Dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def hostile_zip(tmp_path: Path, marker: Path) -> Path:
    """``evil.zip``: Python in every place discovery looks (and one it never imports), plus a bundled
    dependency ``dep``; each module appends its name to ``marker`` when it runs."""

    def mod(name: str) -> str:
        return f"import pathlib\nwith pathlib.Path({str(marker)!r}).open('a') as f:\n    f.write({name!r} + '\\n')\n"

    files = {
        "evil/lllm.toml": '[package]\nname = "evil"\n[data]\npaths = ["data"]\n'
        '[dependencies]\npackages = ["lllm_packages/dep"]\n',
        "evil/__init__.py": mod("evil/__init__"),
        "evil/tactics/boom.py": mod("evil/tactics") + "from lllm import Tactic\n\nclass Boom(Tactic):\n"
        "    name = 'boom'\n\n    def call(self, task: str) -> str:\n        return task\n",
        "evil/tools/t.py": mod("evil/tools"),
        "evil/proxies/p.py": mod("evil/proxies"),
        "evil/prompts/p.py": mod("evil/prompts"),
        "evil/prompts/hello.md": "Hello",
        "evil/data/d.py": mod("evil/data"),
        "evil/lllm_packages/dep/lllm.toml": '[package]\nname = "dep"\n',
        "evil/lllm_packages/dep/tools/dt.py": mod("dep/tools"),
    }
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return archive


def ran(marker: Path) -> List[str]:
    return sorted(marker.read_text().split()) if marker.exists() else []


def test_untrusted_package_installs_and_no_command_runs_it(tmp_path):
    home, work, marker = tmp_path / "home", tmp_path / "work", tmp_path / "marker.txt"
    work.mkdir()
    archive = hostile_zip(tmp_path, marker)
    untrusted = {"LLLM_TRUSTED_PACKAGES": "someone_else"}
    before = snapshot(tmp_path)

    out = cli("pkg", "install", str(archive), cwd=work, home=home, **untrusted)
    target = home / "packages/evil"
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"Installed evil to {target}\n"
    assert out.stderr == (
        f"Warning: Package 'evil' is installed at {target} but not loaded: it is not in "
        f"LLLM_TRUSTED_PACKAGES, so none of its code ran. Add it there to use it.\n"
    )
    assert ran(marker) == []
    after = snapshot(tmp_path)
    with zipfile.ZipFile(archive) as zf:
        expected = {f"home/packages/{n}": zf.read(n) for n in zf.namelist()}
    assert {k: v for k, v in after.items() if k not in before} == expected  # exactly the archive's files
    assert all(before[k] == after[k] for k in before)

    listed = cli("list", cwd=work, home=home, **untrusted)
    assert listed.returncode == 0 and "not in LLLM_TRUSTED_PACKAGES; not loaded" in listed.stderr
    assert "evil" not in listed.stdout
    strict = cli("list", cwd=work, home=home, LLLM_STRICT="1", **untrusted)  # the policy at work is no error
    assert strict.returncode == 0 and "Traceback" not in strict.stderr
    run = cli("run", "evil.tactics:boom", "x", "--no-save", cwd=work, home=home, **untrusted)
    assert run.returncode == 1 and run.stderr.splitlines()[-1].startswith("Error: ") and "Traceback" not in run.stderr
    check = cli("check", str(target), cwd=work, home=home, **untrusted)
    assert check.returncode == 1 and "Traceback" not in check.stderr
    assert (
        f"Error: {target / 'lllm.toml'}: package 'evil' is not in LLLM_TRUSTED_PACKAGES, and loading it would "
        f"run its code; add it there first"
    ) in check.stderr
    check_all = cli("check", cwd=work, home=home, **untrusted)
    assert "Traceback" not in check_all.stderr
    pkgs = cli("pkg", "list", cwd=work, home=home, **untrusted)
    assert pkgs.returncode == 0 and pkgs.stdout.splitlines()[1].split()[:3] == ["evil", "-", "user"]
    exported = cli("pkg", "export", "evil", str(tmp_path / "out.zip"), cwd=work, home=home, **untrusted)
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(tmp_path / "out.zip") as zf, zipfile.ZipFile(archive) as original:
        assert sorted(zf.namelist()) == sorted(original.namelist())
    assert ran(marker) == []
    assert not any("__pycache__" in p.parts for p in target.rglob("*"))  # never even compiled

    # the marker works: trusting the package runs its modules, and a dependency only when trusted too
    trusted = cli("list", cwd=work, home=home, LLLM_TRUSTED_PACKAGES="evil")
    assert trusted.returncode == 0, trusted.stderr
    assert ran(marker) == ["evil/data", "evil/prompts", "evil/proxies", "evil/tactics", "evil/tools"]
    assert f"{target / 'lllm_packages/dep/lllm.toml'}: package 'dep' is not in LLLM_TRUSTED_PACKAGES" in trusted.stderr
    marker.unlink()
    both = cli("list", cwd=work, home=home, LLLM_TRUSTED_PACKAGES="evil,dep")
    assert both.returncode == 0 and "dep/tools" in ran(marker) and "evil/__init__" not in ran(marker)


def test_install_package_api_loads_only_a_trusted_package(tmp_path, monkeypatch):
    marker = tmp_path / "marker.txt"
    archive = hostile_zip(tmp_path, marker)
    monkeypatch.setenv("LLLM_TRUSTED_PACKAGES", "other")
    rt = Runtime("t")
    with pytest.warns(RuntimeWarning, match="installed at .* but not loaded: it is not in LLLM_TRUSTED_PACKAGES"):
        path = install_package(archive, runtime=rt)
    assert (path / "tactics/boom.py").is_file() and ran(marker) == [] and rt.packages == {}

    monkeypatch.delenv("LLLM_TRUSTED_PACKAGES")  # unset: every package is trusted, as auto-init does
    rt = Runtime("t2")
    install_package(archive, alias="evil2", runtime=rt)
    assert sorted(rt.packages) == ["dep", "evil", "evil2"] and "dep/tools" in ran(marker)
    assert rt.packages["evil"].name == "evil2" and rt.packages["evil"].alias == "evil"  # its own name, kept


def test_install_checks_the_manifest_statically_naming_the_installed_file(tmp_path):
    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("odd/lllm.toml", '[package]\nname = "odd"\n[prompts]\npaths = ["missing"]\n')
        zf.writestr("odd/tools/t.py", f"open({str(tmp_path / 'marker.txt')!r}, 'w').write('ran')\n")
    with pytest.warns(RuntimeWarning) as caught:
        path = install_package(archive, load=False)
    assert [str(w.message) for w in caught] == [
        f"{path / 'lllm.toml'}: [prompts].paths[0]: folder {path / 'missing'} does not exist; entry ignored"
    ]
    assert not (tmp_path / "marker.txt").exists()
