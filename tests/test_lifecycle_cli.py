"""Keys over their lifetime through the CLI: short, late and expired keys, expiry in `servicekey list`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509

from cpimock.cli import main
from cpimock.pki.keys import now
from cpimock.pki.servicekey import read_service_key


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def leaf(workspace: Path, name: str) -> x509.Certificate:
    cert = read_service_key(workspace / "certs" / "keys" / f"{name}.json").leaf
    assert cert is not None
    return cert


def one_error(result: Result, *expected: str) -> None:
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: ")
    for text in expected:
        assert text in line, line


def test_a_key_valid_for_minutes_ends_that_many_minutes_from_now(workspace: Path) -> None:
    result = cli("servicekey", "create", "short", "--validity", "30m", "-w", workspace)
    assert result.exit_code == 0, result.output
    cert = leaf(workspace, "short")
    assert abs(cert.not_valid_after_utc - (now() + dt.timedelta(minutes=30))) < dt.timedelta(minutes=1)
    assert cert.not_valid_before_utc < now()
    assert f"valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC" in result.output


def test_an_expired_key_is_made_on_request_and_said_to_be_expired(workspace: Path) -> None:
    result = cli("servicekey", "create", "old", "--validity", "12h", "--expired", "-w", workspace)
    assert result.exit_code == 0, result.output
    cert = leaf(workspace, "old")
    assert cert.not_valid_after_utc < now() - dt.timedelta(hours=23)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(hours=12)
    assert "EXPIRED on" in result.output


def test_a_key_not_yet_valid_starts_when_asked(workspace: Path) -> None:
    result = cli(
        "servicekey", "create", "later", "--not-before", "2030-01-01T08:00", "--validity", "2d", "-w", workspace
    )
    assert result.exit_code == 0, result.output
    cert = leaf(workspace, "later")
    assert cert.not_valid_before_utc == dt.datetime(2030, 1, 1, 8, tzinfo=dt.UTC)
    assert cert.not_valid_after_utc == dt.datetime(2030, 1, 3, 8, tzinfo=dt.UTC)
    assert "valid from 2030-01-01 08:00 until 2030-01-03 08:00 UTC" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--validity", "2w"), "--validity '2w': write days, hours or minutes"),
        (("--validity", "0m"), "choose 1..365 days"),
        (("--not-before", "next monday"), "--not-before 'next monday'"),
        (("--expired", "--not-before", "+1d"), "exclude each other"),
        (("--expired", "--key-type", "clientid-secret"), "for certificates cpimock issues"),
    ],
)
def test_times_that_make_no_key_are_refused_in_one_line(workspace: Path, args: tuple[str, ...], expected: str) -> None:
    one_error(cli("servicekey", "create", "bad", *args, "-w", workspace), expected)
    assert not (workspace / "certs/keys/bad.json").exists()


@pytest.fixture
def keys_of_every_age(workspace: Path) -> Path:
    """demo-sender (365 days), soon (10 days), gone (expired), later (not yet valid), dropped (revoked)."""
    for args in (
        ("soon", "--validity", "10"),
        ("gone", "--expired"),
        ("later", "--not-before", "+2d"),
        ("dropped",),
    ):
        created = cli("servicekey", "create", *args, "-w", workspace)
        assert created.exit_code == 0, created.output
    assert cli("servicekey", "revoke", "dropped", "-w", workspace).exit_code == 0
    return workspace


def test_list_shows_where_each_key_stands_and_warns_about_the_ones_ending(keys_of_every_age: Path) -> None:
    result = CliRunner().invoke(main, ["servicekey", "list", "-w", str(keys_of_every_age)])
    assert result.exit_code == 0, result.output
    status = {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines()[1:]}
    assert status == {
        "demo-sender": "valid",
        "dropped": "revoked",
        "gone": "expired",
        "later": "not-yet-valid",
        "soon": "expiring",
    }
    warnings = result.stderr.splitlines()
    assert len(warnings) == 2, result.stderr
    assert "service key 'gone' expired on" in warnings[0]
    assert "service key 'soon' expires in 9 days" in warnings[1]
    assert "cpimock servicekey rotate soon" in warnings[1]


def test_the_warning_window_is_configurable(keys_of_every_age: Path) -> None:
    narrow = CliRunner().invoke(main, ["servicekey", "list", "--warn-days", "5", "-w", str(keys_of_every_age)])
    assert "soon " in narrow.stdout
    assert "expiring" not in narrow.stdout
    wide = CliRunner().invoke(
        main, ["servicekey", "list", "-w", str(keys_of_every_age)], env={"CPIMOCK_WARN_DAYS": "365"}
    )
    assert wide.stdout.count("expiring") == 2, wide.stdout  # the demo key's 365 days too


def test_list_json_is_for_scripts(keys_of_every_age: Path) -> None:
    result = CliRunner().invoke(main, ["servicekey", "list", "--json", "-w", str(keys_of_every_age)])
    assert result.exit_code == 0, result.output
    keys = {k["name"]: k for k in json.loads(result.stdout)}
    assert keys["soon"]["status"] == "expiring"
    assert keys["soon"]["days_left"] == 9
    assert keys["gone"]["status"] == "expired"
    assert keys["demo-sender"]["instance"] == "default"
    assert dt.datetime.fromisoformat(keys["soon"]["not_after"]) > now()
    assert set(keys["soon"]) >= {"name", "instance", "type", "status", "not_before", "not_after", "days_left"}


def test_extract_warns_when_the_certificate_it_writes_expires_soon(workspace: Path, tmp_path: Path) -> None:
    assert cli("servicekey", "create", "soon", "--validity", "3d", "-w", workspace).exit_code == 0
    soon = CliRunner().invoke(
        main, ["servicekey", "extract", str(workspace / "certs/keys/soon.json"), "--out", str(tmp_path / "soon")]
    )
    assert soon.exit_code == 0, soon.output
    assert "warning: the certificate expires in 2 days" in soon.stderr
    fresh = CliRunner().invoke(
        main, ["servicekey", "extract", str(workspace / "certs/keys/demo-sender.json"), "--out", str(tmp_path / "d")]
    )
    assert fresh.exit_code == 0, fresh.output
    assert "expires in" not in fresh.stderr
