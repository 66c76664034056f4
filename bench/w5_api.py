"""W5, what a sender's test suite feels: service-key issuance and the testing tenant's start+stop.

Run in a fresh interpreter by run.py (``python bench/w5_api.py WORKSPACE ROUNDS``); prints one
JSON object. Each figure is a list of seconds, one per round.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any


def issue_keys(workspace: Path, rounds: int) -> list[float]:
    """``cpimock.workspace.keys.issue_service_key``: a new RSA 2048 key, certificate, JSON and registry entry."""
    from cpimock.workspace.create import load_workspace
    from cpimock.workspace.keys import issue_service_key

    config, pki, registry = load_workspace(workspace)
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        issue_service_key(config, pki, registry, f"bench-key-{i}", "default")
        times.append(time.perf_counter() - started)
    return times


def tenant_start_stop(rounds: int) -> dict[str, Any]:
    """HOOK for the testing API: ``async with cpimock.testing.Tenant()`` start+stop, and a key from it.

    The first tenant of a process also builds the per-process template workspace; it is
    reported apart from the steady-state ones. Returns {"missing": reason} while the testing
    API is not importable in this checkout.
    """
    try:
        from cpimock.testing import Tenant  # type: ignore[attr-defined]
    except Exception as exc:  # the API is being written; any import failure means "not there yet"
        return {"missing": f"cpimock.testing.Tenant is not importable ({type(exc).__name__}: {exc})"}

    async def measure() -> dict[str, list[float]]:
        starts: list[float] = []
        keys: list[float] = []
        for i in range(rounds + 1):
            started = time.perf_counter()
            async with Tenant() as tenant:
                if i == 0:
                    key_started = time.perf_counter()
                    tenant.service_key("bench-first")
                    first_key = time.perf_counter() - key_started
                else:
                    key_started = time.perf_counter()
                    tenant.service_key(f"bench-{i}")
                    keys.append(time.perf_counter() - key_started)
                    key_time = time.perf_counter() - key_started
                    started += key_time  # the start+stop figure leaves the key out
            starts.append(time.perf_counter() - started - (first_key if i == 0 else 0))
        return {"first_start_stop": starts[:1], "start_stop": starts[1:], "first_key": [first_key], "keys": keys}

    try:
        return dict(asyncio.run(measure()))
    except Exception as exc:
        return {"missing": f"cpimock.testing.Tenant failed ({type(exc).__name__}: {exc})"}


def main() -> None:
    workspace, rounds = Path(sys.argv[1]), int(sys.argv[2])
    scratch = workspace.parent / "ws-keys"
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(workspace, scratch)
    result: dict[str, Any] = {"issue_service_key": issue_keys(scratch, rounds)}
    result["tenant"] = tenant_start_stop(rounds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
