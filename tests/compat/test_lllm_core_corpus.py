"""lllm-core 0.1.x's own test-case packages (vendored under lllm_core/, Apache-2.0, see its NOTICE.md)
load in LLLM and run on the offline test model: every prompt answers through an agent, every config
resolves, every proxy answers its endpoints through a ProxyManager, every custom-section file reads."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from lllm import Agent
from lllm.core.discovery import load_package
from lllm.core.runtime import Runtime
from lllm.errors import PackageError
from lllm.proxies import ProxyManager

CASES = Path(__file__).resolve().parent / "lllm_core" / "tests" / "test_cases" / "packages"
PACKAGES = sorted(p.name for p in CASES.iterdir() if p.is_dir() and p.name != "pkg_bad_toml")


def test_the_corpus_is_complete():
    assert len(PACKAGES) == 18 and (CASES / "pkg_bad_toml" / "lllm.toml").is_file()
    assert (CASES.parents[2] / "LICENSE").read_text().startswith("                                 Apache License")


def test_the_broken_manifest_is_refused_naming_the_file():
    with pytest.raises(PackageError, match=r"pkg_bad_toml.lllm\.toml"):
        load_package(str(CASES / "pkg_bad_toml" / "lllm.toml"), runtime=Runtime(), strict=True)


@pytest.mark.parametrize("name", PACKAGES)
def test_package_loads_and_runs_on_the_test_model(name):
    rt = Runtime()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # loads cleanly, even the dependency cycle and the diamond
        load_package(str(CASES / name / "lllm.toml"), runtime=rt)
    # (a ResourceWarning is the garbage collector reporting on an earlier test, whenever it happens to run)
    assert [str(w.message) for w in caught if not issubclass(w.category, ResourceWarning)] == []
    assert name in rt.packages
    ran = 0
    for node in list(rt.iter_nodes("prompt")):
        prompt = node.value
        args = {v: f"test {v}" for v in prompt.template_vars}
        agent = Agent(name="runner", system_prompt="You answer.", model="test", runtime=rt)
        agent.open("main")
        agent.receive_prompt(prompt, args)
        session = agent.respond(return_session=True)
        assert session.state == "success", node.qualified_key
        ran += 1
    for key in rt.keys("config"):
        assert isinstance(rt.get_config(key), dict), key
    for node in list(rt.iter_nodes()):
        if node.resource_type not in ("prompt", "config", "proxy", "tactic", "tool"):
            assert node.value is not None, node.qualified_key  # assets/, data/ files of pkg_gamma
    for node in list(rt.iter_nodes("proxy")):
        proxy_cls = node.value
        pm = ProxyManager(activate_proxies=[node.key], runtime=rt)
        pid = pm.available()[0]
        for ep in pm.get_api_directory(pid)["endpoints"]:
            params = {k.rstrip("*"): v[1] for k, v in (ep.get("params") or {}).items()}
            assert pm(f"{pid}/{ep['endpoint'].strip('/')}", params) is not None
        assert all(r["status"] == "ok" for r in proxy_cls().auto_test().values())
    own = [n for n in rt.iter_nodes("prompt") if n.namespace.startswith(name + ".")]
    assert ran >= len(own)


def test_the_readme_lists_every_excluded_unit_test():
    import importlib.util

    conftest = CASES.parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_lllm_core_conftest", conftest)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = (CASES.parents[1] / "README.md").read_text()
    assert module.EXCLUDED and all(f"`{test}`" in readme for test in module.EXCLUDED)
    units = CASES.parents[1] / "units"
    for test in module.EXCLUDED:  # each names a test that exists
        file, cls, *name = test.split("::")
        assert f"class {cls}" in (units / file).read_text() or cls.startswith("test_"), test
