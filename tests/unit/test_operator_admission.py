"""The admission order (conversion_operator/admission.py): caps, round-robin over owners, priority."""

from __future__ import annotations

from conversion_operator.admission import CLUSTER_FULL, USER_FULL, Waiting, order, plan


def backlog(owner: str, n: int, start: int = 0, priority: str = "normal") -> list[Waiting]:
    return [
        Waiting(f"{owner}-{i:02d}", owner, f"2026-12-01T04:{start + i:02d}:00Z", priority) for i in range(n)
    ]


def test_a_late_owner_waits_at_most_one_slot_behind_a_backlog() -> None:
    a, b = backlog("a", 30), backlog("b", 1, start=40)
    first = plan(a + b, {}, cluster_cap=2, user_cap=5)
    assert first.admit == ["a-00", "b-00"]  # b's only job takes the second slot at once
    busy = plan(a[2:] + b, {"a": 2}, cluster_cap=2, user_cap=5)
    assert busy.admit == []
    assert busy.places["b-00"].position == 1 and busy.places["b-00"].reason == CLUSTER_FULL
    assert busy.places["a-02"].position == 2
    freed = plan(a[2:] + b, {"a": 1}, cluster_cap=2, user_cap=5)
    assert freed.admit == ["b-00"]


def test_the_per_user_cap_holds_and_leaves_slots_to_others() -> None:
    result = plan(backlog("a", 5), {}, cluster_cap=4, user_cap=2)
    assert result.admit == ["a-00", "a-01"]
    assert [result.places[f"a-0{i}"].position for i in (2, 3, 4)] == [1, 2, 3]
    assert {p.reason for p in result.places.values()} == {USER_FULL}
    assert "at most 2 per user" in result.places["a-02"].message


def test_priority_orders_one_owners_jobs_only() -> None:
    jobs = [*backlog("a", 3), Waiting("a-high", "a", "2026-12-01T05:00:00Z", "high")]
    jobs += [Waiting("a-low", "a", "2026-12-01T03:00:00Z", "low"), *backlog("b", 1, start=50)]
    names = [w.name for w in order(jobs, {})]
    assert names[:3] == ["a-high", "b-00", "a-00"]  # high first for a; b still gets its turn
    assert names[-1] == "a-low"


def test_round_robin_alternates_owners_by_running_share() -> None:
    names = [w.name for w in order(backlog("a", 3) + backlog("b", 3, start=10), {"a": 1})]
    assert names == ["b-00", "a-00", "b-01", "a-01", "b-02", "a-02"]


def test_free_slots_admit_everything_queued() -> None:
    result = plan(backlog("a", 2) + backlog("b", 2), {}, cluster_cap=10, user_cap=10)
    assert sorted(result.admit) == ["a-00", "a-01", "b-00", "b-01"] and result.places == {}
