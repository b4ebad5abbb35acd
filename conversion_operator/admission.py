"""Admission and fair queueing of converter Jobs (pure: plain values in, a plan out).

Every converter Job is created suspended; the operator admits (unsuspends) Jobs while fewer than
``cluster_cap`` run in the namespace, and never more than ``user_cap`` for one owner. Which queued
Job goes next: the owner with the fewest running (their share), ties to the owner whose oldest
queued Job waited longest; within one owner, higher ``spec.priority`` first, then the oldest. So one owner's
backlog of 500 never delays another owner's first Job by more than one slot.

Nothing is kept in memory: the plan is made from the cluster as listed on each pass (the Jobs'
``spec.suspend`` says which run), so a restart or the other peer carries on where this one was.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

PRIORITIES = {"high": 0, "normal": 1, "low": 2}  # spec.priority, the first goes first
DEFAULT_PRIORITY = "normal"

# status.queue.reason
CLUSTER_FULL = "ClusterCapReached"
USER_FULL = "UserCapReached"
NEXT = "NextInLine"


@dataclass(frozen=True)
class Waiting:
    """A ConversionJob whose Job is suspended (queued)."""

    name: str
    owner: str
    created: str  # the ConversionJob's creationTimestamp (RFC 3339 sorts as text)
    priority: str = DEFAULT_PRIORITY


@dataclass(frozen=True)
class Place:
    """Where a queued job stands: ``position`` 1 is admitted next."""

    position: int
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    admit: list[str] = field(default_factory=list)  # names to unsuspend now, in order
    places: dict[str, Place] = field(default_factory=dict)  # the rest: where each stands


def _own_order(job: Waiting) -> tuple[int, str, str]:
    return PRIORITIES.get(job.priority, PRIORITIES[DEFAULT_PRIORITY]), job.created, job.name


def order(waiting: Iterable[Waiting], running: Mapping[str, int]) -> list[Waiting]:
    """All queued jobs in the order they would be admitted if slots freed one at a time and no
    more arrived: round-robin over owners (fewest running first, then the longest waiting)."""
    queues: dict[str, list[Waiting]] = defaultdict(list)
    for job in waiting:
        queues[job.owner].append(job)
    for jobs in queues.values():
        jobs.sort(key=_own_order)
    share = {owner: running.get(owner, 0) for owner in queues}
    out: list[Waiting] = []
    while queues:
        owner = min(queues, key=lambda o: (share[o], min(j.created for j in queues[o]), o))
        out.append(queues[owner].pop(0))
        share[owner] += 1
        if not queues[owner]:
            del queues[owner]
    return out


def plan(waiting: Iterable[Waiting], running: Mapping[str, int], cluster_cap: int, user_cap: int) -> Plan:
    """Which queued jobs to admit now (within both caps), and the place of every other one."""
    total = sum(running.values())
    counts = dict(running)
    result = Plan()
    later: list[Waiting] = []
    for job in order(waiting, running):
        if total < cluster_cap and counts.get(job.owner, 0) < user_cap:
            result.admit.append(job.name)
            total += 1
            counts[job.owner] = counts.get(job.owner, 0) + 1
        else:
            later.append(job)
    for position, job in enumerate(later, start=1):
        result.places[job.name] = _place(position, counts.get(job.owner, 0), total, cluster_cap, user_cap)
    return result


def _place(position: int, owner_running: int, total: int, cluster_cap: int, user_cap: int) -> Place:
    if owner_running >= user_cap:
        reason = USER_FULL
        why = f"its owner already has {owner_running} conversion(s) running (at most {user_cap} per user)"
    elif total >= cluster_cap:
        reason = CLUSTER_FULL
        why = f"{total} conversion(s) are running (at most {cluster_cap} at once)"
    else:
        reason, why = NEXT, "a slot is free"
    return Place(position, reason, f"Queued at position {position}: {why}.")
