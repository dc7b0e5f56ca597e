"""The lab's own certificate authority and the portal's certificate (openssl), so the RFC 8908 API
is served over real HTTPS that lab clients can verify. Production points at a real certificate."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabTls:
    """Files of the lab CA and the portal's certificate."""

    ca_cert: Path
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def make_lab_tls(directory: Path, hostname: str, address: str, days: int = 30) -> LabTls:
    """A new CA and a certificate for `hostname` (and `address`) signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    tls = LabTls(directory / "lab-ca.crt", directory / "portal.crt", directory / "portal.key")
    ca_key = directory / "lab-ca.key"
    request = directory / "portal.csr"
    extensions = directory / "portal.ext"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(ca_key), "-out", str(tls.ca_cert), "-days", str(days),
             "-subj", "/O=Simpul lab/CN=Simpul lab CA")  # fmt: skip
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(tls.key), "-out", str(request), "-subj", f"/CN={hostname}")  # fmt: skip
    extensions.write_text(
        f"subjectAltName=DNS:{hostname},IP:{address}\n"
        "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    _openssl("x509", "-req", "-in", str(request), "-CA", str(tls.ca_cert), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(tls.cert), "-days", str(days),
             "-extfile", str(extensions))  # fmt: skip
    ca_key.unlink()  # nothing else is ever signed with it
    return tls
