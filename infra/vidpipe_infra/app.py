"""Builds the CDK app: resolves the suffix, profile and image tag, adds the stack and the cdk-nag checks."""

from __future__ import annotations

import os
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from .config import REGION, resolve_profile, resolve_suffix

DEFAULT_IMAGE_TAG = "bootstrap"  # what docs/deploy.md's first push names; real deploys pass -c imageTag=<git sha>


def build_app(*, context: dict[str, Any] | None = None, outdir: str | None = None, nag: bool = True) -> App:
    """The same app for the CLI (context from cdk.json / -c) and for the tests (context passed in)."""
    from lib.tap_stack import TapStack  # the documented entry class (infra/lib/tap_stack.py)

    app = App(context=context, outdir=outdir) if (context is not None or outdir) else App()
    suffix = resolve_suffix(app.node.try_get_context("environmentSuffix"))
    profile = resolve_profile(suffix, app.node.try_get_context("profile"))
    image_tag = str(app.node.try_get_context("imageTag") or os.environ.get("IMAGE_TAG") or DEFAULT_IMAGE_TAG)
    TapStack(
        app,
        f"Vidpipe-{suffix}",
        suffix=suffix,
        profile=profile,
        image_tag=image_tag,
        # The first deploy creates the (empty) image repository: no task may start before an image is pushed.
        start_tasks=str(app.node.try_get_context("firstDeploy") or "false").lower() != "true",
        # Region-pinned, account-agnostic: the AZs come from Fn::GetAZs, so synthesis needs no lookup.
        env=Environment(region=REGION),
        description=f"vidpipe media platform ({suffix}, {profile.name} profile)",
    )
    if nag:
        # Violations fail synthesis; acknowledgements are also written into the template's Metadata.
        Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))
    return app
