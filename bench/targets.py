"""The "Targets" section of bench/results.md: each target of the benchmark, read from the run.

Every figure here is computed from the results of the same run (medians over rounds, as in the
tables above it); nothing is typed in. A target a run did not measure says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NAN = float("nan")


@dataclass(frozen=True)
class Goal:
    what: str
    goal: float
    higher_is_better: bool
    unit: str  # "×" (a ratio), "ms" or "s"  # noqa: RUF003
    stretch: float | None = None


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else NAN


def _agg(results: dict[str, Any], workload: str, server: str, key: str) -> float:
    runs = (results.get(workload) or {}).get(server) or []
    return _med([float(r[key]) for r in runs if key in r])


def _div(a: float, b: float) -> float:
    return a / b if a == a and b == b and b else NAN


def verdict(value: float, goal: float, higher_is_better: bool) -> str:
    """``met`` or ``missed``, with the margin as a share of the goal."""
    if value != value:
        return "not measured"
    if higher_is_better:
        if value >= goal:
            return f"met ({(value / goal - 1) * 100:.0f} % above)"
        return f"**missed** by {(1 - value / goal) * 100:.0f} % (needs {goal / value:.2f} × the figure)"
    if value <= goal:
        return f"met ({(1 - value / goal) * 100:.0f} % below)"
    return f"**missed** by {(value / goal - 1) * 100:.0f} % (needs {value / goal:.2f} × less)"


def _fmt(value: float, unit: str) -> str:
    if value != value:
        return "-"
    if unit == "×":
        return f"{value:.2f} ×"
    if unit == "ms":
        return f"{value:.2f} ms"
    return f"{value:.3f} s"


def _w7(results: dict[str, Any]) -> tuple[float, float, str]:
    """(added ms per call at one connection, cold first call s, how)."""
    w7 = results.get("W7") or {}
    if "skipped" in w7 or not w7:
        return NAN, NAN, f"W7 skipped: {w7['skipped']}" if "skipped" in w7 else "W7 not run"
    runs = w7.get("runs", {})
    py, gr = runs.get("python@1", []), runs.get("groovy@1", [])
    added = _med([r["p50_us"] for r in gr]) / 1000 - _med([r["p50_us"] for r in py]) / 1000
    cold = _med([c["first_call_s"] for c in w7.get("cold", [])])
    how = (
        f"p50 of one caller: Groovy {_med([r['p50_us'] for r in gr]) / 1000:.2f} ms, "
        f"Python {_med([r['p50_us'] for r in py]) / 1000:.2f} ms"
    )
    return added, cold, how


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, measured, goal, verdict) for every target, in the order of the issue's list."""

    def rps(workload: str, server: str) -> float:
        return _agg(results, workload, server, "rps")

    def rss_per_connection(server: str) -> float:
        runs = (results.get("W3") or {}).get(server) or []
        return _med([(r["rss"] - r["rss_before"]) / r["connections"] for r in runs if "rss" in r])

    w1 = {n: rps("W1", n) for n in ("cpimock", "cpimock-nompl", "aiohttp-floor", "wiremock", "mountebank-record")}
    w4 = (results.get("W4") or {}).get("cpimock") or []
    tenant = ((results.get("W5") or {}).get("tenant")) or {}
    added, cold, how = _w7(results)
    per_conn = {n: rss_per_connection(n) for n in ("cpimock", "aiohttp-floor")}

    def of(a: float, b: float, unit: str, what: str) -> str:
        if a != a or b != b:
            return f"- ({what})"
        if unit.endswith("/s"):
            return f"{a:,.0f} against {b:,.0f} {unit}"
        return f"{_fmt(a, unit)} against {_fmt(b, unit)}"

    table: list[tuple[Goal, float, str]] = [
        (
            Goal("W1 MPL on ÷ WireMock with its request journal", 1.5, True, "×"),
            _div(w1["cpimock"], w1["wiremock"]),
            of(w1["cpimock"], w1["wiremock"], "req/s", "cpimock or wiremock not measured"),
        ),
        (
            Goal("W1 MPL on ÷ mountebank with recordRequests", 1.3, True, "×"),
            _div(w1["cpimock"], w1["mountebank-record"]),
            of(w1["cpimock"], w1["mountebank-record"], "req/s", "cpimock or mountebank-record not measured"),
        ),
        (
            Goal("W1 MPL on ÷ aiohttp floor", 0.4, True, "×", stretch=0.5),
            _div(w1["cpimock"], w1["aiohttp-floor"]),
            of(w1["cpimock"], w1["aiohttp-floor"], "req/s", "cpimock or aiohttp-floor not measured"),
        ),
        (
            Goal("W1 MPL off ÷ aiohttp floor", 0.55, True, "×"),
            _div(w1["cpimock-nompl"], w1["aiohttp-floor"]),
            of(w1["cpimock-nompl"], w1["aiohttp-floor"], "req/s", "cpimock-nompl or aiohttp-floor not measured"),
        ),
        (
            Goal("W1 p99 MPL on ÷ aiohttp floor's p99", 2.0, False, "×"),
            _div(_agg(results, "W1", "cpimock", "p99_us"), _agg(results, "W1", "aiohttp-floor", "p99_us")),
            of(
                _agg(results, "W1", "cpimock", "p99_us") / 1000,
                _agg(results, "W1", "aiohttp-floor", "p99_us") / 1000,
                "ms",
                "cpimock or aiohttp-floor not measured",
            ),
        ),
        (
            Goal("W2 handshakes/s MPL on ÷ aiohttp floor", 0.9, True, "×"),
            _div(rps("W2", "cpimock"), rps("W2", "aiohttp-floor")),
            of(
                rps("W2", "cpimock"),
                rps("W2", "aiohttp-floor"),
                "handshakes/s",
                "cpimock or aiohttp-floor not measured",
            ),
        ),
        (
            Goal("W3 memory per idle connection ÷ aiohttp floor's", 1.05, False, "×"),
            _div(per_conn["cpimock"], per_conn["aiohttp-floor"]),
            "- (cpimock or aiohttp-floor not measured)"
            if per_conn["cpimock"] != per_conn["cpimock"] or per_conn["aiohttp-floor"] != per_conn["aiohttp-floor"]
            else f"{per_conn['cpimock'] / 1024:.1f} against {per_conn['aiohttp-floor'] / 1024:.1f} KB",
        ),
        (
            Goal("W4 start to the first accepted request", 0.25, False, "s"),
            _med(w4),
            f"median of {len(w4)} starts" if w4 else "- (cpimock not measured)",
        ),
        (
            Goal("W5 tenant start+stop", 20.0, False, "ms"),
            _med(tenant.get("start_stop", [])) * 1000,
            f"median of {len(tenant.get('start_stop', []))}" if tenant.get("start_stop") else "- (not measured)",
        ),
        (
            Goal("W5 first tenant start+stop of a process", 150.0, False, "ms"),
            _med(tenant.get("first_start_stop", [])) * 1000,
            "one per process" if tenant.get("first_start_stop") else "- (not measured)",
        ),
        (
            Goal("W6 IDoc req/s ÷ W1 req/s (cpimock, MPL on)", 0.7, True, "×"),
            _div(rps("W6", "cpimock"), w1["cpimock"]),
            of(rps("W6", "cpimock"), w1["cpimock"], "req/s", "W6 or W1 of cpimock not measured"),
        ),
        (
            Goal("W7 a Groovy step's added time per call over the Python step", 1.0, False, "ms"),
            added,
            how,
        ),
        (
            Goal("W7 cold first Groovy call (JVM start included)", 2.0, False, "s"),
            cold,
            "median over fresh servers" if cold == cold else how,
        ),
    ]
    out = []
    for target, value, measured in table:
        goal = ("≥ " if target.higher_is_better else "≤ ") + _fmt(target.goal, target.unit)
        reading = verdict(value, target.goal, target.higher_is_better)
        if target.stretch is not None and value == value:
            stretch = "met" if value >= target.stretch else "not met"
            reading += f"; stretch {_fmt(target.stretch, target.unit)} {stretch}"
        shown = f"{_fmt(value, target.unit)} ({measured})" if value == value else measured
        out.append((target.what, shown, goal, reading))
    return out


def section(results: dict[str, Any]) -> list[str]:
    lines = [
        "## Targets",
        "",
        "Each target read from this run (medians over its rounds); the ratios that count for the peers "
        "are at equal work, recording against recording. Server on one core, as everywhere above.",
        "",
        "| target | measured | goal | reading |",
        "|---|---|---|---|",
    ]
    lines += [f"| {what} | {measured} | {goal} | {reading} |" for what, measured, goal, reading in rows(results)]
    reference: list[tuple[str, Callable[[], float]]] = [
        ("WireMock without its journal", lambda: _agg(results, "W1", "wiremock-nojournal", "rps")),
        ("mountebank without recordRequests", lambda: _agg(results, "W1", "mountebank", "rps")),
    ]
    mine = _agg(results, "W1", "cpimock", "rps")
    extra = [f"{_div(mine, value()):.2f} × {label}" for label, value in reference if value() == value()]
    if extra:
        lines += ["", f"For reference, at unequal work (the peer records nothing): W1 MPL on is {', '.join(extra)}."]
    return [*lines, ""]
