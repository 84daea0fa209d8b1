"""A real AWS API emulator (moto in server mode) on loopback, for the cloud adapters' tests.

boto3 is never patched: clients talk HTTP to the emulator through `aws_endpoint_url`, exactly as they would to
LocalStack, MinIO or AWS. The credentials are fake and exist only in the test process's environment.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - the emulator's fake credentials
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@dataclass(frozen=True)
class Emulator:
    endpoint_url: str
    region: str = REGION

    def client(self, service: str):
        import boto3

        return boto3.session.Session().client(service, region_name=self.region, endpoint_url=self.endpoint_url)

    def unique(self, stem: str) -> str:
        return f"{stem}-{uuid.uuid4().hex[:8]}"


# Fixtures are registered under a name other than the function's, so test modules can import them without
# their parameters shadowing the import (`from tests.aws_emulator import aws_emulator_fixture`).
@pytest.fixture(scope="session", name="aws_emulator")
def aws_emulator_fixture() -> Iterator[Emulator]:
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in (*FAKE_CREDENTIALS, "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")}
    os.environ.update(FAKE_CREDENTIALS)
    # Never pick up a developer's real profile or credentials file.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield Emulator(f"http://{host}:{port}")
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(name="s3_bucket")
def s3_bucket_fixture(aws_emulator: Emulator) -> str:
    """A fresh, empty bucket per test."""
    name = aws_emulator.unique("vidpipe-media")
    aws_emulator.client("s3").create_bucket(Bucket=name)
    return name
