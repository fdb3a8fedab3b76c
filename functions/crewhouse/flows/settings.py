"""What the flows functions read from their environment (one settings class for the context)."""

from __future__ import annotations

from crewhouse.llm.factory import LlmSettings


class FlowsSettings(LlmSettings):
    # Flows, their versions, runs, approvals and the node runner's events (PK/SK; GSI1: a flow's runs, newest first).
    flows_table: str = "crewhouse-flows"
    # Every flow's state machine is named <prefix>-<tenant short>-<flow id>; IAM grants on the prefix.
    flow_name_prefix: str = "crewhouse-flow"
    # The one role every flow state machine runs with (may invoke the node runner and start crew runs).
    flow_role_arn: str = "arn:aws:iam::123456789012:role/crewhouse-flow-role"
    # The node runner Lambda the compiled Task states invoke.
    node_runner_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:crewhouse-flow-node-runner"
    # A crew run as a child execution (states:startExecution.sync:2); unset: crews run on the node runner.
    crew_state_machine_arn: str | None = None
    # The log group every flow state machine logs its failures to (with the execution data); unset: no logging.
    flow_log_group_arn: str | None = None
    # How long a long-poll of an execution's events may wait, at most (seconds).
    events_max_wait_seconds: int = 20
    # The AWS console whose Step Functions page an execution links to.
    console_base_url: str = "https://console.aws.amazon.com"
