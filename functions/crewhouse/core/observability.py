"""The one Logger, Tracer and Metrics of every Crewhouse function.

The Tracer is built on first use: constructing it imports the X-Ray SDK (about 0.3 s), which handler
modules must not pay at import time. Lambda's active tracing records the invocation segment regardless.
"""

from __future__ import annotations

import warnings
from functools import cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.tracing import Tracer

# Not every request emits a business metric; Powertools would warn on each of them.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service="crewhouse")
metrics = Metrics(namespace="Crewhouse", service="crewhouse")


@cache
def tracer() -> Tracer:
    return Tracer(service="crewhouse")
