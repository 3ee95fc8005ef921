"""Fixtures for the build tests: moto in-process, local git/HTTP(S)/FTP servers, sample trees."""
import contextlib
import functools
import http.server
import io
import os
import socket
import tarfile
import threading
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

from chalicelib import aws as chalice_aws


def free_port() -> int:
    """A localhost port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def aws_env(aws: dict) -> Iterator[ModuleType]:
    """The suite's moto server with the stack of infra/resources.json, data wiped."""
    yield chalice_aws


def make_git_repo(root: Path) -> Path:
    """A repository with an annotated tag v1, a lightweight tag v2, a branch `feature`.

    v1: app.txt "one", bin/run (executable), link -> app.txt, .gitignore
    v2 (= main): app.txt "two"; feature: adds feature.txt
    """
    from dulwich import porcelain
    repo_path = root / "repo"
    repo = porcelain.init(str(repo_path))
    author = b"Test <test@example.com>"

    def commit(message):
        porcelain.add(repo, paths=[str(p) for p in repo_path.rglob("*")
                                   if ".git" not in p.parts and not p.is_dir()])
        return porcelain.commit(repo, message=message, author=author, committer=author)

    (repo_path / "app.txt").write_text("one\n")
    (repo_path / "bin").mkdir()
    (repo_path / "bin" / "run").write_text("#!/bin/sh\necho run\n")
    (repo_path / "bin" / "run").chmod(0o755)
    os.symlink("app.txt", repo_path / "link")
    (repo_path / ".gitignore").write_text("*.log\n")
    commit(b"one")
    porcelain.tag_create(repo, b"v1", author=author, message=b"v1", annotated=True)
    (repo_path / "app.txt").write_text("two\n")
    commit(b"two")
    porcelain.tag_create(repo, b"v2", annotated=False)
    porcelain.branch_create(repo, b"feature")
    porcelain.checkout(repo, b"feature")
    (repo_path / "feature.txt").write_text("feature\n")
    commit(b"feature")
    porcelain.checkout(repo, b"master" if b"refs/heads/master" in repo.refs else b"main")
    return repo_path


def archive_site(root: Path) -> Path:
    """``root/site`` with a plain file, a tarball and a zip, and archives that try to escape.

    app.jar; app-1.0.tar.gz (one top directory app-1.0/ with README and bin/start); app.zip
    (a.txt, dir/b.txt); evil.tgz (../../escape.txt); evil-link.tgz (a link to /etc/passwd);
    evil.zip (../escape.txt).
    """
    site = root / "site"
    site.mkdir()
    (site / "app.jar").write_bytes(b"jar bytes")
    with tarfile.open(site / "app-1.0.tar.gz", "w:gz") as tar:
        for name, data in (("app-1.0/README", b"readme\n"), ("app-1.0/bin/start", b"#!/bin/sh\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(site / "app.zip", "w") as zf:
        zf.writestr("a.txt", "a\n")
        zf.writestr("dir/b.txt", "b\n")
    with tarfile.open(site / "evil.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with tarfile.open(site / "evil-link.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with zipfile.ZipFile(site / "evil.zip", "w") as zf:
        zf.writestr("../escape.txt", "evil")
    return site


@contextlib.contextmanager
def http_server(directory: Path, auth: tuple[str, str] | None = None, *,
                redirects: dict[str, str] | None = None, seen: list | None = None,
                tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1; with auth=(user, password) require HTTP basic auth.

    ``redirects`` maps a path (query ignored) to the ``Location`` of a 302 answer; ``seen``
    collects ``{"path", "headers"}`` of every request; ``tls`` = (cert, key) serves https.
    """
    import base64
    import ssl
    expected = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode() if auth else None

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if seen is not None:
                seen.append({"path": self.path, "headers": dict(self.headers.items())})
            if redirects and path in redirects:
                self.send_response(302)
                self.send_header("Location", redirects[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if expected and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="x"')
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
    scheme = "http"
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def tls_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: ``(cert.pem, key.pem)``.

    Trust it in a test with ``monkeypatch.setenv("SSL_CERT_FILE", str(cert))``.
    """
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fabu test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextlib.contextmanager
def git_http_server(repo_path: Path, seen: list | None = None) -> Iterator[str]:
    """dulwich's smart-HTTP server for one repository on 127.0.0.1: ``http://127.0.0.1:<port>/``.

    ``seen`` collects ``{"path", "authorization"}`` of every request.
    """
    from wsgiref.simple_server import make_server

    from dulwich.repo import Repo
    from dulwich.server import DictBackend
    from dulwich.web import WSGIRequestHandlerLogger, WSGIServerLogger, make_wsgi_chain

    git_app = make_wsgi_chain(DictBackend({"/": Repo(str(repo_path))}))

    def app(environ, start_response):
        if seen is not None:
            seen.append({"path": environ.get("PATH_INFO"),
                         "authorization": environ.get("HTTP_AUTHORIZATION")})
        return git_app(environ, start_response)

    class Quiet(WSGIRequestHandlerLogger):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, app, server_class=WSGIServerLogger, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def ftp_server(directory: Path, user: str = "deploy", password: str = "s3cret") -> Iterator[str]:
    """pyftpdlib on 127.0.0.1 serving `directory` to one user."""
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, str(directory), perm="elr")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "auth_failed_timeout": 0.1})
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"ftp://127.0.0.1:{server.address[1]}"
    finally:
        server.close_all()
        thread.join(timeout=5)


def tree_listing(root: Path) -> dict[str, bytes | str]:
    """{relative path: content or '-> target' or '/'} of a directory, for comparisons."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            out[rel] = "/"
        else:
            out[rel] = path.read_bytes()
    return out
