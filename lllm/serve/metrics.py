"""Prometheus text-format metrics for ``lllm serve``: requests, latency, tokens, cost and errors per tactic."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import DefaultDict, Dict, List, Tuple

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def _labels(pairs: Tuple[Tuple[str, str], ...]) -> str:
    esc = (v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for _, v in pairs)
    return "{" + ",".join(f'{k}="{v}"' for (k, _), v in zip(pairs, esc)) + "}" if pairs else ""


def _num(v: float) -> str:
    """A sample value written exactly (``:g`` keeps six digits: a counter past a million was rounded)."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class Metrics:
    """Counters and a latency histogram, written by the handlers and read as Prometheus text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: DefaultDict[Tuple[Tuple[str, str], ...], int] = defaultdict(int)
        self.errors: DefaultDict[Tuple[Tuple[str, str], ...], int] = defaultdict(int)
        self.tokens: DefaultDict[Tuple[Tuple[str, str], ...], int] = defaultdict(int)
        self.cost: DefaultDict[Tuple[Tuple[str, str], ...], float] = defaultdict(float)
        self.latency: Dict[str, List[float]] = {}  # tactic -> [bucket counts..., +Inf count, sum]
        self.overhead: Dict[str, List[float]] = {}  # tactic -> [count, sum]: handler time outside the call
        self.rejected = 0
        self.in_flight = 0

    def observe(self, tactic: str, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(("tactic", tactic), ("endpoint", endpoint), ("status", str(status)))] += 1
            row = self.latency.setdefault(tactic, [0.0] * (len(BUCKETS) + 2))
            row[bisect.bisect_left(BUCKETS, seconds)] += 1
            row[-1] += seconds

    def server_time(self, tactic: str, seconds: float) -> None:
        with self._lock:
            row = self.overhead.setdefault(tactic, [0.0, 0.0])
            row[0] += 1
            row[1] += seconds

    def error(self, tactic: str, kind: str) -> None:
        with self._lock:
            self.errors[(("tactic", tactic), ("kind", kind))] += 1

    def usage(self, tactic: str, prompt_tokens: int, completion_tokens: int, usd: float) -> None:
        with self._lock:
            self.tokens[(("tactic", tactic), ("kind", "prompt"))] += prompt_tokens
            self.tokens[(("tactic", tactic), ("kind", "completion"))] += completion_tokens
            self.cost[(("tactic", tactic),)] += usd

    def render(self) -> str:
        """The Prometheus text exposition (version 0.0.4)."""
        out: List[str] = []

        def family(name: str, kind: str, help_: str, rows: Dict[Tuple[Tuple[str, str], ...], float]) -> None:
            out.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}"])
            out.extend(f"{name}{_labels(k)} {_num(v)}" for k, v in sorted(rows.items()))

        with self._lock:
            family(
                "lllm_serve_requests_total",
                "counter",
                "Tactic calls answered, by endpoint and status.",
                dict(self.requests),
            )
            family(
                "lllm_serve_errors_total",
                "counter",
                "Failed tactic calls by kind (invalid_input, tactic_error, timeout, rejected).",
                dict(self.errors),
            )
            family("lllm_serve_tokens_total", "counter", "Model tokens used by tactic calls.", dict(self.tokens))
            family("lllm_serve_cost_usd_total", "counter", "Model cost of tactic calls in US dollars.", dict(self.cost))
            family(
                "lllm_serve_rejected_total",
                "counter",
                "Calls answered 429 because the server was full.",
                {(): self.rejected},
            )
            family("lllm_serve_in_flight", "gauge", "Tactic calls running now.", {(): self.in_flight})
            name = "lllm_serve_request_duration_seconds"
            out.extend([f"# HELP {name} Wall time of tactic calls.", f"# TYPE {name} histogram"])
            for tactic, row in sorted(self.latency.items()):
                total = 0.0
                for bound, count in zip((*BUCKETS, float("inf")), row[:-1]):
                    total += count
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    out.append(f"{name}_bucket{_labels((('tactic', tactic), ('le', le)))} {_num(total)}")
                out.append(f"{name}_sum{_labels((('tactic', tactic),))} {row[-1]:.6f}")
                out.append(f"{name}_count{_labels((('tactic', tactic),))} {_num(total)}")
            name = "lllm_serve_overhead_seconds"
            out.extend(
                [
                    f"# HELP {name} Time a successful invoke spent in the server outside the tactic call.",
                    f"# TYPE {name} summary",
                ]
            )
            for tactic, (count, total_s) in sorted(self.overhead.items()):
                out.append(f"{name}_sum{_labels((('tactic', tactic),))} {total_s:.6f}")
                out.append(f"{name}_count{_labels((('tactic', tactic),))} {_num(count)}")
        return "\n".join(out) + "\n"


__all__ = ["Metrics", "BUCKETS"]
