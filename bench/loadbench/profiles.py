"""py-spy profiles of one worker during a figure's first measured run, and the summary
printed from them: own time per frame, and time in and below Keyloft's own functions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy samples one worker during the first measured run (collapsed stacks)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("bench: --profile needs py-spy (pip install py-spy)", file=sys.stderr)
        return None
    command = [spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    command += ["--format", "raw", "--nonblocking", "--output", str(out)]
    return subprocess.Popen(  # noqa: S603 (our own command)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _frame(text: str) -> tuple[str, bool]:
    """``function (path/to/module.py:12)`` -> (``function (module.py)``, whether Keyloft's)."""
    function, _, where = text.partition(" (")
    path = where.rsplit(":", 1)[0]
    module = path.rsplit("/", 1)[-1]
    # py-spy names files relative to the import path where it can: keyloft/services/x.py
    ours = path.startswith("keyloft/") or "/keyloft/" in path
    return (f"{function} ({module})" if module else function), ours


# Leaves where a thread waits: an idle pool thread, or the event loop inside uvloop (C code:
# waiting for sockets, or socket I/O py-spy cannot see into).
IDLE_LEAVES = ("Condition.wait (threading.py)", "Runner.run (runners.py)")


def print_profile(path: Path, top: int = 12) -> None:
    """Where the sampled worker spent its busy samples: own time per frame, and the time
    spent in and below each of Keyloft's own functions."""
    own: dict[str, int] = {}
    below: dict[str, int] = {}
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        leaf = frames[-1][0]
        if leaf in IDLE_LEAVES:
            idle += count
            continue
        own[leaf] = own.get(leaf, 0) + count
        for frame in {name for name, ours in frames if ours}:
            below[frame] = below.get(frame, 0) + count
    busy = total - idle
    if not busy:
        print(f"  (no busy samples in {path.name})")
        return
    print(
        f"  profile {path.stem}: {total} samples of one worker's threads, {idle} waiting "
        f"(idle pool threads, event loop in C); of the {busy} busy ones, own time:"
    )
    for frame, count in sorted(own.items(), key=lambda x: -x[1])[:top]:
        print(f"    {100 * count / busy:5.1f} %  {frame}")
    print("  Keyloft's functions, inclusive (the function and what it called):")
    for frame, count in sorted(below.items(), key=lambda x: -x[1])[: 2 * top]:
        print(f"    {100 * count / busy:5.1f} %  {frame}")
