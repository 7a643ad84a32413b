"""The bootloader's own ed25519 verifier and SHA-512 (host build of the same C) against the RFC 8032
test vectors, hashlib, and signatures made by the `cryptography` package."""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")

# RFC 8032 section 7.1: (secret key, public key, message, signature), TEST 1, 2, 3.
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


@pytest.fixture(scope="module")
def exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cimsdk.flash.build import build_host_bootloader

    return build_host_bootloader(tmp_path_factory.mktemp("blhost"))


def verify(exe: Path, pk: str, sig: str, msg: str) -> bool:
    out = subprocess.run([str(exe), "ed25519", pk, sig, msg], capture_output=True, text=True, check=True).stdout
    return out.strip() == "1"


@pytest.mark.parametrize("vector", RFC8032, ids=["test1", "test2", "test3"])
def test_rfc8032_vectors(exe: Path, vector: tuple[str, str, str, str]) -> None:
    sk, pk, msg, sig = vector
    assert verify(exe, pk, sig, msg)
    bad = bytearray(bytes.fromhex(sig))
    bad[5] ^= 0x01  # R damaged
    assert not verify(exe, pk, bad.hex(), msg)
    bad = bytearray(bytes.fromhex(sig))
    bad[40] ^= 0x80  # S damaged
    assert not verify(exe, pk, bad.hex(), msg)
    assert not verify(exe, pk, sig, (bytes.fromhex(msg) + b"\0").hex())  # message changed
    other = RFC8032[(RFC8032.index(vector) + 1) % 3][1]
    assert not verify(exe, other, sig, msg)  # another key


def test_rfc_vectors_are_what_cryptography_computes() -> None:
    """The vectors above are typed in: check them with an independent implementation."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    for sk, pk, msg, sig in RFC8032:
        key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sk))
        assert key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex() == pk
        assert key.sign(bytes.fromhex(msg)).hex() == sig


def test_random_signatures_from_cryptography(exe: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    rng = random.Random(5)
    for i in range(12):
        key = Ed25519PrivateKey.generate()
        pk = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        msg = rng.randbytes(rng.choice([0, 1, 45, 111, 112, 127, 128, 300]))
        sig = key.sign(msg)
        assert verify(exe, pk, sig.hex(), msg.hex()), i
        bad = bytearray(sig)
        bad[rng.randrange(64)] ^= 1 << rng.randrange(8)
        assert not verify(exe, pk, bad.hex(), msg.hex()), i


def test_s_not_below_l_is_refused(exe: Path) -> None:
    """Malleability: S + L verifies mathematically but RFC 8032 requires S < L."""
    sk, pk, msg, sig = RFC8032[0]
    L = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(bytes.fromhex(sig)[32:], "little") + L
    assert s < 2**256
    assert not verify(exe, pk, (bytes.fromhex(sig)[:32] + s.to_bytes(32, "little")).hex(), msg)


@pytest.mark.parametrize("n", [0, 3, 111, 112, 128, 1000])
def test_sha512_matches_hashlib(exe: Path, n: int) -> None:
    msg = random.Random(n).randbytes(n)
    out = subprocess.run([str(exe), "sha512", msg.hex()], capture_output=True, text=True, check=True).stdout
    assert out.strip() == hashlib.sha512(msg).hexdigest()


