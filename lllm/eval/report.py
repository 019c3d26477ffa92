"""Evaluation reports: per item A vs B, a summary per variant (means, bootstrap confidence intervals,
win/tie/loss, cost and latency deltas), rendered as a terminal table, JSON or self-contained HTML, and
the regression gate used by ``--baseline REPORT.json --fail-under METRIC=VALUE``."""

from __future__ import annotations

import difflib
import html
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from pydantic import BaseModel, Field

from lllm.errors import ConfigError
from lllm.eval.variants import BASELINE, Variant

TIE_EPS = 1e-9


class Outcome(BaseModel):
    """One side's run of one item: its result or error, session, cost, latency and metric values."""

    variant: str
    session_id: Optional[str] = None
    result: Any = None
    error: Optional[str] = None
    cost: Optional[float] = None  # what the run costs, answers from a recording at their recorded price
    spent: Optional[float] = None  # what it paid: ``cost`` without the answers from a recording
    latency_s: Optional[float] = None
    tool_calls: Optional[int] = None
    model_calls: Optional[int] = None  # invocations that reached a model (not answered from a recording)
    replayed_calls: Optional[int] = None
    diverged_at: Optional[Dict[str, Any]] = None
    metrics: Dict[str, Optional[float]] = Field(default_factory=dict)


class Item(BaseModel):
    """One case: the task, the expected value, each side's outcome and each variant's pairwise values."""

    case_id: str
    task: Any = None
    expected: Any = None
    recorded_session: Optional[str] = None
    outcomes: Dict[str, Outcome] = Field(default_factory=dict)
    pairwise: Dict[str, Dict[str, Optional[float]]] = Field(default_factory=dict)

    def diff(self, variant: str, baseline: str = BASELINE) -> str:
        """A unified diff of the baseline's output and ``variant``'s (empty when equal)."""
        a, b = self.outcomes.get(baseline), self.outcomes.get(variant)
        if a is None or b is None:
            return ""
        return "\n".join(difflib.unified_diff(_lines(a), _lines(b), baseline, variant, lineterm="", n=2))


def _lines(o: Outcome) -> List[str]:
    if o.error is not None:
        return [f"ERROR: {o.error}"]
    text = o.result if isinstance(o.result, str) else json.dumps(o.result, indent=1, sort_keys=True, default=str)
    return text.splitlines() or [""]


class Stat(BaseModel):
    """A mean with its bootstrap confidence interval over ``n`` values."""

    n: int = 0
    mean: Optional[float] = None
    low: Optional[float] = None
    high: Optional[float] = None


class Comparison(BaseModel):
    """One metric of a variant against the baseline, on the items both have a value for."""

    metric: str
    delta: Stat = Field(default_factory=Stat)
    wins: int = 0
    ties: int = 0
    losses: int = 0


class VariantSummary(BaseModel):
    """A side's totals: items, errors, metric means, and (variants) its comparison with the baseline."""

    variant: str
    items: int = 0
    errors: int = 0
    metrics: Dict[str, Stat] = Field(default_factory=dict)
    vs_baseline: Dict[str, Comparison] = Field(default_factory=dict)
    cost_total: float = 0.0
    cost_delta: Optional[float] = None
    latency_mean: Optional[float] = None
    latency_delta: Optional[float] = None


class MetricInfo(BaseModel):
    """What a report column means."""

    name: str
    higher_is_better: bool = True
    pairwise: bool = False
    description: str = ""


class Report(BaseModel):
    """The whole evaluation: what ran, every item, and the summary per side."""

    eval_id: str
    mode: str  # "sessions" | "dataset"
    tactic: Optional[str] = None
    created_at: float = Field(default_factory=time.time)
    baseline: str = BASELINE
    variants: List[Variant] = Field(default_factory=list)
    metrics: List[MetricInfo] = Field(default_factory=list)
    items: List[Item] = Field(default_factory=list)
    summary: Dict[str, VariantSummary] = Field(default_factory=dict)
    seed: int = 0
    resamples: int = 1000
    confidence: float = 0.95

    # -- building ------------------------------------------------------------------------------
    def summarize(self) -> "Report":
        """Fill ``summary`` from ``items`` (deterministic for a given seed)."""
        sides = [self.baseline] + [v.name for v in self.variants]
        self.summary = {}
        for side in sides:
            outs = [it.outcomes[side] for it in self.items if side in it.outcomes]
            s = VariantSummary(variant=side, items=len(outs), errors=sum(o.error is not None for o in outs))
            for m in self.metrics:
                if m.pairwise:
                    if side == self.baseline:
                        continue
                    vals = [it.pairwise.get(side, {}).get(m.name) for it in self.items]
                    s.metrics[m.name] = self._stat([v for v in vals if v is not None], m.name, side)
                    s.vs_baseline[m.name] = self._pairwise_comparison(m.name, side)
                    continue
                vals = [o.metrics.get(m.name) for o in outs]
                s.metrics[m.name] = self._stat([v for v in vals if v is not None], m.name, side)
                if side != self.baseline:
                    s.vs_baseline[m.name] = self._comparison(m, side)
            s.cost_total = sum(o.cost or 0.0 for o in outs)
            lat = [o.latency_s for o in outs if o.latency_s is not None]
            s.latency_mean = statistics.fmean(lat) if lat else None
            self.summary[side] = s
        base = self.summary[self.baseline]
        for side in sides[1:]:
            s = self.summary[side]
            s.cost_delta = s.cost_total - base.cost_total
            if s.latency_mean is not None and base.latency_mean is not None:
                s.latency_delta = s.latency_mean - base.latency_mean
        return self

    def _stat(self, values: List[float], *salt: str) -> Stat:
        low, high = bootstrap_ci(values, self.seed, self.resamples, self.confidence, salt="/".join(salt))
        return Stat(n=len(values), mean=statistics.fmean(values) if values else None, low=low, high=high)

    def _comparison(self, m: MetricInfo, side: str) -> Comparison:
        pairs = [
            (it.outcomes[self.baseline].metrics.get(m.name), it.outcomes[side].metrics.get(m.name))
            for it in self.items
            if self.baseline in it.outcomes and side in it.outcomes
        ]
        deltas = [b - a for a, b in pairs if a is not None and b is not None]
        c = Comparison(metric=m.name, delta=self._stat(deltas, m.name, side, "delta"))
        for d in deltas:
            better = d if m.higher_is_better else -d
            if abs(d) <= TIE_EPS:
                c.ties += 1
            elif better > 0:
                c.wins += 1
            else:
                c.losses += 1
        return c

    def _pairwise_comparison(self, name: str, side: str) -> Comparison:
        vals = [it.pairwise.get(side, {}).get(name) for it in self.items]
        prefs = [v for v in vals if v is not None]
        c = Comparison(metric=name, delta=self._stat(prefs, name, side, "delta"))
        c.wins = sum(v > TIE_EPS for v in prefs)
        c.losses = sum(v < -TIE_EPS for v in prefs)
        c.ties = len(prefs) - c.wins - c.losses
        return c

    # -- output --------------------------------------------------------------------------------
    def _redacted(self) -> "Report":
        """This report as it is written out: credentials hidden as a log store hides them (known and
        environment secrets; secret-named fields of tasks and results), a variant's ``...api_key=`` too."""
        from lllm.logging.redact import redact
        from lllm.secrets import REDACTED, is_secret_name

        data = self.model_dump(mode="json")
        for v in data["variants"]:
            v["overrides"] = {
                k: REDACTED if isinstance(x, str) and x and is_secret_name(k.rsplit(".", 1)[-1]) else redact(x)
                for k, x in v["overrides"].items()
            }
            v["prompts"] = redact(v["prompts"])
        for it in data["items"]:
            it["task"], it["expected"] = redact(it["task"]), redact(it["expected"])
            for o in it["outcomes"].values():
                o["result"], o["error"] = redact(o["result"]), redact(o["error"])
        return Report.model_validate(data)

    def to_json(self, path: Union[str, Path, None] = None) -> str:
        """The report as JSON (written to ``path`` too when given); credentials are hidden."""
        text = self._redacted().model_dump_json(indent=1)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Report":
        """A report written by ``to_json`` / ``--json``; errors name the file."""
        p = Path(path)
        try:
            return cls.model_validate_json(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"baseline report {str(path)!r} does not exist: write one with --json FILE") from None
        except ValueError as e:
            raise ConfigError(
                f"baseline report {str(path)!r} is not an lllm eval report ({str(e).splitlines()[0]}); "
                f"pass a file written by `lllm eval --json`"
            ) from None

    def table(self) -> str:
        """The summary as a terminal table: one row per side and metric."""
        rows: List[List[str]] = []
        for side, s in self.summary.items():
            for m in self.metrics:
                st = s.metrics.get(m.name)
                if st is None:
                    continue
                c = s.vs_baseline.get(m.name)
                rows.append(
                    [
                        side,
                        m.name + ("" if m.higher_is_better else " (lower better)"),
                        _num(st.mean),
                        f"[{_num(st.low)}, {_num(st.high)}]",
                        (f"{_signed(c.delta.mean)} [{_num(c.delta.low)}, {_num(c.delta.high)}]" if c else "-"),
                        (f"{c.wins}/{c.ties}/{c.losses}" if c else "-"),
                        str(st.n),
                    ]
                )
        header = ["SIDE", "METRIC", "MEAN", f"{self.confidence:.0%} CI", "DELTA vs baseline [CI]", "W/T/L", "N"]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def fmt(r: List[str]) -> str:
            return "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()

        lines = [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
        for side, s in self.summary.items():
            extra = f", cost {_signed(s.cost_delta)} USD" if s.cost_delta is not None else ""
            extra += f", latency {_signed(s.latency_delta)} s" if s.latency_delta is not None else ""
            lines.append(f"{side}: {s.items} item(s), {s.errors} error(s), ${s.cost_total:.6f}{extra}")
        return "\n".join(lines)

    def items_text(self, changed_only: bool = False) -> str:
        """Per item: each side's metric values, then the diff of its output from the baseline's
        (``changed_only``: items where some output differs)."""
        sides = [self.baseline] + [v.name for v in self.variants]
        blocks = []
        for it in self._redacted().items:
            diffs = [(side, it.diff(side, self.baseline)) for side in sides[1:]]
            if changed_only and not any(d for _, d in diffs):
                continue
            lines = [f"== {it.case_id}: {_short(it.task, 100)}"]
            for side in sides:
                o = it.outcomes.get(side)
                if o is None:
                    continue
                vals = {**o.metrics, **it.pairwise.get(side, {})}
                lines.append(f"  {side}: " + (", ".join(f"{k}={_num(v)}" for k, v in vals.items()) or "-"))
            lines += [f"  {line}" for _, d in diffs for line in d.splitlines()]
            blocks.append("\n".join(lines))
        return "\n".join(blocks)

    def to_html(self, path: Union[str, Path, None] = None) -> str:
        """A self-contained HTML page (inline CSS, no script, no network): summary, then every item;
        credentials are hidden."""
        text = self._redacted()._html()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def _html(self) -> str:
        e = html.escape
        sides = [self.baseline] + [v.name for v in self.variants]
        out = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>lllm eval {e(self.eval_id)}</title><style>{_CSS}</style></head><body>",
            f"<h1>lllm eval <code>{e(self.eval_id)}</code></h1>",
            f"<p>{e(self.mode)} · tactic {e(self.tactic or '-')} · {len(self.items)} item(s) · "
            f"{self.confidence:.0%} bootstrap CI ({self.resamples} resamples, seed {self.seed})</p>",
            "<h2>Variants</h2><ul>",
        ]
        out += [f"<li><b>{e(v.name)}</b>: <code>{e(v.describe())}</code></li>" for v in self.variants]
        out.append("</ul><h2>Summary</h2><pre>" + e(self.table()) + "</pre><h2>Items</h2>")
        for it in self.items:
            out.append(f"<details><summary>{e(it.case_id)}: {e(_short(it.task))}</summary>")
            if it.expected is not None:
                out.append(f"<p>expected: <code>{e(_short(it.expected, 400))}</code></p>")
            out.append("<table><tr><th>side</th><th>output</th><th>metrics</th><th>session</th></tr>")
            for side in sides:
                o = it.outcomes.get(side)
                if o is None:
                    continue
                vals = {**o.metrics, **it.pairwise.get(side, {})}
                metrics = ", ".join(f"{k}={_num(v)}" for k, v in vals.items())
                text = f"ERROR: {o.error}" if o.error else _short(o.result, 2000)
                out.append(
                    f"<tr><td>{e(side)}</td><td><pre>{e(text)}</pre></td><td>{e(metrics)}</td>"
                    f"<td>{e(o.session_id or '-')}</td></tr>"
                )
            out.append("</table>")
            for side in sides[1:]:
                d = it.diff(side, self.baseline)
                if d:
                    out.append(f"<p>diff {e(self.baseline)} → {e(side)}</p><pre class='diff'>{e(d)}</pre>")
            out.append("</details>")
        out.append("</body></html>")
        return "\n".join(out)


_CSS = (
    "body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}pre{white-space:pre-wrap;margin:0}"
    "table{border-collapse:collapse;width:100%;margin:.5em 0}td,th{border:1px solid #ccc;padding:4px;"
    "vertical-align:top;text-align:left}.diff{background:#f6f6f6;padding:.5em}details{margin:.3em 0}"
)


def _short(value: Any, n: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= n else text[:n] + "…"


def _num(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.4g}"


def _signed(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:+.4g}"


def bootstrap_ci(
    values: Sequence[float], seed: int = 0, resamples: int = 1000, confidence: float = 0.95, salt: str = ""
) -> Tuple[Optional[float], Optional[float]]:
    """The percentile bootstrap interval of the mean of ``values``: the same for the same seed and salt."""
    n = len(values)
    if n == 0:
        return None, None
    lo_v, hi_v = min(values), max(values)
    if lo_v == hi_v:  # every resample has the same mean
        return float(lo_v), float(hi_v)
    if resamples < 1:
        return None, None
    rng = random.Random(f"{seed}/{salt}")
    data = list(values)
    means = sorted(sum(rng.choices(data, k=n)) / n for _ in range(resamples))
    alpha = (1 - confidence) / 2
    lo = means[int(alpha * (resamples - 1))]
    hi = means[int(round((1 - alpha) * (resamples - 1)))]
    return lo, hi


def parse_thresholds(texts: Sequence[str]) -> Dict[str, float]:
    """``METRIC=VALUE`` pairs for ``--fail-under``."""
    out: Dict[str, float] = {}
    for t in texts:
        name, eq, raw = t.rpartition("=")
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not eq or not name or value != value:
            raise ConfigError(f"--fail-under {t!r}: expected METRIC=NUMBER, e.g. exact_match=0.8")
        out[name] = value
    return out


def regressions(report: Report, thresholds: Dict[str, float], baseline: Optional[Report] = None) -> List[str]:
    """Why ``report`` fails its gate (empty: it passes). Without ``baseline`` each side's mean must reach the
    value (at most the value for lower-is-better metrics such as cost); with one, the value is the largest
    allowed drop of each side's mean from the same side of the baseline report."""
    info = {m.name: m for m in report.metrics}
    found: List[str] = []
    for name, value in thresholds.items():
        if name not in info:
            raise ConfigError(f"--fail-under {name}: the report has no metric '{name}' (metrics: {sorted(info)})")
        up = info[name].higher_is_better
        for side, s in report.summary.items():
            st = s.metrics.get(name)
            if st is None or st.mean is None:
                continue
            if baseline is None:
                bad = st.mean < value if up else st.mean > value
                if bad:
                    found.append(f"{side}: {name} = {st.mean:.4g}, {'under' if up else 'over'} {value:g}")
                continue
            old_side = baseline.summary.get(side)
            old = old_side.metrics.get(name) if old_side else None
            if old is None or old.mean is None:
                continue
            drop = (old.mean - st.mean) if up else (st.mean - old.mean)
            if drop > value + TIE_EPS:
                found.append(
                    f"{side}: {name} = {st.mean:.4g}, was {old.mean:.4g} in the baseline report "
                    f"({'down' if up else 'up'} {abs(drop):.4g}, more than the allowed {value:g})"
                )
    return found


__all__ = [
    "Outcome",
    "Item",
    "Stat",
    "Comparison",
    "VariantSummary",
    "MetricInfo",
    "Report",
    "bootstrap_ci",
    "parse_thresholds",
    "regressions",
]
