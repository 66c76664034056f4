"""``cpimock messages``: the same records as the API, as tables for people and JSON for scripts."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cpimock.cli import main
from cpimock.cli.messages import parse_since
from cpimock.mpl.journal import Journal, MplRecord
from cpimock.mpl.record import StoredAttachment
from tests.mpl_samples import scripted_mix


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def mix(ws: Path) -> dict[str, MplRecord]:
    recs = scripted_mix()
    pdf = StoredAttachment("a.bin", "application/pdf", b"%PDF")
    old = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    recs["binary"] = MplRecord(
        integration_flow_name="other", log_start=old, request_body=b"\x00\xff", attachments=[pdf]
    )
    journal = Journal.open(ws / "cpimock.db")
    for rec in recs.values():
        journal.record(rec)
    journal.close()
    return recs


def run(ws: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["messages", *args, "--workspace", str(ws)], catch_exceptions=False)


def test_the_list_shows_every_call_newest_first(ws: Path, mix: dict[str, MplRecord]) -> None:
    result = run(ws)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["MESSAGE", "ID", "STARTED", "STATUS", "HTTP", "IFLOW", "CALLER", "DETAIL"]
    order = ["failed", "not_found", "forbidden", "unauthorized", "handshake", "accepted", "binary"]
    assert [line.split()[0] for line in lines[1:]] == [mix[n].message_guid for n in order]
    assert "REFUSED    401" in lines[4]
    assert "auth: the certificate is not mapped to any service key" in lines[4]
    assert "tls: the client sent no certificate" in lines[5]
    assert "ValueError: order 4711 has no lines" in lines[1]


def test_filters_and_limit(ws: Path, mix: dict[str, MplRecord]) -> None:
    refused = run(ws, "--status", "refused").output.splitlines()[1:]
    assert len(refused) == 4
    assert all("REFUSED" in line for line in refused)
    assert len(run(ws, "--status", "FAILED").output.splitlines()) == 1 + 5
    assert len(run(ws, "--iflow", "clientCertAuth").output.splitlines()) == 1 + 3
    assert len(run(ws, "--since", "1d").output.splitlines()) == 1 + 6
    assert len(run(ws, "--since", "2020-12-31").output.splitlines()) == 1 + 7
    limited = run(ws, "--limit", "2").output.splitlines()
    assert limited[-1] == "(2 of 7; use --limit to see more)"
    assert run(ws, "--status", "RETRY").output == "no messages match\n"


def test_json_for_scripts(ws: Path, mix: dict[str, MplRecord]) -> None:
    data = json.loads(run(ws, "--json", "--status", "REFUSED").output)
    assert data["total"] == 4
    assert {m["refusal_stage"] for m in data["messages"]} == {"tls", "auth", "authorization", "routing"}
    assert {m["status"] for m in data["messages"]} == {"FAILED"}


def test_show_tells_everything_about_one_call(ws: Path, mix: dict[str, MplRecord]) -> None:
    guid = mix["accepted"].message_guid
    out = run(ws, "show", guid).output
    for text in (
        "COMPLETED  clientCertAuth",
        "subject         CN=demo-sender",
        "Request POST /http/clientCertAuth",
        '{"order": 4711}',
        "Response 200",
        "Hello demo-sender",
        "po_number  4711",
        "payload  application/json, 15 bytes",
    ):
        assert text in out
    assert run(ws, "show", guid[:12]).output == out  # a unique prefix is enough
    refused = run(ws, "show", mix["forbidden"].message_guid).output
    assert "refused at authorization: service instance 'reader' lacks the role" in refused


def test_show_json_has_bodies_and_attachments(ws: Path, mix: dict[str, MplRecord]) -> None:
    data = json.loads(run(ws, "show", mix["binary"].message_guid, "--json").output)
    assert data["request"]["body"] == {"size": 2, "truncated": False, "base64": "AP8="}
    assert data["attachments"][0]["base64"] == "JVBERg=="
    out = run(ws, "show", mix["binary"].message_guid).output
    assert "(binary, base64) AP8=" in out


def test_show_an_unknown_id_is_a_one_line_error(ws: Path, mix: dict[str, MplRecord]) -> None:
    result = CliRunner().invoke(main, ["messages", "show", "AGnothere", "--workspace", str(ws)])
    assert result.exit_code == 1
    assert result.output.startswith("error: no message 'AGnothere' in ")


def test_a_workspace_without_a_log_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["messages", "--workspace", str(tmp_path)])
    assert result.exit_code == 1
    assert "no message log here; run `cpimock serve` in this workspace first" in result.output
    assert "Traceback" not in result.output


def test_a_bad_since_names_the_forms() -> None:
    now = dt.datetime(2025, 1, 31, 12, tzinfo=dt.UTC)
    assert parse_since("10m", now) == now - dt.timedelta(minutes=10)
    assert parse_since("2025-01-31T08:00:00+00:00", now) == dt.datetime(2025, 1, 31, 8, tzinfo=dt.UTC)
    result = CliRunner().invoke(main, ["messages", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "neither a duration (10m, 2h, 1d) nor a date" in result.output


def test_tail_follows_new_messages(ws: Path, mix: dict[str, MplRecord]) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cpimock",
            "messages",
            "tail",
            "--count",
            "2",
            "--timeout",
            "60",
            "--interval",
            "0.05",
            "--workspace",
            str(ws),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    header = proc.stdout.readline()  # printed once tail knows where the log ends
    assert header.startswith("MESSAGE ID")
    journal = Journal.open(ws / "cpimock.db")
    new = [MplRecord(integration_flow_name="late", request_path=f"/http/late/{i}") for i in range(3)]
    for rec in new:
        journal.record(rec)
    journal.close()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert [line.split()[0] for line in out.splitlines()] == [new[0].message_guid, new[1].message_guid]


def test_tail_stops_at_its_timeout_with_nothing_new(ws: Path, mix: dict[str, MplRecord]) -> None:
    result = run(ws, "tail", "--timeout", "0.1", "--json")
    assert result.exit_code == 0
    assert result.output == ""
