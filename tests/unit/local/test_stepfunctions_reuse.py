"""crewhouse.local.stepfunctions: the interpreter's clients, JSONPaths and syntax trees are reused, and each
execution still gets a program of its own."""

from __future__ import annotations

import json

from crewhouse.local import stepfunctions

DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def test_one_client_per_region_and_service() -> None:
    stepfunctions.install()
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client

    first = lambda_eval_utils.boto_client_for("us-east-1", "lambda")
    assert lambda_eval_utils.boto_client_for("us-east-1", "lambda") is first
    assert boto_client.boto_client_for("us-east-1", "lambda") is first
    assert lambda_eval_utils.boto_client_for("eu-west-1", "lambda") is not first


def test_executions_share_the_syntax_tree_but_not_the_program() -> None:
    stepfunctions.install()
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    first_program, first_tree = AmazonStateLanguageParser.parse(DEFINITION)
    second_program, second_tree = AmazonStateLanguageParser.parse(DEFINITION)
    assert second_tree is first_tree
    assert second_program is not first_program
    assert type(second_program) is type(first_program)


def test_a_bad_definition_still_fails_every_time() -> None:
    stepfunctions.install()
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    for _ in range(2):
        try:
            AmazonStateLanguageParser.parse('{"StartAt": "Nowhere", "States": {')
        except ASLParserException:
            continue
        raise AssertionError("a syntax error was accepted")
