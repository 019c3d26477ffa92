"""Removing an installed package unregisters the dependencies bundled inside it too: their files are gone,
so the runtime must not keep serving (or listing) them."""

from __future__ import annotations

from support.pkgtree import write_tree

from lllm import Runtime, export_package, install_package, list_packages, load_package, remove_package


def test_remove_unregisters_the_dependencies_bundled_in_the_package(tmp_path):
    write_tree(
        tmp_path / "src",
        {
            "app/lllm.toml": '[package]\nname = "app"\n[dependencies]\npackages = ["../lib as l"]\n',
            "app/prompts/a.md": "A",
            "lib/lllm.toml": '[package]\nname = "lib"\n',
            "lib/prompts/l.md": "L",
            "keep/lllm.toml": '[package]\nname = "keep"\n',
            "keep/prompts/k.md": "K",
        },
    )
    source = Runtime("src")
    load_package(tmp_path / "src/app", runtime=source)
    archive = export_package("app", tmp_path / "app.zip", bundle_deps=True, runtime=source)
    rt = Runtime("t")
    load_package(tmp_path / "src/keep", runtime=rt)
    path = install_package(archive, runtime=rt)
    assert sorted(rt.packages) == ["app", "keep", "l", "lib"]
    remove_package("app", runtime=rt)
    assert not path.exists()
    assert sorted(rt.packages) == ["keep"] and rt.keys("prompt") == ["keep.prompts:k"]
    assert [r["name"] for r in list_packages(runtime=rt)] == ["keep"]  # nothing listed from the deleted folder
