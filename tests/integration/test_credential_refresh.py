"""Redis refusing a rotated AUTH token: the cache re-reads the secret and reconnects, without a restart."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest
import redis

from tests.acceptance.conftest import free_port
from tests.aws_emulator import Emulator, aws_emulator_fixture  # noqa: F401 - fixture
from vidpipe.cache.redis import RedisCache
from vidpipe.cloud.secrets import read_secret, redis_url_source
from vidpipe.settings import Settings


@pytest.fixture
def redis_with_password():
    port, password = free_port(), f"tok{uuid.uuid4().hex}"
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password,
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)  # fmt: skip
    admin = redis.Redis(port=port, password=password)
    for _ in range(100):
        try:
            admin.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield port, password
    proc.terminate()
    proc.wait(10)


def test_redis_cache_follows_a_rotated_token(redis_with_password, aws_emulator: Emulator) -> None:
    port, old = redis_with_password
    secrets = aws_emulator.client("secretsmanager")
    arn = secrets.create_secret(Name=aws_emulator.unique("redis-auth"), SecretString=old)["ARN"]
    settings = Settings(_env_file=None, aws_endpoint_url=aws_emulator.endpoint_url, aws_region=aws_emulator.region)

    def current_url() -> str:  # what redis_url_source builds, minus TLS (this Redis speaks plain TCP)
        return f"redis://:{read_secret(settings, arn)}@127.0.0.1:{port}/0"

    cache = RedisCache(current_url(), prefix=f"t{uuid.uuid4().hex[:6]}:", timeout=1.0, url_source=current_url)
    try:
        cache.set("k", b"v1", 60)
        assert cache.get_many(["k"]) == [b"v1"]
        new = f"tok{uuid.uuid4().hex}"
        admin = redis.Redis(port=port, password=old)
        admin.config_set("requirepass", new)
        secrets.put_secret_value(SecretId=arn, SecretString=new)
        redis.Redis(port=port, password=new).client_kill_filter(_type="normal", skipme=False)  # pools log in again

        assert cache.get_many(["k"]) == [b"v1"]  # refused, re-read, reconnected, answered: one call
        assert new in cache.url and cache.available
    finally:
        cache.close()


def test_redis_url_source_reads_the_current_token(aws_emulator: Emulator) -> None:
    secrets = aws_emulator.client("secretsmanager")
    arn = secrets.create_secret(Name=aws_emulator.unique("redis-auth"), SecretString="first")["ARN"]
    settings = Settings(_env_file=None, aws_endpoint_url=aws_emulator.endpoint_url, aws_region=aws_emulator.region,
                        redis_auth_secret=arn, redis_endpoint="cache.example:6379")  # fmt: skip
    source = redis_url_source(settings)
    assert source is not None and source() == "rediss://:first@cache.example:6379/0"
    secrets.put_secret_value(SecretId=arn, SecretString="second")
    assert source() == "rediss://:second@cache.example:6379/0"
    assert redis_url_source(Settings(_env_file=None)) is None
