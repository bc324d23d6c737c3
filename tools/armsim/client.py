"""Helpers for tests and benchmarks that point the real Azure SDK clients at the simulator.
Not for product code: the product brings its own credential."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

ARM_SCOPE = "https://management.azure.com/.default"


class StaticTokenCredential:
    """A TokenCredential/SupportsTokenInfo returning one fixed token that never needs refreshing."""

    def __init__(self, token: str = "armsim-test-token") -> None:  # noqa: S107 - a test token, not a secret
        self._token = token
        self._expires_on = int(time.time()) + 10 * 365 * 24 * 3600

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, self._expires_on)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, self._expires_on)

    def close(self) -> None:
        return None

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def sdk_kwargs(base_url: str, ca: str, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for ComputeManagementClient/NetworkManagementClient/ResourceManagementClient."""
    return {
        "base_url": base_url,
        "credential_scopes": [ARM_SCOPE],
        "connection_verify": ca,
        "polling_interval": 0,
        **extra,
    }


class SimControl:
    """A thin client for the /_sim/ control API."""

    def __init__(self, base_url: str, ca: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, verify=ca, timeout=30)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        self._call("POST", "/_sim/reset")

    def config(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = (
            self._call("PATCH", "/_sim/config", changes) if changes else self._call("GET", "/_sim/config")
        )
        return result

    def seed(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/_sim/seed", body)
        return result

    def clock(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/_sim/clock", body) if body else self._call("GET", "/_sim/clock")
        return result

    def advance(self, seconds: float) -> dict[str, Any]:
        return self.clock(advance_seconds=seconds)

    def fault(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/_sim/faults", body)
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sim/faults")

    def load(self, vm_name: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/_sim/load/{vm_name}", body)
        return result

    def resources(self, resource_type: str | None = None) -> list[dict[str, Any]]:
        path = "/_sim/resources" + (f"?type={resource_type}" if resource_type else "")
        result: list[dict[str, Any]] = self._call("GET", path)["value"]
        return result

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_sim/counters")
        return result

    def clear_counters(self) -> None:
        self._call("DELETE", "/_sim/counters")

    def history(self, name: str | None = None) -> dict[str, Any]:
        """Every VM's lives and every write sent for a VM (`/_sim/history`), optionally for one name."""
        result: dict[str, Any] = self._call("GET", "/_sim/history" + (f"?name={name}" if name else ""))
        return result

    def custom_data(self, vm_name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/_sim/vms/{vm_name}/custom-data")
        return result

    def extension(self, vm_name: str, extension: str) -> dict[str, Any]:
        """What the extension's last PUT carried, protectedSettings included."""
        result: dict[str, Any] = self._call("GET", f"/_sim/vms/{vm_name}/extensions/{extension}")
        return result

    def bulk_vms(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/_sim/bulk_vms", body)
        return result

    def close(self) -> None:
        self.http.close()


class SimProcess:
    """`python -m tools.armsim` in a subprocess, on a free port; use as a context manager."""

    def __init__(self, cert_dir: str | Path, *args: str) -> None:
        self.cert_dir = Path(cert_dir)
        self.args = list(args)
        self.url = ""
        self.ca = str(self.cert_dir / "ca.pem")
        self._proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> SimProcess:
        repo_root = Path(__file__).resolve().parents[2]
        cmd = [sys.executable, "-m", "tools.armsim", "--port", "0", "--cert-dir", str(self.cert_dir), *self.args]
        self._proc = subprocess.Popen(cmd, cwd=repo_root, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if line.startswith("armsim ready "):
                self.url = line.split()[-1]
                return self
            if not line and self._proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError("the ARM simulator did not start")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def control(self) -> SimControl:
        return SimControl(self.url, self.ca)

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *args: object) -> None:
        self.stop()
