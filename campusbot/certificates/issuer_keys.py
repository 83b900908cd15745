"""The operator's Ed25519 signing keys for credentials: one active, the retired ones kept for verification.

Layout of the directory (the bot's ``data_dir / "issuer"``), every file mode 0600:

- ``active.pem``: the key that signs new credentials (PKCS#8 PEM, unencrypted);
- ``retired/<multibase>.pem``: keys that signed earlier credentials, named by their public key.

Keys are read from disk on every call, so a ``campusbot cert rotate-key`` run next to a
running bot takes effect with its next credential. One bot process owns the directory:
two processes generating the first key at the same moment would overwrite each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import base58
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from campusbot.channels.matrix.private_file import write_private_file
from campusbot.errors import CampusbotError

# The multicodec prefix of an Ed25519 public key (varint of 0xed), as did:key and Multikey use it.
ED25519_PUB_MULTICODEC = b"\xed\x01"


class IssuerKeyError(CampusbotError):
    """A key file cannot be used; the message names the file."""


def ed25519_multibase(public_key: Ed25519PublicKey) -> str:
    """The Multikey form of a public key: base58btc multibase of the multicodec-prefixed bytes, "z6Mk…"."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "z" + base58.b58encode(ED25519_PUB_MULTICODEC + raw).decode("ascii")


@dataclass(frozen=True, slots=True, eq=False)
class IssuerKey:
    """A signing key; compare keys by ``verification_method``."""

    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def did(self) -> str:
        return f"did:key:{ed25519_multibase(self.public_key)}"

    @property
    def verification_method(self) -> str:
        # did:key defines exactly one verification method, whose fragment is the key's multibase value.
        return f"{self.did}#{ed25519_multibase(self.public_key)}"


class IssuerKeys:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def _active_path(self) -> Path:
        return self.directory / "active.pem"

    @property
    def _retired_dir(self) -> Path:
        return self.directory / "retired"

    def active(self) -> IssuerKey:
        """The key that signs new credentials; generated and stored on first use."""
        if self._active_path.exists():
            return _load(self._active_path)
        key = IssuerKey(Ed25519PrivateKey.generate())
        self._store(self._active_path, key)
        return key

    def rotate(self) -> IssuerKey:
        """Retire the active key (kept, so that what it signed still verifies) and make a new one active."""
        if self._active_path.exists():
            old = _load(self._active_path)
            # Retired copy first: a crash before the new key is written leaves the old key active, never lost.
            self._store(self._retired_dir / f"{ed25519_multibase(old.public_key)}.pem", old)
        key = IssuerKey(Ed25519PrivateKey.generate())
        self._store(self._active_path, key)
        return key

    def verification_keys(self) -> dict[str, Ed25519PublicKey]:
        """Public keys of the active and the retired keys, by verification method id. Creates no key."""
        keys: dict[str, Ed25519PublicKey] = {}
        if self._retired_dir.is_dir():
            for path in sorted(self._retired_dir.glob("*.pem")):
                key = _load(path)
                if path.stem != ed25519_multibase(key.public_key):
                    raise IssuerKeyError(f"{path}: holds the key {ed25519_multibase(key.public_key)}, not the one its name says")
                keys[key.verification_method] = key.public_key
        if self._active_path.exists():
            key = _load(self._active_path)
            keys[key.verification_method] = key.public_key
        return keys

    def _store(self, path: Path, key: IssuerKey) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
        )
        write_private_file(path, pem)


def _load(path: Path) -> IssuerKey:
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise IssuerKeyError(f"{path}: cannot read the issuer key: {exc.strerror}") from exc
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise IssuerKeyError(f"{path}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(private_key, Ed25519PrivateKey):
        raise IssuerKeyError(f"{path}: not an Ed25519 key ({type(private_key).__name__})")
    return IssuerKey(private_key)
