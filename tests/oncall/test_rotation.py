"""Who is on call: weekly/daily/every-N rotations, layers, overrides, and DST transitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tocsin.oncall.rotation import Layer, Override, Schedule, gaps, oncall_at, shifts, turns

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
TRIO = ["alice", "bob", "erin"]


def weekly(start: date = date(2026, 10, 26), who: list[str] = TRIO) -> Layer:
    return Layer(
        participants=who,
        start=start,
        rotation="weekly",
        handoff_day="monday",
        handoff_time=time(9, 0),
    )


def who_at(schedule: Schedule, at: datetime) -> str | None:
    return oncall_at(schedule, at)[0]


def test_weekly_rotation_hands_off_monday_at_nine_local() -> None:
    s = Schedule("Platform primary", "America/New_York", [weekly()])
    assert who_at(s, datetime(2026, 10, 26, 9, 0, tzinfo=NY)) == "alice"
    assert who_at(s, datetime(2026, 11, 9, 8, 59, tzinfo=NY)) == "bob"
    assert who_at(s, datetime(2026, 11, 9, 9, 0, tzinfo=NY)) == "erin"
    assert who_at(s, datetime(2026, 11, 16, 9, 0, tzinfo=NY)) == "alice"


def test_nobody_is_on_call_before_the_rotation_starts() -> None:
    s = Schedule("Platform primary", "America/New_York", [weekly()])
    assert who_at(s, datetime(2026, 10, 26, 8, 59, tzinfo=NY)) is None


def test_a_new_york_handoff_stays_at_nine_across_the_november_dst_change() -> None:
    """DST ends Sunday 2026-11-01 in New York: the shift is 169 h long, the handoff still 09:00."""
    s = Schedule("Platform primary", "America/New_York", [weekly()])
    before = datetime(2026, 11, 2, 13, 59, tzinfo=UTC)  # 08:59 EST
    at_nine = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # 09:00 EST
    assert who_at(s, before) == "alice"
    assert who_at(s, at_nine) == "bob"
    first = shifts(s, datetime(2026, 10, 26, 13, 0, tzinfo=UTC), at_nine)[0]
    assert first.end - first.start == timedelta(hours=169)


def test_a_new_york_handoff_stays_at_nine_across_the_march_dst_change() -> None:
    """DST starts Sunday 2026-03-08: the shift around it is 167 h."""
    s = Schedule("P", "America/New_York", [weekly(start=date(2026, 3, 2))])
    result = shifts(
        s, datetime(2026, 3, 2, 14, 0, tzinfo=UTC), datetime(2026, 3, 16, 13, 0, tzinfo=UTC)
    )
    assert [(x.who, x.start.astimezone(NY).hour) for x in result] == [("alice", 9), ("bob", 9)]
    assert result[0].end - result[0].start == timedelta(hours=167)


def test_a_berlin_daily_handoff_stays_local_across_the_october_change() -> None:
    """Europe/Berlin leaves summer time on Sunday 2026-10-25 at 03:00 CEST."""
    layer = Layer(
        participants=["anna", "ben"],
        start=date(2026, 10, 24),
        rotation="daily",
        handoff_time=time(9, 0),
    )
    s = Schedule("Berlin", "Europe/Berlin", [layer])
    result = shifts(
        s, datetime(2026, 10, 24, 9, 0, tzinfo=BERLIN), datetime(2026, 10, 27, 9, 0, tzinfo=BERLIN)
    )
    assert [x.start.astimezone(BERLIN).strftime("%a %H:%M") for x in result] == [
        "Sat 09:00",
        "Sun 09:00",
        "Mon 09:00",
    ]
    assert [x.who for x in result] == ["anna", "ben", "anna"]
    assert [x.end - x.start for x in result] == [
        timedelta(hours=25),
        timedelta(hours=24),
        timedelta(hours=24),
    ]


def test_an_every_12h_rotation_steps_by_elapsed_time_through_dst() -> None:
    layer = Layer(
        participants=["a", "b"],
        start=date(2026, 10, 31),
        rotation="every",
        every=timedelta(hours=12),
        handoff_time=time(8, 0),
    )
    s = Schedule("Follow the sun", "America/New_York", [layer])
    result = shifts(
        s, datetime(2026, 10, 31, 12, 0, tzinfo=UTC), datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    )
    assert all(x.end - x.start == timedelta(hours=12) for x in result)
    assert [x.who for x in result] == ["a", "b", "a", "b"]


def test_an_override_wins_for_its_window_only() -> None:
    override = Override(
        "carol", datetime(2026, 11, 26, 0, 0, tzinfo=NY), datetime(2026, 11, 27, 0, 0, tzinfo=NY)
    )
    s = Schedule("Platform primary", "America/New_York", [weekly()], [override])
    assert who_at(s, datetime(2026, 11, 25, 23, 59, tzinfo=NY)) == "bob"
    assert oncall_at(s, datetime(2026, 11, 26, 3, 0, tzinfo=NY)) == ("carol", "override")
    assert who_at(s, datetime(2026, 11, 27, 0, 0, tzinfo=NY)) == "bob"
    week = shifts(
        s, datetime(2026, 11, 23, 9, 0, tzinfo=NY), datetime(2026, 11, 30, 9, 0, tzinfo=NY)
    )
    assert [x.who for x in week] == ["bob", "carol", "bob"]


def test_a_later_layer_wins_where_it_has_someone() -> None:
    weekend = Layer(
        participants=["dave"],
        start=date(2026, 11, 28),
        rotation="every",
        every=timedelta(days=2),
        handoff_time=time(0, 0),
    )
    s = Schedule("P", "America/New_York", [weekly(), weekend])
    assert oncall_at(s, datetime(2026, 11, 27, 12, 0, tzinfo=NY)) == ("bob", "layer 1")
    assert oncall_at(s, datetime(2026, 11, 28, 12, 0, tzinfo=NY)) == ("dave", "layer 2")


def test_gaps_are_reported() -> None:
    s = Schedule("P", "America/New_York", [weekly(start=date(2026, 12, 7))])
    holes = gaps(s, datetime(2026, 12, 1, tzinfo=NY), datetime(2026, 12, 15, tzinfo=NY))
    assert len(holes) == 1
    assert holes[0].end == datetime(2026, 12, 7, 9, 0, tzinfo=NY)


def test_turns_keep_their_real_start_and_end_whatever_the_window() -> None:
    """A calendar feed asks from "a week ago" to "eight weeks on": the turn on at the window's
    edges is the same turn, with the same start and end, whenever it is asked."""
    s = Schedule("P", "America/New_York", [weekly()])
    expected = (
        datetime(2026, 11, 2, 9, 0, tzinfo=NY),
        datetime(2026, 11, 9, 9, 0, tzinfo=NY),
    )
    for hour in (10, 11, 17):
        first = turns(
            s, datetime(2026, 11, 3, hour, 0, tzinfo=NY), datetime(2026, 11, 6, 0, tzinfo=NY)
        )
        assert [(x.who, x.start, x.end) for x in first] == [("bob", *expected)]


def test_a_one_person_rotation_is_one_turn_per_handoff() -> None:
    s = Schedule("Solo", "America/New_York", [weekly(who=["alice"])])
    result = turns(
        s, datetime(2026, 11, 3, 12, 0, tzinfo=NY), datetime(2026, 11, 17, 12, 0, tzinfo=NY)
    )
    assert [(x.who, x.start.astimezone(NY).strftime("%m-%d %H:%M")) for x in result] == [
        ("alice", "11-02 09:00"),
        ("alice", "11-09 09:00"),
        ("alice", "11-16 09:00"),
    ]
    assert result[-1].end == datetime(2026, 11, 23, 9, 0, tzinfo=NY)
    # shifts() still shows the person's stretch as one
    assert len(shifts(s, result[0].start, result[-1].end)) == 1


def test_a_turn_cut_by_an_override_resumes_as_its_own_turn() -> None:
    override = Override(
        "carol", datetime(2026, 11, 4, 0, 0, tzinfo=NY), datetime(2026, 11, 5, 0, 0, tzinfo=NY)
    )
    s = Schedule("P", "America/New_York", [weekly()], [override])
    result = turns(
        s, datetime(2026, 11, 4, 12, 0, tzinfo=NY), datetime(2026, 11, 5, 12, 0, tzinfo=NY)
    )
    assert [(x.who, x.source, x.start, x.end) for x in result] == [
        ("carol", "override", override.start, override.end),
        ("bob", "layer 1", override.end, datetime(2026, 11, 9, 9, 0, tzinfo=NY)),
    ]


def test_an_absent_person_in_a_later_layer_leaves_the_earlier_layer_on_call() -> None:
    weekend = Layer(
        participants=["dave", "gina"],
        start=date(2026, 11, 28),
        rotation="every",
        every=timedelta(days=2),
        handoff_time=time(0, 0),
    )
    s = Schedule("P", "America/New_York", [weekly(), weekend], absent=frozenset({"dave"}))
    assert oncall_at(s, datetime(2026, 11, 28, 12, 0, tzinfo=NY)) == ("bob", "layer 1")
    assert oncall_at(s, datetime(2026, 11, 30, 12, 0, tzinfo=NY)) == ("gina", "layer 2")
    week = shifts(s, datetime(2026, 11, 28, tzinfo=NY), datetime(2026, 12, 2, tzinfo=NY))
    assert [(x.who, x.source) for x in week] == [("bob", "layer 1"), ("gina", "layer 2")]


def test_an_absent_persons_turn_is_a_gap_and_their_override_does_not_count() -> None:
    override = Override(
        "carol", datetime(2026, 11, 3, 0, 0, tzinfo=NY), datetime(2026, 11, 4, 0, 0, tzinfo=NY)
    )
    s = Schedule(
        "P", "America/New_York", [weekly()], [override], absent=frozenset({"bob", "carol"})
    )
    assert oncall_at(s, datetime(2026, 11, 3, 12, 0, tzinfo=NY)) == (None, "")
    holes = gaps(s, datetime(2026, 10, 26, 9, 0, tzinfo=NY), datetime(2026, 11, 16, 9, tzinfo=NY))
    assert [(x.start, x.end) for x in holes] == [
        (datetime(2026, 11, 2, 9, 0, tzinfo=NY), datetime(2026, 11, 9, 9, 0, tzinfo=NY))
    ]
