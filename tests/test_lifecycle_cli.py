"""Keys over their lifetime through the CLI: short, late and expired keys, expiry in `servicekey list`."""

from __future__ import annotations

import datetime as dt
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
