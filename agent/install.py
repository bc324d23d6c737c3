"""How the control plane installs the activity agent on a VM: cloud-init fragments for its customData.

`agent_cloud_config(...)` returns the agent (gzip + base64), its root-only config and its systemd unit as
`write_files`, and the `runcmd` steps that register it with JupyterHub and start it.
This module reads the agent's source as data; importing it imports none of the agent's runtime code.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

AGENT_SOURCE = Path(__file__).with_name("dsvm_agent.py")
AGENT_PATH = "/opt/dsvm-agent/dsvm_agent.py"
CONFIG_PATH = "/etc/dsvm-agent/config.json"
UNIT_NAME = "dsvm-agent.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
# The image's system Python (Ubuntu 22.04: 3.10), not the conda environments on PATH.
SYSTEM_PYTHON = "/usr/bin/python3"

MIN_INTERVAL_MINUTES, MAX_INTERVAL_MINUTES = 1, 60

SERVICE_UNIT = f"""\
[Unit]
Description=DSVM activity agent (reports the last user input and busy signals to the control plane)
Wants=network-online.target
After=network-online.target

[Service]
ExecStart={SYSTEM_PYTHON} {AGENT_PATH} run --config {CONFIG_PATH}
Restart=always
RestartSec=30
Nice=10
# It reads terminals' access times, /proc, users' RStudio session files and nvidia-smi; it writes nothing.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""


def agent_cloud_config(api_url: str, vm_name: str, token: str, interval_minutes: int = 5) -> dict[str, Any]:
    """cloud-config fragments (`write_files`, `runcmd`) that install and start the agent on a new VM.

    `api_url` is the control plane's API base (`https://…/api`), `token` the VM's agent token: it goes only
    into a root-only file on the VM.
    """
    for name, value in (("api_url", api_url), ("vm_name", vm_name), ("token", token)):
        if not value:
            raise ValueError(f"{name} is required")
    if not MIN_INTERVAL_MINUTES <= interval_minutes <= MAX_INTERVAL_MINUTES:
        raise ValueError(f"interval_minutes must be {MIN_INTERVAL_MINUTES}-{MAX_INTERVAL_MINUTES}")
    config = {"api_url": api_url, "vm_name": vm_name, "token": token, "interval_seconds": interval_minutes * 60}
    # mtime=0: the same agent always encodes to the same bytes, so a VM body does not change between calls.
    agent = base64.b64encode(gzip.compress(AGENT_SOURCE.read_bytes(), compresslevel=9, mtime=0)).decode()
    return {
        "write_files": [
            {"path": AGENT_PATH, "encoding": "gz+b64", "content": agent, "owner": "root:root", "permissions": "0755"},
            {"path": CONFIG_PATH, "content": json.dumps(config), "owner": "root:root", "permissions": "0600"},
            {"path": UNIT_PATH, "content": SERVICE_UNIT, "owner": "root:root", "permissions": "0644"},
        ],
        "runcmd": [
            [SYSTEM_PYTHON, AGENT_PATH, "setup-jupyterhub"],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", UNIT_NAME],
        ],
    }
