"""Soak: N minutes of mixed good and hostile clients against a ``cpimock serve`` subprocess.

    python tests/security/soak.py --minutes 10 [--concurrency 8]

Every client opens a fresh TLS connection (so every call is a handshake). Kinds: a good
sender (200), an unknown path (404), a certificate of no service key (401), no certificate,
an expired certificate, plain HTTP and garbage bytes (refused at the handshake). Prints the
calls made, the answers, the MPL's records by refusal reason (one record per call is the
target), and the server's RSS and open file descriptors at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cpimock.mpl.journal import Journal
from cpimock.pki.authority import Issued
from cpimock.pki.keys import now
from cpimock.pki.store import Pki
from cpimock.workspace.create import ensure_workspace
from tests.security.hostile import attempt, client_context, dn
from tests.security.proc import ServerProcess, set_option
from tests.serving import write_pem_pair

KINDS = ("good", "not-found", "unmapped", "no-certificate", "expired", "plain-http", "garbage")
WEIGHTS = (10, 1, 1, 1, 1, 1, 1)
PLAIN_HTTP = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"


async def raw(port: int, data: bytes) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(10):
            await reader.read()
        return "closed"
    except (OSError, TimeoutError) as exc:
        return type(exc).__name__
    finally:
        writer.close()


async def soak(minutes: float, concurrency: int) -> int:
    folder = Path(tempfile.mkdtemp(prefix="cpimock-soak-"))
    root = folder / "ws"
    ensure_workspace(root)
    set_option(root, "server", "handshake_timeout_s = 5")
    set_option(root, "journal", "retention_count = 100000000")
    pki = Pki.load(root / "certs")
    good = write_pem_pair(folder / "good", _demo(root))
    unmapped = write_pem_pair(folder / "unmapped", pki.issue_client(dn("soak-unmapped"), 30))
    old = now() - dt.timedelta(days=40)
    expired = write_pem_pair(folder / "expired", pki.issue_client(dn("soak-expired"), 30, not_before=old))
    ca = root / "certs" / "root-ca.pem"
    contexts = {
        "good": client_context(ca, good.cert, good.key),
        "not-found": client_context(ca, good.cert, good.key),
        "unmapped": client_context(ca, unmapped.cert, unmapped.key),
        "no-certificate": client_context(ca),
        "expired": client_context(ca, expired.cert, expired.key),
    }
    server = ServerProcess(root)
    made: collections.Counter[str] = collections.Counter()
    answers: collections.Counter[str] = collections.Counter()
    try:
        # warm up, then take the baseline
        for _ in range(20):
            await attempt(server.url, contexts["good"])
        start_rss, start_fds = server.rss_kib(), server.fds()
        deadline = time.monotonic() + minutes * 60
        samples: list[tuple[float, int, int]] = []

        async def client(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < deadline:
                kind = rng.choices(KINDS, WEIGHTS)[0]
                made[kind] += 1
                if kind == "plain-http":
                    answers[f"{kind}: {await raw(server.port, PLAIN_HTTP)}"] += 1
                elif kind == "garbage":
                    answers[f"{kind}: {await raw(server.port, bytes(range(256)))}"] += 1
                else:
                    path = "/http/nope" if kind == "not-found" else "/http/clientCertAuth"
                    outcome = await attempt(server.url, contexts[kind], path)
                    answers[f"{kind}: {outcome.status or outcome.error}"] += 1

        async def sampler() -> None:
            while time.monotonic() < deadline:
                samples.append((time.monotonic(), server.rss_kib(), server.fds()))
                await asyncio.sleep(30)

        began = time.monotonic()
        await asyncio.gather(sampler(), *(client(i) for i in range(concurrency)))
        elapsed = time.monotonic() - began
        end_rss, end_fds = server.rss_kib(), server.fds()
    finally:
        code = server.stop()
    journal = Journal.open_readonly(root / "cpimock.db")
    records = journal.query(order=(("seq", False),), limit=10**9)
    by_reason = collections.Counter(
        f"{r.refusal_stage}: {r.refusal_reason}" if r.refusal_stage else f"served: {r.status} {r.response_status}"
        for r in records
    )
    calls = sum(made.values()) + 20
    print(f"soak: {minutes:g} min, {concurrency} concurrent clients, {elapsed:.0f} s, server exit code {code}")
    print(f"calls made: {calls} ({calls / elapsed:.0f}/s) including 20 warm-up calls")
    for kind in KINDS:
        print(f"  {kind:<15} {made[kind]}")
    print("answers seen by the clients:")
    for key, n in sorted(answers.items()):
        print(f"  {key:<40} {n}")
    print(f"MPL records: {len(records)} (calls: {calls}; {'equal' if len(records) == calls else 'DIFFERENT'})")
    for key, n in by_reason.most_common():
        print(f"  {n:>8}  {key}")
    print(f"server RSS: {start_rss} KiB at start, {end_rss} KiB at end")
    print(f"server open fds: {start_fds} at start, {end_fds} at end")
    print("samples (s, RSS KiB, fds): " + ", ".join(f"({t - began:.0f}, {r}, {f})" for t, r, f in samples))
    print(f"workspace kept in {root}")
    return 0 if len(records) == calls and code == 0 else 1


def _demo(root: Path) -> Issued:
    from cpimock.pki.servicekey import read_service_key

    key = read_service_key(root / "certs" / "keys" / "demo-sender.json")
    return Issued(key.certificates[0], key.key, tuple(key.certificates[1:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    return asyncio.run(soak(args.minutes, args.concurrency))


if __name__ == "__main__":
    sys.exit(main())
