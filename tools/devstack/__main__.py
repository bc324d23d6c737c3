"""`python -m tools.devstack` (what `make dev` runs): the whole stack in the foreground on the contract ports.

Writes `.devstack/env`, and stops every process on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from . import envfile
from .stack import ROOT, Stack


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    try:
        yield stack
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.devstack", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".devstack")
    parser.add_argument("--user", default="dev@example.com", help="the bootstrap admin the token is issued to")
    parser.add_argument("--sweep-every", type=float, default=30.0, help="seconds between sweeper passes")
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    stack = Stack(args.state_dir, tables_port=10002, arm_port=8443, api_port=7071, queue_port=10001)
    with running(stack):
        try:
            stack.start_tables()
            stack.start_queue()
            stack.start_arm()
            stack.start_api()
            stack.start_sweeper(args.sweep_every)
            env_path = stack.state_dir / "env"
            envfile.write(env_path, stack.dev_env(stack.issue_token(args.user, admin=True)))
            health = httpx.get(f"{stack.api_url}/health", timeout=30)
            print(f"API        {stack.api_url}  (health: {health.status_code})")
            print(f"ARM sim    {stack.arm_url}  (CA {stack.arm_ca})")
            print(f"Tables     {stack.tables_endpoint}")
            print(f"Queue      {stack.queue_endpoint}")
            print(f"Sweeper    every {args.sweep_every:g} s (make sweep runs one pass now)")
            print(f"Settings   {env_path}  (source it: set -a; . {env_path}; set +a)")
            print("Logs       " + ", ".join(str(args.state_dir / f"{s.name}.log") for s in stack.services))
            print("Ctrl-C stops everything.", flush=True)
            while all(s.process.poll() is None for s in stack.services):
                time.sleep(0.5)
            dead = [s.name for s in stack.services if s.process.poll() is not None]
            print(f"stopped: {', '.join(dead)} exited; see its log", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
