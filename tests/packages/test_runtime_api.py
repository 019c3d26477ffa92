"""The Runtime API (§6.4): resolution order, suggestions, refused keys, module helpers, named runtimes,
find_config_file, the cwd fallback, and auto-init with drop-in packages in a real subprocess (§6.5)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.pkgtree import write_tree

import lllm
from lllm import (
    Prompt,
    ResourceNode,
    Runtime,
    find_config_file,
    get_default_runtime,
    get_runtime,
    load_cwd_fallback,
    load_package,
    load_resource,
    load_runtime,
    tool,
)
from lllm.errors import ResourceNotFoundError, ToolBindingError

ROOT = Path(__file__).resolve().parents[2]


@tool
def search(q: str) -> str:
    """Search."""
    return q


def small_runtime() -> Runtime:
    rt = Runtime("api")
    rt.register_package(lllm.PackageInfo("app"))
    rt.register_package(lllm.PackageInfo("lib"))
    rt.register_prompt(Prompt(path="greet", prompt="Hi"), namespace="app")
    rt.register_prompt(Prompt(path="greet", prompt="Lib hi"), namespace="lib")
    rt.register_tool("search", search, namespace="app")
    rt.register_config("greet", {"x": 1}, namespace="app")
    return rt


def test_resolution_order():
    rt = small_runtime()
    assert rt.get("app.prompts:greet").prompt == "Hi"  # 1. exact
    assert rt.get("greet").prompt == "Hi"  # 2. bare key: default package, prompts first
    assert rt.get("greet", "config") == {"x": 1}  #    ... or the section of the type
    assert rt.get("lib:greet", "prompt").prompt == "Lib hi"  # 3. pkg:rest
    assert rt.get("lib:greet").prompt == "Lib hi"
    assert rt.get("tools:search") is search  # 4. section:rest in the default package
    assert rt.keys("prompt") == ["app.prompts:greet", "lib.prompts:greet"]


def test_type_mismatch_and_misses():
    rt = small_runtime()
    with pytest.raises(TypeError) as e:
        rt.get("app.configs:greet", "prompt")
    assert str(e.value) == "Resource 'app.configs:greet' is type 'config', expected 'prompt'"
    with pytest.raises(ResourceNotFoundError) as e:
        rt.get("app.prompts:gret")
    assert e.value.suggestions[:2] == ["app.prompts:greet", "lib.prompts:greet"] and e.value.key == "app.prompts:gret"
    assert str(e.value) == f"No resource 'app.prompts:gret' in runtime 'api'. Did you mean: {e.value.suggestions}?"
    with pytest.raises(ResourceNotFoundError) as e:
        rt.get("app.prompts:gret", "prompt")
    assert str(e.value) == (
        "No prompt 'app.prompts:gret' in runtime 'api'. Did you mean: ['app.prompts:greet', 'lib.prompts:greet']?"
    )
    with pytest.raises(ResourceNotFoundError) as e:
        rt.get("zzzzzzzz", "tool")
    assert str(e.value) == "No tool 'zzzzzzzz' in runtime 'api'. Available: ['app.tools:search']"
    assert isinstance(e.value, KeyError)
    rt.init_error = "PackageError: broken"
    with pytest.raises(ResourceNotFoundError, match=r"\(note: auto-init failed: PackageError: broken\)"):
        rt.get("nothing")


@pytest.mark.parametrize(
    "key",
    [
        "app.prompts:../secret",
        "../etc/passwd",
        "/etc/passwd",
        "app:a/../../b",
        "a:b:c",
        "app.assets:~/x",
        "bad\\key",
        "nul\x00",
        "",
    ],
)
def test_traversal_and_odd_keys_are_refused(key):
    rt = small_runtime()
    with pytest.raises(ValueError, match="Invalid resource key"):
        rt.get(key)
    assert rt.has(key) is False


def test_register_unregister_reset_and_overwrite():
    rt = small_runtime()
    with pytest.raises(ValueError, match="Resource 'app.prompts:greet' is already registered in runtime 'api'"):
        rt.register(ResourceNode.eager("greet", 1, "app.prompts", "prompt"), overwrite=False)
    assert rt.unregister("app.prompts:greet") and not rt.unregister("app.prompts:greet")
    assert not rt.has("app.prompts:greet", "prompt") and rt.has("greet")  # the config "greet" still resolves
    rt.reset()
    assert rt.keys() == [] and rt.packages == {} and rt.default_namespace is None


def test_register_tool_checks_the_last_key_segment():
    rt = Runtime("t")
    rt.register_tool("web/search", search)
    with pytest.raises(ToolBindingError) as e:
        rt.register_tool("web/find", search)
    assert str(e.value) == "Tool key 'web/find' must end with the tool's name 'search' (e.g. 'web/search')"
    rt.register_tool("plain", lambda x: x)
    assert rt.get_tool("plain").name == "plain"


def test_unload_package_removes_resources_and_aliases(tmp_path):
    write_tree(
        tmp_path,
        {
            "a/lllm.toml": '[dependencies]\npackages = ["../b as bee"]\n',
            "a/prompts/x.md": "x",
            "b/lllm.toml": "",
            "b/prompts/y.md": "y",
        },
    )
    rt = Runtime("t")
    load_package(tmp_path / "a", runtime=rt)
    assert rt.unload_package("bee") == 1
    assert rt.keys() == ["a.prompts:x"] and sorted(rt.packages) == ["a"]
    assert str((tmp_path / "b").resolve()) not in rt.loaded_package_paths
    with pytest.raises(KeyError, match="No package 'b'"):
        rt.unload_package("b")


def test_lazy_node_loads_once_even_concurrently():
    calls = []

    def loader():
        calls.append(1)
        time.sleep(0.05)
        return {"v": 1}

    node = ResourceNode.lazy("k", loader, "p.configs", "config")
    threads = [threading.Thread(target=lambda: node.value) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and node.value == {"v": 1}
    failing = ResourceNode.lazy("k", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        _ = failing.value
    assert not failing.loaded


def test_listing_keys_while_another_thread_registers():
    saved_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so a listing meets a registration mid-iteration
    rt = Runtime("t")
    for i in range(2000):
        rt.register(ResourceNode.eager(f"k{i}", i, resource_type="config"))
    stop = threading.Event()

    def churn():
        i = 0
        while not stop.is_set():
            rt.register(ResourceNode.eager(f"w{i}", i, resource_type="config"))
            rt.unregister(f"w{i}")
            i += 1

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        deadline = time.monotonic() + 1.0
        for _ in range(1000):  # "dictionary changed size during iteration" without a snapshot
            if time.monotonic() > deadline:
                break
            assert len(rt.keys("config")) >= 2000
            assert sum(1 for _ in rt.iter_nodes("config")) >= 2000
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(saved_interval)


def test_module_helpers_and_named_runtimes(tmp_path):
    write_tree(tmp_path / "p", {"lllm.toml": "", "prompts/hello.md": "Hello", "configs/c.yaml": "a: 1\n"})
    rt = load_runtime(tmp_path / "p", name="helpers", discover_shared_packages=False)
    assert get_runtime("helpers") is rt and get_default_runtime() is not rt
    assert lllm.load_prompt("hello", runtime=rt).prompt == "Hello"
    assert lllm.load_config("c", runtime=rt) == {"a": 1}
    assert load_resource("p.prompts:hello", runtime=rt).prompt == "Hello"
    with pytest.raises(ValueError, match="load_resource expects a URL like 'pkg.section:key', got 'hello'"):
        load_resource("hello", runtime=rt)
    with pytest.raises(KeyError) as e:
        get_runtime("nope")
    assert "Create one with load_runtime(name='nope')" in str(e.value)
    default = load_runtime(tmp_path / "p")
    assert get_default_runtime() is default and default.discovery_done
    assert lllm.load_prompt("hello").prompt == "Hello"
    from lllm.core import runtime as runtime_module

    assert runtime_module.load_runtime is load_runtime  # the 0.1.x module path still works


def test_find_config_file(tmp_path, monkeypatch):
    write_tree(tmp_path, {"proj/lllm.toml": "", "proj/sub/deep/x.txt": "", "other/.lllm.toml": "", "env/LLLM.toml": ""})
    assert find_config_file(tmp_path / "proj/sub/deep") == (tmp_path / "proj/lllm.toml").resolve()
    assert find_config_file(tmp_path / "other") == (tmp_path / "other/.lllm.toml").resolve()
    monkeypatch.chdir(tmp_path / "proj/sub")
    assert find_config_file() == (tmp_path / "proj/lllm.toml").resolve()
    monkeypatch.setenv("LLLM_CONFIG", str(tmp_path / "env"))
    assert find_config_file() == (tmp_path / "env/LLLM.toml").resolve()
    monkeypatch.setenv("LLLM_CONFIG", str(tmp_path / "other/.lllm.toml"))
    assert find_config_file() == (tmp_path / "other/.lllm.toml").resolve()
    monkeypatch.setenv("LLLM_CONFIG", str(tmp_path / "missing.toml"))
    assert find_config_file() == (tmp_path / "proj/lllm.toml").resolve()


def test_cwd_fallback(tmp_path, monkeypatch):
    work = write_tree(tmp_path / "My Project", {"prompts/hi.md": "Hi", "configs/c.yaml": "a: 1\n"})
    monkeypatch.chdir(work)
    rt = Runtime("t")
    with pytest.warns(RuntimeWarning, match=r"No lllm.toml found: loading the folders \['prompts', 'configs'\]"):
        assert load_cwd_fallback(rt) is True
    assert rt.keys() == ["my_project.configs:c", "my_project.prompts:hi"]
    monkeypatch.chdir(tmp_path)
    assert load_cwd_fallback(Runtime("empty")) is False


# ---------------------------------------------------------------------------------------------
# auto-init, in a fresh interpreter
# ---------------------------------------------------------------------------------------------

PROBE = (
    "import warnings; warnings.simplefilter('always'); import lllm; rt = lllm.get_default_runtime(); "
    "print(sorted(rt.packages)); print(rt.keys()); print(rt.init_error)"
)


def run_probe(cwd: Path, home: Path, **env: str) -> subprocess.CompletedProcess:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LLLM_HOME": str(home), **env}
    return subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, capture_output=True, text=True, env=full, timeout=60)


def test_auto_init_loads_the_project_and_drop_ins(tmp_path):
    home = tmp_path / "home"
    write_tree(
        tmp_path,
        {
            "proj/lllm.toml": '[package]\nname = "proj"\n',
            "proj/prompts/p.md": "P",
            "proj/sub/.keep": "",
            "proj/lllm_packages/zeta/lllm.toml": "",
            "proj/lllm_packages/zeta/prompts/z.md": "Z",
            "proj/lllm_packages/alpha/lllm.toml": "",
            "proj/lllm_packages/alpha/prompts/a.md": "A",
            "proj/lllm_packages/.installing-x/lllm.toml": "",
            "home/packages/alpha/lllm.toml": "",
            "home/packages/alpha/prompts/other.md": "user copy",
            "home/packages/beta/lllm.toml": "",
            "home/packages/beta/prompts/b.md": "B",
        },
    )
    out = run_probe(tmp_path / "proj/sub", home)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "['alpha', 'beta', 'proj', 'zeta']"
    assert lines[1] == "['alpha.prompts:a', 'beta.prompts:b', 'proj.prompts:p', 'zeta.prompts:z']"
    assert lines[2] == "None" and out.stderr == ""
    trusted = run_probe(tmp_path / "proj", home, LLLM_TRUSTED_PACKAGES="zeta, alpha")
    assert trusted.stdout.splitlines()[0] == "['alpha', 'proj', 'zeta']"
    assert "package 'beta' is not in LLLM_TRUSTED_PACKAGES; not loaded" in trusted.stderr
    off = run_probe(tmp_path / "proj", home, LLLM_AUTO_SHARED_PACKAGES="no")
    assert off.stdout.splitlines()[0] == "['proj']"
    disabled = run_probe(tmp_path / "proj", home, LLLM_AUTO_INIT="false")
    assert disabled.stdout.splitlines() == ["[]", "[]", "None"]


def test_a_broken_manifest_never_breaks_the_import(tmp_path):
    write_tree(tmp_path, {"proj/lllm.toml": "[package\n", "proj/prompts/p.md": "P"})
    out = run_probe(tmp_path / "proj", tmp_path / "home")
    assert out.returncode == 0
    assert "RuntimeWarning: LLLM auto-init failed: PackageError: " in out.stderr
    assert out.stdout.splitlines()[2].startswith(f"PackageError: {tmp_path / 'proj/lllm.toml'}: invalid TOML")
    strict = run_probe(tmp_path / "proj", tmp_path / "home", LLLM_STRICT="1")
    assert strict.returncode == 0


def test_auto_init_cwd_fallback_and_empty_runtime(tmp_path):
    write_tree(
        tmp_path,
        {
            "work/tools/t.py": "from lllm import tool\n\n@tool\ndef t(x: int) -> int:\n    'T.'\n    return x\n",
            "empty/x.txt": "",
        },
    )
    out = run_probe(tmp_path / "work", tmp_path / "home")
    assert out.stdout.splitlines()[:2] == ["['work']", "['work.tools:t']"]
    assert "No lllm.toml found: loading the folders ['tools']" in out.stderr
    off = run_probe(tmp_path / "work", tmp_path / "home", LLLM_AUTO_CWD_FALLBACK="0")
    assert off.stdout.splitlines()[:2] == ["[]", "[]"]
    empty = run_probe(tmp_path / "empty", tmp_path / "home")
    assert empty.stdout.splitlines() == ["[]", "[]", "None"] and empty.stderr == ""


def test_import_stays_cheap_without_a_project(tmp_path):
    code = (
        "import time, sys; t = time.perf_counter(); import lllm; "
        "print(time.perf_counter() - t); print('lllm.packages.discovery' in sys.modules)"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "LLLM_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60
    )
    seconds, discovery_imported = out.stdout.split()
    assert discovery_imported == "False" and float(seconds) < 0.5
