"""`function_app` loaded as the Functions host loads it, once per test."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from shared.settings import get_settings


@contextmanager
def host_functions(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The index's functions by name, imported anew with `env` as the app settings and forgotten afterwards:
    the host imports the index once per worker process, and the app refuses to list its functions twice, so
    a module left behind by an earlier test (in any order, on any xdist worker) would fail the next one."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    sys.modules.pop("function_app", None)
    try:
        module = importlib.import_module("function_app")
        yield {f.get_function_name(): f for f in module.app.get_functions()}
    finally:
        sys.modules.pop("function_app", None)
        get_settings.cache_clear()
