"""The workloads W1-W7: each runs one measurement against one started server and returns a dict.

W6 is W1's shape with a 5 KB ORDERS05 IDoc posted to cpimock's IDoc channel (``/cxf/``); W7 is
the echo as a Groovy step against the same echo as a Python step, on one cpimock server.
:func:`settle` is the warm-up every server gets before its measured rounds.

Counting rules, the same for every server: ``ok`` is a 2xx answer carrying the 1,024-byte
body; ``failed`` adds up non-2xx answers, wrong lengths, connection/TLS errors and requests
left unanswered at the end. A run with ``ok == 0`` is a silent zero and fails the benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prepare import BENCH, IDOC_CONTENT_TYPE, IDOC_PATH, LOADGEN, PATH, BenchError, Files
from servers import CLIENT_CPU, Running, client_context, pinned, probe


@dataclass(frozen=True)
class Plan:
    rounds: int
    warmup_s: float
    duration_s: float
    w1_connections: int = 64
    w2_connections: int = 8
    w3_connections: int = 1000
    w5_rounds: int = 10
    # the warm-up before the measured rounds: W1-shaped runs of settle_s seconds, repeated until
    # settle_patience runs in a row rose less than settle_within above the best run before them,
    # at most settle_cap runs
    settle_s: float = 3.0
    settle_within: float = 0.05
    settle_patience: int = 3
    settle_cap: int = 30
    w7_connections: tuple[int, ...] = (1, 64)  # W7: one caller at a time (latency per call), and W1's load


@dataclass(frozen=True)
class Shape:
    """What a keep-alive or handshake run posts, and what it expects back."""

    path: str = PATH
    body: str = "body"  # the Files attribute holding the request body
    content_type: str = "application/json"
    echo: bool = True  # the answer carries the request body; otherwise it is empty (W6's IDoc channel)


_TICKS = os.sysconf("SC_CLK_TCK")
FULL = Plan(rounds=3, warmup_s=2.0, duration_s=10.0)
QUICK = Plan(
    rounds=1,
    warmup_s=0.5,
    duration_s=2.0,
    w5_rounds=3,
    settle_s=0.5,
    settle_patience=1,
    settle_cap=2,
    w7_connections=(1,),
)
W1_SHAPE = Shape()
W6_SHAPE = Shape(path=IDOC_PATH, body="idoc", content_type=IDOC_CONTENT_TYPE, echo=False)


def _loadgen(files: Files, port: int, mode: str, connections: int, plan: Plan, shape: Shape = W1_SHAPE) -> list[str]:
    body: Path = getattr(files, shape.body)
    return pinned(
        [
            str(LOADGEN),
            "--mode",
            mode,
            "--port",
            str(port),
            "--path",
            shape.path,
            "--content-type",
            shape.content_type,
            "--cert",
            str(files.client_chain),
            "--key",
            str(files.client_key),
            "--ca",
            str(files.root_ca),
            "--body",
            str(body),
            "--connections",
            str(connections),
            "--duration",
            str(plan.duration_s),
            "--warmup",
            str(plan.warmup_s),
            "--expect-len",
            str(body.stat().st_size if shape.echo else 0),
            "--grace",
            "10",
        ],
        CLIENT_CPU,
    )


def busy_seconds() -> float:
    """CPU seconds all cores spent outside idle and iowait since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICKS


def failed(result: dict[str, Any]) -> int:
    return sum(int(result.get(k, 0)) for k in ("non2xx", "bad_length", "errors", "unanswered"))


def load(
    server: Running, mode: str, plan: Plan, shape: Shape = W1_SHAPE, connections: int | None = None
) -> dict[str, Any]:
    """W1 (mode keepalive) or W2 (mode handshake): one bounded run of the load generator.

    W6 and W7 are keep-alive runs of another *shape* (path, body) or number of *connections*.
    """
    if connections is None:
        connections = plan.w1_connections if mode == "keepalive" else plan.w2_connections
    cmd = _loadgen(server.files, server.port, mode, connections, plan, shape)
    cpu_before, busy_before, wall_before = server.cpu_seconds(), busy_seconds(), time.perf_counter()
    timeout = plan.warmup_s + plan.duration_s + 60
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.perf_counter() - wall_before
    if proc.returncode != 0:
        raise BenchError(f"loadgen failed against {server.target.name}: {proc.stderr.strip()[-300:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    server_cpu = server.cpu_seconds() - cpu_before
    result["server_cpu"] = server_cpu / wall
    result["client_cpu"] = result["client_cpu_s"] / result["wall_s"]
    # whatever else ran on the machine meanwhile, in cores (the machine may be shared)
    result["other_cpu"] = max(0.0, busy_seconds() - busy_before - server_cpu - result["client_cpu_s"]) / wall
    result["failed"] = failed(result)
    return result


def settle(server: Running, plan: Plan, shape: Shape = W1_SHAPE) -> dict[str, Any]:
    """The warm-up: W1-shaped runs until the server's own figure stops rising.

    Runs of ``plan.settle_s`` seconds (no warm-up of their own) are repeated until
    ``plan.settle_patience`` runs in a row came out less than ``plan.settle_within`` above the
    best run before them, or ``plan.settle_cap`` runs were made. Two runs that agree are not
    enough: a JIT-compiled server (WireMock's JVM) can hold a plateau for a few seconds and then
    rise again as its next tier compiles. Python and nginx are flat from the second run. The
    server's recording is emptied before each run, as before a measured one.
    """
    short = Plan(1, 0.0, plan.settle_s, w1_connections=plan.w1_connections)
    runs: list[dict[str, Any]] = []
    best = 0.0
    quiet = 0  # runs in a row that did not rise above the best by settle_within
    settled = False
    while len(runs) < plan.settle_cap:
        server.reset()
        runs.append(load(server, "keepalive", short, shape))
        rps = float(runs[-1]["rps"])
        if len(runs) > 1 and rps < best * (1 + plan.settle_within):
            quiet += 1
            if quiet >= plan.settle_patience:
                settled = True
                break
        else:
            quiet = 0
        best = max(best, rps)
    return {"runs": runs, "settled": settled}


def first_call(server: Running, path: str, timeout: float = 60.0) -> float:
    """Seconds from sending one mTLS POST to *path* to its (echoed) answer; W7's cold call."""
    started = time.perf_counter()
    probe(server.files, server.port, client_context(server.files), timeout=timeout, path=path)
    return time.perf_counter() - started


def idle(server: Running, plan: Plan) -> dict[str, Any]:
    """W3: resident memory of the server's process tree with N idle keep-alive mTLS connections.

    Each connection completes its handshake and one request, then stays open; memory is read
    one second after the last one was established, with the server's own count of
    ESTABLISHED connections at that moment.

    The base is read after one keep-alive connection has sent requests for a second (and
    closed): what a server grows once on its first requests, whatever the number of
    connections (cpimock's SQLite page cache for the message log, about 3 MB over its first
    thousand records; a JIT's compiled code), is then in the base, not divided among the
    connections. One connection, so that no freed buffers of many are left for the idle ones
    to reuse. A peer's recording is emptied after it, as before every run.
    """
    time.sleep(1.0)
    load(server, "keepalive", Plan(1, 0.0, 1.0), connections=1)
    server.reset()
    time.sleep(1.0)
    before = server.rss_bytes()
    # the generator gives up establishing connections after 20 s (its --duration in idle mode)
    cmd = _loadgen(server.files, server.port, "idle", plan.w3_connections, Plan(1, 0, 20))
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        ready = proc.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise BenchError(f"loadgen idle mode against {server.target.name} did not get ready: {ready}")
        time.sleep(1.0)
        rss = server.rss_bytes()
        established = server.established()
        proc.stdin.write("\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result: dict[str, Any] = json.loads(out)
    result.update(
        rss_before=before,
        rss=rss,
        established=established,
        connect_s=float(ready[3]),
        connections=plan.w3_connections,
    )
    result["held_at_ready"] = int(ready[1])
    # a connection the server closed while idle is the server's policy, shown apart from failures
    result["failed"] = result["errors"] + result["non2xx"]
    return result


def api(files: Files, plan: Plan) -> dict[str, Any]:
    """W5 in a fresh interpreter (bench/w5_api.py), plus `cpimock servicekey create` timed at the CLI."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / "w5_api.py"), str(files.workspace), str(plan.w5_rounds)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if not lines or not lines[-1].startswith("{"):
        raise BenchError(f"bench/w5_api.py failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if proc.returncode != 0:
        # the figures were printed; the interpreter died on the way out
        result["exit"] = (
            f"bench/w5_api.py exited {proc.returncode} after printing its figures: "
            + (proc.stderr.strip().splitlines() or ["no message"])[-1]
        )
    cli = []
    scratch = files.workspace.parent / "ws-keys"
    for i in range(max(1, plan.w5_rounds // 3)):
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "cpimock", "servicekey", "create", f"cli-key-{i}", "--workspace", str(scratch)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if run.returncode != 0:
            raise BenchError(f"cpimock servicekey create failed: {(run.stderr or run.stdout).strip()[-300:]}")
        cli.append(time.perf_counter() - started)
    result["cli_servicekey_create"] = cli
    return result
