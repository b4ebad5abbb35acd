"""Signing keys: RSA PEM files in one folder, published as a JWKS; the newest one signs.

Rotation: add a new key file whose name sorts last (e.g. ``2026-05-01.pem``): it signs from the
next reload on, while the older keys stay published, so tokens they signed still verify until
they expire; then remove the old file. A file holding only a public key is published but never
signs. Each key's ``kid`` is its RFC 7638 thumbprint, so every replica derives the same one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from common.logs import kv
from common.tokens import ALGORITHM

log = logging.getLogger("auth.keys")

MIN_BITS = 2048
GENERATED_BITS = 2048


class KeyFileError(Exception):
    """The keys folder cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Key:
    kid: str
    public: rsa.RSAPublicKey
    private: rsa.RSAPrivateKey | None
    source: str  # the file name, for logs

    def jwk(self) -> dict[str, str]:
        numbers = self.public.public_numbers()
        return {
            "kty": "RSA",
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
            "n": _b64uint(numbers.n),
            "e": _b64uint(numbers.e),
        }


@dataclass(frozen=True)
class KeyRing:
    """The keys of one moment, in file-name order."""

    keys: tuple[Key, ...]

    @property
    def signer(self) -> Key:
        return [k for k in self.keys if k.private is not None][-1]

    def get(self, kid: str) -> Key | None:
        return next((k for k in self.keys if k.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.jwk() for k in self.keys]}


def thumbprint(public: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): a kid every replica computes alike."""
    numbers = public.public_numbers()
    canonical = json.dumps(
        {"e": _b64uint(numbers.e), "kty": "RSA", "n": _b64uint(numbers.n)}, separators=(",", ":")
    )
    return _b64(hashlib.sha256(canonical.encode()).digest())


def load_ring(directory: Path) -> KeyRing:
    files = _key_files(directory)
    keys = tuple(_load_key(path) for path in files)
    if not any(k.private is not None for k in keys):
        raise KeyFileError(
            f"no RSA private key (*.pem) in {directory}: mount one (Kubernetes Secret) "
            "or, on the devstack only, set AUTH_GENERATE_KEYS=true"
        )
    return KeyRing(keys)


def generate_key(directory: Path) -> Path:
    """Write a new RSA private key into ``directory`` (created 0700), named so it sorts last."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = rsa.generate_private_key(public_exponent=65537, key_size=GENERATED_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = directory / (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}.pem")
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    tmp.rename(path)
    log.info(kv(event="key.generated", file=path.name, kid=thumbprint(private.public_key())))
    return path


class KeyStore:
    """The current KeyRing, re-read when the folder changes (checked every ``reload_seconds``)."""

    def __init__(self, directory: Path, *, generate: bool = False, reload_seconds: float = 30.0) -> None:
        self.directory = directory
        self._reload_seconds = reload_seconds
        if generate and not _key_files(directory):
            generate_key(directory)
        self._lock = threading.Lock()
        self._stamp = _stamp(directory)
        self._ring = load_ring(directory)
        self._checked = time.monotonic()
        self._log_ring()

    def ring(self) -> KeyRing:
        if time.monotonic() - self._checked >= self._reload_seconds:
            self._maybe_reload()
        return self._ring

    def _maybe_reload(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            stamp = _stamp(self.directory)
            if stamp == self._stamp:
                return
            try:
                ring = load_ring(self.directory)
            except (KeyFileError, OSError) as exc:
                log.error(kv(event="key.reload_failed", error=exc, keeping=len(self._ring.keys)))
                return
            self._ring, self._stamp = ring, stamp
            self._log_ring()

    def _log_ring(self) -> None:
        log.info(
            kv(
                event="keys.loaded",
                published=",".join(k.kid for k in self._ring.keys),
                signer=self._ring.signer.kid,
                signer_file=self._ring.signer.source,
            )
        )


def _key_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    # hidden names skipped: a mounted Kubernetes Secret also holds ..data and timestamped folders
    return sorted(p for p in directory.glob("*.pem") if not p.name.startswith(".") and p.is_file())


def _stamp(directory: Path) -> tuple[tuple[str, int, int], ...]:
    stamp = []
    for path in _key_files(directory):
        try:
            st = path.stat()  # follows a Secret's symlinks: changes when the Secret is updated
        except OSError:
            continue
        stamp.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(stamp)


def _load_key(path: Path) -> Key:
    data = path.read_bytes()
    private: rsa.RSAPrivateKey | None = None
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise KeyFileError(f"{path}: only RSA keys can sign {ALGORITHM} tokens")
        private, public = loaded, loaded.public_key()
    except (ValueError, TypeError):
        try:
            loaded_public = serialization.load_pem_public_key(data)
        except ValueError:
            raise KeyFileError(f"{path}: not an unencrypted PEM RSA key") from None
        if not isinstance(loaded_public, rsa.RSAPublicKey):
            raise KeyFileError(f"{path}: only RSA keys can sign {ALGORITHM} tokens") from None
        public = loaded_public
    if public.key_size < MIN_BITS:
        raise KeyFileError(
            f"{path}: a {public.key_size}-bit RSA key is too weak; use {MIN_BITS} bits or more"
        )
    return Key(kid=thumbprint(public), public=public, private=private, source=path.name)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))
