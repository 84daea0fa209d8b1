"""Builds the CDK app: resolves the suffix and profile, adds the stack and the cdk-nag checks."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from .config import REGION, resolve_profile, resolve_suffix
from .stack import VidpipeStack


def build_app(*, context: dict[str, Any] | None = None, outdir: str | None = None, nag: bool = True) -> App:
    """The same app for the CLI (context from cdk.json / -c) and for the tests (context passed in)."""
    app = App(context=context, outdir=outdir) if (context is not None or outdir) else App()
    suffix = resolve_suffix(app.node.try_get_context("environmentSuffix"))
    profile = resolve_profile(suffix, app.node.try_get_context("profile"))
    VidpipeStack(
        app,
        f"Vidpipe-{suffix}",
        suffix=suffix,
        profile=profile,
        # Region-pinned, account-agnostic: the AZs come from Fn::GetAZs, so synthesis needs no lookup.
        env=Environment(region=REGION),
        description=f"vidpipe media platform ({suffix}, {profile.name} profile)",
    )
    if nag:
        # Violations fail synthesis; acknowledgements are also written into the template's Metadata.
        Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))
    return app
