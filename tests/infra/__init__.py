"""Infra tier: one CDK synth per session, then cdk-nag, cfn-lint and template assertions over its output."""

import os

# jsii starts its Node.js kernel on the first ``aws_cdk`` import (the conftest's), and that process reads
# this variable once; the package is imported before its conftest, so this is the place to set it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
