"""A throw-away certificate authority and a server certificate for 127.0.0.1 / localhost.

Made with the ``openssl`` command line (the ``cryptography`` package is not a dependency of ours), as a
cluster's own CA is: clients must trust it through the kubeconfig's ``certificate-authority-data``,
never through the system bundle.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class TLSUnavailable(RuntimeError):
    """openssl is missing or failed."""


@dataclass(frozen=True)
class Certificates:
    directory: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert.read_bytes()

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.server_cert), str(self.server_key))
        return ctx


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise TLSUnavailable("the openssl command is needed for tls=True and was not found on PATH")
    done = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TLSUnavailable(f"openssl {args[0]} failed: {done.stderr.strip()}")


def make_certificates(directory: Path | None = None, days: int = 30) -> Certificates:
    """A CA (``ca.crt``) and a server certificate signed by it with subjectAltName 127.0.0.1, ::1 and
    localhost; EC P-256 keys, which openssl makes in milliseconds."""
    d = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="bluegreen-sim-tls-"))
    d.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        str(days),
        "-subj",
        "/CN=bluegreen-sim-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver", cwd=d)
    (d / "server.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes.default.svc\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        str(days),
        "-extfile",
        "server.ext",
        cwd=d,
    )
    for key in ("ca.key", "server.key"):
        (d / key).chmod(0o600)
    return Certificates(d, d / "ca.crt", d / "server.crt", d / "server.key")
