"""Instructions a Python script executes, counted by valgrind's callgrind (user space, every thread).

A count does not move with the machine's load; the scripts that use this one count a script
twice, with two amounts of work, and take the difference, so that the interpreter's start and
imports cancel out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def count(script: str, args: list[str], out: Path) -> int:
    """Instructions of ``python SCRIPT ARGS`` under callgrind; its output file is written to *out*."""
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, script, *args],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    match = re.search(r"^totals:\s*(\d+)", out.read_text(errors="replace"), re.MULTILINE)
    if match is None:
        raise SystemExit(f"callgrind wrote no totals into {out}")
    return int(match.group(1))
