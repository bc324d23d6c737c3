"""bench/cli.py runs at a small size in the suite, so it keeps working; its figure is measured, not asserted."""

from __future__ import annotations

import json
import subprocess
import sys

from tools.devstack import ROOT


def test_the_help_bench_runs_and_help_imports_nothing_heavy() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "cli.py"), "--runs", "3"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["help_ms"]["runs"] == 3 and figures["help_ms"]["median"] > 0
    assert figures["target_ms"] == 300
    # What keeps --help fast: the HTTP client and the renderer load only when a command needs them.
    assert figures["heavy_imports_at_help"] == []
