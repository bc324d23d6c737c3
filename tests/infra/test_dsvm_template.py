"""The standalone Data Science VM template (infra/vm/dsvm.bicep): current image, closed by default."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import yaml
from bicep_support import (
    INFRA,
    REPO,
    body,
    default_of,
    dotted,
    find_key,
    has_decorator,
    load,
    resources,
    unwrap_loop,
)

from tools.infra_check import bicep_tree

DSVM = INFRA / "vm" / "dsvm.bicep"
OPEN_SOURCES = {"*", "internet", "any", "0.0.0.0/0", "0.0.0.0", "::/0"}


def doc() -> dict[str, Any]:
    return load(DSVM)


def one(type_: str) -> dict[str, Any]:
    (resource,) = resources(doc(), type_).values()
    return body(resource)


def nsg_rules() -> list[dict[str, Any]]:
    """The NSG's rules with the `for rule in openPorts` loop expanded from the variable."""
    rules = one("Microsoft.Network/networkSecurityGroups")["properties"]["securityRules"]
    if isinstance(rules, list):
        return [r["properties"] for r in rules]
    assert rules["loop_type"]["detail"]["array_name"] == "openPorts"
    template = unwrap_loop(rules)["properties"]
    expanded = []
    for item in doc()["variables"]["openPorts"]["value"]:
        rule = {}
        for key, value in template.items():
            accessor = dotted(value)
            rule[key] = (
                item[accessor.split(".", 1)[1]] if isinstance(accessor, str) and accessor.startswith("rule.") else value
            )
        expanded.append(rule)
    return expanded


def test_allowed_source_cidr_is_required() -> None:
    assert "allowedSourceCidr" in doc()["parameters"]
    assert default_of(doc(), "allowedSourceCidr") is None
    assert re.search(r"^param allowedSourceCidr string\s*$", DSVM.read_text(), flags=re.MULTILINE)


def test_nsg_opens_only_ssh_jupyterhub_rstudio_to_that_cidr() -> None:
    rules = nsg_rules()
    inbound_allows = [r for r in rules if r["direction"] == "Inbound" and r["access"] == "Allow"]
    assert sorted(str(r["destinationPortRange"]) for r in inbound_allows) == ["22", "8000", "8787"]
    for rule in rules:
        assert rule["sourceAddressPrefix"] == "allowedSourceCidr"
        assert "sourceAddressPrefixes" not in rule


def test_no_open_source_anywhere_in_the_template() -> None:
    for key in ("sourceAddressPrefix", "sourceAddressPrefixes"):
        for value in find_key(doc(), key):
            values = value if isinstance(value, list) else [value]
            for item in values:
                assert str(item).lower() not in OPEN_SOURCES, f"{key}: {item}"
    text = DSVM.read_text()
    assert not re.search(r"sourceAddressPrefix(es)?:\s*\[?\s*'(\*|Internet|0\.0\.0\.0/0|Any)'", text, re.IGNORECASE)


def test_current_dsvm_image() -> None:
    image = one("Microsoft.Compute/virtualMachines")["properties"]["storageProfile"]["imageReference"]
    assert image == {"publisher": "microsoft-dsvm", "offer": "ubuntu-2204", "sku": "2204-gen2", "version": "latest"}


def test_deleting_the_vm_deletes_nic_ip_and_disk() -> None:
    vm = one("Microsoft.Compute/virtualMachines")["properties"]
    assert vm["storageProfile"]["osDisk"]["deleteOption"] == "Delete"
    (nic_ref,) = vm["networkProfile"]["networkInterfaces"]
    assert nic_ref["properties"]["deleteOption"] == "Delete"
    (ipconfig,) = one("Microsoft.Network/networkInterfaces")["properties"]["ipConfigurations"]
    assert ipconfig["properties"]["publicIPAddress"]["properties"]["deleteOption"] == "Delete"


def test_ssh_key_first_password_optional_and_secure() -> None:
    d = doc()
    assert default_of(d, "authenticationType") == "sshPublicKey"
    assert "adminPublicKey" in d["parameters"]
    assert has_decorator(d, "adminPassword", "secure")
    assert default_of(d, "adminPassword") == ""
    text = DSVM.read_text()
    assert "disablePasswordAuthentication: !usePassword" in text
    assert "adminPassword: usePassword ? adminPassword : null" in text


def first_boot_config() -> str:
    """The cloud-config dsvm.bicep hands the VM when it generates the browser-login password."""
    root = bicep_tree.parse(DSVM.read_text())
    (decl,) = (
        v
        for v in bicep_tree.declarations(root, "variable_declaration")
        if bicep_tree.declared_name(v) == "firstBootPassword"
    )
    value = bicep_tree.literal_string(bicep_tree.children(decl)[-1])
    assert value is not None
    return value


def test_a_generated_password_is_opt_in_and_keeps_ssh_key_only() -> None:
    d = doc()
    assert default_of(d, "generatePassword") is False
    text = DSVM.read_text()
    assert "var generated = generatePassword && !usePassword" in text
    assert "customData: generated ? base64(replace(firstBootPassword, '{user}', adminUsername)) : null" in text
    # SSH password login follows authenticationType only: a generated password is for the browser.
    assert "disablePasswordAuthentication: !usePassword" in text
    output = doc()["outputs"]["browserLoginCommand"]["value"]
    assert "dsvm-login.txt" in json.dumps(output)


def test_first_boot_sets_a_private_password_and_prints_nothing(tmp_path: Path) -> None:
    """The script cloud-init runs: the password reaches chpasswd and a file only its owner can read, and
    nothing reaches stdout/stderr (cloud-init copies those to the serial console)."""
    text = first_boot_config()
    assert text.startswith("#cloud-config\n")
    config = yaml.safe_load(text.replace("{user}", "ana"))
    assert set(config) == {"runcmd"}
    ((shell, flag, script),) = config["runcmd"]
    assert (shell, flag) == ("sh", "-c")
    home = tmp_path / "home" / "ana"
    home.mkdir(parents=True)
    fakes = tmp_path / "bin"
    fakes.mkdir()
    for name, body_ in {"chpasswd": 'cat > "$FAKE/chpasswd.in"', "chown": 'echo "$@" > "$FAKE/chown.args"'}.items():
        (fakes / name).write_text(f"#!/bin/sh\n{body_}\n")
        (fakes / name).chmod(0o755)
    env = {"PATH": f"{fakes}:{os.environ['PATH']}", "FAKE": str(tmp_path)}
    passwords = []
    for _ in range(2):
        proc = subprocess.run(
            ["sh", "-c", script.replace("/home/", f"{tmp_path}/home/")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert (proc.stdout, proc.stderr) == ("", "")
        login = home / "dsvm-login.txt"
        assert stat.S_IMODE(login.stat().st_mode) == 0o600
        password = login.read_text().strip()
        assert re.fullmatch(r"[A-Za-z0-9]{24,}", password), "a long random password"
        assert (tmp_path / "chpasswd.in").read_text() == f"ana:{password}\n"
        assert (tmp_path / "chown.args").read_text().strip() == f"ana: {login}"
        passwords.append(password)
    assert passwords[0] != passwords[1]


def test_sizes_and_disk_defaults() -> None:
    d = doc()
    assert default_of(d, "vmSize") == "Standard_E4s_v5"
    assert default_of(d, "osDiskSizeGB") == 256
    assert default_of(d, "osDiskType") == "Premium_LRS"
    ip = one("Microsoft.Network/publicIPAddresses")
    assert ip["sku"]["name"] == "Standard"
    assert ip["properties"]["publicIPAllocationMethod"] == "Static"


def decorator(param: str, kind: str) -> Any:
    (value,) = (d["argument"] for d in doc()["parameters"][param]["decorators"] if d["type"] == kind)
    return value


def test_os_disk_floor_is_the_image_size() -> None:
    """Azure refuses an OS disk smaller than the image's; the template refuses it first."""
    stated = re.search(r"The image's OS disk is \*\*(\d+) GB\*\*", (REPO / "docs" / "dsvm-image.md").read_text())
    assert stated is not None, "docs/dsvm-image.md states no image size"
    assert decorator("osDiskSizeGB", "min_value") == int(stated[1]) == 150
    assert decorator("osDiskSizeGB", "max_value") == 4095
    os_disk = one("Microsoft.Compute/virtualMachines")["properties"]["storageProfile"]["osDisk"]
    assert os_disk["diskSizeGB"] == "osDiskSizeGB"


def test_outputs_give_the_urls_and_no_secret() -> None:
    outputs = doc()["outputs"]
    assert outputs["jupyterHubUrl"]["value"] == "https://${publicIp.properties.ipAddress}:8000"
    assert outputs["rstudioUrl"]["value"] == "http://${publicIp.properties.ipAddress}:8787"
    assert outputs["sshCommand"]["value"].startswith("ssh ${adminUsername}@")
    assert "publicIpAddress" in outputs
    assert "adminPassword" not in json.dumps(outputs)
