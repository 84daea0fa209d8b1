"""What the playback-signing tests share: a settable clock and a throwaway CloudFront key pair."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class Clock:
    """A clock the test moves by hand (signers take `clock=`)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(private: rsa.RSAPrivateKey) -> bytes:
    """The key as CloudFront signers read it: PKCS#8 PEM, unencrypted."""
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
