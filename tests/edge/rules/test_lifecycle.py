from edge.rules.lifecycle import Lifecycle
from protocol import EventPhase


def run(lc: Lifecycle, pattern: list[tuple[int, bool, int]]) -> list[tuple[int, str, int]]:
    out = []
    for ts, holds, count in pattern:
        t = lc.step(ts, holds, count=count)
        if t:
            out.append((ts, t.phase.value, t.seq))
    return out


def test_confirmation_needs_consecutive_frames() -> None:
    lc = Lifecycle(confirm_frames=3, end_after_s=1, cooldown_s=0, update_interval_s=60)
    # two hits, a miss, then three hits: only the last run confirms
    got = run(
        lc, [(0, True, 1), (200, True, 1), (400, False, 0), (600, True, 1), (800, True, 1), (1000, True, 1)]
    )
    assert got == [(1000, "new", 0)]


def test_one_event_for_one_situation_then_end_and_cooldown() -> None:
    lc = Lifecycle(confirm_frames=1, end_after_s=2, cooldown_s=10, update_interval_s=5)
    pattern = [(t * 1000, True, 1) for t in range(12)]  # present 0–11 s
    pattern += [(t * 1000, False, 0) for t in range(12, 15)]  # gone: end after 2 s of absence
    pattern += [(t * 1000, True, 1) for t in range(15, 20)]  # back inside the cooldown: silent
    pattern += [(t * 1000, True, 1) for t in range(25, 27)]  # after the cooldown: a new event
    got = run(lc, pattern)
    assert [(p, s) for _, p, s in got] == [("new", 0), ("update", 1), ("update", 2), ("end", 3), ("new", 0)]
    assert [ts for ts, _, _ in got] == [0, 5000, 10000, 13000, 25000]


def test_end_carries_the_last_time_the_condition_held() -> None:
    lc = Lifecycle(confirm_frames=2, end_after_s=3, cooldown_s=0, update_interval_s=60)
    lc.step(1000, True, count=1)
    new = lc.step(1200, True, count=1)
    assert new is not None and new.phase is EventPhase.NEW and new.started_ms == 1000
    lc.step(4000, True, count=1)
    end = lc.step(7500, False)
    assert end is not None and end.phase is EventPhase.END
    assert end.ended_ms == 4000 and end.event_id == new.event_id


def test_a_new_peak_is_told_soon_and_flicker_is_not() -> None:
    lc = Lifecycle(confirm_frames=1, end_after_s=5, cooldown_s=0, update_interval_s=10)
    got = run(
        lc, [(0, True, 2), (200, True, 1), (400, True, 2), (600, True, 1), (1500, True, 3), (1700, True, 2)]
    )
    assert got == [(0, "new", 0), (1500, "update", 1)]


def test_close_ends_a_running_event_and_is_idempotent() -> None:
    lc = Lifecycle(confirm_frames=1, end_after_s=5, cooldown_s=0, update_interval_s=10)
    lc.step(0, True, count=1)
    assert lc.close(100) is not None
    assert lc.close(200) is None
