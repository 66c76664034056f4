"""The benchmark's reading of its own run: the warm-up rule and the Targets section.

No server is started here: the warm-up is driven by scripted figures, and the targets are read
from a results dict shaped like the one ``bench/run.py`` collects.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import targets  # noqa: E402
import workloads  # noqa: E402


def _runs(**figures: float) -> list[dict[str, Any]]:
    return [dict(figures)]


def _results() -> dict[str, Any]:
    return {
        "W1": {
            "cpimock": _runs(rps=12_000, p99_us=6_000),
            "cpimock-nompl": _runs(rps=20_000, p99_us=4_000),
            "aiohttp-floor": _runs(rps=30_000, p99_us=2_500),
            "wiremock": _runs(rps=6_000, p99_us=9_000),
            "wiremock-nojournal": _runs(rps=15_000),
            "mountebank-record": _runs(rps=10_000),
            "mountebank": _runs(rps=11_000),
        },
        "W2": {"cpimock": _runs(rps=700), "aiohttp-floor": _runs(rps=800)},
        "W3": {
            "cpimock": [{"rss": 130 * 2**20, "rss_before": 60 * 2**20, "connections": 1000}],
            "aiohttp-floor": [{"rss": 110 * 2**20, "rss_before": 40 * 2**20, "connections": 1000}],
        },
        "W4": {"cpimock": [0.30, 0.20, 0.22]},
        "W5": {"tenant": {"first_start_stop": [0.120], "start_stop": [0.030, 0.010, 0.015]}},
        "W6": {"cpimock": _runs(rps=9_000)},
        "W7": {
            "cold": [{"first_call_s": 1.2}, {"first_call_s": 2.6}, {"first_call_s": 1.4}],
            "runs": {"python@1": _runs(p50_us=250, rps=3_000), "groovy@1": _runs(p50_us=900, rps=1_000)},
        },
    }


def _reading(results: dict[str, Any], what: str) -> tuple[str, str]:
    for name, measured, _goal, reading in targets.rows(results):
        if name.startswith(what):
            return measured, reading
    raise AssertionError(f"no target row {what!r}")


def test_every_target_is_read_from_the_run() -> None:
    results = _results()
    assert _reading(results, "W1 MPL on ÷ WireMock") == (
        "2.00 × (12,000 against 6,000 req/s)",
        "met (33 % above)",
    )
    measured, reading = _reading(results, "W1 MPL on ÷ mountebank")
    assert measured.startswith("1.20 ×")
    assert reading.startswith("**missed** by 8 %")
    assert _reading(results, "W1 MPL on ÷ aiohttp")[1] == "met (0 % above); stretch 0.50 × not met"
    assert _reading(results, "W1 MPL off")[1].startswith("met (21 % above)")
    assert _reading(results, "W1 p99")[0].startswith("2.40 ×")
    assert _reading(results, "W1 p99")[1].startswith("**missed** by 20 %")
    assert _reading(results, "W2")[0].startswith("0.88 ×")
    assert _reading(results, "W3")[0] == "1.00 × (71.7 against 71.7 KB)"
    assert _reading(results, "W4")[0] == "0.220 s (median of 3 starts)"
    assert _reading(results, "W5 tenant")[0].startswith("15.00 ms")
    assert _reading(results, "W5 first")[1] == "met (20 % below)"
    assert _reading(results, "W6")[0].startswith("0.75 ×")
    assert _reading(results, "W7 a Groovy")[0].startswith("0.65 ms")
    assert _reading(results, "W7 cold")[0].startswith("1.400 s")


def test_a_target_the_run_did_not_measure_says_so() -> None:
    results = _results()
    del results["W1"]["wiremock"]
    results["W7"] = {"skipped": "Groovy steps need Java, which is not installed"}
    measured, reading = _reading(results, "W1 MPL on ÷ WireMock")
    assert reading == "not measured"
    assert "wiremock not measured" in measured
    assert _reading(results, "W7 a Groovy") == (
        "W7 skipped: Groovy steps need Java, which is not installed",
        "not measured",
    )
    section = "\n".join(targets.section(results))
    assert "## Targets" in section
    assert "WireMock without its journal" in section


class _Server:
    def __init__(self) -> None:
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1


@pytest.mark.parametrize(
    ("figures", "runs", "settled"),
    [
        # rose, then three runs in a row less than 5 % above the best before them
        ([1_000, 5_000, 9_000, 9_300, 9_100, 9_200, 20_000], 6, True),
        # a plateau that two agreeing runs would have called settled, then the next rise (a JIT's tier)
        ([9_000, 9_100, 9_050, 14_000, 14_100, 14_050, 14_200, 30_000], 7, True),
        # still rising at the cap
        ([1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000, 9_000], 8, False),
        # flat from the start: the first run and three more
        ([9_000, 9_100, 9_050, 9_000, 20_000], 4, True),
        # a run that falls counts as not rising
        ([9_000, 6_000, 9_200, 8_000, 20_000], 4, True),
    ],
)
def test_warm_up_repeats_until_the_figure_stops_rising(
    monkeypatch: pytest.MonkeyPatch, figures: list[int], runs: int, settled: bool
) -> None:
    scripted = iter(figures)
    monkeypatch.setattr(workloads, "load", lambda *args, **kwargs: {"rps": next(scripted)})
    server = _Server()
    plan = workloads.Plan(rounds=1, warmup_s=0, duration_s=1, settle_cap=8)
    result = workloads.settle(server, plan)  # type: ignore[arg-type]
    assert [r["rps"] for r in result["runs"]] == figures[:runs]
    assert result["settled"] is settled
    assert server.resets == runs  # the server's recording is emptied before every run


def test_the_shared_writer_count_crosses_the_journal_s_own_rows() -> None:
    """``bench/shared_writer.py`` counts marshal on the rows the MPL writer inserts, unchanged."""
    import marshal

    import shared_writer

    from cpimock.mpl.sql import COLUMNS

    rows = shared_writer._rows(3)
    assert all(len(row) == len(COLUMNS) + 1 for row in rows)  # every column and the writer's pid
    assert len({row[0] for row in rows}) == 3  # a message id each
    assert marshal.loads(marshal.dumps(rows)) == rows
    assert "POST" in rows[0]
    assert any(isinstance(value, bytes) and len(value) > 1000 for value in rows[0])  # the 1 KB bodies
