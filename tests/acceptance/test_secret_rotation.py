"""Rotating the database password while `vidpipe up` runs: the secret in Secrets Manager (the emulator) and the
role's password in a password-authenticated, TLS-only PostgreSQL change together, as RDS's single-user rotation
does; the running process reconnects with the new secret when the server refuses the old one, without a restart.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.acceptance.conftest import base_env, free_port, wait_for
from tests.aws_emulator import Emulator, aws_emulator_fixture  # noqa: F401 - fixture
from tests.tls_postgres import TlsPostgres, tls_postgres


@pytest.fixture
def rds_like() -> TlsPostgres:
    with tls_postgres() as server:
        yield server


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_database_password_rotation_needs_no_restart(procs, tmp_path, aws_emulator: Emulator,
                                                     rds_like: TlsPostgres) -> None:  # fmt: skip
    user, database = "vidpipe_app", "vidpipe"
    old, new = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    rds_like.create_app_database(user, old, database)
    secrets = aws_emulator.client("secretsmanager")
    arn = secrets.create_secret(Name=aws_emulator.unique("rds-secret"),
                                SecretString=json.dumps(rds_like.secret(user, old, database)))["ARN"]  # fmt: skip
    port = free_port()
    env = base_env(db_secret=arn, aws_endpoint_url=aws_emulator.endpoint_url, aws_region=aws_emulator.region,
                   data_dir=tmp_path / "data", api_port=port, log_level="INFO")  # fmt: skip
    upgraded = procs.run(["db", "upgrade"], env, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    up = procs.spawn(["up", "--concurrency", "1"], env, name="up")
    readyz = f"http://127.0.0.1:{port}/readyz"
    wait_for(lambda: _ready(readyz), timeout=90, what="vidpipe up ready", procs=[up])

    # The rotation: new password on the server and in the secret; then the sessions go away (a failover, an
    # idle timeout), so the pool must log in again.
    rds_like.set_password(user, new)
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(rds_like.secret(user, new, database)))
    assert rds_like.drop_connections(user) >= 1

    wait_for(lambda: _ready(readyz), timeout=60, what="ready again with the rotated password", procs=[up])
    assert up.popen.poll() is None, "the process was restarted or died"
    log = up.output()
    assert "database.credentials_refreshed" in log
    assert old not in log and new not in log  # secrets never reach a log line
