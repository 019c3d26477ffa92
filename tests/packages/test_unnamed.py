"""A manifest without ``[package].name`` takes its folder's name; when that name is not a valid package name
the error says so (not that ``[package].name`` is invalid: the file has none) and how to fix it."""

from __future__ import annotations

import zipfile

import pytest
from support.pkgtree import write_tree

from lllm import Runtime, install_package, load_package
from lllm.errors import PackageError


def test_an_invalid_folder_name_is_named_as_the_culprit_with_the_fix(tmp_path):
    root = write_tree(tmp_path / "My Project", {"lllm.toml": '[package]\nversion = "1"\n', "prompts/a.md": "A"})
    with pytest.raises(PackageError) as e:
        load_package(root)
    assert str(e.value) == (
        f"{root / 'lllm.toml'}: [package].name is not set, and the folder name 'My Project' is not a valid "
        f"package name (lower-case letters, digits, '_' and '-'); set one in the manifest, e.g. "
        f'[package] name = "my_project"'
    )


@pytest.mark.parametrize(
    "member, what, name, fix",
    [
        ("MyPkg/lllm.toml", "archive's top folder", "MyPkg", "mypkg"),
        ("lllm.toml", "archive file", "Tools.v2", "tools_v2"),
    ],
)
def test_an_archive_without_a_name_says_where_the_invalid_name_came_from(tmp_path, member, what, name, fix):
    archive = tmp_path / "Tools.v2.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(member, "[prompts]\n")
    with pytest.raises(ValueError) as e:
        install_package(archive, load=False)
    assert str(e.value) == (
        f"{archive}: the archive's lllm.toml: [package].name is not set, and the {what} name {name!r} is not a "
        f"valid package name (lower-case letters, digits, '_' and '-'); set one in the manifest, e.g. "
        f'[package] name = "{fix}"'
    )


def test_a_nameless_archive_with_an_invalid_folder_name_installs_under_an_alias(tmp_path):
    archive = tmp_path / "MyPkg.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("MyPkg/lllm.toml", "[prompts]\n")
        zf.writestr("MyPkg/prompts/hi.md", "Hi")
    rt = Runtime("t")
    path = install_package(archive, alias="mypkg", runtime=rt)
    assert path.name == "mypkg" and rt.get("mypkg.prompts:hi", "prompt").prompt == "Hi"
