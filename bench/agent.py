"""Activity agent figures: the customData it takes, the time of one report and one sample over the test
sources (recorded outputs and a fake JupyterHub on loopback), the /proc scan on this machine, the report's
size, and the peak memory of one `report` run as a process. Prints JSON.

    .venv/bin/python bench/agent.py [--runs 50]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent import dsvm_agent  # noqa: E402
from agent.install import agent_cloud_config  # noqa: E402
from shared.core.cloudinit import MAX_CUSTOM_DATA_BYTES as CUSTOM_DATA_MAX_BYTES  # noqa: E402
from shared.core.cloudinit import custom_data  # noqa: E402
from tests.agent.fakes import FakeHub, VmSources  # noqa: E402
from tests.agent.test_agent_process import agent_python  # noqa: E402


def per_call_ms(call: object, runs: int) -> float:
    assert callable(call)
    started = time.perf_counter()
    for _ in range(runs):
        call()
    return round((time.perf_counter() - started) / runs * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs

    encoded = custom_data(agent_cloud_config("https://func-dsvm.azurewebsites.net/api", "ana-churn", "t" * 48))
    hub = FakeHub()
    try:
        root = Path(tempfile.mkdtemp())
        settings = {
            "api_url": "http://127.0.0.1:9/api",
            "vm_name": "ana-churn",
            "token": "t",
            "jupyterhub_api_url": f"{hub.url}/hub/api",
            "jupyterhub_token_file": str(root / "vm" / "hub-token"),
            "sources": VmSources(root / "vm", hub_url=hub.url).create(),
        }
        agent = dsvm_agent.Agent(dsvm_agent.parse_config(settings))
        body = agent.report()
        report_ms, sample_ms = per_call_ms(agent.report, runs), per_call_ms(agent.sample, runs)
        config_file = root / "config.json"
        config_file.write_text(json.dumps(settings))
        child = [agent_python(), str(ROOT / "agent" / "dsvm_agent.py"), "report", "--config", str(config_file)]
        process = subprocess.Popen(child, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        assert status == 0, status
    finally:
        hub.close()
    started = time.perf_counter()
    dsvm_agent.read_singleuser_urls("/proc")
    proc_ms = round((time.perf_counter() - started) * 1000, 2)

    print(
        json.dumps(
            {
                "custom_data_bytes": len(base64.b64decode(encoded)),
                "custom_data_base64_chars": len(encoded),
                "custom_data_limit_bytes": CUSTOM_DATA_MAX_BYTES,
                "report_ms": report_ms,
                "sample_ms": sample_ms,
                "proc_scan_ms": proc_ms,
                "proc_processes": sum(1 for p in Path("/proc").iterdir() if p.name.isdigit()),
                "report_body_bytes": len(json.dumps(body)),
                "report_process_peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
                "report_process_python": agent_python(),
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
