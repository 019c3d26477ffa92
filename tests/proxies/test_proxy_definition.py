"""Proxies (§8.1): BaseProxy, @endpoint metadata, directories, registration and module loading."""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
import warnings

import pytest

from lllm import Runtime
from lllm.packages.runtime import get_default_runtime, loading_runtime
from lllm.proxies import BaseProxy, ProxyRegistrator, load_builtin_proxies, register_proxy


class Weather(BaseProxy):
    """Weather data."""

    additional_docs = {"Units": "Celsius everywhere."}

    @BaseProxy.endpoint(
        category="Forecast",
        endpoint="forecast",
        description="Daily forecast.",
        params={"q*": (str, "London"), "days": (int, 3)},
        response={"days": [{"t": 12}]},
    )
    def forecast(self, params):
        """Up to 10 days."""
        return params

    @BaseProxy.endpoint(
        category="Current",
        endpoint="now",
        description="Current weather.",
        params={"q*": (str, "Paris")},
        response=None,
        method="post",
    )
    def current(self, q):
        return {"q": q}

    @BaseProxy.postcall
    def tidy(self, result):
        return result

    def helper(self):
        return "not an endpoint"


def test_endpoint_only_attaches_metadata():
    info = Weather.forecast.endpoint_info
    assert info["params"] == {"q*": (str, "London"), "days": (int, 3)}
    assert info["method"] == "GET" and info["name"] is None and info["category"] == "Forecast"
    assert Weather.tidy.is_postcall is True
    assert Weather().forecast({"q": "x"}) == {"q": "x"}  # the method itself is unchanged


def test_endpoint_directory_api_directory_and_auto_test_shapes():
    proxy = Weather()
    directory = proxy.endpoint_directory()
    assert [e["callable"] for e in directory] == ["current", "forecast"]  # sorted by category, endpoint
    fc = directory[1]
    assert fc["name"] == "forecast" and fc["docstring"] == "Up to 10 days." and fc["endpoint"] == "forecast"
    api = proxy.api_directory()
    assert api == {"id": "Weather", "display_name": "Weather", "description": "", "endpoints": directory}
    assert proxy.auto_test() == {
        "current": {"status": "warning", "issues": ["response"]},
        "forecast": {"status": "ok", "issues": []},
    }


@pytest.mark.parametrize(
    "value, expected",
    [("2024-06-30", dt.datetime(2024, 6, 30)), (dt.date(2024, 1, 2), dt.datetime(2024, 1, 2)), (None, None)],
)
def test_cutoff_date_is_parsed(value, expected):
    assert Weather(cutoff_date=value).cutoff_date == expected


def test_invalid_cutoff_date_becomes_none_with_a_warning():
    with pytest.warns(UserWarning, match="not an ISO date"):
        assert Weather(cutoff_date="last tuesday").cutoff_date is None


def test_base_proxy_keeps_standard_settings():
    p = Weather(activate_proxies=["a"], deploy_mode=True, use_cache=False, extra="ignored")
    assert (p.activate_proxies, p.deploy_mode, p.use_cache) == (["a"], True, False)


def test_registrator_sets_attributes_and_registers_in_explicit_runtime():
    rt = Runtime("proxy-def-explicit")

    @ProxyRegistrator(path="geo/weather", name="Weather API", description="Forecasts.", runtime=rt)
    class W(Weather):
        pass

    assert (W._proxy_path, W._proxy_name, W._proxy_description) == ("geo/weather", "Weather API", "Forecasts.")
    assert rt.get_proxy("geo/weather") is W
    assert W().api_directory()["id"] == "geo/weather"
    assert not get_default_runtime().has("geo/weather", "proxy")


def test_registrator_uses_the_loading_runtime():
    rt = Runtime("proxy-def-loading")
    token = loading_runtime.set(rt)
    try:

        @ProxyRegistrator(path="loaded", name="L", description="")
        class L(BaseProxy):
            pass
    finally:
        loading_runtime.reset(token)
    assert rt.get_proxy("loaded") is L and not get_default_runtime().has("loaded", "proxy")


def test_register_proxy_refuses_duplicates_unless_overwrite():
    rt = Runtime("proxy-def-register")
    register_proxy("w", Weather, runtime=rt)
    with pytest.raises(ValueError, match="already registered"):
        register_proxy("w", Weather, runtime=rt)
    register_proxy("w", BaseProxy, overwrite=True, runtime=rt)
    assert rt.get_proxy("w") is BaseProxy


@pytest.fixture
def proxy_modules(tmp_path, monkeypatch):
    (tmp_path / "lllm_test_good_proxy.py").write_text(
        textwrap.dedent("""
        from lllm.proxies import BaseProxy, ProxyRegistrator

        @ProxyRegistrator(path="good", name="Good", description="A good proxy.")
        class Good(BaseProxy):
            pass
    """)
    )
    (tmp_path / "lllm_test_bad_proxy.py").write_text("raise RuntimeError('needs a key')\n")
    (tmp_path / "lllm_test_exit_proxy.py").write_text("raise SystemExit(3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("lllm_test_good_proxy", "lllm_test_bad_proxy", "lllm_test_exit_proxy"):
        sys.modules.pop(name, None)


def test_load_builtin_proxies_never_raises_and_reports_errors(proxy_modules):
    rt = Runtime("proxy-def-load")
    loaded, errors = load_builtin_proxies(
        ["lllm_test_good_proxy", "lllm_test_bad_proxy", "lllm_test_exit_proxy", "lllm_test_missing_proxy"], runtime=rt
    )
    assert loaded == ["lllm_test_good_proxy"]
    assert errors["lllm_test_bad_proxy"] == "RuntimeError: needs a key"
    assert errors["lllm_test_exit_proxy"].startswith("SystemExit")
    assert errors["lllm_test_missing_proxy"].startswith("ModuleNotFoundError")
    assert rt.has("good", "proxy")


def test_load_builtin_proxies_registers_an_already_imported_module_in_another_runtime(proxy_modules):
    first, second = Runtime("proxy-def-first"), Runtime("proxy-def-second")
    assert load_builtin_proxies(["lllm_test_good_proxy"], runtime=first) == (["lllm_test_good_proxy"], {})
    assert load_builtin_proxies(["lllm_test_good_proxy"], runtime=second) == (["lllm_test_good_proxy"], {})
    assert first.get_proxy("good") is second.get_proxy("good")


def test_load_builtin_proxies_default_list_is_empty_and_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_builtin_proxies(runtime=Runtime("proxy-def-default")) == ([], {})
