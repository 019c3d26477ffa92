"""`lllm check PATH` under ``LLLM_TRUSTED_PACKAGES``: a trusted package's dependency the list leaves out is not
loaded, so its code never runs (docs/packages.md: "A trusted package's dependencies must be trusted too")."""

from __future__ import annotations

from support.pkgtree import write_tree

from lllm.cli import main


def test_check_of_a_trusted_package_does_not_run_an_untrusted_dependency(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "marker.txt"
    write_tree(
        tmp_path / "pkgs",
        {
            "good/lllm.toml": '[package]\nname = "good"\n[dependencies]\npackages = ["../shady"]\n',
            "good/prompts/hi.md": "Hi",
            "shady/lllm.toml": '[package]\nname = "shady"\n',
            "shady/tools/t.py": f"open({str(marker)!r}, 'a').write('shady ran')\n",
        },
    )
    monkeypatch.setenv("LLLM_TRUSTED_PACKAGES", "good")
    assert main(["check", str(tmp_path / "pkgs/good")]) == 0
    assert not marker.exists(), "the untrusted dependency's code ran"
    out = capsys.readouterr().out
    assert (
        f"warning: loading: {tmp_path / 'pkgs/shady/lllm.toml'}: package 'shady' is not in LLLM_TRUSTED_PACKAGES" in out
    )

    monkeypatch.setenv("LLLM_TRUSTED_PACKAGES", "good,shady")  # trusted too: it loads (the marker works)
    main(["check", str(tmp_path / "pkgs/good")])
    assert marker.read_text() == "shady ran"


SLUG = '''
from lllm import tool

@tool
def slug(text: str) -> str:
    """Slug a text.

    Args:
        text: the text
    """
    return text.lower()
'''


def test_check_of_the_project_path_sees_the_installed_packages_it_runs_with(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    write_tree(home / "packages/toolkit", {"lllm.toml": '[package]\nname = "toolkit"\n', "tools/slug.py": SLUG})
    project = write_tree(
        tmp_path / "proj",
        {
            "lllm.toml": '[package]\nname = "proj"\n',
            "configs/default.yaml": "agent_configs:\n  - name: a\n    model_name: test\n    system_prompt: hi\n"
            "    tools: [toolkit.tools:slug, toolkit.tools:slugg]\n",
        },
    )
    monkeypatch.setenv("LLLM_HOME", str(home))
    monkeypatch.chdir(project)
    assert main(["check", "."]) == 1
    out = capsys.readouterr().out
    where = "config proj.configs:default, agent a"
    assert out.splitlines() == [  # only the tool that does not exist, and its place said once
        f"error: {where}: no tool 'toolkit.tools:slugg' in runtime 'check'. Did you mean: ['toolkit.tools:slug']?"
    ]
