"""checkov over infra/: no failed check, no parse error, and only reviewed, reasoned suppressions.

checkov runs from its own virtual environment (.checkov-venv/, created on first use by
tools/infra_check/checkov.sh with a pinned checkov). Two traps this test guards against:
- checkov exits 0 when a Bicep file does not parse: it only counts it under `parsing_errors`;
- `--quiet` drops the parse-error list and the skipped checks from the JSON, so it is not used here.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from bicep_support import INFRA, REPO

SCRIPT = REPO / "tools" / "infra_check" / "checkov.sh"

# Every check that may be suppressed (inline, `// checkov:skip=ID: reason`, on the resource concerned).
# Adding a suppression needs an entry here too. The reason next to the resource is the detailed one.
REVIEWED_SKIPS = {
    "CKV_AZURE_13": "misfire on authsettingsV2 (reads the V1 'enabled' flag); Easy Auth is optional by design",
    "CKV_AZURE_17": "no client certificates: API clients use bearer tokens",
    "CKV_AZURE_35": "storage network default Allow: Flex app without VNet, admins use the data plane; Entra-only",
    "CKV_AZURE_50": "DSVM: VM extensions allowed (VMAccess is the recovery path)",
    "CKV_AZURE_59": "storage public endpoint on purpose; shared keys and anonymous blob access disabled",
    "CKV_AZURE_63": "misfire on authsettingsV2: HTTP logging is a 'web' siteConfig setting",
    "CKV_AZURE_65": "misfire on authsettingsV2: detailed errors is a 'web' siteConfig setting",
    "CKV_AZURE_66": "misfire on authsettingsV2: failed request tracing is a 'web' siteConfig setting",
    "CKV_AZURE_80": "misfire on authsettingsV2: .NET version; this is a Python app",
    "CKV_AZURE_88": "misfire on authsettingsV2: Azure Files mounts; the app keeps no files",
    "CKV_AZURE_97": "DSVM: encryption at host needs a per-subscription feature registration",
    "CKV_AZURE_149": "DSVM: password login is opt-in; SSH key only by default (expression checkov can't evaluate)",
    "CKV_AZURE_151": "DSVM: platform encryption at rest (SSE); ADE retired",
    "CKV_AZURE_178": "DSVM: SSH keys are the default (see CKV_AZURE_149)",
    "CKV_AZURE_206": "storage LRS by default (works in every region); storageSkuName=Standard_ZRS where zoned",
    "CKV_AZURE_212": "Flex Consumption scales to zero; always-ready instances would bill while idle",
    "CKV_AZURE_213": "no platform health check on a scale-to-zero Flex app; /api/health is for external probes",
    "CKV_AZURE_222": "the API is public by design; every route but /api/health requires a token",
    "CKV_AZURE_225": "plan not zone redundant: stateless control plane, an outage only delays the sweeper",
}

CHECKOV_TIMEOUT_S = 900  # includes creating .checkov-venv on a fresh machine (about 30-60 s here)


def run_checkov(directory: Path) -> tuple[list[dict[str, Any]], float]:
    """checkov's JSON reports for a directory (a list, one per framework) and the seconds it took."""
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", str(SCRIPT), "-d", str(directory), "--framework", "bicep", "--output", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CHECKOV_TIMEOUT_S,
        check=False,
    )
    elapsed = time.monotonic() - started
    # Exit 1 only means "some check failed"; anything else is a crash (or no output at all).
    assert proc.returncode in (0, 1), f"checkov exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"checkov printed no JSON:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}") from exc
    reports = data if isinstance(data, list) else [data]
    return reports, elapsed


def problems(reports: list[dict[str, Any]]) -> list[str]:
    """Everything that makes a scan unacceptable, as readable lines (empty: clean)."""
    found: list[str] = []
    bicep = [r for r in reports if r.get("check_type") == "bicep"]
    if not bicep:
        return ["checkov produced no bicep report (no file scanned?)"]
    for report in bicep:
        results = report.get("results", {})
        summary = report.get("summary", {})
        errors = results.get("parsing_errors") or []
        if errors or summary.get("parsing_errors", 0):
            found.append(f"checkov could not parse: {errors or summary.get('parsing_errors')}")
        if not summary.get("resource_count"):
            found.append("checkov scanned no resource")
        for check in results.get("failed_checks", []):
            found.append(f"FAILED {check['check_id']} {check['check_name']} {check['file_path']} {check['resource']}")
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment", "").strip()
            where = f"{check['check_id']} on {check['file_path']} {check['resource']}"
            if check["check_id"] not in REVIEWED_SKIPS:
                found.append(f"unreviewed suppression {where}: add it to REVIEWED_SKIPS or fix the resource")
            if len(reason) < 15 or reason == "No comment provided":
                found.append(f"suppression without a reason: {where}")
    return found


@pytest.fixture(scope="session")
def infra_scan() -> tuple[list[dict[str, Any]], float]:
    return run_checkov(INFRA)


@pytest.mark.timeout(CHECKOV_TIMEOUT_S + 60)
def test_checkov_passes_on_infra(infra_scan: tuple[list[dict[str, Any]], float]) -> None:
    reports, _ = infra_scan
    assert problems(reports) == []


@pytest.mark.timeout(CHECKOV_TIMEOUT_S + 60)
def test_checkov_scanned_every_bicep_file(infra_scan: tuple[list[dict[str, Any]], float]) -> None:
    reports, _ = infra_scan
    seen = {
        check["file_path"].lstrip("/")
        for report in reports
        for kind in ("passed_checks", "failed_checks", "skipped_checks")
        for check in report.get("results", {}).get(kind, [])
    }
    # Files with only identities, role assignments or monitoring have no applicable check in
    # checkov 3.3; these must have been checked.
    for must in ("app/api.bicep", "core/storage/storage-account.bicep", "vm/dsvm.bicep"):
        assert must in seen, f"checkov reported nothing for {must}: {sorted(seen)}"


@pytest.mark.timeout(CHECKOV_TIMEOUT_S + 60)
def test_reviewed_skips_are_all_used(infra_scan: tuple[list[dict[str, Any]], float]) -> None:
    reports, _ = infra_scan
    used = {c["check_id"] for r in reports for c in r.get("results", {}).get("skipped_checks", [])}
    assert set(REVIEWED_SKIPS) - used == set(), "stale REVIEWED_SKIPS entries: remove them"


def test_problems_flags_unreviewed_and_unexplained_suppressions() -> None:
    report = {
        "check_type": "bicep",
        "results": {
            "failed_checks": [],
            "skipped_checks": [
                {"check_id": "CKV_AZURE_1", "file_path": "/x.bicep", "resource": "r", "check_result": {}},
                {
                    "check_id": "CKV_AZURE_35",
                    "file_path": "/x.bicep",
                    "resource": "r",
                    "check_result": {"suppress_comment": "No comment provided"},
                },
            ],
            "parsing_errors": [],
        },
        "summary": {"parsing_errors": 0, "resource_count": 1},
    }
    found = problems([report])
    assert any("unreviewed suppression CKV_AZURE_1" in line for line in found), found
    assert sum("without a reason" in line for line in found) == 2, found


@pytest.mark.timeout(CHECKOV_TIMEOUT_S + 60)
def test_a_parse_error_counts_as_failure(tmp_path: Path) -> None:
    (tmp_path / "ok.bicep").write_text((INFRA / "core/identity/user-assigned-identity.bicep").read_text())
    (tmp_path / "broken.bicep").write_text(
        "param x string\nresource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
    )
    reports, _ = run_checkov(tmp_path)
    found = problems(reports)
    assert any("could not parse" in line for line in found), found


@pytest.mark.timeout(CHECKOV_TIMEOUT_S + 60)
def test_an_open_ssh_rule_fails_the_scan(tmp_path: Path) -> None:
    """The checks really run on our resource shapes: SSH open to the world is reported."""
    (tmp_path / "open.bicep").write_text(
        """
resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'open'
  location: resourceGroup().location
  properties: {
    securityRules: [
      {
        name: 'ssh'
        properties: {
          priority: 1000
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: '*'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '22'
        }
      }
    ]
  }
}
"""
    )
    reports, _ = run_checkov(tmp_path)
    assert any(line.startswith("FAILED") for line in problems(reports)), reports
