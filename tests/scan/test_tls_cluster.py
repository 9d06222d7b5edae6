"""A secured cluster (issue 15, item 10): ``--scheduler tls://...`` with
Dask's TLS security, certificates generated here (openssl) for loopback;
without the right certificate the scan fails with a clear error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest

from tests.conftest import REPO, require_tools
from tests.scan.corpus import Corpus
from tests.scan.helpers import dump
from triage.errors import ClusterError
from triage.scan import scan


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path) -> Path:
    """Two CAs (``ca``, ``other``); ``node`` signed by ``ca`` and ``stranger``
    by ``other``, each for 127.0.0.1, as server and client."""
    require_tools("openssl")
    folder.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other"):
        _openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                 f"{ca}.key", "-subj", f"/CN={ca}", "-days", "2", "-out",
                 f"{ca}.pem", cwd=folder)  # fmt: skip
    for name, ca in (("node", "ca"), ("stranger", "other")):
        (folder / f"{name}.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
        )
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                 f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr",
                 cwd=folder)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
                 f"{ca}.key", "-CAcreateserial", "-days", "2", "-out",
                 f"{name}.pem", "-extfile", f"{name}.ext", cwd=folder)  # fmt: skip
    return folder


def _tls_config(certs: Path, name: str, ca: str) -> dict[str, str]:
    return {
        "distributed.comm.tls.ca-file": str(certs / f"{ca}.pem"),
        "distributed.comm.tls.client.cert": str(certs / f"{name}.pem"),
        "distributed.comm.tls.client.key": str(certs / f"{name}.key"),
    }


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A TLS ``dask scheduler`` and one worker on loopback, mutual TLS with
    the ``node`` certificate."""
    certs = make_certificates(tmp_path_factory.mktemp("tls"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tls://127.0.0.1:{port}"
    tls = ["--tls-ca-file", str(certs / "ca.pem"), "--tls-cert",
           str(certs / "node.pem"), "--tls-key", str(certs / "node.key")]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                          "--host", "127.0.0.1", "--port", str(port), "--protocol",
                          "tls", "--no-dashboard", *tls], cwd=REPO, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker",
                          address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                          "--host", "127.0.0.1", *tls], cwd=REPO, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        with dask.config.set(_tls_config(certs, "node", "ca")):
            while True:
                try:
                    with Client(address, timeout=10) as client:
                        client.wait_for_workers(1, timeout=60)
                    break
                except OSError:
                    assert time.monotonic() < deadline
                    time.sleep(0.5)
        yield address, certs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=20)


def test_tls_scheduler_without_certificates_is_a_clear_error(
    corpus: Corpus, tmp_path: Path
) -> None:
    """No TLS settings in the Dask config: refused before connecting."""
    unset = dict.fromkeys(_tls_config(tmp_path, "node", "ca"))
    with (
        dask.config.set(unset),
        pytest.raises(ClusterError, match=r"tls://127\.0\.0\.1:9: a tls:// sched"),
    ):
        scan([corpus.dev1], [corpus.bad_set], tmp_path / "x.db",
             scheduler="tls://127.0.0.1:9")  # fmt: skip


@pytest.mark.slow  # a TLS scheduler and worker: about 15 s
def test_scan_over_tls_and_a_wrong_certificate_is_refused(
    corpus: Corpus, tmp_path: Path, tls_cluster: tuple[str, Path]
) -> None:
    address, certs = tls_cluster
    devices, sets = [corpus.dev1], [corpus.bad_set]
    reference = tmp_path / "sync.db"
    scan(devices, sets, reference, scheduler="sync")
    db = tmp_path / "tls.db"
    with dask.config.set(_tls_config(certs, "node", "ca")):
        summary = scan(devices, sets, db, scheduler=address)
    assert summary.scheduler == address
    assert [d.status for d in summary.devices] == ["scanned"]
    assert dump(db) == dump(reference)
    with dask.config.set(_tls_config(certs, "stranger", "other")):
        with pytest.raises(ClusterError, match="TLS connection to the Dask sched"):
            scan(devices, sets, tmp_path / "no.db", scheduler=address)
