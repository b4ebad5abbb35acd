"""The keys folder: generation, which key signs, what is published, rotation without restart."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from auth.keys import KeyFileError, KeyStore, generate_key, load_ring, thumbprint


def _write_rsa(path: Path, bits: int = 2048) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return key


def test_generate_writes_one_private_key_readable_only_by_the_owner(tmp_path: Path) -> None:
    path = generate_key(tmp_path / "keys")
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    ring = load_ring(tmp_path / "keys")
    assert [k.source for k in ring.keys] == [path.name]
    assert ring.signer.private is not None


def test_store_generates_only_when_asked_and_the_folder_is_empty(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="AUTH_GENERATE_KEYS"):
        KeyStore(tmp_path / "keys")
    first = KeyStore(tmp_path / "keys", generate=True).ring().signer.kid
    again = KeyStore(tmp_path / "keys", generate=True).ring().signer.kid
    assert first == again  # a restart keeps the key: tokens issued before it still verify
    assert len(list((tmp_path / "keys").glob("*.pem"))) == 1


def test_the_key_whose_file_sorts_last_signs_and_all_are_published(tmp_path: Path) -> None:
    old = _write_rsa(tmp_path / "2026-01-01.pem")
    new = _write_rsa(tmp_path / "2026-05-01.pem")
    ring = load_ring(tmp_path)
    assert ring.signer.kid == thumbprint(new.public_key())
    assert {k["kid"] for k in ring.jwks()["keys"]} == {
        thumbprint(old.public_key()),
        thumbprint(new.public_key()),
    }


def test_a_public_only_key_is_published_but_never_signs(tmp_path: Path) -> None:
    private = _write_rsa(tmp_path / "2026-01-01.pem")
    retired = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    (tmp_path / "2026-09-09.pem").write_bytes(
        retired.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    ring = load_ring(tmp_path)
    assert ring.signer.kid == thumbprint(private.public_key())
    assert ring.get(thumbprint(retired)) is not None


def test_jwks_entries_are_rs256_signing_keys_that_pyjwt_reads(tmp_path: Path) -> None:
    key = _write_rsa(tmp_path / "a.pem")
    jwks = load_ring(tmp_path).jwks()
    (entry,) = jwks["keys"]
    assert {"kty": "RSA", "alg": "RS256", "use": "sig"}.items() <= entry.items()
    assert "d" not in entry and "p" not in entry  # nothing private leaks
    parsed = jwt.PyJWKSet.from_dict(json.loads(json.dumps(jwks)))
    assert parsed[entry["kid"]].key.public_numbers() == key.public_key().public_numbers()


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 7638 section 3.1's example key and its thumbprint
    n_b64 = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKR"
        "XjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicA"
        "taSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3X"
        "PksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    n = int.from_bytes(jwt.utils.base64url_decode(n_b64), "big")
    public = rsa.RSAPublicNumbers(65537, n).public_key()
    assert thumbprint(public) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_unusable_key_files_are_refused_with_the_file_named(tmp_path: Path) -> None:
    (tmp_path / "garbage.pem").write_text("not a key")
    with pytest.raises(KeyFileError, match=r"garbage\.pem: not an unencrypted PEM RSA key"):
        load_ring(tmp_path)


def test_weak_and_non_rsa_keys_are_refused(tmp_path: Path) -> None:
    weak = tmp_path / "weak"
    weak.mkdir()
    _write_rsa(weak / "k.pem", bits=1024)
    with pytest.raises(KeyFileError, match="too weak"):
        load_ring(weak)
    other = tmp_path / "ec"
    other.mkdir()
    (other / "k.pem").write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(KeyFileError, match="only RSA keys"):
        load_ring(other)


def test_a_rotated_key_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    first = _write_rsa(tmp_path / "2026-01-01.pem")
    store = KeyStore(tmp_path, reload_seconds=0)
    assert store.ring().signer.kid == thumbprint(first.public_key())
    second = _write_rsa(tmp_path / "2026-02-01.pem")
    ring = store.ring()
    assert ring.signer.kid == thumbprint(second.public_key())
    assert ring.get(thumbprint(first.public_key())) is not None


def test_a_broken_rotation_keeps_serving_the_keys_it_had(tmp_path: Path) -> None:
    first = _write_rsa(tmp_path / "2026-01-01.pem")
    store = KeyStore(tmp_path, reload_seconds=0)
    (tmp_path / "2026-02-01.pem").write_text("half-written")
    assert store.ring().signer.kid == thumbprint(first.public_key())


def test_hidden_files_of_a_mounted_secret_are_ignored(tmp_path: Path) -> None:
    _write_rsa(tmp_path / "tls.pem")
    (tmp_path / "..2026_01_01").mkdir()
    (tmp_path / ".hidden.pem").write_text("junk")
    assert len(load_ring(tmp_path).keys) == 1
