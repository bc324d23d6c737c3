"""The local stack: Azurite (tables), the ARM simulator and the API under uvicorn, on one machine.

`python -m tools.devstack` (what `make dev` runs) starts all of it in the foreground; the test fixtures and
benches use the same pieces (`Stack`) on free ports.
"""

from .stack import PYTHON, ROOT, Service, Stack, free_port, spawn, wait_for_port

__all__ = ["PYTHON", "ROOT", "Service", "Stack", "free_port", "spawn", "wait_for_port"]
