"""``tocsin check FILE``: every problem with its file, line and path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from tests.policy.helpers import DEMO, SHARED_EXAMPLE, problems, run
from tocsin.notifications.transports.apprise_url import apprise_understands
from tocsin.policy.config.durations import format_duration, parse_duration

Check = Callable[..., list[str]]
GOOD = textwrap.dedent(
    """\
    people:
      - email: alice@example.com
        name: Alice Ng
        timezone: Europe/Paris
        contact: [{name: mail, email: alice@example.com}]
        notify: [{after: 0m, via: mail}]
      - {email: bob@example.com, name: Bob Ortiz}
    teams:
      - {name: Platform, members: [alice@example.com, bob@example.com]}
    roles:
      Engineering Manager: [bob@example.com]
    services:
      - name: Checkout API
        team: Platform
        integrations:
          - {kind: alertmanager, key: am-1}
          - {kind: pagerduty, key: 9f1c2d3e4b5a69788796a5b4c3d2e1f0}
        severity_map: {critical: P1, warning: P2}
    severities:
      - {name: P1, respond_within: 5m}
      - {name: P2, respond_within: 1h}
    """
)


@pytest.fixture
def check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Check:
    """Write ``tocsin.yaml`` (GOOD with replacements) and return what ``check`` reports."""
    monkeypatch.chdir(tmp_path)

    def write_and_check(*replacements: tuple[str, str], text: str | None = None) -> list[str]:
        content = GOOD if text is None else text
        for old, new in replacements:
            assert old in content
            content = content.replace(old, new)
        Path("tocsin.yaml").write_text(content)
        return problems("config_check", "tocsin.yaml")

    return write_and_check


def test_the_shared_example_is_valid() -> None:
    output = run("config_check", str(SHARED_EXAMPLE))
    assert output == (
        f"{SHARED_EXAMPLE}: ok (5 people, 1 team, 3 roles, 3 schedules, 1 escalation policy, "
        "1 service, 4 integrations, 4 severities, 1 runbook)\n"
    )


def test_the_demo_is_valid() -> None:
    assert run("config_check", str(DEMO)).startswith(f"{DEMO}: ok (4 people, 1 team")


def test_the_good_file_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("tocsin.yaml").write_text(GOOD)
    assert run("config_check", "tocsin.yaml").startswith(
        "tocsin.yaml: ok (2 people, 1 team, 1 role"
    )


def test_it_names_an_unknown_integration_kind(check: Check) -> None:
    assert check(("kind: pagerduty", "kind: pagerdutyy")) == [
        "tocsin.yaml:17 services[0].integrations[1].kind: unknown kind 'pagerdutyy'"
        " (did you mean 'pagerduty'?)"
    ]


def test_it_refuses_15mins(check: Check) -> None:
    assert check(("after: 0m", "after: 15mins")) == [
        "tocsin.yaml:6 people[0].notify[0].after: invalid duration '15mins': write a number"
        " and a unit: 90s, 15m, 1h, 1h30m, 3d, 1w"
    ]


def test_it_allows_business_days_only_where_they_make_sense(check: Check) -> None:
    assert check(("after: 0m", "after: 3bd"), ("respond_within: 1h", "respond_within: 3bd")) == [
        "tocsin.yaml:6 people[0].notify[0].after: business days (3bd) are not allowed here:"
        " write a number and a unit: 90s, 15m, 1h, 1h30m, 3d, 1w"
    ]


def test_it_names_an_unknown_team(check: Check) -> None:
    assert check(("team: Platform", "team: Platfrom")) == [
        "tocsin.yaml:14 services[0].team: unknown team 'Platfrom' (did you mean 'Platform'?)"
    ]


def test_it_names_an_unknown_severity_in_a_severity_map(check: Check) -> None:
    assert check(("warning: P2", "warning: P5")) == [
        "tocsin.yaml:18 services[0].severity_map.warning: unknown severity 'P5'"
    ]


def test_a_severity_map_is_free_without_a_severities_section(check: Check) -> None:
    text = GOOD.split("severities:")[0].replace("warning: P2", "warning: P5")
    text = text.replace("team: Platform", "team: Nobody")
    assert check(text=text) == ["tocsin.yaml:14 services[0].team: unknown team 'Nobody'"]


def test_it_names_a_bad_time_zone(check: Check) -> None:
    assert check(("Europe/Paris", "Europe/Pariss")) == [
        "tocsin.yaml:4 people[0].timezone: unknown time zone 'Europe/Pariss'"
        " (did you mean 'Europe/Paris'?)"
    ]


def test_it_reports_a_yaml_syntax_error_with_its_line(check: Check) -> None:
    assert check(("    team: Platform", "    team: [Platform")) == [
        "tocsin.yaml:15: YAML syntax error: expected ',' or ']', but got ':',"
        " while parsing a flow sequence (column 17)"
    ]


def test_it_names_an_unknown_field(check: Check) -> None:
    assert check(("    team: Platform", "    team: Platform\n    escalation_polcy: x")) == [
        "tocsin.yaml:15 services[0].escalation_polcy: unknown field 'escalation_polcy'"
        " (did you mean 'escalation_policy'?)"
    ]


def test_it_names_an_unknown_section(check: Check) -> None:
    assert check(text=GOOD + "servcies: []\n") == [
        "tocsin.yaml:22 servcies: unknown section 'servcies' (did you mean 'services'?)"
    ]


def test_it_names_a_duplicate_email(check: Check) -> None:
    again = "  - {email: bob@example.com, name: Bob Ortiz}\n  - {email: Alice@example.com}\n"
    assert check(("  - {email: bob@example.com, name: Bob Ortiz}\n", again)) == [
        "tocsin.yaml:8 people[2].email: duplicate email 'alice@example.com' (first at line 2)"
    ]


def test_it_names_a_duplicate_yaml_key(check: Check) -> None:
    assert check(("    name: Alice Ng\n", "    name: Alice Ng\n    name: Alice\n")) == [
        "tocsin.yaml:4 people[0].name: duplicate key 'name' (first at line 3)"
    ]


def test_it_names_a_duplicate_integration_key(check: Check) -> None:
    assert check(("key: am-1", "key: 9f1c2d3e4b5a69788796a5b4c3d2e1f0")) == [
        "tocsin.yaml:17 services[0].integrations[1].key: duplicate integration key"
        " '9f1c2d3e4b5a69788796a5b4c3d2e1f0' (first at line 16)"
    ]


def test_a_pagerduty_key_has_32_characters(check: Check) -> None:
    assert check(("9f1c2d3e4b5a69788796a5b4c3d2e1f0", "short-key")) == [
        "tocsin.yaml:17 services[0].integrations[1].key: a PagerDuty integration key must be"
        " 32 characters (this one has 9)"
    ]


def test_options_belong_to_their_kind(check: Check) -> None:
    assert check(("key: am-1}", "key: am-1, secret: s, resolved_values: [ok]}")) == [
        "tocsin.yaml:16 services[0].integrations[0].secret: only grafana integrations take a"
        " secret, not alertmanager",
        "tocsin.yaml:16 services[0].integrations[0].resolved_values: only webhook integrations"
        " take resolved_values, not alertmanager",
    ]


def test_notify_must_use_one_of_the_persons_contacts(check: Check) -> None:
    assert check(("via: mail", "via: sms")) == [
        "tocsin.yaml:6 people[0].notify[0].via: unknown contact 'sms'"
        " (contacts of alice@example.com: mail)"
    ]


def test_a_contact_has_exactly_one_channel(check: Check) -> None:
    bad = "{name: mail, email: alice@example.com, webhook: 'https://example.com/h'}"
    assert check(("{name: mail, email: alice@example.com}", bad)) == [
        "tocsin.yaml:5 people[0].contact[0]: give exactly one of email, apprise or webhook"
        " (found email, webhook)"
    ]


def test_an_apprise_url_apprise_cannot_parse_is_refused_with_its_line(check: Check) -> None:
    chat = "{name: mail, email: alice@example.com}, {name: chat, apprise: 'slack://T1/B2'}"
    assert check(("{name: mail, email: alice@example.com}", chat)) == [
        "tocsin.yaml:5 people[0].contact[1].apprise: 'slack://T1/B2' is not a URL apprise "
        "understands: check its form for the service (https://github.com/caronc/apprise/wiki)"
    ]
    # The full form of the same service is fine (apprise parses it; nothing is sent).
    assert apprise_understands("slack://T1234ABCD/B5678EFGH/abcdefghijklmnopqrstuvwx")


def test_members_must_be_people_in_the_file(check: Check) -> None:
    assert check(("[bob@example.com]\n", "[dan@example.com]\n")) == [
        "tocsin.yaml:11 roles[\"Engineering Manager\"][0]: unknown person 'dan@example.com'"
    ]


def test_a_rotation_turn_under_a_minute_is_refused(check: Check) -> None:
    schedule = textwrap.dedent(
        """\
        schedules:
          - name: Primary
            timezone: Europe/Berlin
            layers:
              - rotation: {every: 30s}
                start: 2026-11-02
                participants: [alice@example.com]
        """
    )
    assert check(text=GOOD + schedule) == [
        "tocsin.yaml:26 schedules[0].layers[0].rotation.every: a rotation turn is at least "
        "1 minute, not '30s'"
    ]


@pytest.mark.parametrize(
    ("calendar", "problem"),
    [
        (
            '{business_hours: {start: "17:00", end: "09:00"}}',
            "calendar.business_hours: business hours end (09:00) before they start (17:00)",
        ),
        ("{business_days: []}", "calendar.business_days: "),
    ],
    ids=["reversed hours", "no business days"],
)
def test_a_calendar_without_business_time_is_refused(
    check: Check, calendar: str, problem: str
) -> None:
    # Either made every business-hours clock count for ever (the simulator and the worker hung).
    found = check(text=GOOD + f"calendar: {calendar}\n")
    assert len(found) == 1
    assert found[0].startswith("tocsin.yaml:22 " + problem)


def test_counting_over_a_calendar_without_business_time_fails_at_once() -> None:
    from datetime import UTC, datetime, time

    from tocsin.policy.workcal import WorkCalendarRules, add_business_seconds

    start = datetime(2026, 11, 28, 3, tzinfo=UTC)
    for cal in (
        WorkCalendarRules(day_start=time(17), day_end=time(9)),
        WorkCalendarRules(business_days=()),
    ):
        with pytest.raises(ValueError):
            add_business_seconds(start, 4 * 3600, cal)


def test_an_override_mixing_a_local_time_and_an_offset_is_a_problem(check: Check) -> None:
    schedule = textwrap.dedent(
        """\
        schedules:
          - name: Primary
            timezone: Europe/Berlin
            layers:
              - {rotation: weekly, start: 2026-11-02, participants: [alice@example.com]}
            overrides:
              - {who: bob@example.com, from: "2026-11-26T09:00", to: "2026-11-27T09:00+01:00"}
        """
    )
    assert check(text=GOOD + schedule) == [
        "tocsin.yaml:28 schedules[0].overrides[0]: 'from' and 'to' must both be local times, "
        "or both carry an offset"
    ]


@pytest.mark.parametrize("command", ["config_check", "config_apply", "simulate"])
def test_a_missing_or_non_utf8_file_is_a_clear_error(tmp_path: Path, command: str) -> None:
    extra = ["--severity", "P1"] if command == "simulate" else []
    with pytest.raises(CommandError, match="No such file"):
        run(command, str(tmp_path / "nope.yaml"), *extra)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("people: [{email: jos\xe9@example.com}]\n".encode("latin-1"))
    with pytest.raises(CommandError, match="not UTF-8 text"):
        run(command, str(latin), *extra)


def test_it_reports_every_problem_in_file_order(check: Check) -> None:
    found = check(
        ("Europe/Paris", "Mars/Olympus"),
        ("members: [alice@example.com, bob", "members: [carol@example.com, bob"),
        ("kind: alertmanager", "kind: nagios"),
        ("warning: P2", "warning: P9"),
    )
    assert [line.split(" ", 2)[:2] for line in found] == [
        ["tocsin.yaml:4", "people[0].timezone:"],
        ["tocsin.yaml:9", "teams[0].members[0]:"],
        ["tocsin.yaml:16", "services[0].integrations[0].kind:"],
    ]


def test_references_to_an_item_with_errors_are_not_reported_twice(check: Check) -> None:
    # Alice's time zone is wrong, but she is still a person that the team can name.
    assert check(("Europe/Paris", "Mars/Olympus"), ("kind: alertmanager", "kind: nagios")) == [
        "tocsin.yaml:4 people[0].timezone: unknown time zone 'Mars/Olympus'"
        " (use an IANA name such as Europe/Paris)",
        "tocsin.yaml:16 services[0].integrations[0].kind: unknown kind 'nagios'"
        " (use alertmanager, pagerduty, grafana, webhook)",
    ]


def test_the_file_must_be_a_mapping(check: Check) -> None:
    assert check(text="- people\n") == [
        "tocsin.yaml:1: the file must be a mapping of sections (people:, teams:, services: ...)"
    ]


def test_a_missing_required_field_is_reported_on_its_parent(check: Check) -> None:
    assert check(("{email: bob@example.com, name: Bob Ortiz}", "{name: Bob Ortiz}")) == [
        "tocsin.yaml:7 people[1].email: required field is missing",
        "tocsin.yaml:9 teams[0].members[1]: unknown person 'bob@example.com'",
        "tocsin.yaml:11 roles[\"Engineering Manager\"][0]: unknown person 'bob@example.com'",
    ]


def test_a_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"nope\.yaml: No such file or directory"):
        run("config_check", str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("3d", 259200), ("1w", 604800)],
)
def test_durations_read_and_write_back(written: str, seconds: int) -> None:
    assert parse_duration(written).seconds == seconds
    assert parse_duration(format_duration(seconds)).seconds == seconds


def test_business_days_are_counted_apart() -> None:
    assert parse_duration("3bd", business_days=True).business_days == 3
    with pytest.raises(ValueError, match="invalid duration '15mins'"):
        parse_duration("15mins")


def test_parsing_again_gives_the_same_answer_and_the_same_error() -> None:
    # The parse is cached: the flag is part of the key, and errors are raised every time.
    assert parse_duration("3bd", business_days=True).business_days == 3
    for _ in range(2):
        with pytest.raises(ValueError, match=r"business days \(3bd\) are not allowed"):
            parse_duration("3bd")
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(["1h"])  # not a string: refused, not a TypeError from the cache
    assert (
        parse_duration("1h30m") == parse_duration("1h30m")
        and parse_duration("1h30m").seconds == 5400
    )


# ---- fields the seed guides need (close_requires, response_team, phases, approvals, drills) --

P1 = "{name: P1, respond_within: 5m}"


def test_close_requires_monitoring_for_is_a_duration(check: Check) -> None:
    assert check((P1, "{name: P1, close_requires: {monitoring_for: 24hours}}")) == [
        "tocsin.yaml:20 severities[0].close_requires.monitoring_for: invalid duration '24hours':"
        " write a number and a unit: 90s, 15m, 1h, 1h30m, 3d, 1w"
    ]


def test_close_requires_checklists_complete_is_a_boolean(check: Check) -> None:
    assert check((P1, "{name: P1, close_requires: {checklists_complete: maybe}}")) == [
        "tocsin.yaml:20 severities[0].close_requires.checklists_complete: Input should be a valid"
        " boolean, unable to interpret input, not 'maybe'"
    ]


def test_a_response_team_names_known_roles(check: Check) -> None:
    assert check((P1, "{name: P1, response_team: [{role: Engineering Manger}]}")) == [
        "tocsin.yaml:20 severities[0].response_team[0].role: unknown role 'Engineering Manger'"
        " (did you mean 'Engineering Manager'?)"
    ]


def test_postmortem_approvals_are_roles(check: Check) -> None:
    bad = "{name: P1, postmortem: {within: 48h, approvals: [Engineering Manager, CEO]}}"
    assert check((P1, bad)) == [
        "tocsin.yaml:20 severities[0].postmortem.approvals[1]: unknown role 'CEO'"
    ]


def test_postmortem_from_is_a_milestone(check: Check) -> None:
    assert check((P1, "{name: P1, postmortem: {within: 48h, from: closed}}")) == [
        "tocsin.yaml:20 severities[0].postmortem.from: invalid value 'closed': expected"
        " 'triggered', 'acknowledged', 'mitigated' or 'resolved'"
    ]


CHECKLIST = "checklists:\n  - {id: resolve, phase: resolution, within: 1h, items: [Verified]}\n"


def test_a_checklist_phase_is_one_of_the_phases(check: Check) -> None:
    assert check(text=GOOD + CHECKLIST.replace("phase: resolution", "phase: fixing")) == [
        "tocsin.yaml:23 checklists[0].phase: invalid value 'fixing': expected 'detection',"
        " 'triage', 'response', 'investigation', 'mitigation', 'resolution', 'recovery',"
        " 'closure' or 'post_incident'"
    ]


def test_a_checklist_within_is_a_duration(check: Check) -> None:
    assert check(text=GOOD + CHECKLIST.replace("within: 1h", "within: 1bd")) == [
        "tocsin.yaml:23 checklists[0].within: business days (1bd) are not allowed here:"
        " write a number and a unit: 90s, 15m, 1h, 1h30m, 3d, 1w"
    ]


DRILLS = (
    CHECKLIST
    + "drills:\n"
    + "  - {name: Monthly, every: 4w, severity: P1, scenario: Database down, checklist: resolve}\n"
)


def test_drills_are_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("tocsin.yaml").write_text(GOOD + DRILLS)
    assert run("config_check", "tocsin.yaml").startswith("tocsin.yaml: ok (")


def test_a_drill_names_a_known_severity_and_checklist(check: Check) -> None:
    text = GOOD + DRILLS.replace("severity: P1", "severity: P7").replace(
        "checklist: resolve}", "checklist: resolv}"
    )
    assert check(text=text) == [
        "tocsin.yaml:25 drills[0].severity: unknown severity 'P7'",
        "tocsin.yaml:25 drills[0].checklist: unknown checklist 'resolv' (did you mean 'resolve'?)",
    ]


def test_a_drill_must_repeat(check: Check) -> None:
    assert check(text=GOOD + DRILLS.replace("every: 4w", "every: 0m")) == [
        "tocsin.yaml:25 drills[0]: a drill must repeat: 'every' cannot be '0m'"
    ]


def test_a_drill_needs_a_scenario_and_a_unique_name(check: Check) -> None:
    again = "  - {name: Monthly, every: 52w, severity: P1}\n"
    assert check(text=GOOD + DRILLS + again) == [
        "tocsin.yaml:26 drills[1].scenario: required field is missing",
    ]
    again = "  - {name: Monthly, every: 52w, severity: P1, scenario: Full-scale}\n"
    assert check(text=GOOD + DRILLS + again) == [
        "tocsin.yaml:26 drills[1].name: duplicate name 'Monthly' (first at line 25)",
    ]
