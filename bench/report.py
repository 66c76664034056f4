"""bench/results.md: a table per workload with absolute figures and ratios, the machine, the command.

Also the warm-up of every server, the figure of every round, W6 (an IDoc), W7 (a Groovy step)
and the reading against the targets (bench/targets.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import targets
from servers import TARGETS

Runs = dict[str, list[dict[str, Any]]]  # target -> one dict per round

SETUP = """\
## How it was measured

- **One machine, two cores, shared.** Every server's process tree is pinned to core 0 and the load
  generator to core 1 (`taskset`), so a server gets one core whatever its threading, and the generator
  cannot steal from it. One server process each (nginx: 1 worker; cpimock `--workers 1`). The figures
  say nothing about more cores.
- **Same certificates everywhere**: a fresh cpimock workspace (`cpimock init`): root CA -> server
  certificate; root CA -> client CA -> client certificate of service key `demo-sender` (RSA 2048).
  Every server trusts the root only and requires a client certificate, so the client sends its chain.
  TLS 1.3 was negotiated with every server (see the protocol column of W1).
- **Same request and answer everywhere**: `POST /http/bench/echo` with 1,024 bytes of JSON; every
  server answers 200 with the same 1,024 bytes (see *Answers* below). An answer only counts as ok if
  it is 2xx and carries 1,024 body bytes.
- **Load generator**: `bench/loadgen.c`, one epoll thread with non-blocking OpenSSL, compiled on first
  use. siege, wrk and h2load were not used: wrk and h2load cannot present client certificates, and
  siege's thread-per-user model and coarse timings would make the generator the bottleneck on one core.
  Its own CPU use is reported (`gen CPU`); the server's CPU use (`srv CPU`, share of its one core)
  shows whether the server was saturated. `other` is the CPU (in cores) that the rest of the machine
  used meanwhile: the benchmark does not own the machine, and a figure taken while `other` is well
  above zero is depressed by it.
- **Warm-up until its figures stop rising**: before its measured rounds every server gets W1-shaped
  runs of a few seconds, repeated until three in a row rose less than 5 % above the best run before
  them (or a cap is reached), so that a server that compiles itself while it runs (WireMock's JVM,
  which can hold a plateau and rise again) is measured warm. Every warm-up run and
  every round is listed under *Warm-up* and *Per-round figures*.
- **Equal work for the peers**: cpimock records every call in its MPL; WireMock (request journal on,
  its default) and mountebank (`recordRequests`) are measured recording too, and also without.
  Their recordings live in memory and are emptied between runs (never during one).
- **Interleaved rounds**: each round runs every server once, in a rotated order, after a warm-up that
  is not counted. Figures are medians over rounds; counts are sums.
- **W2 has no resumption**: the generator keeps no session cache and sends no tickets, so every
  connection is a full handshake (ECDHE, the server's RSA signature, the client's RSA signature and
  chain verification on both sides). The client's RSA signature costs the generator about as much as
  the server's costs the server, so W2 figures are bounded by whichever side is slower. cpimock, nginx
  and the aiohttp floor issue no session tickets (cpimock never does; the other two are configured so),
  so they do the same TLS work per connection; WireMock, mountebank and pytest-httpserver keep their
  defaults.
"""


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt(value: float, digits: int = 0) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(a: float, b: float) -> str:
    if not a or not b or a != a or b != b:
        return "-"
    return f"{a / b:.2f}"


def _agg(runs: list[dict[str, Any]], key: str) -> float:
    return med([float(r[key]) for r in runs if key in r])


def _sum(runs: list[dict[str, Any]], key: str) -> int:
    return sum(int(r.get(key, 0)) for r in runs)


def _matrix(names: list[str], value: Callable[[str], float], label: str) -> list[str]:
    lines = [f"| {label} | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for row in names:
        lines.append(f"| {row} | " + " | ".join(_ratio(value(row), value(col)) for col in names) + " |")
    return lines


def _load_section(title: str, unit: str, data: Runs, names: list[str], note: str) -> list[str]:
    names = [n for n in names if data.get(n)]
    lines = [f"## {title}", "", note, ""]
    if not names:
        return [*lines, "No server completed this workload.", ""]
    rate = {n: _agg(data[n], "rps") for n in names}
    lines += [
        f"| server | {unit} | p50 ms | p99 ms | × nginx | × aiohttp-floor | ok | failed | new conns | srv CPU "
        "| gen CPU | other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in names:
        runs = data[n]
        lines.append(
            f"| {n} | {_fmt(rate[n])} | {_fmt(_agg(runs, 'p50_us') / 1000, 2)} | "
            f"{_fmt(_agg(runs, 'p99_us') / 1000, 2)} | {_ratio(rate[n], rate.get('nginx', 0))} | "
            f"{_ratio(rate[n], rate.get('aiohttp-floor', 0))} | {_sum(runs, 'ok'):,} | {_sum(runs, 'failed'):,} | "
            f"{_sum(runs, 'reconnects'):,} | {_agg(runs, 'server_cpu'):.0%} | {_agg(runs, 'client_cpu'):.0%} | "
            f"{_agg(runs, 'other_cpu'):.2f} |"
        )
    bound = [n for n in names if _agg(data[n], "client_cpu") >= 0.9]
    if bound:
        lines.append(
            f"\nThe load generator used 90 % or more of its core against {', '.join(bound)}: "
            "those figures are lower bounds, set by the generator as much as by the server."
        )
    firsts = {
        n: r.get("first_error") or f"status {r.get('first_bad_status')}"
        for n in names
        for r in data[n]
        if r.get("failed")
    }
    for n, what in firsts.items():
        lines.append(f"\n{n}: first failure: {what}")
    lines += [
        "",
        "`new conns`: connections the generator had to open again because the server closed one "
        "(W2 opens one per request by design).",
        "",
        f"Ratio of {unit} (row ÷ column):",
        "",
        *_matrix(names, lambda n: rate[n], unit),
        "",
    ]
    return lines


def _idle_section(data: Runs, names: list[str], connections: int) -> list[str]:
    names = [n for n in names if data.get(n)]
    lines = [
        f"## W3 idle cost: resident memory with {connections:,} idle keep-alive mTLS connections",
        "",
        "A freshly started server answers requests on one keep-alive connection for a second (what it grows "
        "once on its first requests, such as cpimock's SQLite page cache for the message log, is then in *RSS "
        "before*), then the generator opens the connections (each "
        "completes its handshake and one request, then stays open). RSS of the server's whole process tree "
        "is read one second after the last connection was made; `held` is how many were open then, "
        "`closed by server` how many the server closed while idle, `established` what the kernel counted on the "
        "server's port when RSS was read.",
        "",
    ]
    if not names:
        return [*lines, "No server completed this workload.", ""]
    rss = {n: _agg(data[n], "rss") for n in names}
    lines += [
        "| server | RSS with connections MB | RSS before MB | KB per connection | × nginx | held | "
        "closed by server | established | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in names:
        before = _agg(data[n], "rss_before")
        per = (rss[n] - before) / connections / 1024
        lines.append(
            f"| {n} | {rss[n] / 2**20:.1f} | {before / 2**20:.1f} | {per:.1f} | {_ratio(rss[n], rss.get('nginx', 0))} "
            f"| {_sum(data[n], 'held_at_ready')} | {_sum(data[n], 'closed_by_server')} "
            f"| {_sum(data[n], 'established')} | {_sum(data[n], 'failed')} |"
        )
    lines += ["", "Ratio of RSS (row ÷ column; lower is better):", "", *_matrix(names, lambda n: rss[n], "RSS"), ""]
    return lines


def _start_section(data: dict[str, list[float]], names: list[str]) -> list[str]:
    names = [n for n in names if data.get(n)]
    lines = [
        "## W4 start-up: from process start to the first accepted mTLS request",
        "",
        "Measured from `Popen` of the server's command (cpimock: `cpimock serve --workspace WS --host "
        "127.0.0.1 --port P --workers 1` on an existing workspace) to the first 2xx answer to an mTLS "
        "POST, polling every 2 ms (a refused connection is retried at once).",
        "",
        "| server | median s | min s | max s | starts | × nginx |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for n in names:
        times = data[n]
        lines.append(
            f"| {n} | {med(times):.3f} | {min(times):.3f} | {max(times):.3f} | {len(times)} | "
            f"{_ratio(med(times), med(data.get('nginx', [])))} |"
        )
    return [*lines, ""]


def _api_section(api: dict[str, Any] | None) -> list[str]:
    lines = ["## W5 test overhead (cpimock only, Python API)", ""]
    if api is None:
        return [*lines, "No figures: cpimock was not selected, not available, or W5 failed (see the problems).", ""]
    lines += ["| what | median ms | max ms | n |", "|---|---:|---:|---:|"]

    def row(label: str, times: list[float]) -> None:
        if times:
            lines.append(f"| {label} | {med(times) * 1000:.1f} | {max(times) * 1000:.1f} | {len(times)} |")

    if api.get("exit"):
        lines[-2:-2] = [f"Note: {api['exit']}.", ""]
    row(
        "`cpimock.workspace.keys.issue_service_key` (RSA 2048 key, certificate, JSON, registry)",
        api["issue_service_key"],
    )
    row("`cpimock servicekey create` at the CLI (includes interpreter start)", api["cli_servicekey_create"])
    tenant = api.get("tenant", {})
    if "missing" in tenant:
        lines += [
            "",
            f"Tenant fixture start+stop: **not measured**: {tenant['missing']}. The hook is "
            "`tenant_start_stop` in `bench/w5_api.py`.",
        ]
    else:
        row("`async with cpimock.testing.Tenant()`: first start+stop of a process", tenant["first_start_stop"])
        row("`async with cpimock.testing.Tenant()`: start+stop", tenant["start_stop"])
        row("`tenant.service_key(...)`: first key", tenant["first_key"])
        row("`tenant.service_key(...)`", tenant["keys"])
    return [*lines, ""]


def _settle_section(settle: dict[str, Any], names: list[str], plan: Any) -> list[str]:
    names = [n for n in names if n in settle]
    if not names:
        return ["## Warm-up", "", "No server was warmed up (none was started; see the problems).", ""]
    lines = [
        "## Warm-up",
        "",
        f"Before its measured rounds, each server got W1-shaped runs of {plan.settle_s:g} s (64 keep-alive "
        f"connections, none of it counted), repeated until {plan.settle_patience} runs in a row rose less than "
        f"{plan.settle_within * 100:.0f} % above the best run before them, at most {plan.settle_cap} runs. "
        "req/s of each run:",
        "",
        "| server | runs | settled | req/s per run |",
        "|---|---:|---|---|",
    ]
    for n in names:
        runs = settle[n]["runs"]
        lines.append(
            f"| {n} | {len(runs)} | {'yes' if settle[n]['settled'] else '**no** (cap reached)'} | "
            + " → ".join(_fmt(r["rps"]) for r in runs)
            + " |"
        )
    return [*lines, ""]


def _rounds_table(title: str, unit: str, data: Runs, names: list[str]) -> list[str]:
    names = [n for n in names if data.get(n)]
    if not names:
        return []
    count = max(len(data[n]) for n in names)
    lines = [
        f"{title} ({unit}; spread: (max - min) ÷ median):",
        "",
        "| server | " + " | ".join(f"round {i + 1}" for i in range(count)) + " | spread |",
        "|---|" + "---:|" * (count + 1),
    ]
    for n in names:
        rates = [float(r["rps"]) for r in data[n]]
        cells = [_fmt(v) for v in rates] + ["-"] * (count - len(rates))
        spread = (max(rates) - min(rates)) / med(rates) if med(rates) else float("nan")
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {_fmt(spread * 100, 1)} % |")
    return [*lines, ""]


def _rounds_section(results: dict[str, Any], names: list[str]) -> list[str]:
    lines = ["## Per-round figures", "", "Each measured round of each workload, in the order they ran.", ""]
    lines += _rounds_table("W1 keep-alive", "req/s", results["W1"], names)
    lines += _rounds_table("W2 handshakes", "handshakes/s", results["W2"], names)
    lines += _rounds_table("W6 IDoc", "req/s", results.get("W6", {}), names)
    w7 = results.get("W7") or {}
    if w7.get("runs"):
        lines += _rounds_table("W7 echo step (step @ connections)", "req/s", w7["runs"], list(w7["runs"]))
    return lines


def _idoc_section(results: dict[str, Any], idoc_bytes: int, plan: Any) -> list[str]:
    w6, w1 = results.get("W6") or {}, results["W1"]
    lines = [
        "## W6 IDoc through /cxf/ (cpimock only)",
        "",
        f"W1's shape (64 keep-alive connections; {plan.rounds} round(s) of {plan.duration_s:g} s) with a "
        f"{idoc_bytes:,}-byte ORDERS05 IDoc in the SOAP envelope of an S/4 XML-HTTP port, posted as "
        '`text/xml` to `/cxf/bench/idoc`, an iFlow with `adapter = "idoc"` and the same echo step as W1; '
        "cpimock answers 200 with no body (its default IDoc answer), after the step and the MPL record. "
        "Compared with cpimock's own W1 in the same rounds.",
        "",
    ]
    if not w6.get("cpimock"):
        return [*lines, "Not measured in this run (cpimock not selected or failed; see the problems).", ""]
    runs = w6["cpimock"]
    rate, base = _agg(runs, "rps"), _agg(w1.get("cpimock", []), "rps")
    lines += [
        "| server | req/s | p50 ms | p99 ms | × its W1 | ok | failed | srv CPU | gen CPU | other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| cpimock | {_fmt(rate)} | {_fmt(_agg(runs, 'p50_us') / 1000, 2)} | {_fmt(_agg(runs, 'p99_us') / 1000, 2)} "
        f"| {_ratio(rate, base)} | {_sum(runs, 'ok'):,} | {_sum(runs, 'failed'):,} | {_agg(runs, 'server_cpu'):.0%} "
        f"| {_agg(runs, 'client_cpu'):.0%} | {_agg(runs, 'other_cpu'):.2f} |",
    ]
    return [*lines, ""]


def _groovy_section(w7: dict[str, Any] | None, plan: Any) -> list[str]:
    lines = [
        "## W7 a Groovy step against the same step in Python (cpimock only)",
        "",
        "One cpimock server (MPL on) with two iFlows that differ only in their step: `/http/bench/echo`, the "
        "echo in Python (`bench/iflows/echo.py`, W1's), and `/http/bench/groovy`, the same echo in Groovy "
        "(`bench/iflows/echo.groovy`, run by cpimock's JVM worker, a child of the server on the server's core).",
        "",
    ]
    if w7 is None:
        return [*lines, "Not measured in this run (cpimock not selected or failed; see the problems).", ""]
    if "skipped" in w7:
        return [*lines, f"**Skipped**: {w7['skipped']}.", ""]
    cold = w7.get("cold", [])
    if cold:
        lines += [
            "**Cold first call.** A fresh server is started and answers one request on the Python path (the JVM "
            "is not started yet); then one POST to the Groovy path is timed: the JVM's start, the script's "
            "compilation and the call. The worker's compiled API classes are cached on disk across runs, so "
            "only a first run ever on a machine also compiles them.",
            "",
            "| start | server ready s | first Groovy call s | process start to that answer s |",
            "|---:|---:|---:|---:|",
            *(
                f"| {i + 1} | {c['ready_s']:.3f} | {c['first_call_s']:.3f} | {c['since_start_s']:.3f} |"
                for i, c in enumerate(cold)
            ),
            "",
        ]
    settle = w7.get("settle", {})
    if settle:
        lines += [
            "Warm-up of the last of those servers (as under *Warm-up*), req/s per run: "
            + "; ".join(
                f"{step} step {' → '.join(_fmt(r['rps']) for r in s['runs'])}"
                + ("" if s["settled"] else " (cap reached)")
                for step, s in settle.items()
            )
            + ".",
            "",
        ]
    runs = w7.get("runs", {})
    if runs:
        lines += [
            f"**Warm.** Keep-alive runs of {plan.duration_s:g} s against the same server, the two steps "
            "alternating round by round; with one connection every call waits for the previous answer, so "
            "its latency is what a sender's sequential test sees per call. `server ms per call` is "
            "connections ÷ req/s.",
            "",
            "| step | connections | req/s | p50 ms | p99 ms | server ms per call | ok | failed | srv CPU |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key, data in runs.items():
            step, conns = key.split("@")
            rate = _agg(data, "rps")
            per_call = int(conns) / rate * 1000 if rate else float("nan")
            lines.append(
                f"| {step} | {conns} | {_fmt(rate)} | {_fmt(_agg(data, 'p50_us') / 1000, 3)} | "
                f"{_fmt(_agg(data, 'p99_us') / 1000, 3)} | {_fmt(per_call, 3)} "
                f"| {_sum(data, 'ok'):,} | {_sum(data, 'failed'):,} | {_agg(data, 'server_cpu'):.0%} |"
            )
        added = []
        for conns in sorted({int(k.split("@")[1]) for k in runs}):
            py, gr = runs.get(f"python@{conns}", []), runs.get(f"groovy@{conns}", [])
            if py and gr:
                p50 = (_agg(gr, "p50_us") - _agg(py, "p50_us")) / 1000
                per_call = conns * 1000 / _agg(gr, "rps") - conns * 1000 / _agg(py, "rps")
                added.append(
                    f"with {conns} connection(s): {p50:+.3f} ms at the median, {per_call:+.3f} ms per call in "
                    "connections ÷ req/s"
                )
        if added:
            lines += ["", "Added by the Groovy step over the Python step: " + "; ".join(added) + "."]
    return [*lines, ""]


def render(
    *,
    command: str,
    date: str,
    machine: dict[str, str],
    names: list[str],
    results: dict[str, Any],
    plan: Any,
    problems: list[str],
    missing: dict[str, str],
    idoc_bytes: int = 0,
) -> str:
    lines = [
        "# cpimock benchmark results",
        "",
        f"Written by `{command}` on {date}. Figures are only comparable within this file: same machine, same run.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in machine.items()),
        "",
        SETUP,
        "## Answers",
        "",
        "| server | how it answers | notes |",
        "|---|---|---|",
        *(f"| {n} | {TARGETS[n].answer} | {TARGETS[n].note} |" for n in names),
        "",
    ]
    if missing:
        lines += ["## Missing servers", ""]
        lines += [f"- **{n}**: {why}" for n, why in missing.items()]
        lines.append("")
    if problems:
        lines += ["## Problems in this run", ""]
        lines += [f"- {p}" for p in problems]
        lines.append("")
    rounds = f"{plan.rounds} round(s) of {plan.duration_s:g} s after {plan.warmup_s:g} s warm-up"
    lines += _load_section(
        "W1 keep-alive throughput and latency",
        "req/s",
        results["W1"],
        names,
        f"{plan.w1_connections} keep-alive connections, each POSTing the 1 KB body again as soon as the answer "
        f"arrived; {rounds}. Latency is from the first byte of the request to the last byte of the answer.",
    )
    lines += _load_section(
        "W2 handshake rate",
        "handshakes/s",
        results["W2"],
        names,
        f"{plan.w2_connections} concurrent clients, each request on a new TCP connection with a full mTLS "
        f"handshake (no resumption) and `Connection: close`; {rounds}. Latency is from connect() to the last "
        "byte of the answer.",
    )
    lines += _idle_section(results["W3"], names, plan.w3_connections)
    lines += _start_section(results["W4"], names)
    lines += _api_section(results.get("W5"))
    lines += _idoc_section(results, idoc_bytes, plan)
    lines += _groovy_section(results.get("W7"), plan)
    lines += _settle_section(results.get("settle", {}), names, plan)
    lines += _rounds_section(results, names)
    lines += targets.section(results)
    return "\n".join(lines).rstrip() + "\n"
