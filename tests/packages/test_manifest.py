"""lllm.toml parsing: sections, `under` prefixes, dependencies, and errors that name the file and key."""

from __future__ import annotations

import warnings

import pytest
from support.pkgtree import write_tree

from lllm import Runtime, load_package
from lllm.errors import PackageError
from lllm.packages.manifest import read_manifest


def collect(file):
    seen = []
    return read_manifest(file, seen.append), seen


def test_sections_entries_and_defaults(tmp_path):
    root = write_tree(
        tmp_path / "app",
        {
            "lllm.toml": """
            [package]
            name = "app"
            version = "1.2.0"
            description = "demo"
            homepage = "x"

            [prompts]
            paths = ["prompts", "more under extra/deep", {path = "more", prefix = "p2"}, {path = "more", under = "p3"}]

            [assets]
            paths = "static"

            [dependencies]
            packages = ["../dep", "../dep2 as d2", {path = "../dep3", alias = "d3"}, {path = "../dep4", as = "d4"}]
        """,
            "prompts/a.md": "A",
            "more/b.md": "B",
            "static/x.json": "{}",
            "tools/t.py": "",
            "configs/c.yaml": "{}",
        },
    )
    m, problems = collect(root / "lllm.toml")
    assert problems == []
    assert (m.name, m.version, m.description, m.extra) == ("app", "1.2.0", "demo", {"homepage": "x"})
    assert [(e.path.name, e.prefix) for e in m.sections["prompts"]] == [
        ("prompts", ""),
        ("more", "extra/deep"),
        ("more", "p2"),
        ("more", "p3"),
    ]
    assert [e.path.name for e in m.sections["assets"]] == ["static"]
    assert list(m.sections) == ["prompts", "assets", "tools", "configs"]  # defaults for unmentioned folders
    assert [(d.path.name, d.alias) for d in m.dependencies] == [
        ("dep", None),
        ("dep2", "d2"),
        ("dep3", "d3"),
        ("dep4", "d4"),
    ]


def test_name_defaults_to_the_folder_and_must_be_valid(tmp_path):
    m, _ = collect(write_tree(tmp_path / "my-pkg_2", {"lllm.toml": ""}) / "lllm.toml")
    assert m.name == "my-pkg_2"
    root = write_tree(tmp_path / "bad", {"lllm.toml": '[package]\nname = "My Pkg"\n'})
    with pytest.raises(PackageError) as e:
        collect(root / "lllm.toml")
    assert str(e.value) == (
        f"{root / 'lllm.toml'}: [package].name 'My Pkg' is not a valid package name: use "
        f"lower-case letters, digits, '_' and '-' ([a-z0-9_-]+)"
    )


def test_malformed_toml_names_the_file(tmp_path):
    root = write_tree(tmp_path / "p", {"lllm.toml": "[package\nname = 1\n"})
    with pytest.raises(PackageError, match=r"lllm\.toml: invalid TOML: "):
        collect(root / "lllm.toml")
    assert str(root / "lllm.toml") in str(pytest.raises(PackageError, collect, root / "lllm.toml").value)


def test_bad_entries_warn_with_file_and_key_and_the_rest_loads(tmp_path):
    root = write_tree(
        tmp_path / "p",
        {
            "lllm.toml": """
            [prompts]
            paths = ["prompts", 3, "missing", {path = "prompts", bogus = 1}, "prompts under ../up"]
            path = "typo"

            [tools]
            folders = ["tools"]

            [dependencies]
            packages = [7, "../x as Bad", {path = "../y", weird = 1}]
            extra = 1
        """,
            "prompts/a.md": "A",
            "tools/t.py": "",
        },
    )
    f = root / "lllm.toml"
    m, problems = collect(f)
    assert problems == [
        f"{f}: [prompts].path is not a known key (expected 'paths'); ignored",
        f'{f}: [prompts].paths[1]: expected "dir", "dir under prefix" or {{path, prefix}}, got int; entry ignored',
        f"{f}: [prompts].paths[2]: folder {root / 'missing'} does not exist; entry ignored",
        f"{f}: [prompts].paths[3]: unknown key(s) ['bogus'] (expected path, prefix or under); entry ignored",
        f"{f}: [prompts].paths[4]: invalid prefix '../up' (use '/'-separated names of letters, digits, '.', '_' "
        f"and '-'); entry ignored",
        f"{f}: [tools].folders is deprecated; rename it to 'paths'",
        f"{f}: [dependencies].extra is not a known key (expected 'packages'); ignored",
        f'{f}: [dependencies].packages[0]: expected "dir", "dir as alias" or {{path, alias}}, got int; entry ignored',
        f"{f}: [dependencies].packages[1]: alias 'Bad' is not a valid package name: use lower-case letters, "
        f"digits, '_' and '-' ([a-z0-9_-]+); entry ignored",
        f"{f}: [dependencies].packages[2]: unknown key(s) ['weird'] (expected path, alias or as); entry ignored",
    ]
    assert [e.path.name for e in m.sections["prompts"]] == ["prompts"]
    assert [e.path.name for e in m.sections["tools"]] == ["tools"]


def test_warnings_are_runtime_warnings_and_strict_mode_raises(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "p", {"lllm.toml": '[prompts]\npaths = ["nope"]\n'})
    with pytest.warns(RuntimeWarning, match=r"\[prompts\]\.paths\[0\]: folder .*nope does not exist"):
        load_package(root, runtime=Runtime("w"))
    with pytest.raises(PackageError, match=r"\[prompts\]\.paths\[0\]: folder .*nope does not exist"):
        load_package(root, runtime=Runtime("s"), strict=True)
    monkeypatch.setenv("LLLM_STRICT", "1")
    with pytest.raises(PackageError):
        load_package(root, runtime=Runtime("env"))
    monkeypatch.setenv("LLLM_STRICT", "off")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_package(root, runtime=Runtime("off"))
    assert len(caught) == 1


def test_top_level_scalars_and_bad_section_names_warn(tmp_path):
    root = write_tree(tmp_path / "p", {"lllm.toml": 'name = "x"\n["my.section"]\npaths = []\n'})
    _, problems = collect(root / "lllm.toml")
    f = root / "lllm.toml"
    assert problems == [
        f"{f}: top-level key 'name' must be a table like [name] with paths = [...]; ignored",
        f"{f}: section name [my.section] may only use letters, digits, '_' and '-'; ignored",
    ]
