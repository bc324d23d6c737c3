"""A private CA and a server certificate for 127.0.0.1/localhost, made once per directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class CertPaths:
    ca: Path
    cert: Path
    key: Path


def ensure_certs(cert_dir: str | Path) -> CertPaths:
    directory = Path(cert_dir)
    paths = CertPaths(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    if paths.ca.exists() and paths.cert.exists() and paths.key.exists():
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="armsim local CA")
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca.cert_pem.write_to_path(str(paths.ca))
    server.private_key_pem.write_to_path(str(paths.key))
    # Leaf first, then the CA, so clients that want a chain get one.
    with paths.cert.open("wb") as handle:
        for blob in server.cert_chain_pems:
            handle.write(blob.bytes())
    paths.key.chmod(0o600)
    return paths
