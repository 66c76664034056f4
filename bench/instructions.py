"""Instructions per request of ``cpimock serve`` under W1's shape, counted by callgrind.

Timings on a shared machine spread by more than most single changes to the request path move;
callgrind's counts of the instructions a server executes in user space repeat to within a few
tenths of a percent. This script serves the workspace the way ``cpimock serve --workers N``
does (one listening socket, bound with ``SO_REUSEPORT`` and shared by N worker processes, each
with its event loop and its MPL writer thread on the one ``cpimock.db``), but starts each worker
itself under ``valgrind --tool=callgrind`` with counting off: callgrind's switch for counting
does not reach processes that a process under callgrind forks. It warms the workers up with
keep-alive requests, switches counting on, sends a fixed number of W1 requests (``POST
/http/bench/echo``, the 1 KB JSON body, the service key's client certificate, 16 keep-alive
connections sending in rounds), waits for the MPL writers to take the last records, switches
counting off, and prints the instructions per request of each thread, summed over the workers
(which worker a connection lands on is the kernel's choice), and their sum.

    python bench/instructions.py [--workers 2] [--requests 1600] [--no-mpl] [--keep DIR]

Needs valgrind (``apt-get install valgrind``). Under callgrind the server runs some 50 times
slower than natively, so the MPL writer takes smaller batches than under real load: its count
per request is higher than it would be at full speed, and is best compared between runs of
this script, not with the event loop's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prepare import PATH, BenchError, Files, make_files

CONNECTIONS = 16
START_TIMEOUT_S = 1800.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _context(files: Files) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.root_ca))
    context.load_cert_chain(str(files.client_chain), str(files.client_key))
    return context


class _Client:
    """One keep-alive connection that sends the W1 request and reads its answer."""

    def __init__(self, port: int, context: ssl.SSLContext, request: bytes) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=120)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        self.request = request
        self.buffer = b""

    def send(self) -> None:
        self.sock.sendall(self.request)

    def receive(self) -> int:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        while len(rest) < length:
            rest += self._read()
        self.buffer = rest[length:]
        return status

    def _more(self) -> None:
        self.buffer += self._read()

    def _read(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise BenchError("the server closed a keep-alive connection")
        return data


def _rounds(clients: list[_Client], rounds: int) -> None:
    for _ in range(rounds):
        for client in clients:
            client.send()
        for client in clients:
            status = client.receive()
            if status != 200:
                raise BenchError(f"the server answered {status}, not 200")


def _wait_ready(port: int, context: ssl.SSLContext, proc: subprocess.Popen[bytes]) -> None:
    give_up = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < give_up:
        if proc.poll() is not None:
            raise BenchError(f"the server exited with {proc.returncode} before it answered")
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=60) as raw,
                context.wrap_socket(raw, server_hostname="localhost"),
            ):
                return
        except OSError:
            time.sleep(0.5)
    raise BenchError("the server did not answer within its start timeout")


def _wait_listening(proc: subprocess.Popen[bytes]) -> None:
    """Until the worker logs that it listens (its start-up under callgrind takes minutes)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if b"listening on" in line:
            return
    raise BenchError(f"a worker exited with {proc.wait()} before it listened")


def _totals(folder: Path) -> dict[str, int]:
    """Instructions per output file (one per thread of each process)."""
    counts: dict[str, int] = {}
    for path in sorted(folder.glob("cg.*")):
        text = path.read_text(errors="replace")
        found = [int(n) for n in re.findall(r"^(?:summary|totals):\s*(\d+)", text, re.MULTILINE)]
        if found:
            counts[path.name] = max(found)
    return counts


def _threads(counts: dict[str, int]) -> dict[str, int]:
    """Counts by thread number, summed over the worker processes. Thread 1 is the event loop."""
    out: dict[str, int] = {}
    for name, count in counts.items():
        thread = name.split(".")[1].partition("-")[2]
        key = f"thread {int(thread or 1)}"
        out[key] = out.get(key, 0) + count
    return out


# one worker of ``cpimock serve --workers N`` on the listening socket it inherits, as
# cpimock.cli.serve's supervisor runs each of its forked children
_WORKER = """
import socket, sys
from pathlib import Path
from cpimock.cli.serve import _Options, _run, _setup_logging
from cpimock.pki.clock import REAL_CLOCK
_setup_logging("info")
options = _Options("127.0.0.1", socket.socket(fileno=int(sys.argv[2])), None, 30, REAL_CLOCK)
sys.exit(_run(Path(sys.argv[1]), options, (int(sys.argv[3]), int(sys.argv[4]))))
"""


def measure(files: Files, *, workers: int, requests: int, warmup: int, mpl: bool, out: Path) -> dict[str, object]:
    from cpimock.http.server import bind

    workspace = files.workspace if mpl else files.workspace_nompl
    for db in workspace.glob("cpimock.db*"):
        db.unlink()
    sock = bind("127.0.0.1", 0, reuse_port=workers > 1)
    port = sock.getsockname()[1]
    procs = [
        subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--separate-threads=yes",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}/cg.%p",
                sys.executable,
                "-c",
                _WORKER,
                str(workspace),
                str(sock.fileno()),
                str(number),
                str(workers),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(sock.fileno(),),
        )
        for number in range(1, workers + 1)
    ]
    sock.close()
    context = _context(files)
    body = files.body.read_bytes()
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    rounds = max(1, requests // CONNECTIONS)
    try:
        for proc in procs:  # every worker serves before the connections are opened
            _wait_listening(proc)
        _wait_ready(port, context, procs[0])
        clients = [_Client(port, context, request) for _ in range(CONNECTIONS)]
        _rounds(clients, max(1, warmup // CONNECTIONS))
        time.sleep(3.0)  # the writers take the warm-up's records
        _control("--instr=on", procs)
        _rounds(clients, rounds)
        time.sleep(3.0)  # the writers take the last records (each gathers a batch for 50 ms)
        _control("--instr=off", procs)
        for client in clients:
            client.sock.close()
    finally:
        errors = []
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                _, stderr = proc.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
            if proc.returncode != 0:
                errors.append(stderr.decode(errors="replace")[-300:])
    if errors:
        raise BenchError(f"a worker exited with an error: {errors[0]}")
    counts = _totals(out)
    if not counts:
        raise BenchError("callgrind wrote no counts")
    answered = rounds * CONNECTIONS
    threads = _threads(counts)
    return {
        "workers": workers,
        "mpl": mpl,
        "requests": answered,
        "per_request_by_thread": {key: round(count / answered) for key, count in sorted(threads.items()) if count},
        "per_request": round(sum(counts.values()) / answered),
    }


def _control(option: str, procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        done = subprocess.run(["callgrind_control", option, str(proc.pid)], capture_output=True, text=True)
        if done.returncode != 0 or "Error" in done.stdout + done.stderr:
            raise BenchError(f"callgrind_control {option} {proc.pid}: {(done.stdout + done.stderr).strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1600)
    parser.add_argument("--warmup", type=int, default=800)
    parser.add_argument("--no-mpl", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep callgrind's output files in this folder")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("error: valgrind is not installed; run apt-get install valgrind", file=sys.stderr)
        return 1
    files = make_files()
    out = args.keep or Path(tempfile.mkdtemp(prefix="callgrind-"))
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("cg.*"):
        old.unlink()
    try:
        result = measure(
            files, workers=args.workers, requests=args.requests, warmup=args.warmup, mpl=not args.no_mpl, out=out
        )
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(files.folder, ignore_errors=True)
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
