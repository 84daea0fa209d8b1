"""Database, cache, file system, buckets, stream and queue: Multi-AZ, encryption, isolation, names."""

from __future__ import annotations

import json

from .cfn import refs, text


def _isolated_subnets(synth) -> set[str]:
    return {k for k in synth.resources("AWS::EC2::Subnet") if "isolated" in k}


def _private_subnets(synth) -> set[str]:
    return {k for k in synth.resources("AWS::EC2::Subnet") if "private" in k}


# --- RDS PostgreSQL ------------------------------------------------------------------------------------------
def test_rds_instance(dev) -> None:
    props = dev.props("AWS::RDS::DBInstance")
    assert props["DBInstanceIdentifier"] == "rds-postgresql-dev"
    assert props["Engine"] == "postgres"
    assert props["EngineVersion"] == "18.3"
    assert props["MultiAZ"] is True
    assert props["StorageEncrypted"] is True and refs(props["KmsKeyId"]) == {dev.logical_id("Encryption/Key")}
    assert props["PubliclyAccessible"] is False
    assert props["BackupRetentionPeriod"] == 7  # automated backups => point-in-time recovery
    assert props["DeleteAutomatedBackups"] is True
    assert props["MonitoringInterval"] == 60 and "MonitoringRoleArn" in props
    assert props["EnablePerformanceInsights"] is True
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["EnableCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert props["DeletionProtection"] is False
    assert props["StorageType"] == "gp3"
    assert props["MaxAllocatedStorage"] == 200


def test_rds_prod_profile(prod) -> None:
    props = prod.props("AWS::RDS::DBInstance")
    assert props["DBInstanceIdentifier"] == "rds-postgresql-prod"
    assert props["DeletionProtection"] is True
    assert props["MultiAZ"] is True
    assert props["DBInstanceClass"] == "db.m7g.large"
    assert props["BackupRetentionPeriod"] == 14


def test_rds_lives_in_isolated_subnets(dev) -> None:
    props = dev.props("AWS::RDS::DBSubnetGroup")
    assert refs(props["SubnetIds"]) == _isolated_subnets(dev)


def test_rds_requires_tls(dev) -> None:
    props = dev.props("AWS::RDS::DBParameterGroup")
    assert props["Family"] == "postgres18"
    assert props["Parameters"]["rds.force_ssl"] == "1"


def test_rds_credentials_are_generated_into_secrets_manager(dev) -> None:
    secret_id = dev.logical_id("Database/Secret")
    generate = dev.template["Resources"][secret_id]["Properties"]["GenerateSecretString"]
    assert json.loads(generate["SecretStringTemplate"]) == {"username": "vidpipe", "dbname": "vidpipe"}
    assert generate["GenerateStringKey"] == "password"
    assert "MasterUserPassword" in dev.props("AWS::RDS::DBInstance")
    assert "{{resolve:secretsmanager:" in text(dev.props("AWS::RDS::DBInstance")["MasterUserPassword"])


# --- ElastiCache Redis -----------------------------------------------------------------------------------------
def test_redis_replication_group(dev) -> None:
    props = dev.props("AWS::ElastiCache::ReplicationGroup")
    assert props["ReplicationGroupId"] == "redis-dev"
    assert props["NumCacheClusters"] >= 2
    assert props["AutomaticFailoverEnabled"] is True
    assert props["MultiAZEnabled"] is True
    assert props["AtRestEncryptionEnabled"] is True
    assert props["TransitEncryptionEnabled"] is True
    assert props["TransitEncryptionMode"] == "required"
    assert refs(props["KmsKeyId"]) == {dev.logical_id("Encryption/Key")}


def test_redis_auth_token_is_a_dynamic_reference_to_a_generated_secret(dev) -> None:
    props = dev.props("AWS::ElastiCache::ReplicationGroup")
    token = text(props["AuthToken"])
    secret_id = dev.logical_id("Cache/AuthToken")
    assert "{{resolve:secretsmanager:" in token and secret_id in token
    generate = dev.template["Resources"][secret_id]["Properties"]["GenerateSecretString"]
    assert generate["ExcludePunctuation"] is True and generate["IncludeSpace"] is False


def test_redis_in_isolated_subnets_with_prod_size(dev, prod) -> None:
    assert refs(dev.props("AWS::ElastiCache::SubnetGroup")["SubnetIds"]) == _isolated_subnets(dev)
    assert prod.props("AWS::ElastiCache::ReplicationGroup")["NumCacheClusters"] == 3
    assert prod.props("AWS::ElastiCache::ReplicationGroup")["ReplicationGroupId"] == "redis-prod"


# --- EFS ---------------------------------------------------------------------------------------------------------
def test_efs_encrypted_with_lifecycle(dev) -> None:
    props = dev.props("AWS::EFS::FileSystem")
    assert props["Encrypted"] is True and "KmsKeyId" in props
    assert {"TransitionToIA": "AFTER_14_DAYS"} in props["LifecyclePolicies"]
    assert {"Key": "Name", "Value": "efs-dev"} in props["FileSystemTags"]
    denies = [s for s in props["FileSystemPolicy"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_efs_access_point_has_fixed_posix_user(dev) -> None:
    props = dev.props("AWS::EFS::AccessPoint")
    assert props["PosixUser"] == {"Uid": "10001", "Gid": "10001"}
    assert props["RootDirectory"]["Path"] == "/vidpipe-scratch"
    assert props["RootDirectory"]["CreationInfo"]["OwnerUid"] == "10001"


def test_efs_mount_targets_in_private_subnets(dev) -> None:
    targets = dev.resources("AWS::EFS::MountTarget")
    assert {next(iter(refs(t["Properties"]["SubnetId"]))) for t in targets.values()} == _private_subnets(dev)


# --- S3 -------------------------------------------------------------------------------------------------------
def test_media_bucket(dev) -> None:
    bucket_id = dev.logical_id("Storage/Media")
    props = dev.template["Resources"][bucket_id]["Properties"]
    assert text(props["BucketName"]).startswith('{"Fn::Join": ["", ["media-dev-')
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" and sse["BucketKeyEnabled"] is True
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True
    }  # fmt: skip
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LoggingConfiguration" in props


def test_buckets_enforce_tls_and_empty_on_delete(dev) -> None:
    buckets = set(dev.resources("AWS::S3::Bucket"))
    policies = dev.resources("AWS::S3::BucketPolicy").values()
    tls_enforced = set()
    for policy in policies:
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            if st["Effect"] == "Deny" and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}:
                tls_enforced |= refs(policy["Properties"]["Bucket"])
    assert tls_enforced == buckets
    emptied = {
        next(iter(refs(r["Properties"]["BucketName"])))
        for r in dev.resources("Custom::S3AutoDeleteObjects").values()
    }
    assert emptied == buckets


# --- Kinesis and SQS ---------------------------------------------------------------------------------------------
def test_kinesis_stream(dev, prod) -> None:
    props = dev.props("AWS::Kinesis::Stream")
    assert props["Name"] == "ingest-events-dev"
    assert props["ShardCount"] == 2
    assert props["StreamEncryption"]["EncryptionType"] == "KMS"
    assert props["RetentionPeriodHours"] == 24
    assert prod.props("AWS::Kinesis::Stream")["RetentionPeriodHours"] == 168


def test_dead_letter_queue(dev) -> None:
    props = dev.props("AWS::SQS::Queue")
    assert props["QueueName"] == "jobs-dlq-dev"
    assert refs(props["KmsMasterKeyId"]) == {dev.logical_id("Encryption/Key")}
    assert props["MessageRetentionPeriod"] == 14 * 86400
    policy = dev.props("AWS::SQS::QueuePolicy")["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)


def test_kms_key_rotates(dev) -> None:
    props = dev.props("AWS::KMS::Key")
    assert props["EnableKeyRotation"] is True
    assert dev.props("AWS::KMS::Alias")["AliasName"] == "alias/vidpipe-dev"
