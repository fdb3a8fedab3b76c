"""The one way Crewhouse defines a Lambda function: Python 3.13 on arm64, the shared code, the dependency
layers its handler imports from, its own log group with retention, active tracing, Powertools settings."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from crewhouse_cdk.layer import LAMBDA_PLATFORMS, LAYERS, build_project_layers, layers_for_handler, placeholder_layer
from crewhouse_cdk.nag import acknowledge_function_findings
from crewhouse_cdk.paths import FUNCTIONS_DIR

# Local-only code (the embedded cloud) never ships to Lambda.
CODE_EXCLUDES = ["crewhouse/local", "crewhouse/local/**", "**/__pycache__", "**/*.pyc", "*.egg-info", "*.egg-info/**"]
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def _code() -> lambda_.AssetCode:
    # A new asset object per function: an AssetCode binds to the first stack that uses it, so one shared
    # across apps (two synths in one process) fails. CDK still uploads identical code once (same hash).
    return lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=CODE_EXCLUDES)


class DependencyLayers(Construct):
    """One Lambda layer per entry of ``crewhouse_cdk.layer.LAYERS``, built from ``requirements/layer.lock``
    (or empty placeholders with the ``crewhouse:layer=skip`` context: tests and the embedded cloud)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        mode = self.node.try_get_context("crewhouse:layer") or "build"
        if mode not in ("build", "skip"):
            raise ValueError(f"crewhouse:layer must be 'build' or 'skip', not {mode!r}")
        paths = build_project_layers() if mode == "build" else None
        self.layers: dict[str, lambda_.LayerVersion] = {}
        for name in LAYERS:
            path = paths[name] if paths is not None else placeholder_layer(name)
            self.layers[name] = lambda_.LayerVersion(
                self, name.capitalize(),
                # pip --target also writes console scripts (python/bin) that no function runs.
                code=lambda_.Code.from_asset(str(path), exclude=["python/bin", "python/bin/**"]),
                compatible_runtimes=[lambda_.Runtime.PYTHON_3_13],
                compatible_architectures=[lambda_.Architecture.ARM_64],
                description=f"Crewhouse {name} dependencies (requirements/layer.lock, cp313 {LAMBDA_PLATFORMS[0]})",
            )

    def for_handler(self, handler: str) -> list[lambda_.ILayerVersion]:
        return [self.layers[name] for name in layers_for_handler(handler)]


class CrewhouseFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        layers: DependencyLayers,
        environment: dict[str, str] | None = None,
        memory_size: int = 1024,
        timeout: cdk.Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=LOG_RETENTION, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        self.function = lambda_.Function(
            self, "Function",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=_code(),
            layers=layers.for_handler(handler),
            description=description,
            memory_size=memory_size,
            timeout=timeout or cdk.Duration.seconds(29),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "POWERTOOLS_SERVICE_NAME": construct_id.lower(),
                "POWERTOOLS_METRICS_NAMESPACE": "Crewhouse",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )
        acknowledge_function_findings(self)
