"""How fast `dsvm` answers before it talks to anyone: wall time of the installed console script's `--help`
(target <= 300 ms), and which heavy libraries that run imported (httpx and rich must wait until a command
needs them). Prints JSON.

    .venv/bin/python bench/cli.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

DSVM = Path(sys.executable).parent / "dsvm"
TARGET_MS = 300
HEAVY = ("httpx", "rich", "platformdirs")
PROBE = (
    "import sys\n"
    "from dsvm_cli.main import main\n"
    "main(['--help'])\n"
    f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30, choices=range(1, 1001), metavar="1-1000")
    args = parser.parse_args()

    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([str(DSVM), "--help"], stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    imported = [name for name in probe.stderr.strip().split(",") if name]
    median = statistics.median(times)
    print(
        json.dumps(
            {
                "help_ms": {
                    "median": round(median, 1),
                    "p90": round(percentile(times, 0.9), 1),
                    "max": round(max(times), 1),
                    "runs": args.runs,
                },
                "target_ms": TARGET_MS,
                "within_target": median <= TARGET_MS,
                "heavy_imports_at_help": imported,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
