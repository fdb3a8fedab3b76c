"""A small interpreter for the subset of ASL the flow compiler writes, to check what a compiled flow does (which
nodes run, what each receives) without Step Functions. A path that is not in the state raises ``MissingPath``, as
Step Functions fails the execution with ``States.Runtime``."""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Callable
from typing import Any

Runner = Callable[[dict[str, Any]], dict[str, Any]]


class MissingPath(KeyError):
    pass


class Failed(Exception):
    def __init__(self, state: str, error: str) -> None:
        super().__init__(f"{state}: {error}")
        self.state = state


def run(definition: dict[str, Any], execution_input: dict[str, Any], runner: Runner) -> dict[str, Any]:
    return _machine(definition, copy.deepcopy(execution_input), runner, {"Execution": {"Id": "exec-1"}})


def _machine(machine: dict[str, Any], state: Any, runner: Runner, context: dict[str, Any]) -> Any:
    name = machine["StartAt"]
    while True:
        spec = machine["States"][name]
        kind = spec["Type"]
        if kind == "Fail":
            raise Failed(name, spec.get("Error", ""))
        if kind == "Choice":
            name = next((rule["Next"] for rule in spec["Choices"] if _rule(rule, state)), spec["Default"])
            continue
        if kind == "Pass":
            effective = _path(state, spec.get("InputPath", "$"), context)
            result = _template(spec["Parameters"], effective, context) if "Parameters" in spec else effective
            state = _place(state, result, spec.get("ResultPath", "$"))
        elif kind == "Task":
            try:
                result = _task(spec, state, runner, context)
            except MissingPath:
                raise  # States.Runtime: States.ALL does not catch it
            except Exception as error:  # the Catch decides; without one, the execution fails at this state
                if not spec.get("Catch"):
                    raise Failed(name, type(error).__name__) from error
                catcher = spec["Catch"][0]
                state = _place(state, {"Error": type(error).__name__, "Cause": str(error)}, catcher["ResultPath"])
                name = catcher["Next"]
                continue
            state = _place(state, result, spec.get("ResultPath", "$"))
        elif kind == "Parallel":
            results = [_machine(branch, copy.deepcopy(state), runner, context) for branch in spec["Branches"]]
            state = _place(state, _template(spec["ResultSelector"], results, context), spec["ResultPath"])
        elif kind == "Map":
            results = []
            for index, item in enumerate(_path(state, spec["ItemsPath"], context)):
                item_context = {**context, "Map": {"Item": {"Value": item, "Index": index}}}
                item_input = _template(spec["ItemSelector"], state, item_context)
                results.append(_machine(spec["ItemProcessor"], item_input, runner, context))
            state = _place(state, _template(spec["ResultSelector"], results, context), spec["ResultPath"])
        else:
            raise NotImplementedError(kind)
        if spec.get("End"):
            return state
        name = spec["Next"]


def _task(spec: dict[str, Any], state: Any, runner: Runner, context: dict[str, Any]) -> Any:
    parameters = _template(spec["Parameters"], state, {**context, "Task": {"Token": "token-1"}})
    if spec["Resource"].startswith("arn:aws:states:::lambda:invoke"):
        answer = runner(parameters["Payload"])
        raw = answer if spec["Resource"].endswith("waitForTaskToken") else {"Payload": answer}
    else:
        raw = {"Output": runner(parameters["Input"])}
    return _template(spec["ResultSelector"], raw, context) if "ResultSelector" in spec else raw


def _template(template: Any, data: Any, context: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        built = {}
        for key, value in template.items():
            if key.endswith(".$"):
                built[key[:-2]] = _expression(value, data, context)
            else:
                built[key] = _template(value, data, context)
        return built
    if isinstance(template, list):
        return [_template(item, data, context) for item in template]
    return template


def _expression(expression: str, data: Any, context: dict[str, Any]) -> Any:
    merge = re.fullmatch(r"States\.JsonMerge\((\S+), (\S+), false\)", expression)
    if merge:
        return {**_path(data, merge.group(1), context), **_path(data, merge.group(2), context)}
    return _path(data, expression, context)


def _path(data: Any, path: str, context: dict[str, Any]) -> Any:
    if path.startswith("$$."):
        data, path = context, path[1:]
    value = data
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path[1:]):
        key, index = part
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError):
            raise MissingPath(path) from None
    return value


def _place(state: Any, result: Any, result_path: str | None) -> Any:
    if result_path is None:
        return state
    if result_path == "$":
        return result
    state = copy.deepcopy(state)
    keys = result_path[2:].split(".")
    target = state
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = result
    return state


def _rule(rule: dict[str, Any], state: Any) -> bool:
    if "And" in rule:
        return all(_rule(inner, state) for inner in rule["And"])
    if "Or" in rule:
        return any(_rule(inner, state) for inner in rule["Or"])
    if "Not" in rule:
        return not _rule(rule["Not"], state)
    try:
        value = _path(state, rule["Variable"], {})
        present = True
    except MissingPath:
        value, present = None, False
    for test, expected in rule.items():
        if test == "IsPresent":
            return bool(present is expected)
        if not present:
            raise MissingPath(rule["Variable"])
        if test in _TESTS:
            return _TESTS[test](value, expected)
    raise NotImplementedError(rule)


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "IsNull": lambda v, e: (v is None) is e,
    "IsBoolean": lambda v, e: isinstance(v, bool) is e,
    "IsNumeric": lambda v, e: (isinstance(v, int | float) and not isinstance(v, bool)) is e,
    "IsString": lambda v, e: isinstance(v, str) is e,
    "BooleanEquals": lambda v, e: v == e, "NumericEquals": lambda v, e: v == e, "StringEquals": lambda v, e: v == e,
    "NumericGreaterThan": lambda v, e: v > e, "NumericLessThan": lambda v, e: v < e,
    "NumericGreaterThanEquals": lambda v, e: v >= e, "NumericLessThanEquals": lambda v, e: v <= e,
    "StringGreaterThan": lambda v, e: v > e, "StringLessThan": lambda v, e: v < e,
    "StringMatches": lambda v, e: fnmatch.fnmatchcase(v, e.replace("\\*", "[*]")),
}
