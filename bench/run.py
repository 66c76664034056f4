"""Benchmark cpimock against nginx, a bare aiohttp+uvloop server, WireMock, mountebank and
pytest-httpserver, all with required client certificates, on loopback, and write bench/results.md.

    python bench/run.py [--quick] [--only cpimock,nginx] [--out bench/results.md]

WireMock and mountebank run twice: recording every request (WireMock's journal, its default;
mountebank's recordRequests), as cpimock's MPL does, and recording nothing. Every server is
warmed up until its own figure settles (workloads.settle) before the measured rounds.

``--quick`` (under two minutes) runs one short round of each workload against cpimock and nginx
(W6 and W7 against cpimock only) and fails if any server left a request unanswered; it never
judges speed. Missing tools are installed on first use (apt-get, npm into bench/.work, pip);
without Java and Groovy, W7 is reported as skipped. Exit status 1 when a selected server could
not be measured, or answered nothing in a workload (a silent zero).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import resource
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

import prepare
from prepare import GROOVY_PATH, BenchError, log
from servers import TARGETS, Running
from workloads import FULL, QUICK, W1_SHAPE, W6_SHAPE, Plan, Shape, api, first_call, idle, load, settle

ALL = [
    "cpimock",
    "cpimock-nompl",
    "nginx",
    "aiohttp-floor",
    "wiremock",
    "wiremock-nojournal",
    "mountebank",
    "mountebank-record",
    "pytest-httpserver",
]
QUICK_TARGETS = ["cpimock", "cpimock-nompl", "nginx"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round against cpimock and nginx only")
    parser.add_argument("--only", help=f"comma-separated servers, from: {', '.join(ALL)}")
    parser.add_argument("--out", type=Path, default=prepare.BENCH / "results.md", help="report file")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--duration", type=float, help="override the seconds measured per run of W1, W2, W6 and W7")
    parser.add_argument("--settle", type=float, help="override the seconds of each warm-up run")
    parser.add_argument("--settle-cap", type=int, help="override the most warm-up runs a server gets")
    args = parser.parse_args(argv)
    names = QUICK_TARGETS if args.quick else ALL
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in ALL]
        if unknown:
            parser.error(f"--only: unknown server(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
        names = [n for n in ALL if n in wanted]
    args.names = names
    return args


def prepare_tools(names: list[str]) -> dict[str, str]:
    """Install what the selected servers need; returns {server: reason} for those that cannot run."""
    missing: dict[str, str] = {}
    prepare.ensure_loadgen()

    def wiremock() -> None:
        prepare.ensure_npm_peers()
        prepare.ensure_java()

    steps = {
        "nginx": prepare.ensure_nginx,
        "wiremock": wiremock,
        "wiremock-nojournal": wiremock,
        "mountebank": prepare.ensure_npm_peers,
        "mountebank-record": prepare.ensure_npm_peers,
        "pytest-httpserver": prepare.ensure_pytest_httpserver,
    }
    for name in names:
        if name in steps:
            try:
                steps[name]()
            except BenchError as exc:
                missing[name] = str(exc)
    if any(n.startswith("cpimock") for n in names):
        ok, why = prepare.cpimock_serve_available()
        if not ok:
            for n in names:
                if n.startswith("cpimock"):
                    missing[n] = f"`cpimock serve` is not available in this checkout ({why})"
    return missing


def rotated(names: list[str], round_no: int) -> list[str]:
    shift = round_no % len(names) if names else 0
    return names[shift:] + names[:shift]


class Bench:
    def __init__(self, names: list[str], plan: Plan, files: prepare.Files, quick: bool) -> None:
        self.names = names
        self.plan = plan
        self.files = files
        self.quick = quick
        self.results: dict[str, Any] = {
            "W1": {},
            "W2": {},
            "W3": {},
            "W4": {},
            "W5": None,
            "W6": {},
            "W7": None,
            "settle": {},
        }
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.broken: dict[str, str] = {}

    def alive(self) -> list[str]:
        return [n for n in self.names if n not in self.broken]

    def check(self, workload: str, name: str, result: dict[str, Any], unit: str) -> None:
        if result.get("closed_by_server"):
            self.problems.append(f"{workload} {name}: the server closed {result['closed_by_server']} idle connections")
        if result.get("ok", 0) == 0:
            self.problems.append(
                f"{workload} {name}: no request answered (a silent zero); "
                f"first error: {result.get('first_error') or 'none reported'}"
            )
        elif result.get("failed"):
            self.problems.append(
                f"{workload} {name}: {result['failed']} of the {unit} failed or went unanswered "
                f"(first error: {result.get('first_error') or result.get('first_bad_status')})"
            )

    def fresh_starts(self) -> None:
        """W4 for every server and round; W3 on the first start of each."""
        for round_no in range(self.plan.rounds):
            for name in rotated(self.alive(), round_no):
                log(f"W4/W3 round {round_no + 1}: starting {name}")
                server = None
                try:
                    server = Running(TARGETS[name], self.files)
                    self.results["W4"].setdefault(name, []).append(server.wait_ready())
                    if round_no == 0:
                        result = idle(server, self.plan)
                        self.results["W3"].setdefault(name, []).append(result)
                        self.check("W3", name, result, "connections")
                except BenchError as exc:
                    self.broken[name] = str(exc)
                    self.problems.append(f"{name}: {exc}")
                finally:
                    if server is not None:
                        server.stop()

    def load_rounds(self) -> None:
        """The warm-up, then W1, W6 and W2 against long-running servers, interleaved round by round."""
        running: dict[str, Running] = {}
        try:
            for name in self.alive():
                try:
                    running[name] = Running(TARGETS[name], self.files)
                    running[name].wait_ready()
                except BenchError as exc:
                    self.broken[name] = str(exc)
                    self.problems.append(f"{name}: {exc}")
            for name in [n for n in self.alive() if n in running]:
                log(f"warm-up: {name}")
                try:
                    warm = settle(running[name], self.plan)
                except BenchError as exc:
                    self.problems.append(f"warm-up {name}: {exc}")
                    continue
                self.results["settle"][name] = warm
                for result in warm["runs"]:
                    self.check("warm-up", name, result, "requests")
            workloads: list[tuple[str, str, str, Shape, list[str] | None]] = [
                ("W1", "keepalive", "requests", W1_SHAPE, None),
                ("W6", "keepalive", "requests", W6_SHAPE, ["cpimock"]),  # the IDoc channel: cpimock only
                ("W2", "handshake", "handshakes", W1_SHAPE, None),
            ]
            for round_no in range(self.plan.rounds):
                for workload, mode, unit, shape, only in workloads:
                    names = [n for n in self.alive() if n in running and (only is None or n in only)]
                    for name in rotated(names, round_no):
                        log(f"{workload} round {round_no + 1}: {name}")
                        try:
                            running[name].reset()
                            result = load(running[name], mode, self.plan, shape)
                        except BenchError as exc:
                            self.problems.append(f"{workload} {name}: {exc}")
                            continue
                        self.results[workload].setdefault(name, []).append(result)
                        self.check(workload, name, result, unit)
                        time.sleep(0.5)
        finally:
            for server in running.values():
                server.stop()

    def groovy(self) -> None:
        """W7: the cold first Groovy call of fresh servers, then the warm echo in Groovy against Python."""
        if "cpimock" not in self.alive():
            return
        why = prepare.groovy_missing(install=not self.quick)
        if why:
            self.results["W7"] = {"skipped": why}
            self.notes.append(f"W7 skipped: {why}")
            return
        w7: dict[str, Any] = {"cold": [], "settle": {}, "runs": {}}
        self.results["W7"] = w7
        shapes = {"python": W1_SHAPE, "groovy": Shape(path=GROOVY_PATH)}
        server: Running | None = None
        try:
            for round_no in range(self.plan.rounds):
                if server is not None:
                    server.stop()
                log(f"W7 cold start {round_no + 1}")
                server = Running(TARGETS["cpimock-groovy"], self.files)
                ready = server.wait_ready()  # a Python step's answer: the JVM has not started yet
                first = first_call(server, GROOVY_PATH)
                since = time.perf_counter() - server.started
                w7["cold"].append({"ready_s": ready, "first_call_s": first, "since_start_s": since})
            assert server is not None
            for step, shape in shapes.items():
                log(f"W7 warm-up: {step}")
                w7["settle"][step] = settle(server, self.plan, shape)
            for round_no in range(self.plan.rounds):
                for connections in self.plan.w7_connections:
                    for step in rotated(list(shapes), round_no):
                        log(f"W7 round {round_no + 1}: {step} step, {connections} connection(s)")
                        result = load(server, "keepalive", self.plan, shapes[step], connections)
                        w7["runs"].setdefault(f"{step}@{connections}", []).append(result)
                        self.check(f"W7 {step} step ({connections} connections)", "cpimock", result, "requests")
        except BenchError as exc:
            self.problems.append(f"W7: {exc}")
        finally:
            if server is not None:
                server.stop()

    def api(self) -> None:
        if "cpimock" not in self.alive():
            return
        log("W5: service keys and the testing tenant")
        try:
            self.results["W5"] = api(self.files, self.plan)
            if self.results["W5"].get("exit"):
                # the figures exist; a crash on the way out is reported, not a failed measurement
                self.notes.append(f"W5: {self.results['W5']['exit']}")
        except BenchError as exc:
            self.problems.append(f"W5: {exc}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan = QUICK if args.quick else FULL
    if args.settle or args.settle_cap:
        plan = dataclasses.replace(
            plan, settle_s=args.settle or plan.settle_s, settle_cap=args.settle_cap or plan.settle_cap
        )
    if args.rounds or args.duration:
        plan = dataclasses.replace(plan, rounds=args.rounds or plan.rounds, duration_s=args.duration or plan.duration_s)
    # 1,000 idle connections need more descriptors than the usual soft limit; servers inherit it
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    command = "python bench/run.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    try:
        missing = prepare_tools(args.names)
        files = prepare.make_files()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bench = Bench(args.names, plan, files, args.quick)
    bench.broken.update(missing)
    bench.fresh_starts()
    bench.load_rounds()
    bench.groovy()
    bench.api()
    from report import render

    text = render(
        command=command.strip(),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=prepare.machine(),
        names=args.names,
        results=bench.results,
        plan=plan,
        problems=[*bench.problems, *bench.notes],
        missing=dict(bench.broken),
        idoc_bytes=files.idoc.stat().st_size,
    )
    analysis = prepare.BENCH / "analysis.md"
    if not args.quick and analysis.exists():
        # the hand-written reading of the figures: targets, and what bounds cpimock (from profiles)
        text += "\n" + analysis.read_text(encoding="utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    log(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")
    zeros = [p for p in bench.problems if "silent zero" in p]
    fatal = bench.problems if args.quick else [*zeros, *(f"{n}: {why}" for n, why in bench.broken.items())]
    for problem in [*bench.problems, *bench.notes]:
        if problem not in fatal:
            print(f"warning: {problem}", file=sys.stderr)
    for problem in dict.fromkeys(fatal):
        print(f"error: {problem}", file=sys.stderr)
    return 1 if fatal else 0


if __name__ == "__main__":
    sys.exit(main())
