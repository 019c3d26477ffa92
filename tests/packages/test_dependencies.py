"""Dependencies: depth-first loading, diamonds once, cycles stopped, `as` aliases sharing nodes,
re-export through `under`, name clashes and strict mode."""

from __future__ import annotations

import logging
import warnings

import pytest
from support.pkgtree import write_tree

from lllm import Runtime, load_package
from lllm.errors import PackageError

COUNTER = """
    from pathlib import Path
    log = Path(__file__).parent / "imports.log"
    log.write_text(log.read_text() + "x" if log.exists() else "x")
"""


def pkg(name, deps=(), extra=""):
    listed = ", ".join(f'"{d}"' for d in deps)
    return {
        f"{name}/lllm.toml": f'[package]\nname = "{name}"\n[dependencies]\npackages = [{listed}]\n{extra}',
        f"{name}/prompts/{name}_p.md": f"I am {name}",
    }


def load(tmp_path, files, root="a", **kw):
    write_tree(tmp_path, files)
    rt = Runtime("deps")
    load_package(tmp_path / root, runtime=rt, **kw)
    return rt


def test_chain_loads_depth_first_and_the_root_is_the_default(tmp_path):
    rt = load(tmp_path, {**pkg("a", ["../b"]), **pkg("b", ["../c"]), **pkg("c")})
    assert list(rt.packages) == ["a", "b", "c"]
    assert rt.default_namespace == "a"
    assert [n.qualified_key for n in rt.iter_nodes()] == ["c.prompts:c_p", "b.prompts:b_p", "a.prompts:a_p"]
    assert rt.get_prompt("c:c_p").prompt == "I am c"


def test_diamond_loads_the_shared_package_once(tmp_path):
    rt = load(
        tmp_path,
        {
            **pkg("a", ["../b", "../c"]),
            **pkg("b", ["../d"]),
            **pkg("c", ["../d"]),
            **pkg("d"),
            "d/tools/count.py": COUNTER,
        },
    )
    assert list(rt.packages) == ["a", "b", "d", "c"]
    assert (tmp_path / "d/tools/imports.log").read_text() == "x"
    assert len(rt.loaded_package_paths) == 4


def test_cycle_stops_at_the_visited_package(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger="lllm.config"):
        rt = load(tmp_path, {**pkg("a", ["../b"]), **pkg("b", ["../a"])})
    assert sorted(rt.packages) == ["a", "b"]
    assert rt.keys() == ["a.prompts:a_p", "b.prompts:b_p"]
    assert any("dependency cycle stopped" in r.getMessage() for r in caplog.records)


def test_alias_shares_nodes_and_keeps_the_original_name(tmp_path):
    rt = load(tmp_path, {**pkg("a", ["../b as bee"]), **pkg("b")})
    assert rt.get_node("bee.prompts:b_p") is rt.get_node("b.prompts:b_p")
    assert rt.get_prompt("bee:b_p") is rt.get_prompt("b:b_p")
    assert rt.packages["bee"].alias == "bee" and rt.packages["bee"].name == "b"
    assert rt.packages["b"].alias is None
    # resources registered later are mirrored under the alias too
    rt.register_prompt(__import__("lllm").Prompt(path="late", prompt="x"), namespace="b")
    assert rt.get_node("bee.prompts:late") is rt.get_node("b.prompts:late")
    assert [n.qualified_key for n in rt.iter_nodes("prompt")].count("b.prompts:b_p") == 1


def test_diamond_with_two_aliases(tmp_path):
    rt = load(tmp_path, {**pkg("a", ["../b", "../d as dee"]), **pkg("b", ["../d as d2"]), **pkg("d")})
    assert rt.get_node("dee.prompts:d_p") is rt.get_node("d2.prompts:d_p") is rt.get_node("d.prompts:d_p")


def test_alias_clashing_with_another_package_is_an_error(tmp_path):
    with pytest.raises(PackageError) as e:
        load(tmp_path, {**pkg("a", ["../b", "../c as b"]), **pkg("b"), **pkg("c")})
    assert str(e.value) == (
        f"{tmp_path / 'a/lllm.toml'}: [dependencies].packages[1]: Alias 'b' for package 'c' clashes with the "
        f"package 'b' ({(tmp_path / 'b').resolve()}); choose another alias."
    )


def test_missing_dependency_warns_with_file_and_key_and_loading_continues(tmp_path):
    with pytest.warns(RuntimeWarning) as rec:
        rt = load(tmp_path, {**pkg("a", ["../nowhere", "../b"]), **pkg("b")})
    assert str(rec[0].message) == (
        f"{tmp_path / 'a/lllm.toml'}: [dependencies].packages[0]: dependency "
        f"{tmp_path / 'nowhere'} not found (no lllm.toml there); skipped"
    )
    assert sorted(rt.packages) == ["a", "b"]


def test_broken_dependency_manifest_warns_and_loading_continues(tmp_path):
    files = {**pkg("a", ["../b", "../c"]), **pkg("c"), "b/lllm.toml": "[package\n"}
    with pytest.warns(RuntimeWarning, match=r"\[dependencies\]\.packages\[0\]: .*b/lllm\.toml: invalid TOML"):
        rt = load(tmp_path, files)
    assert sorted(rt.packages) == ["a", "c"]
    with pytest.raises(PackageError, match="invalid TOML"):
        load(tmp_path, files, strict=True)


def test_same_name_from_two_directories_first_wins(tmp_path):
    files = {
        **pkg("a", ["../one", "../two"]),
        "one/lllm.toml": '[package]\nname = "shared"\n',
        "one/prompts/x.md": "one",
        "two/lllm.toml": '[package]\nname = "shared"\n',
        "two/prompts/x.md": "two",
    }
    with pytest.warns(RuntimeWarning) as rec:
        rt = load(tmp_path, files)
    assert str(rec[0].message) == (
        f"{tmp_path / 'two/lllm.toml'}: package 'shared' is already loaded from "
        f"{(tmp_path / 'one').resolve()}; the first one wins and this one is skipped"
    )
    assert rt.get_prompt("shared:x").prompt == "one"
    with pytest.raises(PackageError, match="package 'shared' is already loaded"):
        load(tmp_path, files, strict=True)


def test_reexport_with_under_affects_only_the_importer(tmp_path):
    files = {
        **pkg("a", ["../b"], extra='[prompts]\npaths = ["prompts", "../b/prompts under vendored/b"]\n'),
        **pkg("b"),
    }
    rt = load(tmp_path, files)
    assert rt.keys("prompt") == ["a.prompts:a_p", "a.prompts:vendored/b/b_p", "b.prompts:b_p"]
    assert rt.get_prompt("vendored/b/b_p").prompt == "I am b"


def test_dependency_given_as_a_manifest_file(tmp_path):
    rt = load(tmp_path, {**pkg("a", ["../b/lllm.toml"]), **pkg("b")})
    assert sorted(rt.packages) == ["a", "b"]


def test_loading_the_same_folder_twice_is_a_no_op(tmp_path):
    write_tree(tmp_path, pkg("a"))
    rt = Runtime("t")
    first = load_package(tmp_path / "a", runtime=rt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_package(tmp_path / "a/lllm.toml", runtime=rt) is first
