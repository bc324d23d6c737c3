"""What the control plane puts in a VM's customData to install the agent: valid cloud-config, under Azure's
size limit, and files that the agent and systemd accept."""

from __future__ import annotations

import ast
import base64
import configparser
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent import dsvm_agent
from agent.install import AGENT_PATH, AGENT_SOURCE, CONFIG_PATH, SYSTEM_PYTHON, UNIT_PATH, agent_cloud_config
from shared.core.cloudinit import MAX_CUSTOM_DATA_BYTES as CUSTOM_DATA_MAX_BYTES
from shared.core.cloudinit import custom_data

API = "https://func-dsvm-x7k2.azurewebsites.net/api"
TOKEN = "dsvm_agent_" + "f" * 43

# cloud-init's schema for the two modules used (cloudinit/config/schemas/schema-cloud-config-v1.json,
# cc_write_files and cc_runcmd): the members a write_files entry may have and the encodings it decodes.
WRITE_FILES_MEMBERS = {"path", "content", "source", "owner", "permissions", "encoding", "append", "defer"}
ENCODINGS = {"gz", "gzip", "gz+base64", "gzip+base64", "gz+b64", "gzip+b64", "b64", "base64", "text/plain"}


def files(cloud_config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in cloud_config["write_files"]}


def decoded(entry: dict[str, Any]) -> bytes:
    encoding = entry.get("encoding", "text/plain")
    data = entry["content"].encode()
    if encoding in {"b64", "base64", "gz+base64", "gzip+base64", "gz+b64", "gzip+b64"}:
        data = base64.b64decode(data)
    if encoding.startswith("gz"):
        data = gzip.decompress(data)
    return data


def test_it_is_valid_cloud_config_within_azures_limit() -> None:
    cloud_config = agent_cloud_config(API, "ana-churn", TOKEN, interval_minutes=5)
    encoded = custom_data(cloud_config)
    document = base64.b64decode(encoded)
    assert len(document) <= CUSTOM_DATA_MAX_BYTES
    # Room left for whatever else the create puts in customData: the agent takes well under a quarter.
    assert len(document) < CUSTOM_DATA_MAX_BYTES / 4, len(document)
    assert document.startswith(b"#cloud-config\n")
    assert yaml.safe_load(document) == cloud_config  # cloud-init reads user data with PyYAML

    assert set(cloud_config) == {"write_files", "runcmd"}
    for entry in cloud_config["write_files"]:
        assert set(entry) <= WRITE_FILES_MEMBERS
        assert entry.get("encoding", "text/plain") in ENCODINGS
        assert re.fullmatch(r"0[0-7]{3}", entry["permissions"])
        assert entry["owner"] == "root:root"
    for command in cloud_config["runcmd"]:
        assert isinstance(command, list) and all(isinstance(part, str) for part in command)


def test_the_agent_arrives_whole_and_runs_under_the_system_python() -> None:
    entry = files(agent_cloud_config(API, "ana-churn", TOKEN))[AGENT_PATH]
    assert decoded(entry) == AGENT_SOURCE.read_bytes()
    assert entry["permissions"] == "0755"


def test_its_config_is_root_only_and_accepted_by_the_agent() -> None:
    entry = files(agent_cloud_config(API, "ana-churn", TOKEN, interval_minutes=10))[CONFIG_PATH]
    assert entry["permissions"] == "0600"
    config = dsvm_agent.parse_config(json.loads(decoded(entry)))
    assert (config.api_url, config.vm_name, config.token) == (API, "ana-churn", TOKEN)
    assert config.interval_seconds == 600
    assert config.activity_url == f"{API}/vms/ana-churn/activity"


def test_the_token_is_only_in_the_config_file() -> None:
    cloud_config = agent_cloud_config(API, "ana-churn", TOKEN)
    others = [f for f in cloud_config["write_files"] if f["path"] != CONFIG_PATH]
    assert TOKEN not in json.dumps(others) + json.dumps(cloud_config["runcmd"])


def test_systemd_runs_the_agent_with_its_config_and_restarts_it() -> None:
    cloud_config = agent_cloud_config(API, "ana-churn", TOKEN)
    unit = configparser.ConfigParser()
    unit.read_string(decoded(files(cloud_config)[UNIT_PATH]).decode())
    assert unit["Service"]["ExecStart"] == f"{SYSTEM_PYTHON} {AGENT_PATH} run --config {CONFIG_PATH}"
    assert unit["Service"]["Restart"] == "always"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert cloud_config["runcmd"] == [
        [SYSTEM_PYTHON, AGENT_PATH, "setup-jupyterhub"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "dsvm-agent.service"],
    ]


def test_the_same_arguments_give_the_same_custom_data() -> None:
    assert custom_data(agent_cloud_config(API, "a-vm", TOKEN)) == custom_data(agent_cloud_config(API, "a-vm", TOKEN))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((API, "ana-churn", TOKEN, 0), "interval_minutes"),
        ((API, "ana-churn", TOKEN, 61), "interval_minutes"),
        ((API, "ana-churn", "", 5), "token"),
        (("", "ana-churn", TOKEN, 5), "api_url"),
    ],
)
def test_bad_arguments_are_refused(args: tuple[str, str, str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        agent_cloud_config(*args)


def test_custom_data_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="65535"):
        custom_data({"write_files": [{"path": "/x", "content": "x" * CUSTOM_DATA_MAX_BYTES}]})


def test_importing_the_installer_does_not_import_the_agent() -> None:
    root = Path(__file__).resolve().parents[2]
    check = "import sys, agent.install; sys.exit('agent.dsvm_agent' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], cwd=root, check=False).returncode == 0


def test_the_agent_needs_only_python_3_10_and_its_standard_library() -> None:
    # The DSVM's system python3 is Ubuntu 22.04's 3.10, with no pip: nothing else can be imported there.
    tree = ast.parse(AGENT_SOURCE.read_text(), feature_version=(3, 10))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - {"__future__"} <= sys.stdlib_module_names, imported - sys.stdlib_module_names
