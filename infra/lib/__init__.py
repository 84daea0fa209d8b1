"""Entry classes of the CDK app (the seed contract: `lib.tap_stack.TapStack`, run by infra/tap.py)."""
