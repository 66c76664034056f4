"""What one MPL writer shared by ``serve --workers N`` would add per request: the crossing.

Each worker of ``cpimock serve --workers N`` has its own MPL writer thread on the one
``cpimock.db``; ``bench/instructions.py`` counts what the second writer costs per request. One
writer for all workers lives in another process, so every record would cross a process
boundary: the worker turns its rows into bytes and the writer turns them back. This script
counts that crossing alone, with the cheapest serialisation the standard library has for rows
of strings, numbers, bytes and None (``marshal``), in frames of 50 rows as a worker would send a
loop iteration's records: no pipe, no system call, no SQLite, so it is a lower bound of the
crossing. The rows are W1's (``POST /http/bench/echo``, the 1 KB JSON body echoed, the caller's
certificate), made by the journal's own functions.

It runs under ``valgrind --tool=callgrind`` twice, with no rows and with 2,000; the difference
divided by 2,000 is one row, interpreter start and imports taken out.

    python bench/shared_writer.py
"""

from __future__ import annotations

import marshal
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import callgrind
from prepare import PATH, body_bytes

ROWS = 2000
FRAME = 50


def _rows(count: int) -> list[tuple[object, ...]]:
    from cpimock.mpl import rows
    from cpimock.mpl.record import MplRecord, utcnow

    body = body_bytes()
    request_headers = [
        ("Host", "localhost"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("User-Agent", "bench"),
    ]
    response_headers = [("Content-Type", "application/json"), ("SAP_MessageProcessingLogID", "x" * 28)]
    out = []
    for _ in range(count):
        record = MplRecord(
            integration_flow_name="bench",
            request_method="POST",
            request_path=PATH,
            request_headers=list(request_headers),
            request_body=body,
            response_status=200,
            response_headers=list(response_headers),
            response_body=body,
            auth_method="certificate",
            service_key="bench",
            cert_subject="CN=bench, O=cpimock",
            cert_issuer="CN=cpimock client CA",
            cert_serial="1f",
            cert_fingerprint="ab" * 32,
            peer="127.0.0.1:50000",
        )
        rows.capped(record, 64 * 1024)
        out.append(rows.row_of(record, utcnow(), 1))
    return out


def _child(count: int) -> None:
    made = _rows(ROWS)
    for start in range(0, count, FRAME):
        frame = marshal.dumps(made[start : start + FRAME])  # the worker's side
        marshal.loads(frame)  # the writer's side


def _count(count: int, out: Path) -> int:
    return callgrind.count(__file__, ["--child", str(count)], out / f"cg.{count}")


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(int(sys.argv[2]))
        return 0
    if shutil.which("valgrind") is None:
        print("error: valgrind is not installed; run apt-get install valgrind", file=sys.stderr)
        return 1
    # a first run compiles what the child imports (.pyc files): not in a counted run
    subprocess.run([sys.executable, __file__, "--child", "0"], check=True, capture_output=True)
    out = Path(tempfile.mkdtemp(prefix="callgrind-"))
    try:
        none, some = _count(0, out), _count(ROWS, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(f"marshal.dumps + marshal.loads per W1 row, in frames of {FRAME}: {(some - none) / ROWS:,.0f} instructions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
