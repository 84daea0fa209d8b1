"""vidpipe on AWS: one construct per unit, one stack that wires them (see docs/deploy.md)."""
