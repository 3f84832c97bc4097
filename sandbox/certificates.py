"""Self-signed RSA certificates for the SFM sandbox and tests (seed 001 §12.2: RSA X509).

Key generation is the slow part (tens of milliseconds for RSA 2048), so each process
keeps one key per name; certificates are cheap and made on demand with any validity:
valid, expired, expiring in ten days, not yet valid.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

DEFAULT_COMMON_NAME = "gazoduc-sfm-sandbox"


@dataclass(frozen=True)
class CertificatePair:
    """A certificate and its private key; `write` puts both in PEM files."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, directory: Path, stem: str = "sfm") -> tuple[Path, Path]:
        """Write `<stem>.crt` and `<stem>.key` (owner-only) and return their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_bytes(self.certificate_pem())
        key_path.touch(mode=0o600)
        key_path.chmod(0o600)  # also when the file was there before
        key_path.write_bytes(self.key_pem())
        return cert_path, key_path

    def __repr__(self) -> str:
        subject = self.certificate.subject.rfc4514_string()
        return f"CertificatePair({subject!r}, until {self.certificate.not_valid_after_utc:%F})"


@cache
def process_key(name: str = "default") -> rsa.RSAPrivateKey:
    """One RSA 2048 key per name and process: tests needing two keys ask for two names."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed(
    common_name: str = DEFAULT_COMMON_NAME,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    key_name: str = "default",
) -> CertificatePair:
    """A self-signed certificate; by default valid from yesterday for a year."""
    now = datetime.now(UTC).replace(microsecond=0)
    valid_from = valid_from or now - timedelta(days=1)
    valid_until = valid_until or now + timedelta(days=365)
    key = process_key(key_name)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial(common_name, valid_from, valid_until, key_name))
        .not_valid_before(valid_from)
        .not_valid_after(valid_until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertificatePair(certificate, key)


def valid_for(
    days: float, common_name: str = DEFAULT_COMMON_NAME, key_name: str = "default"
) -> CertificatePair:
    """Valid until `days` from now (negative: already expired), since a year before that
    or yesterday, whichever is earlier."""
    now = datetime.now(UTC).replace(microsecond=0)
    valid_until = now + timedelta(days=days)
    valid_from = min(now - timedelta(days=1), valid_until - timedelta(days=365))
    return self_signed(common_name, valid_from, valid_until, key_name)


def not_yet_valid(days: float = 1, common_name: str = DEFAULT_COMMON_NAME) -> CertificatePair:
    """Valid only from `days` from now, for a year."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return self_signed(common_name, start, start + timedelta(days=365))


def _serial(common_name: str, valid_from: datetime, valid_until: datetime, key: str) -> int:
    # Deterministic for equal inputs (reproducible tests), distinct for distinct ones.
    seed = f"{common_name}|{valid_from.isoformat()}|{valid_until.isoformat()}|{key}"
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big") >> 1
