"""A local rehearsal of the ECS task definitions: start `vidpipe serve` and `vidpipe worker` with exactly the
command, environment and secrets the synthesized template gives them (plus the image's own ENV), against local
stand-ins for what the stack creates, and process one asset end to end.

Stand-ins: the AWS emulator (S3, SQS, Kinesis, Secrets Manager, CloudWatch, ECS), a TLS-only, password-
authenticated PostgreSQL holding an RDS-shaped secret, a TLS Redis with an AUTH token. Every CloudFormation
reference in an environment value must resolve to a stand-in: a setting the stack adds without one here, a
renamed variable, or a value the app rejects fails this test instead of a deployment.

What differs from ECS, and only this (LOCAL_OVERRIDES): the mount points become temporary directories, the
port is a free one on loopback, the AWS endpoint is the emulator's (with its fake credentials), and the child
trusts the stand-in Redis' self-signed certificate (ElastiCache's is publicly trusted).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tests.acceptance.conftest import Processes, free_port, procs, wait_for  # noqa: F401 - procs: fixture
from tests.aws_emulator import FAKE_CREDENTIALS, Emulator, aws_emulator_fixture  # noqa: F401 - fixture
from tests.cdn_standin import Distribution, play
from tests.tls_postgres import TlsPostgres, tls_postgres
from vidpipe.ffmpeg import samples

from .test_dockerfile import INSTRUCTIONS

REGION = "us-east-1"
LOCAL_OVERRIDES = {"VIDPIPE_DATA_DIR", "VIDPIPE_SCRATCH_DIR", "VIDPIPE_API_HOST", "VIDPIPE_API_PORT",
                   "VIDPIPE_AWS_ENDPOINT_URL"}  # fmt: skip


def _task(template: dict, family: str) -> dict:
    return next(r["Properties"] for r in template["Resources"].values()
                if r["Type"] == "AWS::ECS::TaskDefinition" and r["Properties"]["Family"] == family)  # fmt: skip


def _container(template: dict, family: str, name: str) -> dict:
    return next(c for c in _task(template, family)["ContainerDefinitions"] if c["Name"] == name)


def _image_env() -> dict[str, str]:
    """The runtime stage's ENV lines (the Dockerfile's defaults every task starts from)."""
    last = max(s for s, _, _ in INSTRUCTIONS)
    env: dict[str, str] = {}
    for stage, instruction, args in INSTRUCTIONS:
        if stage == last and instruction == "ENV":
            for pair in args.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return {k: v for k, v in env.items() if k.startswith(("VIDPIPE_", "HF_HUB_OFFLINE"))}


class Resolver:
    """Evaluates the intrinsic functions in container definitions against the stand-ins' values."""

    def __init__(self, refs: dict[str, str], attributes: dict[tuple[str, str], str]) -> None:
        self.refs, self.attributes = refs, attributes

    def __call__(self, value: Any, where: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Ref" in value:
            assert value["Ref"] in self.refs, f"{where}: no local stand-in for Ref {value['Ref']}"
            return self.refs[value["Ref"]]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            key = (value["Fn::GetAtt"][0], value["Fn::GetAtt"][1])
            assert key in self.attributes, f"{where}: no local stand-in for GetAtt {key}"
            return self.attributes[key]
        if isinstance(value, dict) and "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(self(p, where) for p in parts)
        raise AssertionError(f"{where}: unsupported value {value!r}")


def task_environment(template: dict, family: str, container: str, resolve: Resolver,
                     secret_values: dict[str, str]) -> dict[str, str]:  # fmt: skip
    """What ECS gives the container: image ENV, then the task's Environment, then its Secrets (as values)."""
    definition = _container(template, family, container)
    env = _image_env()
    for item in definition.get("Environment", []):
        env[item["Name"]] = resolve(item["Value"], f"{family}/{container} {item['Name']}")
    for item in definition.get("Secrets", []):
        arn = resolve(item["ValueFrom"], f"{family}/{container} secret {item['Name']}")
        assert arn in secret_values, f"{item['Name']}: secret {arn} has no stand-in value"
        env[item["Name"]] = secret_values[arn]
    return env


@pytest.fixture
def rds_like() -> Iterator[TlsPostgres]:
    with tls_postgres() as server:
        yield server


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, str, Path]]:
    """A Redis that, like the replication group, speaks only TLS and wants an AUTH token."""
    cert, key = tmp_path / "redis.crt", tmp_path / "redis.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    port, token = free_port(), uuid.uuid4().hex * 2
    proc = subprocess.Popen(["redis-server", "--port", "0", "--bind", "127.0.0.1", "--tls-port", str(port),
                             "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-auth-clients", "no",
                             "--requirepass", token, "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.3)
    yield port, token, cert
    proc.terminate()
    proc.wait(10)




def _stand_ins(dev, emulator: Emulator, db: TlsPostgres, redis: tuple[int, str, Path]) -> tuple[Resolver, dict]:
    """Create what the stack would, in the emulator and the local servers; map logical ids to their values."""
    s3, sqs, kinesis = emulator.client("s3"), emulator.client("sqs"), emulator.client("kinesis")
    secrets, ecs = emulator.client("secretsmanager"), emulator.client("ecs")
    bucket, stream = emulator.unique("media-dev"), emulator.unique("ingest-events-dev")
    s3.create_bucket(Bucket=bucket)
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    dlq_url = sqs.create_queue(QueueName=emulator.unique("jobs-dlq-dev"))["QueueUrl"]
    password = uuid.uuid4().hex
    db.create_app_database("vidpipe", password, "vidpipe")
    db_arn = secrets.create_secret(Name=emulator.unique("rds"),
                                   SecretString=json.dumps(db.secret("vidpipe", password, "vidpipe")))["ARN"]
    port, token, _ = redis
    redis_arn = secrets.create_secret(Name=emulator.unique("redis-auth"), SecretString=token)["ARN"]
    pem = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    signing_arn = secrets.create_secret(Name=emulator.unique("cdn-signing"), SecretString=pem)["ARN"]
    # The worker service, so the backlog publisher can count its running tasks (running_workers).
    ecs.create_cluster(clusterName="video-processing-dev")
    ecs.register_task_definition(family="vidpipe-worker-dev",
                                 containerDefinitions=[{"name": "worker", "image": "x", "memory": 512}])
    ecs.create_service(cluster="video-processing-dev", serviceName="vidpipe-worker-dev",
                       taskDefinition="vidpipe-worker-dev", desiredCount=0)  # fmt: skip
    lid = dev.logical_id
    refs = {
        "AWS::Region": REGION, "AWS::URLSuffix": "amazonaws.com",
        lid("Storage/Media"): bucket, lid("Messaging/IngestEvents"): stream, lid("Messaging/JobsDlq"): dlq_url,
        lid("Database/Secret/Attachment"): db_arn, lid("Cache/AuthToken"): redis_arn,
        lid("Api/RestApi"): "rehearsal", lid("Delivery/PublicKey"): "K2REHEARSALKEY",
        lid("Delivery/SigningKey"): signing_arn,
    }  # fmt: skip
    attributes = {
        (lid("Cache/Group"), "PrimaryEndPoint.Address"): "127.0.0.1",
        (lid("Cache/Group"), "PrimaryEndPoint.Port"): str(port),
        (lid("Delivery/Distribution"), "DomainName"): "d1rehearsal.cloudfront.net",
    }
    return Resolver(refs, attributes), {signing_arn: pem, "bucket": bucket}


@pytest.mark.slow
def test_task_definitions_run_locally_and_process_an_asset(
    dev, tmp_path: Path, aws_emulator: Emulator, rds_like: TlsPostgres, tls_redis, procs  # noqa: F811 - the fixture
) -> None:
    resolve, values = _stand_ins(dev, aws_emulator, rds_like, tls_redis)
    template = dev.template
    port = free_port()

    def local(env: dict[str, str], name: str) -> dict[str, str]:
        data = tmp_path / name
        overrides = {
            "VIDPIPE_DATA_DIR": str(data / "tmp-vidpipe"), "VIDPIPE_SCRATCH_DIR": str(tmp_path / "efs-scratch"),
            "VIDPIPE_API_HOST": "127.0.0.1", "VIDPIPE_API_PORT": str(port),
            "VIDPIPE_AWS_ENDPOINT_URL": aws_emulator.endpoint_url,
        }  # fmt: skip
        assert set(overrides) == LOCAL_OVERRIDES
        base = {k: v for k, v in os.environ.items() if not k.startswith(("VIDPIPE_", "AWS_"))}
        return base | env | overrides | FAKE_CREDENTIALS | {"SSL_CERT_FILE": str(tls_redis[2]), "HOME": str(data),
                                                            "PYTHONUNBUFFERED": "1"}  # fmt: skip

    env = {name: local(task_environment(template, family, container, resolve, values), container)
           for name, (family, container) in {"migrate": ("vidpipe-api-dev", "migrate"),
                                             "api": ("vidpipe-api-dev", "api"),
                                             "worker": ("vidpipe-worker-dev", "worker")}.items()}  # fmt: skip
    assert env["api"]["VIDPIPE_CLOUDFRONT_PRIVATE_KEY"].startswith("-----BEGIN PRIVATE KEY-----")
    assert env["api"]["VIDPIPE_PUBLIC_BASE_URL"] == "https://rehearsal.execute-api.us-east-1.amazonaws.com/v1"

    # The API task: `migrate` first (ECS waits for it to exit 0), then `api`; the worker task beside them.
    migrate = procs.run(_container(template, "vidpipe-api-dev", "migrate")["Command"], env["migrate"], timeout=180)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    api = procs.spawn(_container(template, "vidpipe-api-dev", "api")["Command"], env["api"], name="api")
    worker = procs.spawn(_container(template, "vidpipe-worker-dev", "worker")["Command"], env["worker"],
                         name="worker")  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=20, trust_env=False) as client:

        def ready() -> bool:
            try:
                return client.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout=120, interval=0.5, what="the API task to be ready", procs=[api, worker])
        keys = procs.run(["keys", "create", "rehearsal"], env["api"], timeout=120)
        assert keys.returncode == 0, keys.stderr
        auth = {"X-API-Key": keys.stdout.strip()}
        clip = samples.make_video(tmp_path / "tiny.mp4", width=320, height=180, seconds=1)
        created = client.post("/v1/assets", headers=auth, data={"profile": "preview"},
                              files={"file": ("tiny.mp4", clip.read_bytes(), "video/mp4")})  # fmt: skip
        assert created.status_code == 201, created.text
        asset_id = created.json()["id"]

        def finished() -> dict | None:
            body = client.get(f"/v1/assets/{asset_id}", headers=auth).json()
            return body if body["status"] in ("ready", "failed") else None

        body = wait_for(finished, timeout=300, interval=1.0, what="the worker task to process the asset",
                        procs=[api, worker])  # fmt: skip
        assert body["status"] == "ready", body
        # URLs the API returns are rooted at the stage URL (VIDPIPE_PUBLIC_BASE_URL).
        urls = [v for v in json.dumps(body).split('"') if v.startswith("http")]
        assert urls and all(u.startswith(env["api"]["VIDPIPE_PUBLIC_BASE_URL"] + "/") or "cloudfront.net/" in u
                            for u in urls), urls  # fmt: skip
        # A viewer plays it through the distribution: playlists from the API (the VPC origin) with their file
        # URIs signed for CloudFront by the key ECS injected, every file from the media behaviour (the bucket).
        pem = env["api"]["VIDPIPE_CLOUDFRONT_PRIVATE_KEY"].encode()
        public = serialization.load_pem_private_key(pem, password=None).public_key()
        cdn = Distribution(client, aws_emulator.client("s3"), values["bucket"], public,
                           "d1rehearsal.cloudfront.net", "K2REHEARSALKEY")  # fmt: skip
        playlists, files = play(cdn, body["playback"]["playback_url"])
        assert len(playlists) >= 2 and files and all(p.endswith(".m3u8") for p in cdn.api_paths)
    # Media went to the stand-in bucket under the prefix the CDN serves.
    keys_in_bucket = [o["Key"] for o in aws_emulator.client("s3").list_objects_v2(Bucket=values["bucket"])
                      .get("Contents", [])]  # fmt: skip
    assert keys_in_bucket and all(k.startswith("media/") for k in keys_in_bucket), keys_in_bucket[:5]
    # The API publishes BacklogPerTask too (scale from zero needs the metric while no worker runs).
    metrics = aws_emulator.client("cloudwatch").list_metrics(Namespace="Vidpipe")["Metrics"]
    assert {m["MetricName"] for m in metrics} >= {"BacklogPerTask"}
    for child in (api, worker):
        assert child.popen.poll() is None, child.output()
        log = child.output()
        assert auth["X-API-Key"] not in log and "BEGIN PRIVATE KEY" not in log
