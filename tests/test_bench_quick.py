"""The benchmark harness cannot rot: ``bench/run.py --quick`` runs end to end and writes its report.

It only checks that every server answered every request; speed is never asserted here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# .ci/run runs this round once, in its first suite (`-m "not bench"` leaves it out); never beside
# another load (the xdist group)
pytestmark = [pytest.mark.slow, pytest.mark.bench, pytest.mark.xdist_group("load")]

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "bench" / "run.py"


def _nginx_installable() -> str | None:
    """Why nginx cannot be had here, or None when it is (or apt-get may install it)."""
    if shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
        return None
    if not shutil.which("apt-get"):
        return "nginx is not installed and there is no apt-get to install it"
    if os.geteuid() != 0:
        return "nginx is not installed and apt-get needs root"
    return None


def _cannot_run(reason: str) -> None:
    """Skip where nginx cannot be had; in CI (``CPIMOCK_BENCH_REQUIRED=1``) that is a failure."""
    if os.environ.get("CPIMOCK_BENCH_REQUIRED") == "1":
        pytest.fail(f"the benchmark's quick round could not run: {reason}")
    pytest.skip(reason)


@pytest.mark.timeout(600)
def test_quick_run_writes_a_report_with_answered_requests(tmp_path: Path) -> None:
    reason = _nginx_installable()
    if reason:
        _cannot_run(reason)
    out = tmp_path / "results.md"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=580,
        cwd=REPO,
        check=False,
    )
    if proc.returncode != 0 and "apt-get install nginx" in proc.stderr and not out.exists():
        _cannot_run(f"nginx could not be installed: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = out.read_text(encoding="utf-8")
    for heading in (
        "## Machine",
        "## W1",
        "## W2",
        "## W3",
        "## W4",
        "## W5",
        "## W6",
        "## W7",
        "## Warm-up",
        "## Per-round figures",
        "## Targets",
    ):
        assert heading in report
    assert "python bench/run.py --quick" in report
    for section in ("W1", "W2"):
        body = report.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
        for server in ("cpimock", "nginx"):
            row = re.search(rf"^\| {server} \| ([\d,]+) \|.*$", body, re.MULTILINE)
            assert row, f"{section}: no row for {server}"
            cells = [c.strip() for c in row.group(0).strip("|").split("|")]
            ok, failed = int(cells[6].replace(",", "")), int(cells[7].replace(",", ""))
            assert ok > 0, f"{section} {server}: no request answered"
            assert failed == 0, f"{section} {server}: {failed} requests failed"
    idle = report.split("## W3", 1)[1].split("\n## ", 1)[0]
    for server in ("cpimock", "nginx"):
        row = re.search(rf"^\| {server} \|.*$", idle, re.MULTILINE)
        assert row, f"W3: no row for {server}"
        cells = [c.strip() for c in row.group(0).strip("|").split("|")]
        assert int(cells[5]) == 1000, f"W3 {server}: held {cells[5]} of 1000 connections"
        assert int(cells[6]) == 0, f"W3 {server}: closed {cells[6]} idle connections"
    # W6 (the IDoc channel) and W7 (a Groovy step against a Python one) run against cpimock only
    idoc = report.split("## W6", 1)[1].split("\n## ", 1)[0]
    row = re.search(r"^\| cpimock \|.*$", idoc, re.MULTILINE)
    assert row, "W6: no row for cpimock"
    cells = [c.strip() for c in row.group(0).strip("|").split("|")]
    assert int(cells[5].replace(",", "")) > 0, "W6: no IDoc answered"
    assert int(cells[6].replace(",", "")) == 0, f"W6: {cells[6]} IDoc requests failed"
    groovy = report.split("## W7", 1)[1].split("\n## ", 1)[0]
    if "**Skipped**" not in groovy:  # no Java or Groovy here: said so, never a failure
        for step in ("python", "groovy"):
            row = re.search(rf"^\| {step} \| \d+ \|.*$", groovy, re.MULTILINE)
            assert row, f"W7: no row for the {step} step"
            cells = [c.strip() for c in row.group(0).strip("|").split("|")]
            assert int(cells[6].replace(",", "")) > 0, f"W7 {step}: no request answered"
            assert int(cells[7].replace(",", "")) == 0, f"W7 {step}: {cells[7]} requests failed"
