"""A package zipped with macOS Finder's "Compress" carries a ``__MACOSX/`` folder of resource forks next to the
package folder; it installs (the metadata is not copied), and its members are still checked like any other."""

from __future__ import annotations

import zipfile

import pytest

from lllm import Runtime, install_package
from lllm.errors import PackageError


def finder_zip(path, extra=()):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo/", "")
        zf.writestr("demo/lllm.toml", '[package]\nname = "demo"\n')
        zf.writestr("demo/prompts/hi.md", "Hi")
        zf.writestr("__MACOSX/", "")
        zf.writestr("__MACOSX/demo/._lllm.toml", b"\x00\x05\x16\x07 resource fork")
        zf.writestr("__MACOSX/demo/prompts/._hi.md", b"\x00\x05\x16\x07")
        for name in extra:
            zf.writestr(name, "x")
    return path


def test_a_finder_zip_installs_without_its_macos_metadata(tmp_path):
    rt = Runtime("t")
    path = install_package(finder_zip(tmp_path / "demo.zip"), runtime=rt)
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) == ["lllm.toml", "prompts", "prompts/hi.md"]
    assert rt.get("demo.prompts:hi", "prompt").prompt == "Hi"


def test_metadata_members_are_still_checked(tmp_path):
    with pytest.raises(PackageError, match=r"member '__MACOSX/\.\./evil' contains '\.\.'"):
        install_package(finder_zip(tmp_path / "demo.zip", ["__MACOSX/../evil"]), load=False)
