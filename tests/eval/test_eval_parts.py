"""Variants, metrics, data sets and reports of lllm.eval: parsing, errors that name the fix, statistics."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from lllm.errors import ConfigError
from lllm.eval import (
    BASELINE,
    DatasetError,
    Item,
    Metric,
    MetricError,
    Outcome,
    Report,
    Variant,
    VariantError,
    bootstrap_ci,
    load_dataset,
    parse_variants,
    regressions,
    resolve_metric,
)
from lllm.eval.report import MetricInfo, parse_thresholds
from lllm.eval.variants import check_variants

# -- variants ------------------------------------------------------------------------------------


def test_variant_changes_of_one_name_merge_and_values_read_as_yaml():
    (v, w) = parse_variants(
        [
            "b:agent_configs.writer.system_prompt=Be terse.",
            "b:global.temperature=0.2",
            "b:model=gpt-4o-mini",
            "c:prompts.pkg/ask=Research {topic} briefly",
        ]
    )
    assert v.name == "b" and v.overrides == {
        "agent_configs.writer.system_prompt": "Be terse.",
        "global.temperature": 0.2,
    }
    assert v.model == "gpt-4o-mini" and w.prompts == {"pkg/ask": "Research {topic} briefly"}
    assert "global.temperature=0.2" in v.describe()
    cfg = {"global": {}, "agent_configs": [{"name": "writer", "system_prompt": "x"}]}
    assert v.apply(cfg)["agent_configs"][0]["system_prompt"] == "Be terse."


@pytest.mark.parametrize(
    "text, message",
    [
        ("b", "expected NAME:KEY=VALUE"),
        ("b:global.x", "expected NAME:KEY=VALUE"),
        ("baseline:global.x=1", "not usable"),
        ("a b:global.x=1", "not usable"),
        ("b:global..x=1", "not a dotted path"),
        ("b:model=", "model needs a value"),
    ],
)
def test_bad_variants_say_what_form_is_expected(text, message):
    with pytest.raises(VariantError, match=message) as ei:
        parse_variants([text])
    assert repr(text) in str(ei.value) or text.split(":")[0] in str(ei.value)
    assert isinstance(ei.value, ConfigError)


def test_variant_sets_are_checked():
    with pytest.raises(VariantError, match="no variant to compare"):
        check_variants([])
    with pytest.raises(VariantError, match="sets model twice"):
        parse_variants(["b:model=x", "b:model=y"])
    with pytest.raises(VariantError, match="changes nothing"):
        check_variants([Variant(name="empty")])
    with pytest.raises(VariantError, match=r"variant 'b': .*no agent 'editor'"):
        Variant(name="b", overrides={"agent_configs.editor.system_prompt": "x"}).apply(
            {"agent_configs": [{"name": "writer"}]}
        )


# -- metrics -------------------------------------------------------------------------------------


def test_builtin_metrics():
    assert resolve_metric("exact_match")(result=" 4 ", expected="4") == 1.0
    assert resolve_metric("exact_match")(result={"a": 1}, expected={"a": 2}) == 0.0
    assert resolve_metric("exact_match")(result="4", expected=None) is None
    fm = resolve_metric("field_match=answer.value")
    assert fm(result={"answer": {"value": 3}, "why": "x"}, expected={"answer": {"value": 3}}) == 1.0
    assert resolve_metric(r"regex=^\d+$")(result="42") == 1.0 and resolve_metric(r"regex=^\d+$")(result="4x") == 0.0
    schema = resolve_metric('json_schema={"type": "object", "required": ["city"]}')
    assert schema(result='{"city": "Oslo"}') == 1.0 and schema(result="{}") == 0.0 and schema(result="no") == 0.0
    assert resolve_metric("success")(error=None) == 1.0 and resolve_metric("success")(error="boom") == 0.0
    assert resolve_metric("cost").higher_is_better is False


def test_module_function_metrics_are_imported(tmp_path, monkeypatch):
    (tmp_path / "my_metrics.py").write_text(
        textwrap.dedent(
            """
            def has_city(result, expected=None):
                return "Oslo" in result
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    m = resolve_metric("my_metrics:has_city")
    assert m.name == "has_city" and m(result="Oslo is big", task="t", session=None) == 1.0
    with pytest.raises(MetricError, match=r"module 'my_metrics' has no function 'nope' \(functions: \['has_city'\]\)"):
        resolve_metric("my_metrics:nope")
    with pytest.raises(MetricError, match="cannot import module 'no_such_mod'"):
        resolve_metric("no_such_mod:f")
    sys.modules.pop("my_metrics", None)


def test_metric_errors_name_the_metric_and_the_fix(tmp_path):
    with pytest.raises(MetricError, match=r"unknown metric 'exact'.*'exact_match'.*module:function"):
        resolve_metric("exact")
    with pytest.raises(MetricError, match="field_match' takes an argument: write field_match=ARG"):
        resolve_metric("field_match")
    with pytest.raises(MetricError, match="not a valid regular expression"):
        resolve_metric("regex=(")
    with pytest.raises(MetricError, match="no such file"):
        resolve_metric(f"json_schema={tmp_path / 'missing.json'}")
    with pytest.raises(MetricError, match="not a valid JSON Schema"):
        resolve_metric('json_schema={"type": 5}')
    with pytest.raises(MetricError, match=r"metric 'bad' returned 'yes' \(str\)"):
        Metric(name="bad", fn=lambda result: "yes")(result="x")
    with pytest.raises(MetricError, match="an LLM judge needs a model"):
        resolve_metric("judge=clearer")


# -- data sets -----------------------------------------------------------------------------------


def test_datasets_take_bare_tasks_and_cases(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('"What is 2+2?"\nplain text task\n\n{"task": "2+3", "expected": "5", "id": "sum"}\n{"city": "Oslo"}\n')
    cases = load_dataset(p)
    assert [(c.id, c.task, c.expected) for c in cases] == [
        ("0", "What is 2+2?", None),
        ("1", "plain text task", None),
        ("sum", "2+3", "5"),
        ("3", {"city": "Oslo"}, None),
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"task": "x"}\n{"task": \n', r"d.jsonl, line 2: not valid JSON"),
        ('{"task": "x", "answer": "y"}\n', r"line 1: unknown key\(s\) \['answer'\] next to 'task'"),
        ('{"task": "a", "id": "x"}\n{"task": "b", "id": "x"}\n', r"case ids must be unique; repeated: \['x'\]"),
        ("\n\n", "has no tasks"),
    ],
)
def test_bad_datasets_name_the_file_and_line(tmp_path, text, message):
    p = tmp_path / "d.jsonl"
    p.write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_dataset(p)


def test_a_missing_dataset_says_what_to_pass(tmp_path):
    with pytest.raises(DatasetError, match="does not exist: pass a JSONL file"):
        load_dataset(tmp_path / "nope.jsonl")


# -- reports -------------------------------------------------------------------------------------


def _report(a_vals, b_vals, seed=0, higher=True):
    r = Report(
        eval_id="e",
        mode="dataset",
        variants=[Variant(name="b", model="m")],
        metrics=[MetricInfo(name="score", higher_is_better=higher)],
        seed=seed,
    )
    for i, (a, b) in enumerate(zip(a_vals, b_vals)):
        r.items.append(
            Item(
                case_id=str(i),
                outcomes={
                    BASELINE: Outcome(variant=BASELINE, result=f"a{i}", metrics={"score": a}, cost=0.01),
                    "b": Outcome(variant="b", result=f"b{i}", metrics={"score": b}, cost=0.02),
                },
            )
        )
    return r.summarize()


def test_bootstrap_is_deterministic_for_a_seed_and_brackets_the_mean():
    values = [0.1 * (i % 7) for i in range(50)]
    first, again = bootstrap_ci(values, seed=3), bootstrap_ci(values, seed=3)
    assert first == again and first != bootstrap_ci(values, seed=4)
    mean = sum(values) / len(values)
    assert first[0] is not None and first[1] is not None and first[0] < mean < first[1]
    assert bootstrap_ci([], seed=1) == (None, None) and bootstrap_ci([2.0]) == (2.0, 2.0)
    r1, r2 = _report([0, 1, 0, 1, 1], [1, 1, 0, 1, 0]), _report([0, 1, 0, 1, 1], [1, 1, 0, 1, 0])
    assert r1.summary == r2.summary


def test_win_tie_loss_and_deltas_follow_the_metric_direction():
    r = _report([0.5, 0.5, 0.5, 0.5], [1.0, 0.5, 0.0, 1.0])
    c = r.summary["b"].vs_baseline["score"]
    assert (c.wins, c.ties, c.losses) == (2, 1, 1) and c.delta.mean == pytest.approx(0.125)
    assert r.summary["b"].cost_delta == pytest.approx(0.04)
    low = _report([0.5, 0.5], [1.0, 1.0], higher=False).summary["b"].vs_baseline["score"]
    assert (low.wins, low.losses) == (0, 2)
    table = r.table()
    assert "score" in table and "2/1/1" in table and "+0.125" in table


def test_regression_gate_with_and_without_a_baseline_report(tmp_path):
    good = _report([1, 1, 1, 1], [1, 1, 1, 0])
    assert regressions(good, {"score": 0.7}) == []
    assert regressions(good, {"score": 0.8}) == ["b: score = 0.75, under 0.8"]
    path = tmp_path / "old.json"
    good.to_json(path)
    worse = _report([1, 1, 1, 1], [0, 1, 1, 0])
    found = regressions(worse, {"score": 0.1}, Report.load(path))
    assert found == ["b: score = 0.5, was 0.75 in the baseline report (down 0.25, more than the allowed 0.1)"]
    assert regressions(worse, {"score": 0.25}, Report.load(path)) == []
    with pytest.raises(ConfigError, match=r"no metric 'accuracy' \(metrics: \['score'\]\)"):
        regressions(good, {"accuracy": 0.5})
    with pytest.raises(ConfigError, match="expected METRIC=NUMBER"):
        parse_thresholds(["score=high"])
    (tmp_path / "bad.json").write_text('{"not": "a report"}')
    with pytest.raises(ConfigError, match="is not an lllm eval report"):
        Report.load(tmp_path / "bad.json")


def test_items_text_shows_values_and_diffs():
    r = _report([1, 1], [0, 1])
    r.items[1].outcomes["b"].result = "a1"
    text = r.items_text()
    assert (
        "== 0:" in text and "  baseline: score=1" in text and "  b: score=0" in text and "-a0" in text and "+b0" in text
    )
    assert "== 1:" in text and "== 1:" not in r.items_text(changed_only=True)


def test_html_report_is_self_contained_and_escaped():
    r = _report([1], [0])
    r.items[0].outcomes["b"].result = "<script>alert(1)</script>"
    page = r.to_html()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "http://" not in page and "https://" not in page and " src=" not in page
    assert "diff baseline → b" in page and json.loads(r.to_json())["eval_id"] == "e"
