"""Fixtures for the offline infra checks (no Bicep CLI, no Azure)."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parents[1]
# `shared` (the settings model) and the helper module next to this file.
for _path in (str(_REPO), str(_HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
