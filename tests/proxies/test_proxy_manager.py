"""ProxyManager (§8.1): activation, strict dispatch, parameter validation, documentation."""

from __future__ import annotations

import json

import pytest

from lllm import Runtime
from lllm.errors import ConfigError, ProxyError
from lllm.packages.resource import ResourceNode
from lllm.proxies import BaseProxy, Proxy, ProxyLookupError, ProxyManager, ProxyRegistrator


def make_runtime(name="pm-tests"):
    rt = Runtime(name)

    @ProxyRegistrator(path="weather", name="Weather", description="Forecasts and current weather.", runtime=rt)
    class Weather(BaseProxy):
        additional_docs = {"Units": "Celsius everywhere."}

        def __init__(self, **kw):
            super().__init__(**kw)
            self.kw = kw

        @BaseProxy.endpoint(
            category="Forecast",
            endpoint="forecast/daily",
            description="Daily forecast.",
            params={"q*": (str, "London"), "days": (int, 3)},
            response={"days": [{"t": 12, "note": "x" * 3000}]},
        )
        def daily(self, params):
            """Up to 10 days ahead."""
            return {"q": params["q"], "days": params.get("days", 3)}

        @BaseProxy.endpoint(
            category="Current",
            endpoint="now",
            description="Current weather.",
            params={"q*": (str, "Paris"), "units": (str, "C")},
            response={"t": 21},
        )
        def current(self, q, units="C"):
            return {"q": q, "units": units, "when": __import__("datetime").date(2024, 1, 1)}

        def _secret(self):
            return "private"

        def helper(self):
            return "undecorated"

    @ProxyRegistrator(path="weather/alerts", name="Alerts", description="Severe weather.", runtime=rt)
    class Alerts(BaseProxy):
        @BaseProxy.endpoint(category="Alerts", endpoint="active", description="Active alerts.", params={}, response=[])
        def active(self, params):
            return ["storm"]

    return rt


def test_alias_and_all_proxies_by_default():
    rt = make_runtime()
    pm = Proxy(runtime=rt)
    assert Proxy is ProxyManager
    assert pm.available() == ["weather", "weather/alerts"]
    assert sorted(pm.proxies["weather"].kw) == ["activate_proxies", "cutoff_date", "deploy_mode"]
    assert pm.proxies["weather"].activate_proxies == []


def test_activation_by_bare_key_path_or_qualified_key():
    rt = make_runtime()
    assert ProxyManager(["weather"], runtime=rt).available() == ["weather"]
    rt.register(ResourceNode.eager("wx", rt.get_proxy("weather"), "pkg.proxies", "proxy"))
    pm = ProxyManager(["pkg.proxies:wx"], runtime=rt)
    assert pm.available() == ["wx"]
    assert pm("pkg.proxies:wx/now", {"q": "Oslo"})["q"] == "Oslo"
    assert pm("weather/now", {"q": "Oslo"})["q"] == "Oslo"  # its _proxy_path works as an id too


def test_unmatched_activation_entry_lists_available_proxies():
    with pytest.raises(ConfigError) as e:
        ProxyManager(["wether"], runtime=make_runtime())
    assert "['wether']" in str(e.value) and "weather" in str(e.value) and "weather/alerts" in str(e.value)


def test_duplicate_bare_key_is_a_config_error():
    rt = make_runtime()
    cls = rt.get_proxy("weather")
    rt.register(ResourceNode.eager("weather", cls, "a.proxies", "proxy"))
    with pytest.raises(ConfigError, match="share the id"):
        ProxyManager(["weather", "a.proxies:weather"], runtime=rt)
    assert ProxyManager(["a.proxies:weather"], runtime=rt).available() == ["weather"]


def test_standard_kwargs_are_passed_and_type_error_retried_without_arguments():
    rt = make_runtime()

    class Plain(BaseProxy):
        def __init__(self):
            super().__init__()
            self.plain = True

    rt.register_proxy("plain", Plain)
    pm = ProxyManager(["weather", "plain"], cutoff_date="2024-01-01", deploy_mode=True, runtime=rt)
    assert pm.proxies["plain"].plain is True
    assert pm.proxies["weather"].kw["activate_proxies"] == ["weather", "plain"]
    assert pm.proxies["weather"].deploy_mode is True and pm.proxies["weather"].cutoff_date.year == 2024


def test_constructor_failure_is_a_proxy_error():
    rt = Runtime("pm-broken")

    class Broken(BaseProxy):
        def __init__(self, **kw):
            raise RuntimeError("FRED_API_KEY is not set")

    rt.register_proxy("broken", Broken)
    with pytest.raises(ProxyError, match="Proxy 'broken'.*FRED_API_KEY is not set"):
        ProxyManager(runtime=rt)


def test_dispatch_longest_prefix_endpoint_names_then_method_names():
    pm = ProxyManager(runtime=make_runtime())
    assert pm("weather/forecast/daily", {"q": "Rome"}) == {"q": "Rome", "days": 3}
    assert pm("weather/daily", q="Rome", days=2) == {"q": "Rome", "days": 2}  # method name
    assert pm("weather/alerts/active") == ["storm"]  # the longer proxy id wins
    assert pm("/weather/now/", {"q": "Oslo"}, units="F")["units"] == "F"
    assert pm("weather.current", {"q": "Oslo"})["q"] == "Oslo"


@pytest.mark.parametrize(
    "path", ["weather/_secret", "weather/helper", "weather/__init__", "weather/endpoint_directory"]
)
def test_only_endpoint_methods_are_callable(path):
    pm = ProxyManager(runtime=make_runtime())
    with pytest.raises(KeyError) as e:
        pm(path)
    assert "Endpoints: ['forecast/daily', 'now']" in str(e.value)


def test_unknown_proxy_lists_choices():
    pm = ProxyManager(runtime=make_runtime())
    with pytest.raises(ProxyLookupError) as e:
        pm("stocks/quote", {})
    assert str(e.value) == "No proxy matches 'stocks/quote'. Available proxies: ['weather', 'weather/alerts']"
    with pytest.raises(KeyError):
        pm("", {})


def test_missing_required_parameter_is_a_value_error():
    pm = ProxyManager(runtime=make_runtime())
    with pytest.raises(ValueError) as e:
        pm("weather/forecast/daily", {"days": 2})
    assert "missing required parameter(s) ['q']" in str(e.value) and "q (required), days" in str(e.value)
    with pytest.raises(TypeError, match="must be a dict"):
        pm("weather/now", ["Oslo"])


def test_an_unknown_parameter_of_a_keyword_endpoint_is_a_value_error():
    pm = ProxyManager(runtime=make_runtime())
    with pytest.raises(ValueError) as e:  # not a TypeError naming the Python method `current`
        pm("weather/now", {"q": "Oslo", "unit": "F"})
    assert str(e.value) == "Endpoint 'weather/now' has no parameter(s) ['unit']. Parameters: q (required), units"
    assert pm("weather/forecast/daily", {"q": "Rome", "extra": 1})["q"] == "Rome"  # dict endpoints get all


def test_catalog_and_directories():
    pm = ProxyManager(runtime=make_runtime())
    catalog = pm.api_catalog()
    assert list(catalog) == ["weather", "weather/alerts"]
    assert catalog["weather"]["display_name"] == "Weather"
    assert pm.get_api_directory("weather")["id"] == "weather"
    with pytest.raises(KeyError, match="Available proxies"):
        pm.get_api_directory("nope")


def test_retrieve_api_docs_is_compact():
    pm = ProxyManager(runtime=make_runtime())
    text = pm.retrieve_api_docs()
    assert "## Weather (id: weather)" in text and "## Alerts (id: weather/alerts)" in text
    assert "- weather/forecast/daily [GET]: Daily forecast. Params: q (required), days" in text
    assert pm.retrieve_api_docs("weather/alerts").startswith("## Alerts")
    with pytest.raises(KeyError):
        pm.retrieve_api_docs("nope")


def test_endpoint_docs_lists_parameters_response_docstring_and_additional_docs():
    pm = ProxyManager(runtime=make_runtime())
    docs = pm.endpoint_docs("weather")
    assert docs.startswith("# Weather (id: weather)\n\nForecasts and current weather.")
    assert '- q (str, required), e.g. "London"' in docs and "- days (int, optional), e.g. 3" in docs
    assert "Call: CALL_API('weather/forecast/daily', {'q': 'London', 'days': 3})" in docs
    assert "Notes:\nUp to 10 days ahead." in docs
    assert "# Additional documentation\n## Units\nCelsius everywhere." in docs
    daily = docs.split("## forecast/daily", 1)[1]
    example = daily.split("Response example:\n", 1)[1].split("\n... (example truncated)")[0]
    assert len(example) == 2000 and example.startswith("{")
    assert '"t": 21' in docs
    assert pm.endpoint_docs("weather/alerts").count("## active") == 1


def test_register_adds_a_proxy_at_runtime():
    pm = ProxyManager(["weather"], runtime=make_runtime())

    class Echo(BaseProxy):
        @BaseProxy.endpoint(
            category="x", endpoint="echo", description="Echo.", params={"v*": (str, "hi")}, response={"v": "hi"}
        )
        def echo(self, params):
            return params

    pm.register("echo", Echo)
    assert pm("echo/echo", {"v": 1}) == {"v": 1} and "echo" in pm.available()


def test_results_are_returned_as_is_to_python_callers():
    pm = ProxyManager(runtime=make_runtime())
    out = pm("weather/now", {"q": "Oslo"})
    assert out["when"].year == 2024  # JSON conversion happens at the CALL_API boundary, not here
    assert json.dumps(out, default=str)


def test_a_type_error_inside_a_standard_constructor_is_reported_not_retried():
    from lllm.errors import ProxyError
    from lllm.packages.runtime import Runtime
    from lllm.proxies import BaseProxy, ProxyManager

    calls = []

    class Fussy(BaseProxy):
        def __init__(self, **kw):
            calls.append(kw)
            super().__init__(**kw)
            raise TypeError("bad setting inside the constructor")

    class Plain(BaseProxy):
        def __init__(self):  # no standard keyword arguments: built without them
            super().__init__()

    rt = Runtime("ctor")
    rt.register_proxy("fussy", Fussy)
    rt.register_proxy("plain", Plain)
    with pytest.raises(ProxyError, match="bad setting inside the constructor"):
        ProxyManager(["fussy"], runtime=rt)
    assert len(calls) == 1  # not retried without arguments
    assert "plain" in ProxyManager(["plain"], runtime=rt).proxies
