"""An install whose loading fails (strict mode and a broken file) says the package is installed: the files
stay in place, and the next install of it answers "already installed"."""

from __future__ import annotations

import zipfile

import pytest

from lllm import Runtime, install_package, list_packages
from lllm.errors import PackageError


def test_a_failed_load_after_installing_says_where_the_package_is(tmp_path, monkeypatch):
    archive = tmp_path / "brk.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("brk/lllm.toml", '[package]\nname = "brk"\n')
        zf.writestr("brk/tools/t.py", "import not_a_module_anywhere\n")
    monkeypatch.setenv("LLLM_STRICT", "1")
    with pytest.raises(PackageError) as e:
        install_package(archive, runtime=Runtime("t"))
    target = tmp_path / "home/packages/brk"
    assert str(e.value) == (
        f"Package 'brk' is installed at {target}, but loading it failed: {target / 'tools/t.py'}: import failed: "
        f"ModuleNotFoundError: No module named 'not_a_module_anywhere'; file skipped "
        f"(fix the package, or remove it: lllm pkg remove brk)"
    )
    assert [r["path"] for r in list_packages(scope="user")] == [str(target)]
