"""The notifications context in the synthesized template (nested stack ``Notifications``): its table with the
unread index, one EventBridge rule a source to the consumer with a dead-letter queue, the schedule group and the
role Scheduler invokes with, the SES configuration set, and each function's grants."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest

from crewhouse_cdk.constructs.notifications import CONFIGURATION_SET, SCHEDULE_GROUP
from tests.infra.conftest import Synthesized
from tests.infra.test_files_stack import rendered_grants
from tests.infra.test_stack import props, resources

ROOT = "Notifications/Notifications"
PATHS = {"table": f"{ROOT}/NotificationsTable", "api_fn": f"{ROOT}/NotificationsApi/Function",
         "consumer_fn": f"{ROOT}/EventConsumer/Function", "schedule_fn": f"{ROOT}/ScheduleDue/Function",
         "jobs_rule": f"{ROOT}/JobsEventsRule", "tasks_rule": f"{ROOT}/TasksEventsRule",
         "dlq": f"{ROOT}/EventsDlq", "role": f"{ROOT}/SchedulerRole"}


@pytest.fixture(scope="module")
def ids(synth_ok: Synthesized) -> dict[str, str]:
    found = {}
    for name, path in PATHS.items():
        construct = synth_ok.construct(path)
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        assert isinstance(element, cdk.CfnElement), path
        found[name] = str(cdk.Stack.of(element).resolve(element.logical_id))
    return found


def test_the_table_has_the_sparse_unread_index(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    table = props(template_json, ids["table"])
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["GSI1"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_one_rule_a_source_targets_the_consumer_with_a_dead_letter_queue(template_json: dict[str, Any],
                                                                         ids: dict[str, str]) -> None:
    for rule, source, types in (("jobs_rule", "crewhouse.jobs", ["job.succeeded", "job.failed"]),
                                ("tasks_rule", "crewhouse.tasks", ["task.reminder.due"])):
        rule_props = props(template_json, ids[rule])
        assert rule_props["EventPattern"] == {"source": [source], "detail-type": types}
        (target,) = rule_props["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [ids["consumer_fn"], "Arn"]}
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [ids["dlq"], "Arn"]}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 4


def test_the_schedule_group_and_configuration_set_exist(template_json: dict[str, Any]) -> None:
    groups = [r["Properties"]["Name"] for r in resources(template_json, "AWS::Scheduler::ScheduleGroup").values()]
    assert SCHEDULE_GROUP in groups
    sets = [r["Properties"].get("Name") for r in resources(template_json, "AWS::SES::ConfigurationSet").values()]
    assert CONFIGURATION_SET in sets


def test_each_function_may_send_mail_and_schedule_only_in_its_own_group(template_json: dict[str, Any],
                                                                        ids: dict[str, str]) -> None:
    for function in ("api_fn", "consumer_fn", "schedule_fn"):
        grants = rendered_grants(template_json, ids[function])
        schedule = {r for a, r in grants if a.startswith("scheduler:")}
        assert schedule == {f"arn:${{AWS::Partition}}:scheduler:${{AWS::Region}}:${{AWS::AccountId}}:schedule/"
                            f"{SCHEDULE_GROUP}/*"}, (function, schedule)
        assert {a for a, _ in grants if a.startswith("ses:")} == {"ses:SendEmail"}
        assert ("iam:PassRole", f"${{{ids['role']}.Arn}}") in grants
    workers = rendered_grants(template_json, ids["consumer_fn"])
    assert not {a for a, r in workers if a.startswith("dynamodb:") and ("index" in r or a == "dynamodb:Scan")}
