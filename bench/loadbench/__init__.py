"""The parts of the load benchmark that ``bench/run.py`` puts together: processes, seeding,
figures, wrk runs, ceilings, the peer, profiles and the printed report."""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1]
