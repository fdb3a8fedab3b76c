"""The web console's hosting (issue 18): a nested stack of its own (:mod:`crewhouse_cdk.nested`; the parent holds
close to CloudFormation's 500 resources). Its deployment function gets the alarms every function has."""

from __future__ import annotations

from typing import Any

from constructs import Construct

from crewhouse_cdk.constructs.console import ConsoleConfig, ConsoleHosting
from crewhouse_cdk.constructs.storage import FilesBucketCors
from crewhouse_cdk.nested import ContextStack, Shared


class ConsoleStack(ContextStack):
    description_text = "Crewhouse: the web console's hosting"

    def __init__(self, scope: Construct, construct_id: str, *, shared: Shared, config: ConsoleConfig,
                 **kwargs: Any) -> None:
        self._config = config  # read by _contexts, which the base class calls
        super().__init__(scope, construct_id, shared=shared, **kwargs)

    def _contexts(self) -> None:
        self.hosting = ConsoleHosting(self, "Hosting", config=self._config,
                                      access_logs_bucket=self.shared.storage.access_logs_bucket)
        self.shared.functions["ConsoleDeployment"] = self.hosting.deployment_function
        # The console uploads straight to the files bucket: its CORS rule names the distribution's origin, set
        # here (after both exist) since the distribution's CSP names the bucket (FilesBucketCors says why).
        self.files_cors = FilesBucketCors(self, "FilesBucketCors", bucket=self.shared.storage.files_bucket,
                                          origin=self.hosting.url, layers=self.shared.layers)
        self.shared.functions["FilesBucketCors"] = self.files_cors.handler.function
