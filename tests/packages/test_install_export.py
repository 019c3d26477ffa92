"""Package management (§6.6): install (hostile archives refused before anything is written, atomic,
alias renames only [package].name), export (sorted, filtered, bundled dependencies), list, remove."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest
from support.pkgtree import write_tree

from lllm import Runtime, export_package, install_package, list_packages, load_package, remove_package
from lllm.errors import PackageError
from lllm.packages import install as packages_module
from lllm.packages.discovery import load_shared_packages

MANIFEST = '# the demo package\n[package]\nname = "demo"  # keep me\nversion = "1.0.0"\ndescription = "A demo"\n'


def make_zip(path: Path, members: dict, symlinks: tuple = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def demo_zip(tmp_path: Path, top: str = "demo/") -> Path:
    return make_zip(
        tmp_path / "demo.zip", {f"{top}lllm.toml": MANIFEST, f"{top}prompts/hi.md": "Hi", f"{top}tools/__init__.py": ""}
    )


def user_packages() -> Path:
    return Path(os.environ["LLLM_HOME"]) / "packages"


def tree(root: Path) -> list:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def test_install_into_user_scope_and_load(tmp_path):
    rt = Runtime("t")
    path = install_package(demo_zip(tmp_path), runtime=rt)
    assert path == user_packages() / "demo"
    assert tree(user_packages()) == [
        "demo",
        "demo/lllm.toml",
        "demo/prompts",
        "demo/prompts/hi.md",
        "demo/tools",
        "demo/tools/__init__.py",
    ]
    assert rt.get_prompt("demo:hi").prompt == "Hi"
    assert list_packages() == [
        {"name": "demo", "version": "1.0.0", "description": "A demo", "scope": "user", "path": str(path)}
    ]


def test_install_a_root_level_manifest_into_project_scope(tmp_path):
    write_tree(Path.cwd(), {"lllm.toml": '[package]\nname = "proj"\n'})
    z = make_zip(tmp_path / "pkg.zip", {"lllm.toml": '[package]\nname = "flat"\n', "prompts/a.md": "A"})
    path = install_package(z, scope="project", load=False)
    assert path == Path.cwd().resolve() / "lllm_packages/flat"
    assert list_packages("project")[0]["name"] == "flat" and list_packages("user") == []


def test_alias_edits_only_the_package_name(tmp_path):
    rt = Runtime("t")
    path = install_package(demo_zip(tmp_path), alias="demo2", runtime=rt)
    assert path.name == "demo2"
    assert (path / "lllm.toml").read_text() == (
        MANIFEST.replace('name = "demo"', 'name = "demo2"') + 'original_name = "demo"\n'
    )  # its own name keeps reaching it
    assert rt.get_prompt("demo2:hi").prompt == "Hi"


def test_install_errors(tmp_path):
    z = demo_zip(tmp_path)
    with pytest.raises(ValueError, match=r"Unknown scope 'global'; use one of \['user', 'project'\]"):
        install_package(z, scope="global")
    with pytest.raises(ValueError, match="alias 'Bad!' is not a valid package name"):
        install_package(z, alias="Bad!")
    with pytest.raises(FileNotFoundError, match="No such package archive: "):
        install_package(tmp_path / "missing.zip")
    install_package(z, load=False)
    with pytest.raises(FileExistsError) as e:
        install_package(z, load=False)
    assert str(e.value) == (
        f"Package 'demo' is already installed at {user_packages() / 'demo'}; remove it first "
        f"(lllm pkg remove demo) or install under another name with alias=..."
    )
    (tmp_path / "notzip.zip").write_text("hello")
    with pytest.raises(PackageError, match="not a readable zip archive"):
        install_package(tmp_path / "notzip.zip")


@pytest.mark.parametrize(
    "members, symlinks, error",
    [
        ({"/abs/lllm.toml": MANIFEST}, (), "has an absolute or unsafe path"),
        ({"demo/lllm.toml": MANIFEST, "demo/../../evil.py": "x"}, (), "contains '..'"),
        ({"demo/lllm.toml": MANIFEST, "demo\\..\\evil.py": "x"}, (), "has an absolute or unsafe path"),
        ({"demo/lllm.toml": MANIFEST}, ("demo/link",), "is a symbolic link"),
        ({"C:/x/lllm.toml": MANIFEST}, (), "has an absolute or unsafe path"),
    ],
)
def test_hostile_members_are_refused_before_anything_is_written(tmp_path, members, symlinks, error):
    z = make_zip(tmp_path / "evil.zip", members, symlinks)
    with pytest.raises(PackageError, match=error):
        install_package(z)
    assert not user_packages().exists()
    assert not (tmp_path / "evil.py").exists()


@pytest.mark.parametrize(
    "members, error",
    [
        ({"a/lllm.toml": MANIFEST, "b/x.md": "x"}, r"top-level entries \['a', 'b'\]"),
        ({"demo/sub/lllm.toml": MANIFEST}, "no lllm.toml at the archive root or in its top folder 'demo/'"),
        ({"demo/x.md": "x"}, "no lllm.toml at the archive root"),
    ],
)
def test_manifest_in_the_wrong_place(tmp_path, members, error):
    with pytest.raises(ValueError, match=error):
        install_package(make_zip(tmp_path / "bad.zip", members))
    assert not user_packages().exists()


def test_zip_bombs_and_oversized_archives_are_refused(tmp_path, monkeypatch):
    bomb = make_zip(tmp_path / "bomb.zip", {"demo/lllm.toml": MANIFEST, "demo/zeros.bin": b"\0" * (8 * 1024 * 1024)})
    with pytest.raises(
        PackageError, match=r"member 'demo/zeros.bin' expands \d+x \(limit 200x\); refusing a likely zip bomb"
    ):
        install_package(bomb)
    monkeypatch.setattr(packages_module, "MAX_TOTAL_BYTES", 10)
    with pytest.raises(PackageError, match="bytes uncompressed exceed the limit of 10$"):
        install_package(demo_zip(tmp_path))
    monkeypatch.setattr(packages_module, "MAX_MEMBERS", 2)
    with pytest.raises(PackageError, match="3 members exceed the limit of 2"):
        install_package(demo_zip(tmp_path))
    assert not user_packages().exists()


def test_a_failed_install_leaves_nothing_behind(tmp_path, monkeypatch):
    def explode(zf, top, dest_root):
        (dest_root / "partial.txt").write_text("half")
        raise OSError("disk full")

    monkeypatch.setattr(packages_module, "_extract", explode)
    with pytest.raises(OSError, match="disk full"):
        install_package(demo_zip(tmp_path))
    assert tree(user_packages()) == []


def test_export_is_sorted_filtered_and_rooted(tmp_path):
    root = write_tree(
        tmp_path / "src",
        {
            "lllm.toml": MANIFEST,
            "prompts/b.md": "B",
            "prompts/a.md": "A",
            ".secret": "x",
            "prompts/.hidden.md": "x",
            "__pycache__/x.pyc": "x",
            ".git/HEAD": "x",
            "tools/__pycache__/t.pyc": "x",
            "tools/t.py": "",
        },
    )
    rt = Runtime("t")
    load_package(root, runtime=rt)
    out = export_package("demo", tmp_path / "out/demo-1.0", runtime=rt)
    assert out == tmp_path / "out/demo-1.0.zip"
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["demo/lllm.toml", "demo/prompts/a.md", "demo/prompts/b.md", "demo/tools/t.py"]
    with pytest.raises(ValueError) as e:
        export_package("nope", tmp_path / "x.zip", runtime=rt)
    assert str(e.value) == "Unknown package 'nope'. Known packages: ['demo']"
    assert export_package("demo", tmp_path / "again.zip", runtime=rt).read_bytes() == out.read_bytes()


def test_bundle_deps_makes_dependencies_reachable_after_install(tmp_path):
    write_tree(
        tmp_path / "src",
        {
            "app/lllm.toml": '[package]\nname = "app"\n\n[dependencies]\npackages = ["../lib as l", "../util"]\n',
            "app/prompts/a.md": "A",
            "lib/lllm.toml": '[package]\nname = "lib"\n[dependencies]\npackages = ["../util", "../app"]\n',
            "lib/prompts/l.md": "L",
            "util/lllm.toml": '[package]\nname = "util"\n',
            "util/tools/u.py": "",
        },
    )
    rt = Runtime("t")
    load_package(tmp_path / "src/app", runtime=rt)
    out = export_package("app", tmp_path / "app.zip", bundle_deps=True, runtime=rt)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == [
            "app/lllm.toml",
            "app/lllm_packages/lib/lllm.toml",
            "app/lllm_packages/lib/prompts/l.md",
            "app/lllm_packages/util/lllm.toml",
            "app/lllm_packages/util/tools/u.py",
            "app/prompts/a.md",
        ]
        assert zf.read("app/lllm.toml").decode() == (
            '[package]\nname = "app"\n\n[dependencies]\npackages = ["lllm_packages/lib as l", "lllm_packages/util"]\n'
        )
        assert zf.read("app/lllm_packages/lib/lllm.toml").decode() == (
            '[package]\nname = "lib"\n[dependencies]\npackages = ["../util", "../.."]\n'
        )
    install_package(out, load=False)
    fresh = Runtime("fresh")
    assert load_shared_packages(fresh) == ["app"]
    assert fresh.keys("prompt") == ["app.prompts:a", "l.prompts:l", "lib.prompts:l"]
    assert sorted(fresh.packages) == ["app", "l", "lib", "util"]


def test_remove_deletes_and_unregisters(tmp_path):
    rt = Runtime("t")
    path = install_package(demo_zip(tmp_path), runtime=rt)
    assert rt.has("demo:hi", "prompt")
    assert remove_package("demo", runtime=rt) == path
    assert not path.exists() and tree(user_packages()) == []
    assert not rt.has("demo:hi", "prompt") and "demo" not in rt.packages
    with pytest.raises(FileNotFoundError, match="No installed package 'demo' in the project or user scope"):
        remove_package("demo")


def test_remove_by_folder_name_and_scope_ambiguity(tmp_path):
    install_package(demo_zip(tmp_path), alias="copy", load=False)
    install_package(demo_zip(tmp_path), scope="project", load=False)
    install_package(demo_zip(tmp_path), scope="user", load=False)
    with pytest.raises(ValueError, match="Package 'demo' is installed in both scopes"):
        remove_package("demo")
    remove_package("demo", scope="project")
    assert [r["name"] for r in list_packages()] == ["copy", "demo"]
    remove_package("copy")
    assert [(r["name"], r["scope"]) for r in list_packages()] == [("demo", "user")]
    with pytest.raises(ValueError, match="Unknown scope"):
        list_packages("everywhere")


def test_an_archive_with_another_manifest_name_is_listed_loaded_and_removed(tmp_path):
    z = make_zip(tmp_path / "demo.zip", {"demo/LLLM.toml": MANIFEST, "demo/prompts/hi.md": "Hi"})
    path = install_package(z, load=False)
    assert [r["name"] for r in list_packages()] == ["demo"]
    fresh = Runtime("fresh")
    assert load_shared_packages(fresh) == ["demo"] and fresh.get_prompt("demo:hi").prompt == "Hi"
    assert remove_package("demo", runtime=fresh) == path and not path.exists()


def test_the_archive_manifest_is_the_one_discovery_reads(tmp_path):
    # Members in archive order: .lllm.toml first, but discovery reads lllm.toml (MANIFEST_NAMES order).
    z = make_zip(
        tmp_path / "demo.zip",
        {"demo/.lllm.toml": '[package]\nname = "other"\n', "demo/lllm.toml": MANIFEST, "demo/prompts/hi.md": "Hi"},
    )
    rt = Runtime("t")
    path = install_package(z, alias="copy", runtime=rt)
    assert path.name == "copy" and 'name = "copy"' in (path / "lllm.toml").read_text()
    assert (path / ".lllm.toml").read_text() == '[package]\nname = "other"\n'
    assert rt.get_prompt("copy:hi").prompt == "Hi"


def test_a_package_installed_concurrently_is_never_merged_into(tmp_path, monkeypatch):
    real_extract = packages_module._extract

    def racing_extract(zf, top, dest_root):
        real_extract(zf, top, dest_root)
        write_tree(user_packages() / "demo", {"theirs.txt": "theirs"})  # another process won the race

    monkeypatch.setattr(packages_module, "_extract", racing_extract)
    with pytest.raises(FileExistsError, match="was installed at .* while this install was running"):
        install_package(demo_zip(tmp_path), load=False)
    assert tree(user_packages()) == ["demo", "demo/theirs.txt"]


def test_export_leaves_out_symlinks_to_files_outside_the_package(tmp_path):
    (tmp_path / "secret.txt").write_text("private key")
    root = write_tree(tmp_path / "src", {"lllm.toml": MANIFEST, "prompts/a.md": "A"})
    (root / "prompts/leak.md").symlink_to(tmp_path / "secret.txt")
    (root / "prompts/same.md").symlink_to(root / "prompts/a.md")
    rt = Runtime("t")
    load_package(root, runtime=rt)
    with pytest.warns(RuntimeWarning, match=r"leak.md: a symbolic link to .*secret.txt, outside the package"):
        out = export_package("demo", tmp_path / "demo.zip", runtime=rt)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["demo/lllm.toml", "demo/prompts/a.md", "demo/prompts/same.md"]
        assert zf.read("demo/prompts/same.md") == b"A"


def test_export_into_the_package_folder_does_not_include_the_previous_archive(tmp_path):
    root = write_tree(tmp_path / "src", {"lllm.toml": MANIFEST, "prompts/a.md": "A"})
    rt = Runtime("t")
    load_package(root, runtime=rt)
    first = export_package("demo", root / "demo.zip", runtime=rt).read_bytes()
    with zipfile.ZipFile(export_package("demo", root / "demo.zip", runtime=rt)) as zf:
        assert zf.namelist() == ["demo/lllm.toml", "demo/prompts/a.md"]
    assert (root / "demo.zip").read_bytes() == first


def test_a_manifest_whose_package_is_not_a_table_is_refused_before_installing(tmp_path):
    z = make_zip(tmp_path / "demo.zip", {"demo/lllm.toml": 'package = "demo"\n', "demo/prompts/hi.md": "Hi"})
    with pytest.raises(PackageError, match=r"demo.zip: the archive's lllm.toml: \[package\] must be a table, got str"):
        install_package(z, load=False)
    assert not user_packages().exists()
