"""https to a real server on loopback whose certificate a test CA signed (made with the openssl
command): refused unless the client trusts that CA, and only for the names it was made for."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from hub.errors import ReceiverUnreachableError
from tests.forward.raw import OK, answering, client, get, run, serving

NAME = "cpo.platform.test"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, and a server certificate it signed for ``NAME`` and 127.0.0.1."""
    where = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=where, check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    ca = ["-subj", "/CN=ocpi-hub test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
    ca += ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    openssl("req", "-x509", *ec, *ca, "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={NAME}")
    (where / "server.ext").write_text(
        f"subjectAltName=DNS:{NAME},IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    signing = ["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2"]
    openssl(
        "x509",
        "-req",
        *signing,
        "-in",
        "server.csr",
        "-out",
        "server.pem",
        "-extfile",
        "server.ext",
    )
    return where


def server_side(certificates: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    return context


def trusting(certificates: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificates / "ca.pem"))


async def loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def test_https_with_a_trusted_certificate(certificates: Path) -> None:
    async def test() -> None:
        async with (
            serving(answering, tls=server_side(certificates)) as server,
            client(ssl_context=trusting(certificates), resolve=loopback) as made,
        ):
            for url in (f"https://{NAME}:{server.port}/v", f"https://127.0.0.1:{server.port}/v"):
                for _ in range(3):
                    assert (await get(made, url)).body == OK
            assert server.accepted == 2  # one kept-alive connection per origin
            assert server.requests[0].field("Host") == [f"{NAME}:{server.port}"]

    run(test)()


def test_https_without_the_ca_is_refused(certificates: Path) -> None:
    async def test() -> None:
        async with (
            serving(answering, tls=server_side(certificates)) as server,
            client(resolve=loopback) as made,  # the system's CAs only
        ):
            with pytest.raises(ReceiverUnreachableError) as refused:
                await get(made, f"https://{NAME}:{server.port}/v")
            assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
            assert server.requests == []

    run(test)()


def test_https_to_a_name_the_certificate_is_not_for_is_refused(certificates: Path) -> None:
    async def test() -> None:
        async with (
            serving(answering, tls=server_side(certificates)) as server,
            client(ssl_context=trusting(certificates), resolve=loopback) as made,
        ):
            with pytest.raises(ReceiverUnreachableError) as refused:
                await get(made, f"https://other.platform.test:{server.port}/v")
            assert "match" in str(refused.value.__cause__)  # the host name, checked
            assert server.requests == []

    run(test)()


def test_http_to_an_https_server_is_no_answer(certificates: Path) -> None:
    async def test() -> None:
        async with (
            serving(answering, tls=server_side(certificates)) as server,
            client(timeout=1) as made,
        ):
            with pytest.raises(ReceiverUnreachableError):
                await get(made, f"http://127.0.0.1:{server.port}/v")

    run(test)()
