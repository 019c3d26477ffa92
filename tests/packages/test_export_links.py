"""Exporting a package whose section folder is a symbolic link: a link to a folder inside the package is
exported through (the archive holds what discovery loaded); one to a folder outside is left out with a
warning, like a file link outside; a link loop ends; no link leads into what exporting leaves out (.git, .env)."""

from __future__ import annotations

import zipfile

import pytest
from support.pkgtree import write_tree

from lllm import Runtime, export_package, install_package, load_package

MANIFEST = '[package]\nname = "demo"\n'


def test_a_section_folder_linked_inside_the_package_is_exported(tmp_path):
    root = write_tree(tmp_path / "src", {"lllm.toml": MANIFEST, "src/prompts/hi.md": "Hi"})
    (root / "prompts").symlink_to(root / "src/prompts", target_is_directory=True)
    rt = Runtime("t")
    load_package(root, runtime=rt)
    assert rt.get("demo.prompts:hi", "prompt").prompt == "Hi"
    out = export_package("demo", tmp_path / "demo.zip", runtime=rt)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["demo/lllm.toml", "demo/prompts/hi.md", "demo/src/prompts/hi.md"]
    installed = Runtime("i")
    install_package(out, alias="copy", runtime=installed)
    assert installed.get("copy.prompts:hi", "prompt").prompt == "Hi"  # the installed package works as the source


def test_a_folder_linked_outside_is_left_out_with_a_warning_and_a_link_loop_ends(tmp_path):
    write_tree(tmp_path / "shared", {"secret.md": "private"})
    root = write_tree(tmp_path / "src", {"lllm.toml": MANIFEST, "prompts/a.md": "A"})
    (root / "prompts/outside").symlink_to(tmp_path / "shared", target_is_directory=True)
    (root / "prompts/loop").symlink_to(root, target_is_directory=True)
    write_tree(root / ".git", {"config": "url = https://user:token@example.com/repo.git"})
    (root / "prompts/history").symlink_to(root / ".git", target_is_directory=True)  # never a way into .git
    (root / ".env").write_text("OPENAI_API_KEY=sk-secret")
    (root / "prompts/env.md").symlink_to(root / ".env")  # nor to a hidden file
    rt = Runtime("t")
    load_package(root, runtime=rt)
    with pytest.warns(RuntimeWarning, match=r"outside: a symbolic link to .*shared, outside the package"):
        out = export_package("demo", tmp_path / "demo.zip", runtime=rt)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["demo/lllm.toml", "demo/prompts/a.md"]
