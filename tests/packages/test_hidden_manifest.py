"""A package whose manifest is ``.lllm.toml`` (a name discovery reads) exports with its manifest, although
exporting leaves other hidden files out; the archive installs and loads."""

from __future__ import annotations

import zipfile

from support.pkgtree import write_tree

from lllm import Runtime, export_package, install_package, load_package


def test_a_hidden_manifest_is_exported_and_the_archive_installs(tmp_path):
    root = write_tree(
        tmp_path / "src",
        {".lllm.toml": '[package]\nname = "quiet"\n', "prompts/hi.md": "Hi", ".env": "SECRET=1"},
    )
    rt = Runtime("t")
    load_package(root, runtime=rt)
    out = export_package("quiet", tmp_path / "quiet.zip", runtime=rt)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["quiet/.lllm.toml", "quiet/prompts/hi.md"]
    installed = Runtime("i")
    install_package(out, alias="quiet2", runtime=installed)
    assert installed.get("quiet2.prompts:hi", "prompt").prompt == "Hi"
