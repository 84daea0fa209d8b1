// CloudFormation custom resource: an RSA key pair for CloudFront signed URLs.
// The private key goes into the secret named by SecretId (never into a response or a log); the public key
// (SPKI PEM) is returned as the attribute PublicKey. Idempotent: an update re-derives the public key from the
// stored private key, so redeploys keep the key that the key group trusts.
const crypto = require('crypto');
const https = require('https');
const sm = require('@aws-sdk/client-secrets-manager');

const client = new sm.SecretsManagerClient({});
const PEM = '-----BEGIN PRIVATE KEY-----';

async function publicKey(secretId) {
  const current = await client.send(new sm.GetSecretValueCommand({ SecretId: secretId }));
  if (current.SecretString && current.SecretString.startsWith(PEM)) {
    return crypto.createPublicKey(current.SecretString).export({ type: 'spki', format: 'pem' });
  }
  const pair = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  await client.send(new sm.PutSecretValueCommand({ SecretId: secretId, SecretString: pair.privateKey }));
  return pair.publicKey;
}

function respond(event, status, data, reason) {
  const body = JSON.stringify({
    Status: status,
    Reason: reason || 'see the function log',
    PhysicalResourceId: event.PhysicalResourceId || 'cloudfront-key-pair-' + event.LogicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: data,
  });
  return new Promise((resolve, reject) => {
    const request = https.request(event.ResponseURL, {
      method: 'PUT',
      headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) },
    }, (response) => { response.resume(); response.on('end', resolve); });
    request.on('error', reject);
    request.end(body);
  });
}

exports.handler = async (event) => {
  try {
    const data = event.RequestType === 'Delete' ? {} : { PublicKey: await publicKey(event.ResourceProperties.SecretId) };
    await respond(event, 'SUCCESS', data);
  } catch (error) {
    console.log('key pair failed: ' + error.name);  // the name only: a message could quote secret material
    await respond(event, 'FAILED', {}, error.name);
  }
};
exports.publicKey = publicKey;
exports.respond = respond;
