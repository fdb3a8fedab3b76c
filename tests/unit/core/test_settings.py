import os
import threading

import pytest

from crewhouse.core.settings import CoreSettings, current_environment, function_environment, load_settings


class DemoSettings(CoreSettings):
    demo_table: str = "default-table"


def test_settings_come_from_the_bound_function_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_TABLE", "process-table")
    with function_environment({"DEMO_TABLE": "function-table", "AWS_REGION": "eu-west-1"}):
        settings = load_settings(DemoSettings)
        assert settings.demo_table == "function-table"
        assert settings.aws_region == "eu-west-1"
    assert load_settings(DemoSettings).demo_table == "process-table"


def test_process_environment_does_not_leak_into_a_bound_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_TABLE", "process-table")
    with function_environment({}):
        assert load_settings(DemoSettings).demo_table == "default-table"


def test_bindings_are_per_thread() -> None:
    seen: dict[str, str] = {}
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        with function_environment({"DEMO_TABLE": name}):
            barrier.wait()
            seen[name] = load_settings(DemoSettings).demo_table

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a": "a", "b": "b"}


def test_unbound_environment_is_the_process_environment() -> None:
    assert current_environment() is os.environ
