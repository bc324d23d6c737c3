"""Fresh SSH public keys for request bodies."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa


def _openssh(key: object) -> str:
    public = key.public_key()  # type: ignore[attr-defined]
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def ed25519_key() -> str:
    return _openssh(ed25519.Ed25519PrivateKey.generate()) + " test@example"


def ecdsa_key() -> str:
    return _openssh(ec.generate_private_key(ec.SECP256R1()))


def rsa_key(bits: int) -> str:
    return _openssh(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def dsa_key() -> str:
    return _openssh(dsa.generate_private_key(key_size=1024))  # noqa: S505 - the point: a key we refuse
