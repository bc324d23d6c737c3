"""The contract as people read it: /api/docs and /api/redoc work with no Internet."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tools.devstack import Stack


@pytest.fixture(scope="module")
def document(stack: Stack) -> dict[str, Any]:
    response = httpx.get(f"{stack.api_url}/openapi.json")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


PAGE_URL = re.compile(
    r"""(?:src|href)="([^"]+)"|url: *'([^']+)'|oauth2RedirectUrl: *window\.location\.origin \+ '([^']+)'"""
)


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_doc_pages_load_everything_from_the_api(stack: Stack, page: str) -> None:
    origin = stack.api_url.removesuffix("/api")
    html = httpx.get(f"{stack.api_url}/{page}")
    assert html.status_code == 200
    urls = {next(filter(None, groups)) for groups in PAGE_URL.findall(html.text)}
    assert urls, html.text
    for url in urls:
        assert url.startswith("/api/"), f"{page} loads {url} from elsewhere"
        assert httpx.get(origin + url).status_code == 200, url
    if page == "docs":
        assert "/api/docs/oauth2-redirect" in urls


# Debian's chromium, headless; as root it needs --no-sandbox, and without the background-networking flags it
# reaches for Google's hosts at every start. The resolver rule makes every host but the API's unreachable,
# so the page can only render from what the API serves.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--virtual-time-budget=15000",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on this machine: `apt-get install -y chromium` (.ci/run installs it when it can)")
    return path


def rendered(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, as a browser with no Internet renders it."""
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_swagger_ui_renders_every_operation_offline(stack: Stack, document: dict[str, Any], tmp_path: Path) -> None:
    dom = rendered(f"{stack.api_url}/docs", tmp_path)
    shown = re.findall(r'class="opblock-summary-operation-id"[^>]*>([^<]+)<', dom)
    assert sorted(shown) == sorted(op["operationId"] for op in operations(document).values()), dom[-3000:]


def test_redoc_renders_every_operation_offline(stack: Stack, document: dict[str, Any], tmp_path: Path) -> None:
    dom = rendered(f"{stack.api_url}/redoc", tmp_path)
    missing = [op["summary"] for op in operations(document).values() if op["summary"] not in dom]
    assert missing == [], dom[-3000:]
