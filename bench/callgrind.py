"""Running a bench script again under callgrind, for instructions per request: the command
both in-process benches (``secretless.py``, ``dpop.py``) use. Counts are dumped at each timed
batch's start and end: the script calls ``os.getpgrp()`` there and nowhere else."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_REDIS = "redis://127.0.0.1:6379"


def command(
    valgrind: str, out: Path, script: str, options: argparse.Namespace, *extra: str
) -> list[str]:
    """The valgrind command that runs ``script`` as its callgrind child with ``options``'
    round, request, algorithm and Redis settings, and ``extra`` arguments."""
    redis = options.redis or os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS
    return [
        valgrind,
        "--tool=callgrind",
        "--dump-before=getpgrp",
        f"--callgrind-out-file={out / 'cg.out'}",
        "-q",
        sys.executable,
        script,
        "--callgrind-child",
        str(out / "marks.json"),
        f"--rounds={options.cg_rounds}",
        f"--requests={options.cg_requests}",
        f"--warmup={options.cg_warmup}",
        f"--algorithm={options.algorithm}",
        f"--redis={redis}",
        *extra,
    ]
