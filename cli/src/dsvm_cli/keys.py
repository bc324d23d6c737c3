"""Which SSH public key a new VM gets."""

from __future__ import annotations

from pathlib import Path

from dsvm_cli.errors import USAGE, CliError

# ssh-keygen's default names, in the order ssh itself offers them; ed25519 first as the better key.
DEFAULT_KEYS = ("id_ed25519.pub", "id_rsa.pub")
MAX_KEY_BYTES = 16384


def default_key_paths() -> list[Path]:
    return [Path.home() / ".ssh" / name for name in DEFAULT_KEYS]


def read_public_key(path: Path | None) -> str:
    """The key line from `path`, or from the first default key that exists."""
    if path is None:
        candidates = default_key_paths()
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise CliError(
                "no SSH public key found: looked for " + " and ".join(str(p) for p in candidates),
                "Make one with `ssh-keygen -t ed25519` (then run this again),",
                "or pass another with --key FILE.pub, or sign in by password with --generate-password.",
                code=USAGE,
            )
    try:
        raw = path.read_bytes()[: MAX_KEY_BYTES + 1]
    except OSError as exc:
        raise CliError(
            f"cannot read the SSH public key {path}: {exc.strerror or exc}",
            "Make one with `ssh-keygen -t ed25519`, or pass another with --key FILE.pub.",
            code=USAGE,
        ) from None
    text = raw.decode(errors="replace").strip()
    if "PRIVATE KEY" in text:
        raise CliError(
            f"{path} is a private key; it must never leave your machine",
            f"Pass the public half instead: --key {path}.pub",
            code=USAGE,
        )
    if len(raw) > MAX_KEY_BYTES or not text:
        raise CliError(f"{path} does not look like an SSH public key", code=USAGE)
    return text
