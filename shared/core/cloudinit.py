"""The cloud-init document a VM gets as `osProfile.customData` (base64), built from plain data.

Azure hands customData to cloud-init on the VM's first boot and never returns it on a GET. JSON is YAML,
so the document is `#cloud-config` followed by one JSON object.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

# "The maximum length of the binary array is 65535 bytes": ARM's limit on customData once base64-decoded
# (https://learn.microsoft.com/dotnet/api/azure.resourcemanager.compute.models.virtualmachineosprofile.customdata).
MAX_CUSTOM_DATA_BYTES = 65535


def cloud_config(admin_username: str, password_hash: str | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if password_hash is not None:
        # Browser logins (JupyterHub, RStudio) and ssh use the Linux password; set it from its hash.
        config["ssh_pwauth"] = True
        config["chpasswd"] = {
            "expire": False,
            "users": [{"name": admin_username, "password": password_hash, "type": "HASH"}],
        }
    return config


def merged(*configs: Mapping[str, Any]) -> dict[str, Any]:
    """One cloud-config from several: lists (write_files, runcmd…) are joined in order, other keys must agree."""
    out: dict[str, Any] = {}
    for config in configs:
        for key, value in config.items():
            if isinstance(value, list):
                out[key] = [*out.get(key, []), *value]
            elif key in out and out[key] != value:
                raise ValueError(f"cloud-config fragments disagree on {key!r}")
            else:
                out[key] = value
    return out


def custom_data(config: Mapping[str, Any]) -> str | None:
    """The base64 customData for `config`, or None when there is nothing to configure."""
    if not config:
        return None
    raw = ("#cloud-config\n" + json.dumps(config, separators=(",", ":"), sort_keys=True) + "\n").encode()
    if len(raw) > MAX_CUSTOM_DATA_BYTES:
        raise ValueError(f"customData would be {len(raw)} bytes; Azure takes at most {MAX_CUSTOM_DATA_BYTES}")
    return base64.b64encode(raw).decode()
