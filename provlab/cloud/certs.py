"""The lab's TLS certificates: a lab CA and a server certificate for the stub's host names (C7).

A folder holds `ca.pem` (what boards and the lab trust), `ca.key`, `server.pem` (the server certificate
followed by the CA) and `server.key`. The lab can rotate the server certificate (same CA: clients keep
trusting it), rotate the CA (clients that trust the old CA stop connecting) and install an expired server
certificate. Keys are ECDSA P-256 (quick to make, supported by mbedTLS and BearSSL).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "blynk.cloud", "*.blynk.cloud", "127.0.0.1", "::1")
CA_DAYS = 3650
SERVER_DAYS = 397  # what public CAs issue at most

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SERVER_CERT = "server.pem"
SERVER_KEY = "server.key"


class CertificateError(Exception):
    """The lab's certificate folder is missing a file or holds something unreadable."""


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


@dataclass(frozen=True)
class LabCA:
    """A certificate authority that exists only in this lab."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str = "provlab lab CA", *, days: int = CA_DAYS) -> LabCA:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start = _now() - _dt.timedelta(minutes=5)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + _dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load(cls, folder: Path) -> LabCA:
        try:
            cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
            key = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise CertificateError(f"cannot read the lab CA in {folder}: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertificateError(f"{folder / CA_KEY} is not an EC key; expected one made by provlab")
        return cls(cert, key)

    def issue_server(
        self, hosts: tuple[str, ...] = DEFAULT_HOSTS, *, days: int = SERVER_DAYS, expired: bool = False
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A server certificate for `hosts`; `expired` makes one whose validity ended yesterday."""
        if not hosts:
            raise CertificateError("a server certificate needs at least one host name")
        key = ec.generate_private_key(ec.SECP256R1())
        start = _now() - (_dt.timedelta(days=days + 1) if expired else _dt.timedelta(minutes=5))
        end = _now() - _dt.timedelta(days=1) if expired else start + _dt.timedelta(days=days)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert, key


class LabCertificates:
    """The certificate folder the stub serves TLS from and the lab trusts."""

    def __init__(self, folder: str | Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> None:
        self.folder = Path(folder)
        self.hosts = hosts

    @property
    def ca_file(self) -> Path:
        return self.folder / CA_CERT

    @property
    def cert_file(self) -> Path:
        return self.folder / SERVER_CERT

    @property
    def key_file(self) -> Path:
        return self.folder / SERVER_KEY

    def exists(self) -> bool:
        return all((self.folder / name).exists() for name in (CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY))

    def ensure(self) -> LabCertificates:
        """Create a CA and a server certificate unless the folder already has them."""
        if not self.exists():
            self.rotate_ca()
        return self

    def rotate_ca(self) -> None:
        """A new CA and a server certificate from it: clients trusting the old CA stop connecting."""
        self.folder.mkdir(parents=True, exist_ok=True)
        ca = LabCA.create()
        _write(self.folder / CA_KEY, _key_pem(ca.key), secret=True)
        _write(self.folder / CA_CERT, ca.cert.public_bytes(serialization.Encoding.PEM))
        self._install(ca, expired=False)

    def rotate_server(self) -> None:
        """A new server certificate from the same CA: clients keep trusting it."""
        self._install(self.ca(), expired=False)

    def expire_server(self) -> None:
        """Replace the server certificate with one that expired yesterday (same CA)."""
        self._install(self.ca(), expired=True)

    def ca(self) -> LabCA:
        return LabCA.load(self.folder)

    def _install(self, ca: LabCA, *, expired: bool) -> None:
        cert, key = ca.issue_server(self.hosts, expired=expired)
        _write(self.key_file, _key_pem(key), secret=True)
        chain = cert.public_bytes(serialization.Encoding.PEM) + ca.cert.public_bytes(serialization.Encoding.PEM)
        _write(self.cert_file, chain)

    def server_certificate(self) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise CertificateError(f"cannot read {self.cert_file}: {exc}") from exc

    def server_context(self) -> ssl.SSLContext:
        """A server-side context with the folder's certificate; `reload_into` swaps it later."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.reload_into(context)
        return context

    def reload_into(self, context: ssl.SSLContext) -> None:
        """Load the folder's current certificate into `context`: new handshakes present it."""
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise CertificateError(f"cannot load {self.cert_file} / {self.key_file}: {exc}") from exc

    def client_context(self) -> ssl.SSLContext:
        """What a lab client uses: trust only the lab CA, check the host name."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return context
