"""Linux passwords: generated ones, and the one-way hash that carries a user's password to the VM.

A user's password never leaves the request that carries it: the request hashes it (SHA-512 crypt, as in
/etc/shadow) and only the hash travels on (queue message, then cloud-init in the VM's customData). ARM's own
`adminPassword` gets a throwaway value nobody keeps; cloud-init replaces it with the user's password when
the VM first boots.
"""

from __future__ import annotations

import secrets
import string
import warnings

_SYMBOLS = "!#%*+-.:=?@_~"
_ALPHABET = string.ascii_letters + string.digits + _SYMBOLS


def generate(length: int = 24) -> str:
    """A random password with every character class Azure asks for (lower, upper, digit, symbol)."""
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (
            any(c.islower() for c in password)
            and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
            and any(c in _SYMBOLS for c in password)
        ):
            return password


def linux_hash(password: str) -> str:
    """SHA-512 crypt of `password` with a random salt: what chpasswd -e and /etc/shadow take."""
    try:
        import crypt_r as crypt  # type: ignore[import-not-found]  # the same module, outside the stdlib from 3.13
    except ModuleNotFoundError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
    return str(crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512)))
