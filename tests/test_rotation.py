"""The rotation rehearsal end to end over mTLS: the successor key, both accepted during the overlap,
the MPL naming which one called, the old one retired on its date (on the tenant clock) or ended
with `revoke`; and the keys that cannot be rotated that way."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner, Result

from cpimock.cli import main
from cpimock.pki.clock import Clock
from cpimock.pki.keys import now
from cpimock.workspace.keys import successor_name
from cpimock.workspace.registry import Registry
from tests.serving import Running, serving


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


async def post(running: Running, name: str) -> tuple[int, str]:
    async with running.session(running.extract(name)) as session:
        async with session.post(f"{running.url}/http/clientCertAuth", json={"name": name}) as response:
            return response.status, await response.text()


async def test_a_rotation_rehearsed_from_both_keys_to_the_successor_alone(workspace: Path) -> None:
    assert cli("servicekey", "create", "s4", "-w", workspace).exit_code == 0
    rotated = cli("servicekey", "rotate", "s4", "--old-until", "+7d", "-w", workspace)
    assert rotated.exit_code == 0, rotated.output
    assert "Rotated service key 's4' to 's4-2'" in rotated.output
    assert "Both keys are accepted until" in rotated.output
    assert "cpimock servicekey revoke s4" in rotated.output
    registry = Registry.load(workspace / "certs")
    old, new = registry.get("s4"), registry.get("s4-2")
    assert (old.successor, new.instance, new.key_type) == ("s4-2", old.instance, "certificate")
    assert new.fingerprint != old.fingerprint
    oauth = [json.loads((workspace / f"certs/keys/{n}.json").read_text())["oauth"] for n in ("s4", "s4-2")]
    assert oauth[0]["key"] != oauth[1]["key"]  # a new key pair, not a new certificate for the old key

    listing = cli("servicekey", "list", "-w", workspace).output
    assert "retiring" in listing
    assert "(successor s4-2)" in listing

    async with serving(workspace) as running:
        # the overlap: both keys are accepted, and the MPL says which one called
        assert (await post(running, "s4"))[0] == 200
        assert (await post(running, "s4-2"))[0] == 200
        callers = [r.service_key for r in await running.records()]
        assert callers == ["s4", "s4-2"]

        # the day after --old-until on the tenant clock: the old key is retired, the successor serves
        running.server.reloader.rebuild(clock=Clock.at(now() + dt.timedelta(days=8)))
        status, body = await post(running, "s4")
        assert status == 401
        assert "retired after its rotation to 's4-2'" in body
        assert (await post(running, "s4-2"))[0] == 200

        # back in the overlap, revoke ends the old key at once: refused in the handshake (CRL)
        running.server.reloader.rebuild(clock=Clock())
        revoked = cli("servicekey", "revoke", "s4", "-w", workspace)
        assert "Its successor 's4-2' stays valid" in revoked.output
        await running.reload()
        with pytest.raises(aiohttp.ClientError):
            await post(running, "s4")
        assert (await post(running, "s4-2"))[0] == 200
        await running.server.settle()
        assert (await running.records())[-2].refusal_reason == "the client certificate has been revoked"


def test_a_rotation_without_a_date_keeps_the_old_key_until_its_certificate_expires(workspace: Path) -> None:
    result = cli("servicekey", "rotate", "demo-sender", "--name", "demo-2026", "-w", workspace)
    assert result.exit_code == 0, result.output
    assert "until 'demo-sender''s certificate expires" in result.output
    registry = Registry.load(workspace / "certs")
    assert registry.get("demo-sender").retires is None
    assert registry.get("demo-sender").successor == "demo-2026"


@pytest.mark.parametrize(
    ("setup", "args", "expected"),
    [
        ((), ("nope",), "no service key named 'nope'"),
        ((("create", "basic", "--key-type", "clientid-secret"),), ("basic",), "rotate Certificate keys only"),
        ((("rotate", "demo-sender"),), ("demo-sender",), "was rotated to demo-sender-2 already"),
        ((("revoke", "demo-sender"),), ("demo-sender",), "is revoked"),
        ((), ("demo-sender", "--old-until", "-1h"), "is past"),
        ((), ("demo-sender", "--old-until", "soon"), "--old-until 'soon'"),
    ],
)
def test_keys_that_cannot_be_rotated_are_refused_in_one_line(
    workspace: Path, setup: tuple[tuple[str, ...], ...], args: tuple[str, ...], expected: str
) -> None:
    for step in setup:
        assert cli("servicekey", *step, "-w", workspace).exit_code == 0
    before = set(Registry.load(workspace / "certs").records)
    result = cli("servicekey", "rotate", *args, "-w", workspace)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: ")
    assert expected in line
    assert set(Registry.load(workspace / "certs").records) == before


def test_successor_names_count_on() -> None:
    assert successor_name("s4", set()) == "s4-2"
    assert successor_name("s4-2", set()) == "s4-3"
    assert successor_name("s4", {"s4-2", "s4-3"}) == "s4-4"
    assert successor_name("-7", set()) == "-7-2"
