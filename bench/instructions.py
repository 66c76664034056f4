"""Instructions per request of ``cpimock serve`` under W1's shape, counted by callgrind.

Timings on a shared machine spread by more than most single changes to the request path move;
callgrind's counts of the instructions a server executes in user space repeat to within a few
tenths of a percent. This script starts ``cpimock serve`` (with ``--workers N``) under
``valgrind --tool=callgrind``, warms it up with keep-alive requests, sends a fixed number of W1
requests (``POST /http/bench/echo``, the 1 KB JSON body, the service key's client certificate,
16 keep-alive connections sending in rounds), waits for the MPL writer to take the last
records and stops the server. It does so twice, with *requests* and with twice as many: the
difference of the two runs' counts, divided by the difference of their requests, is what one
request costs, start-up and stop taken out. (callgrind's switch for counting does not reach the
processes that ``--workers`` forks, so counting from start to end and subtracting is what works
for every N alike.) It prints the instructions per request of every thread of every process
(the event loop, the MPL writer, the rest) and their sum.

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
START_TIMEOUT_S = 300.0


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


def _totals(folder: Path) -> dict[str, int]:
    """Instructions per output file (one per thread of each process)."""
    counts: dict[str, int] = {}
    for path in sorted(folder.glob("cg.*")):
        text = path.read_text(errors="replace")
        found = [int(n) for n in re.findall(r"^(?:summary|totals):\s*(\d+)", text, re.MULTILINE)]
        if found:
            counts[path.name] = max(found)
    return counts


def measure(files: Files, *, workers: int, requests: int, warmup: int, mpl: bool, out: Path) -> dict[str, int]:
    workspace = files.workspace if mpl else files.workspace_nompl
    for db in workspace.glob("cpimock.db*"):
        db.unlink()
    port = _free_port()
    command = [
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        f"--callgrind-out-file={out}/cg.%p",
        sys.executable,
        "-m",
        "cpimock",
        "serve",
        "--workspace",
        str(workspace),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    context = _context(files)
    body = files.body.read_bytes()
    request = (
        f"POST {PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_ready(port, context, proc)
        clients = [_Client(port, context, request) for _ in range(CONNECTIONS)]
        rounds = max(1, requests // CONNECTIONS)
        _rounds(clients, max(1, warmup // CONNECTIONS))
        _rounds(clients, rounds)
        time.sleep(3.0)  # the writer takes the last records (it gathers a batch for 50 ms)
        for client in clients:
            client.sock.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
    if proc.returncode != 0:
        raise BenchError(f"the server exited with {proc.returncode}: {stderr.decode(errors='replace')[-500:]}")
    counts = _totals(out)
    if not counts:
        raise BenchError(f"callgrind wrote no counts: {stderr.decode(errors='replace')[-500:]}")
    return counts


def _threads(counts: dict[str, int]) -> dict[str, int]:
    """Counts by thread number, summed over the processes: which worker a connection goes to is
    the kernel's choice (``SO_REUSEPORT``), so only the sum over the workers compares between runs.
    Thread 1 is the event loop (and, in the supervisor of ``--workers N``, start-up and waiting)."""
    out: dict[str, int] = {}
    for name, count in counts.items():
        thread = name.split(".")[1].partition("-")[2]
        key = f"thread {int(thread or 1)}"
        out[key] = out.get(key, 0) + count
    return out


def _start_once(files: Files, mpl: bool) -> None:
    """Start and stop the server once, natively: what its first start writes into the workspace
    (the demo key's PEM files) is then not counted in the first of the two runs only."""
    workspace = files.workspace if mpl else files.workspace_nompl
    port = _free_port()
    command = [sys.executable, "-m", "cpimock", "serve", "--workspace", str(workspace), "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(port, _context(files), proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)


def per_request(files: Files, *, workers: int, requests: int, warmup: int, mpl: bool, out: Path) -> dict[str, object]:
    """Instructions per request: two runs, *requests* and twice as many, and their difference."""
    _start_once(files, mpl)
    runs = []
    for count in (requests, 2 * requests):
        folder = out / str(count)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("cg.*"):
            old.unlink()
        counts = measure(files, workers=workers, requests=count, warmup=warmup, mpl=mpl, out=folder)
        runs.append(_threads(counts))
    rounds = max(1, requests // CONNECTIONS)
    extra = rounds * CONNECTIONS  # the second run's requests beyond the first's
    small, large = runs
    threads = {
        key: round((large.get(key, 0) - small.get(key, 0)) / extra)
        for key in sorted(set(small) | set(large))
        if large.get(key, 0) - small.get(key, 0) > extra
    }
    return {
        "workers": workers,
        "mpl": mpl,
        "requests": [rounds * CONNECTIONS, 2 * rounds * CONNECTIONS],
        "per_request_by_thread": threads,
        "per_request": round((sum(large.values()) - sum(small.values())) / extra),
    }


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
    try:
        result = per_request(
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
