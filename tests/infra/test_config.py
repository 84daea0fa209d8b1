"""Environment suffix and profiles: resolved once at the entry point, validated fail-fast."""

from __future__ import annotations

import pytest
from vidpipe_infra.config import PROFILES, log_retention, resolve_profile, resolve_suffix, validate_suffix


def test_suffix_precedence() -> None:
    assert resolve_suffix(None, {}) == "dev"
    assert resolve_suffix(None, {"ENVIRONMENT_SUFFIX": "qa"}) == "qa"
    assert resolve_suffix("pr-42", {"ENVIRONMENT_SUFFIX": "qa"}) == "pr-42"
    assert resolve_suffix("", {"ENVIRONMENT_SUFFIX": "qa"}) == "qa"


@pytest.mark.parametrize("bad", ["Dev", "-dev", "dev-", "dev_1", "a" * 17, "dev.1", ""])
def test_suffix_must_fit_every_name(bad: str) -> None:
    with pytest.raises(ValueError, match="environmentSuffix"):
        validate_suffix(bad)


def test_profiles() -> None:
    assert resolve_profile("prod").name == "prod"
    assert resolve_profile("dev").name == "dev"
    assert resolve_profile("pr-7").name == "dev"
    assert resolve_profile("staging", "prod").name == "prod"
    assert resolve_profile("dev", None, worker_max=9).worker_max == 9
    with pytest.raises(ValueError, match="unknown profile"):
        resolve_profile("dev", "huge")


def test_profiles_differ_where_it_matters() -> None:
    dev, prod = PROFILES["dev"], PROFILES["prod"]
    assert (dev.nat_gateways, prod.nat_gateways) == (1, 2)
    assert (dev.deletion_protection, prod.deletion_protection) == (False, True)
    assert dev.worker_max < prod.worker_max
    assert dev.multi_az and prod.multi_az
    assert dev.redis_nodes >= 2 and prod.redis_nodes >= 2
    for profile in PROFILES.values():
        log_retention(profile.log_retention_days)  # a period CloudWatch Logs accepts


def test_profile_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        type(PROFILES["dev"])("dev", 1)  # type: ignore[misc]


def test_unsupported_retention() -> None:
    with pytest.raises(ValueError, match="retention"):
        log_retention(10)
