"""One soak, start to end: the release with two operators, users, the workload and the faults side
by side, quiet, the facts, every job deleted, the invariants; the devstack's values restored."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from rich.console import Console

from bench.chaos import facts, faults, invariants, workload
from bench.chaos.client import Api, Ledger, User
from bench.chaos.invariants import Outcome
from bench.chaos.workload import Submission
from bench.report import load_average
from common import storage
from common.resources import COMPONENT_LABEL, video_id_of
from devstack.kube import Kube
from devstack.process import wait_until
from devstack.servers.release import NAMESPACE, Release
from devstack.stack import Stack

OPERATORS = 2  # the soak kills operator pods: peering must hand over to the other replica
MAIL_WAIT = 240.0  # seconds for every finished job's email after the last fault (SMTP retries back off)
SETTLE = 8.0  # seconds more, in which a second email or a late message would show
CLEANUP_WAIT = 240.0  # seconds for the finalizers to remove every deleted job's objects and files
UPLOAD_SPREAD = 0.9  # of the faults' window: uploads begin over most of it, so late faults meet jobs too
SHORT_RUN = 20  # N up to which the long input is 4 minutes of audio (10 above)
PROBE_SECONDS = 1.0  # between the prober's requests while faults are injected
FOLLOW_LIMIT = 900.0  # seconds after the faults end that a job may still be running before the soak gives up


@dataclasses.dataclass(frozen=True)
class Options:
    n: int
    faults: int
    seed: int
    window: float  # seconds in which the faults are scheduled

    @classmethod
    def of(cls, n: int, count: int, seed: int, window: float | None = None) -> Options:
        return cls(n, count, seed, window if window is not None else max(60.0, 5.0 * n))


def run(options: Options, console: Console) -> dict[str, Any]:
    """The soak; its record (what ``report`` writes), with ``passed`` True if every invariant held."""
    stack = Stack()
    stack.up()  # idempotent: reuses what runs
    release = stack["mp4mp3"]
    assert isinstance(release, Release)
    env = stack.env()
    console.print(
        f"chaos: seed {options.seed} (replay with --seed {options.seed}), N={options.n}, "
        f"{options.faults} faults in {options.window:.0f} s"
    )
    release.install("--set", f"operator.replicaCount={OPERATORS}")
    try:
        return _soak(stack, env, options, console)
    finally:
        # a server an interrupted fault left stopped starts again (not the release: that would
        # upgrade it to `make up`'s values before the install below does the same)
        stack.up([name for name in stack.servers if name != release.name])
        release.install()  # the devstack's own values again
        _one_operator(stack)


def _soak(stack: Stack, env: dict[str, str], options: Options, console: Console) -> dict[str, Any]:
    started, load_before = time.monotonic(), load_average()
    wall_start = time.time()
    ledger = Ledger()
    api = Api(env["GATEWAY_URL"], env["AUTH_URL"], ledger)
    parked_before = {q.name: q.messages for q in _queues(stack, env)}
    rng = random.Random(options.seed)
    users = [User(api, f"u{i}") for i in range(max(3, math.ceil(options.n / workload.UPLOADS_PER_USER)))]
    kinds = workload.inputs(short=options.n <= SHORT_RUN)
    subs = workload.plan(options.n, users, kinds, rng, spread=options.window * UPLOAD_SPREAD)
    schedule = faults.schedule(options.seed, options.faults, options.window)
    injector = faults.Injector(stack, schedule, lambda line: console.print(f"  {line}"))
    stop = threading.Event()
    finished: list[Submission] = []
    lock = threading.Lock()

    def done(sub: Submission) -> None:
        with lock:
            finished.append(sub)

    t0, t0_wall = time.monotonic(), time.time()
    injector.start(t0)
    worker = threading.Thread(target=workload.submit_all, args=(subs, t0, stop, done), daemon=True)
    worker.start()
    faults_over = threading.Event()
    prober = threading.Thread(target=_probe, args=(users[0], faults_over), daemon=True)
    prober.start()
    try:
        injector.join()
    except BaseException:  # interrupted (Ctrl-C): no further fault; the one under way ends first
        injector.stop()
        stop.set()
        injector.join()
        raise
    faults_over.set()
    prober.join()
    console.print(f"  faults over at +{time.monotonic() - started:.0f} s; waiting for the jobs")
    _wait(lambda: len(finished) == len(subs), FOLLOW_LIMIT, console, "every job followed to its end")
    stop.set()
    worker.join(timeout=60)
    outcomes = _outcomes(subs, users)
    console.print(f"  jobs ended at +{time.monotonic() - started:.0f} s; waiting for their emails")
    mail_dir = Path(env["MAIL_DIR"])
    _wait(lambda: _all_mailed(outcomes, facts.mails(mail_dir, wall_start)), MAIL_WAIT, console, "every email")
    time.sleep(SETTLE)
    mails = facts.mails(mail_dir, wall_start)
    db = storage.database(env["MONGO_URI"], serverSelectionTimeoutMS=30000)
    owners = {o.job: _owner(users, o.owner_email) for o in outcomes}
    mp3s = [facts.mp3_of(db, owners[o.job], o.job) for o in outcomes if o.phase == "Succeeded"]
    expected = {s.job_id: s.input.expected_seconds() for s in subs if s.job_id}
    kube = Kube.from_kubeconfig(stack.cfg.kubeconfig)
    try:
        mp3_ids = _mp3_ids(kube, {o.job for o in outcomes})
        console.print(f"  deleting {len(outcomes)} jobs at +{time.monotonic() - started:.0f} s")
        _delete_all(outcomes, owners)
        names = {o.job for o in outcomes}
        _wait(lambda: not any(facts.kube_left(kube, names).values()), CLEANUP_WAIT, console, "cleanup")
        kube_left = facts.kube_left(kube, names)
    finally:
        kube.close()
    _wait(lambda: not _busy_queues(stack, env), 60, console, "empty queues")
    videos = [ObjectId(v) for v in (video_id_of(name) for name in owners) if v]
    gridfs_left = facts.gridfs_left(db, [u.id for u in users], videos, mp3_ids)
    queues = _queues(stack, env)
    api.close()
    outages = [(f.started, f.ended) for f in injector.done]
    checks = [
        invariants.terminal(outcomes),
        invariants.emails(outcomes, mails),
        invariants.mp3s(mp3s, expected),
        invariants.leftovers(gridfs_left, kube_left, queues, parked_before),
        invariants.answers(ledger.answers, outages),
    ]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "run": {
            **dataclasses.asdict(options),
            "seconds": round(time.monotonic() - started, 1),
            "users": len(users),
            "t0": t0_wall,  # when the schedule's clock started (the faults' "at" counts from it)
            "load_before": load_before,
            "load_after": load_average(),
        },
        "passed": all(c.held for c in checks),
        "invariants": [invariants.as_json(c) for c in checks],
        "schedule": [dataclasses.asdict(f) for f in schedule],
        "injected": [f.as_json() for f in injector.done],
        "uploads": _upload_counts(subs),
        "submissions": [_submission_json(s) for s in subs],
        "unacknowledged": [o.job for o in outcomes if not o.acknowledged],
        "queues": [dataclasses.asdict(q) for q in queues],
        "answers": [dataclasses.asdict(a) for a in ledger.answers if a.status == 0 or a.status >= 500],
    }


def _probe(user: User, over: threading.Event) -> None:
    """GET /jobs once a second until the faults are over, not retried: what a client asking at any
    moment of an outage is answered, even when no job of the workload is being followed then."""
    while not over.wait(PROBE_SECONDS):
        user.call("GET", "/jobs?limit=5", "/jobs", retry=False)


def _outcomes(subs: list[Submission], users: list[User]) -> list[Outcome]:
    """The jobs the soak made: those answered 202, and any the gateway lists that were never
    answered (a gateway killed after storing an upload): those are followed to their end too."""
    out = [Outcome(s.job_id, s.user.email, s.phase, s.reason, acknowledged=True) for s in subs if s.job_id]
    known = {o.job for o in out}
    for user in users:
        for job_id in user.listed():
            if job_id not in known:
                out.append(_followed(user, job_id))
    return out


def _followed(user: User, job_id: str) -> Outcome:
    deadline = time.monotonic() + 300
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = user.job(job_id)
        if resp is not None and resp.status_code == 200:
            job = resp.json()
            if job.get("phase") in workload.TERMINAL:
                break
        time.sleep(1)
    return Outcome(job_id, user.email, job.get("phase"), job.get("reason"), acknowledged=False)


def _all_mailed(outcomes: list[Outcome], mails: list[facts.Mail]) -> bool:
    mailed = {m.job for m in mails}
    return all(o.job in mailed for o in outcomes if o.phase in ("Succeeded", "Failed"))


def _owner(users: list[User], email: str) -> User:
    return next(u for u in users if u.email == email)


def _mp3_ids(kube: Kube, names: set[str]) -> list[ObjectId]:
    """The MP3 ids the ConversionJobs name (to look for their chunks once they are deleted)."""
    crs = facts.conversion_jobs(kube, names)
    ids = [str((cr.get("status") or {}).get("mp3Id") or "") for cr in crs.values()]
    return [ObjectId(i) for i in ids if ObjectId.is_valid(i)]


def _delete_all(outcomes: list[Outcome], owners: dict[str, User]) -> None:
    for outcome in outcomes:
        if outcome.phase != "Cancelled":
            owners[outcome.job].delete(outcome.job)  # 204, or 404 for one already gone


def _queues(stack: Stack, env: dict[str, str]) -> list[facts.Queue]:
    return facts.queues(env["AMQP_URL"], stack.cfg.ports.rabbitmq_management)


def _busy_queues(stack: Stack, env: dict[str, str]) -> list[str]:
    return [q.name for q in _queues(stack, env) if q.messages and not q.name.endswith(facts.PARKED_SUFFIX)]


def _wait(condition: Callable[[], bool], timeout: float, console: Console, what: str) -> None:
    """Until ``condition`` (errors count as not yet), or report that it did not come."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # a server may still be coming back: ask again
            pass
        time.sleep(1)
    console.print(f"  [yellow]gave up waiting for {what} after {timeout:.0f} s[/]")


def _one_operator(stack: Stack) -> None:
    kube = Kube.from_kubeconfig(stack.cfg.kubeconfig)
    path = f"/api/v1/namespaces/{NAMESPACE}/pods"

    def settled() -> bool:
        pods = kube.get(path, labelSelector=f"{COMPONENT_LABEL}=operator")["items"]
        return len(pods) == 1 and not pods[0]["metadata"].get("deletionTimestamp")

    try:
        wait_until(settled, 120, "one operator pod after the soak")
    finally:
        kube.close()


def _upload_counts(subs: list[Submission]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sub in subs:
        key = f"{sub.input.kind}: {sub.status or 'no answer'}"
        counts[key] = counts.get(key, 0) + 1
    cancelled = sum(1 for s in subs if s.cancelled_at)
    meant = sum(1 for s in subs if s.cancel)
    return {**dict(sorted(counts.items())), "cancelled midway": cancelled, "meant to be cancelled": meant}


def _submission_json(sub: Submission) -> dict[str, Any]:
    return {
        "index": sub.index,
        "user": sub.user.email,
        "kind": sub.input.kind,
        "options": sub.input.options,
        "status": sub.status,
        "job": sub.job_id,
        "phase": sub.phase,
        "reason": sub.reason,
        "cancel": sub.cancel,
        "cancelled_at": sub.cancelled_at,
        "cancel_missed": sub.cancel_missed,
        "max_progress_seen": max(sub.progress_seen, default=None),
    }
