"""`python -m tools.armsim`: serve the simulator over HTTPS and print one ready line."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys

import uvicorn

from .app import create_app
from .certs import ensure_certs
from .config import SimConfig
from .timing import PROFILES


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit:
            return
        port = self.servers[0].sockets[0].getsockname()[1]
        print(f"armsim ready https://{self.config.host}:{port}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.armsim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port (see the ready line)")
    parser.add_argument("--cert-dir", required=True)
    parser.add_argument("--provision-seconds", type=float, default=2.0)
    parser.add_argument("--transition-seconds", type=float, default=1.0)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--throttle", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="instant",
        help="operation timing: instant, or Azure's (docs/azure-timing.md)",
    )
    parser.add_argument(
        "--state-file", help="keep the simulated world in this JSON file: loaded at start, saved on change and at exit"
    )
    args = parser.parse_args(argv)
    certs = ensure_certs(args.cert_dir)
    config = SimConfig(
        provision_seconds=args.provision_seconds,
        transition_seconds=args.transition_seconds,
        page_size=args.page_size,
        throttle=args.throttle,
        profile=args.profile,
    )
    server = _Server(
        uvicorn.Config(
            create_app(config, args.state_file),
            host=args.host,
            port=args.port,
            ssl_certfile=str(certs.cert),
            ssl_keyfile=str(certs.key),
            log_level="warning",
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
    )
    asyncio.run(server.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
