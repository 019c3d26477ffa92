"""Two versions side by side: ``toolkit`` installed, and an older ``toolkit`` installed under the alias ``tk1``
(which keeps answering to ``toolkit`` for its own references). The package really named ``toolkit`` owns the
name whichever loads first; the renamed copy stays reachable as ``tk1``."""

from __future__ import annotations

import zipfile

import pytest

from lllm import Runtime, install_package
from lllm.packages.discovery import load_shared_packages


def toolkit_zip(path, version):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("toolkit/lllm.toml", f'[package]\nname = "toolkit"\nversion = "{version}"\n')
        zf.writestr("toolkit/prompts/p.md", f"v{version}")
    return path


def test_the_package_named_toolkit_wins_over_a_copy_renamed_from_it(tmp_path):
    install_package(toolkit_zip(tmp_path / "v1.zip", "1"), alias="tk1", load=False)  # 'tk1' loads first (a-z)
    install_package(toolkit_zip(tmp_path / "v2.zip", "2"), load=False)
    rt = Runtime("t")
    with pytest.warns(RuntimeWarning, match=r"package 'tk1' .* was renamed from 'toolkit', so its references"):
        assert load_shared_packages(rt) == ["tk1", "toolkit"]
    assert rt.packages["toolkit"].name == "toolkit" and rt.packages["toolkit"].version == "2"
    assert rt.get("toolkit.prompts:p", "prompt").prompt == "v2"
    assert rt.get("tk1.prompts:p", "prompt").prompt == "v1"
    assert rt.keys("prompt") == ["tk1.prompts:p", "toolkit.prompts:p"]
