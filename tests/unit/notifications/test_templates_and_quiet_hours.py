"""Templates (Liquid, sandboxed, per locale with fallback) and quiet hours across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crewhouse.core.errors import ValidationProblem
from crewhouse.notifications import templates
from crewhouse.notifications.logic import _first_occurrence, _next_occurrence, event_content
from crewhouse.notifications.models import Preferences
from crewhouse.notifications.quiet_hours import quiet_until


def test_a_template_renders_its_data() -> None:
    subject, body = templates.render("Hi {{ user.name | upcase }}", "{% for t in tasks %}{{ t }};{% endfor %}",
                                     {"user": {"name": "ada"}, "tasks": ["a", "b"]})
    assert (subject, body) == ("Hi ADA", "a;b;")


def test_a_syntax_error_is_a_422_naming_the_line() -> None:
    with pytest.raises(ValidationProblem) as raised:
        templates.check("ok", "line one\n{% if x %}\nline three")
    assert raised.value.status == 422
    assert "line 3" in raised.value.detail
    assert raised.value.extra["errors"][0]["line"] == 3
    with pytest.raises(ValidationProblem) as raised:
        templates.check("Hello {{ name }", "body")
    assert "subject" in raised.value.detail and "line 1" in raised.value.detail


class Secretive:
    password = "hunter2"

    def delete_everything(self) -> str:
        return "deleted"


def test_templates_reach_no_python_attribute_or_method() -> None:
    subject, body = templates.render("{{ o.password }}{{ o.delete_everything }}", "{{ s.__class__ }}",
                                     {"o": Secretive(), "s": "text"})
    assert "hunter2" not in subject and "deleted" not in subject and "class" not in body


def test_loops_are_capped() -> None:
    with pytest.raises(ValidationProblem):
        templates.render("x", "{% for i in (1..100000) %}{% for j in (1..100000) %}.{% endfor %}{% endfor %}", {})


def test_locales_fall_back_to_the_language_then_english() -> None:
    assert templates.locale_chain("de-AT") == ["de-AT", "de", "en"]
    assert templates.predefined("job_failed", "de-AT")[2] == "de"  # type: ignore[index]
    assert templates.predefined("mention", "fr")[2] == "en"  # type: ignore[index]
    assert set(templates.PREDEFINED) == {"task_reminder", "job_succeeded", "job_failed", "flow_approval_needed",
                                         "agent_offline", "file_retention_warning", "mention", "digest"}


BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(("now", "until"), [
    # An ordinary night (CET, UTC+1): 22:00-07:00 local is 21:00-06:00 UTC.
    (datetime(2026, 1, 10, 23, 30, tzinfo=UTC), datetime(2026, 1, 11, 6, 0, tzinfo=UTC)),
    (datetime(2026, 1, 10, 20, 59, tzinfo=UTC), None),
    (datetime(2026, 1, 11, 6, 0, tzinfo=UTC), None),
    # Clocks go forward on 29 March 2026 at 02:00 CET: the window 22:00 CET (21:00 UTC) .. 07:00 CEST (05:00 UTC).
    (datetime(2026, 3, 28, 21, 0, tzinfo=UTC), datetime(2026, 3, 29, 5, 0, tzinfo=UTC)),
    (datetime(2026, 3, 29, 4, 59, tzinfo=UTC), datetime(2026, 3, 29, 5, 0, tzinfo=UTC)),
    (datetime(2026, 3, 29, 5, 30, tzinfo=UTC), None),  # 07:30 CEST: awake (a fixed offset would say 06:30)
    # Clocks go back on 25 October 2026 at 03:00 CEST: 22:00 CEST (20:00 UTC) .. 07:00 CET (06:00 UTC).
    (datetime(2026, 10, 24, 20, 0, tzinfo=UTC), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),
    (datetime(2026, 10, 25, 5, 30, tzinfo=UTC), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),  # 06:30 CET: quiet
])
def test_quiet_hours_follow_the_wall_clock_across_dst(now: datetime, until: datetime | None) -> None:
    assert quiet_until(now, "22:00", "07:00", BERLIN) == until


def test_a_daytime_window_and_an_empty_one() -> None:
    assert quiet_until(datetime(2026, 7, 1, 11, 0, tzinfo=UTC), "12:00", "14:00", BERLIN) == datetime(
        2026, 7, 1, 12, 0, tzinfo=UTC)
    assert quiet_until(datetime(2026, 7, 1, 11, 0, tzinfo=UTC), "09:00", "09:00", BERLIN) is None


def test_preferences_opt_out_per_channel_and_category() -> None:
    prefs = Preferences.model_validate({"channels": {"email": False}, "categories": {"job": {"in_app": False}}})
    assert not prefs.allows("email", "task") and prefs.allows("in_app", "task")
    assert not prefs.allows("in_app", "job")


def test_a_weekly_recurrence_keeps_its_local_hour_across_dst() -> None:
    anchor = datetime(2026, 3, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 CET
    now = datetime(2026, 3, 24, tzinfo=UTC)
    following = _next_occurrence("FREQ=WEEKLY;BYDAY=MO", anchor, BERLIN, now)
    assert following == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # Monday 09:00 CEST
    with pytest.raises(ValidationProblem):
        _first_occurrence(anchor, "FREQ=MINUTELY", None, now)
    with pytest.raises(ValidationProblem):
        _first_occurrence(anchor, "FREQ=SOMETIMES", None, now)


def test_job_and_task_events_become_content_for_their_owner() -> None:
    job = {"tenant_id": "t1", "user_id": "u1", "job_id": "j1", "run": 1}
    found = event_content({"detail-type": "job.failed", "detail": {"job": job, "error": {"Cause": "boom"}}})
    assert found is not None and (found.tenant_id, found.user_id) == ("t1", "u1")
    content = found.content
    assert content.priority == "urgent" and content.template == "job_failed" and content.link == "/jobs/j1"
    reminder = event_content({"detail-type": "task.reminder.due", "detail": {
        "tenant_id": "t1", "user_id": "u2", "task_id": "k", "title": "Pay", "due": "2026-11-27"}})
    assert reminder is not None and reminder.content.category == "task"
    assert event_content({"detail-type": "job.progress", "detail": {"job": job}}) is None
    assert event_content({"detail-type": "job.succeeded", "detail": {"job": {"tenant_id": "t1"}}}) is None


def test_approval_agent_and_retention_events_name_their_recipient_or_the_key_to_read_it_by() -> None:
    approval = event_content({"detail-type": "flow.approval_requested", "detail": {
        "tenant_id": "t1", "flow_id": "f", "execution_id": "r", "node_id": "n", "prompt": "Ship?",
        "expires_at": "2026-12-01T10:00:00+01:00"}})
    assert approval is not None and approval.user_id is None and approval.owner_of == ("execution", "r")
    assert approval.deadline == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert approval.content.data["expires_at"] == "2026-12-01T09:00:00Z"
    named = event_content({"detail-type": "flow.approval_requested", "detail": {
        "tenant_id": "t1", "flow_id": "f", "execution_id": "r", "started_by": "u1", "expires_at": "soon"}})
    assert named is not None and named.user_id == "u1" and named.owner_of is None and named.deadline is None
    offline = event_content({"detail-type": "agent.offline", "detail": {"tenant_id": "t1", "agent_id": "a"}})
    assert offline is not None and offline.owner_of == ("agent", "a") and offline.content.category == "agent"
    files = [{"file_id": f"f{n}", "filename": f"{n}.txt", "size": n, "last_opened_at": None,
              "delete_after": "2026-12-08"} for n in range(60)]
    warning = event_content({"detail-type": "file.retention.warning", "detail": {
        "tenant_id": "t1", "user_id": "u1", "delete_after": "2026-12-08", "files": files, "more": 5}})
    assert warning is not None and warning.content.priority == "low"
    assert len(warning.content.data["files"]) == 50 and warning.content.data["more"] == 15
    assert warning.content.data["count"] == 65
    for broken in ({"tenant_id": "t1", "user_id": "u1", "delete_after": "2026-12-08", "files": "x"},
                   {"tenant_id": "t1", "user_id": "u1", "files": files}):
        assert event_content({"detail-type": "file.retention.warning", "detail": broken}) is None
    assert event_content({"detail-type": "agent.offline", "detail": {"agent_id": "a"}}) is None


def test_the_digest_hour_is_local_wall_time_across_dst() -> None:
    from crewhouse.notifications.quiet_hours import next_local_hour

    # Berlin springs forward on 2026-03-29 and falls back on 2026-10-25: 08:00 is 07:00 then 06:00 UTC, and back.
    assert next_local_hour(datetime(2026, 3, 28, 6, 30, tzinfo=UTC), 8, BERLIN) == datetime(2026, 3, 28, 7, tzinfo=UTC)
    assert next_local_hour(datetime(2026, 3, 28, 7, 0, tzinfo=UTC), 8, BERLIN) == datetime(2026, 3, 29, 6, tzinfo=UTC)
    assert next_local_hour(datetime(2026, 10, 24, 12, tzinfo=UTC), 8, BERLIN) == datetime(2026, 10, 25, 7, tzinfo=UTC)
    # An hour the spring change skips (02:00) is the instant the clocks reached it.
    assert next_local_hour(datetime(2026, 3, 28, 23, tzinfo=UTC), 2, BERLIN) == datetime(2026, 3, 29, 1, tzinfo=UTC)
