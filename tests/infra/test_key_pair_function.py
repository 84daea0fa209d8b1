"""The CloudFront key-pair custom resource (Node, inline in the template), run with Node against an in-memory
stand-in for the Secrets Manager client the Lambda runtime provides."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from vidpipe_infra.delivery import KEY_PAIR_CODE

from .conftest import IN_CI

STUB = """
const store = {};
class SecretsManagerClient { async send(command) { return command.run(); } }
class GetSecretValueCommand {
  constructor(input) { this.input = input; }
  run() { return { SecretString: store[this.input.SecretId] || 'a generated password, not a key' }; }
}
class PutSecretValueCommand {
  constructor(input) { this.input = input; }
  run() { store[this.input.SecretId] = this.input.SecretString; return {}; }
}
module.exports = { SecretsManagerClient, GetSecretValueCommand, PutSecretValueCommand, store };
"""

SCRIPT = """
const crypto = require('crypto');
const fn = require(process.argv[1]);
const sm = require('@aws-sdk/client-secrets-manager');
(async () => {
  const first = await fn.publicKey('arn:secret');
  const again = await fn.publicKey('arn:secret');  // an update: the same key, re-derived from the secret
  const privateKey = sm.store['arn:secret'];
  const signature = crypto.sign('sha1', Buffer.from('policy'), privateKey);  // CloudFront signs with RSA-SHA1
  console.log(JSON.stringify({ first, again, privateKey,
    verifies: crypto.verify('sha1', Buffer.from('policy'), first, signature),
    bits: crypto.createPublicKey(first).asymmetricKeyDetails.modulusLength }));
})();
"""


def test_key_pair_is_generated_once_into_the_secret(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("node missing (the CDK toolchain needs it too)")
        pytest.skip("node not installed")
    module = tmp_path / "node_modules" / "@aws-sdk" / "client-secrets-manager"
    module.mkdir(parents=True)
    (module / "index.js").write_text(STUB)
    proc = subprocess.run([node, "-e", SCRIPT, str(KEY_PAIR_CODE)], capture_output=True, text=True, timeout=60,
                          env={"NODE_PATH": str(tmp_path / "node_modules"), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["first"] == out["again"] and out["first"].startswith("-----BEGIN PUBLIC KEY-----")
    assert out["privateKey"].startswith("-----BEGIN PRIVATE KEY-----")
    assert out["verifies"] is True and out["bits"] == 2048
    assert "PRIVATE" not in out["first"]


def test_the_function_never_returns_or_logs_the_private_key() -> None:
    code = KEY_PAIR_CODE.read_text()
    assert "Data: data" in code and "PublicKey:" in code
    assert "console.log(err" not in code and "console.log(error)" not in code  # only the error's name
    assert len(code) < 4096, "inline Lambda code (ZipFile) is limited to 4 KB"
