"""The Pod state machine, table by table: compute_pod_actions and its helpers (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from podhost.node import plan
from podhost.node.backoff import BackOff
from podhost.node.plan import BackOffWait, ContainerToKill, ContainerToStart, ProbeFailure
from podhost.node.pod_state import ContainerRecord

NOW = 1000.0
UID = "u1"


def pod(apps: list[str], inits: list[str] = (), sidecars: set[str] = frozenset(),
        policy: str = "Always", phase: str | None = None, deadline: int | None = None,
        meta: dict[str, Any] | None = None, spec: dict[str, Any] | None = None) -> dict:
    p: dict[str, Any] = {
        "metadata": {"name": "p", "namespace": "default", "uid": UID, **(meta or {})},
        "spec": {"restartPolicy": policy, "containers": [{"name": n, "image": "i"} for n in apps],
                 **(spec or {})},
        "status": {"phase": phase} if phase else {}}
    if inits:
        p["spec"]["initContainers"] = [
            {"name": n, "image": "i", **({"restartPolicy": "Always"} if n in sidecars else {})}
            for n in inits]
    if deadline is not None:
        p["spec"]["activeDeadlineSeconds"] = deadline
    return p


def running(name: str, cid: str = "", **kw: Any) -> ContainerRecord:
    rec = ContainerRecord(name, "i", id=cid or f"id-{name}", started_at="2026-01-01T00:00:00Z",
                          **kw)
    rec.waiting_reason = ""
    return rec


def exited(name: str, code: int, **kw: Any) -> ContainerRecord:
    rec = ContainerRecord(name, "i", id=f"id-{name}", started_at="2026-01-01T00:00:00Z",
                          finished_at="2026-01-01T00:00:05Z", exit_code=code, **kw)
    rec.waiting_reason = ""
    return rec


def waiting(name: str, reason: str = "ContainerCreating", **kw: Any) -> ContainerRecord:
    return ContainerRecord(name, "i", waiting_reason=reason, **kw)


@dataclass
class Case:
    name: str
    pod: dict
    records: list[ContainerRecord]
    expect: dict[str, Any]
    seen: dict[str, Any] = field(default_factory=dict)
    backoff: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (delay, last)


def compute(case: Case) -> plan.PodActions:
    records = plan.initial_records(case.pod, {r.name: r for r in case.records})
    for r in case.records:  # records of the table override the spec's flags they set
        if r.init:
            records[r.name].sidecar = r.sidecar or records[r.name].sidecar
    backoff = BackOff()
    for name, (delay, last) in case.backoff.items():
        backoff.entries[plan.backoff_key(UID, name)] = (delay, last)
    seen = plan.PodObservation(uid=UID, records=records, **case.seen)
    return plan.compute_pod_actions(case.pod, seen, NOW, backoff)


def init(name: str, rec: ContainerRecord) -> ContainerRecord:
    rec.init = True
    return rec


def start(name: str, **kw: Any) -> ContainerToStart:
    return ContainerToStart(name, **kw)


CASES = [
    # -- init containers, in order -----------------------------------------------------------
    Case("fresh pod starts the first init container",
         pod(["app"], ["i1", "i2"]), [],
         {"init_to_start": start("i1"), "containers_to_start": (), "initialized": False,
          "create_sandbox": False}),
    Case("second init container after the first succeeded",
         pod(["app"], ["i1", "i2"]), [init("i1", exited("i1", 0))],
         {"init_to_start": start("i2"), "containers_to_start": ()}),
    Case("a running init container is waited for",
         pod(["app"], ["i1", "i2"]), [init("i1", running("i1"))],
         {"init_to_start": None, "containers_to_start": (), "initialized": False}),
    Case("all init containers done: app containers start",
         pod(["a", "b"], ["i1"]), [init("i1", exited("i1", 0))],
         {"init_to_start": None, "containers_to_start": (start("a"), start("b")),
          "initialized": True}),
    Case("failed init container under Never: nothing more starts",
         pod(["app"], ["i1", "i2"], policy="Never"), [init("i1", exited("i1", 1))],
         {"init_to_start": None, "containers_to_start": (), "initialized": False}),
    Case("failed init container under OnFailure restarts, counted for back-off",
         pod(["app"], ["i1"], policy="OnFailure"), [init("i1", exited("i1", 2))],
         {"init_to_start": start("i1", count_restart=True, ran_for=5.0)}),
    Case("failed init container under Always restarts",
         pod(["app"], ["i1"]), [init("i1", exited("i1", 1))],
         {"init_to_start": start("i1", count_restart=True, ran_for=5.0)}),
    Case("failed init container in back-off waits",
         pod(["app"], ["i1"]), [init("i1", exited("i1", 1))],
         {"init_to_start": None, "back_off": (BackOffWait("i1", 7.0, 10.0),),
          "wake_after": 7.0},
         backoff={"i1": (10.0, NOW - 3.0)}),
    Case("app containers that ran mean initialised (after a restart of the node)",
         pod(["app"], ["i1"]), [init("i1", waiting("i1")), exited("app", 0, attempt=1)],
         {"init_to_start": None, "initialized": True,
          "containers_to_start": (start("app", count_restart=True, ran_for=5.0),)}),
    Case("once initialised, init containers never run again",
         pod(["app"], ["i1"]), [init("i1", exited("i1", 1)), running("app")],
         {"init_to_start": None, "containers_to_start": (), "initialized": True},
         seen={"initialized": True}),
    # -- native sidecars ---------------------------------------------------------------------
    Case("a sidecar starts before the next init container",
         pod(["app"], ["side", "i2"], sidecars={"side"}), [],
         {"init_to_start": start("side"), "containers_to_start": ()}),
    Case("a sidecar whose startup probe has not passed holds the next init container",
         pod(["app"], ["side", "i2"], sidecars={"side"}),
         [init("side", running("side", started_ok=False, sidecar=True))],
         {"init_to_start": None, "containers_to_start": ()}),
    Case("a started sidecar lets the next init container start",
         pod(["app"], ["side", "i2"], sidecars={"side"}),
         [init("side", running("side", sidecar=True))],
         {"init_to_start": start("i2")}),
    Case("a running sidecar and done init containers: app containers start",
         pod(["app"], ["side", "i2"], sidecars={"side"}),
         [init("side", running("side", sidecar=True)), init("i2", exited("i2", 0))],
         {"init_to_start": None, "containers_to_start": (start("app"),), "initialized": True}),
    Case("an exited sidecar restarts while app containers run",
         pod(["app"], ["side"], sidecars={"side"}),
         [init("side", exited("side", 1, sidecar=True)), running("app")],
         {"sidecars_to_start": (start("side", count_restart=True, ran_for=5.0),),
          "containers_to_start": ()}, seen={"initialized": True}),
    Case("sidecars restart even under restartPolicy Never",
         pod(["app"], ["side"], sidecars={"side"}, policy="Never"),
         [init("side", exited("side", 0, sidecar=True)), running("app")],
         {"sidecars_to_start": (start("side", count_restart=True, ran_for=5.0),)},
         seen={"initialized": True}),
    Case("no sidecar restart once the app containers are done",
         pod(["app"], ["side"], sidecars={"side"}, policy="Never"),
         [init("side", exited("side", 1, sidecar=True)), exited("app", 0)],
         {"sidecars_to_start": (), "stop_sidecars": False, "keep_terminated": ("app",)},
         seen={"initialized": True}),
    Case("app containers done: running sidecars are stopped",
         pod(["app"], ["side"], sidecars={"side"}, policy="OnFailure"),
         [init("side", running("side", sidecar=True)), exited("app", 0)],
         {"stop_sidecars": True, "containers_to_start": ()}, seen={"initialized": True}),
    Case("under Always app containers never finish: sidecars keep running",
         pod(["app"], ["side"], sidecars={"side"}),
         [init("side", running("side", sidecar=True)), exited("app", 0)],
         {"stop_sidecars": False,
          "containers_to_start": (start("app", count_restart=True, ran_for=5.0),)},
         seen={"initialized": True}),
    # -- restart policies ----------------------------------------------------------------------
    Case("Always restarts a container that succeeded",
         pod(["app"]), [exited("app", 0)],
         {"containers_to_start": (start("app", count_restart=True, ran_for=5.0),)}),
    Case("Always restarts a container that failed",
         pod(["app"]), [exited("app", 3)],
         {"containers_to_start": (start("app", count_restart=True, ran_for=5.0),)}),
    Case("OnFailure keeps a container that succeeded",
         pod(["app"], policy="OnFailure"), [exited("app", 0)],
         {"containers_to_start": (), "keep_terminated": ("app",)}),
    Case("OnFailure restarts a container that failed",
         pod(["app"], policy="OnFailure"), [exited("app", 1)],
         {"containers_to_start": (start("app", count_restart=True, ran_for=5.0),)}),
    Case("Never keeps a container that failed",
         pod(["app"], policy="Never"), [exited("app", 1)],
         {"containers_to_start": (), "keep_terminated": ("app",)}),
    Case("Never keeps a container that succeeded; the other one still starts",
         pod(["a", "b"], policy="Never"), [exited("a", 0)],
         {"containers_to_start": (start("b"),), "keep_terminated": ("a",)}),
    Case("running containers are left alone",
         pod(["a", "b"]), [running("a"), running("b")],
         {"containers_to_start": (), "containers_to_kill": (), "wake_after": None}),
    # -- crash-loop back-off -------------------------------------------------------------------
    Case("back-off: waits out the delay, with the delay for the message",
         pod(["app"]), [exited("app", 1)],
         {"containers_to_start": (), "back_off": (BackOffWait("app", 15.0, 20.0),),
          "wake_after": 15.0},
         backoff={"app": (20.0, NOW - 5.0)}),
    Case("back-off over: restarted and counted",
         pod(["app"]), [exited("app", 1)],
         {"containers_to_start": (start("app", count_restart=True, ran_for=5.0),),
          "back_off": ()},
         backoff={"app": (10.0, NOW - 11.0)}),
    Case("back-off: the earliest wake-up of several waits",
         pod(["a", "b"]), [exited("a", 1), exited("b", 1)],
         {"wake_after": 2.0},
         backoff={"a": (10.0, NOW - 1.0), "b": (10.0, NOW - 8.0)}),
    Case("RunContainerError waits out the back-off too",
         pod(["app"]), [waiting("app", "RunContainerError")],
         {"containers_to_start": (), "back_off": (BackOffWait("app", 9.0, 10.0),)},
         backoff={"app": (10.0, NOW - 1.0)}),
    Case("ran for ten minutes: the run time goes to BackOff.next (which resets it)",
         pod(["app"]),
         [ContainerRecord("app", "i", id="x", started_at="2026-01-01T00:00:00Z",
                          finished_at="2026-01-01T00:10:00Z", exit_code=1, waiting_reason="")],
         {"containers_to_start": (start("app", count_restart=True, ran_for=600.0),)}),
    Case("a config error of a container that never ran is retried without back-off",
         pod(["app"]), [waiting("app", "CreateContainerConfigError")],
         {"containers_to_start": (start("app", config_retry=True),), "back_off": ()},
         backoff={"app": (10.0, NOW - 1.0)}),
    Case("a config error retry waits for its time",
         pod(["app"]), [waiting("app", "CreateContainerConfigError")],
         {"containers_to_start": (), "wake_after": 4.0},
         seen={"config_retry_at": {"app": NOW + 4.0}}),
    Case("a config error after the container ran is crash-loop backed off",
         pod(["app"]),
         [waiting("app", "CreateContainerError", last_state={"terminated": {"exitCode": 1}})],
         {"containers_to_start": (), "back_off": (BackOffWait("app", 9.0, 10.0),)},
         backoff={"app": (10.0, NOW - 1.0)}),
    Case("an image pull back-off is not a crash loop: started (the pull waits)",
         pod(["app"]), [waiting("app", "ImagePullBackOff")],
         {"containers_to_start": (start("app"),)}),
    # -- probes ------------------------------------------------------------------------------
    Case("a liveness failure of the running attempt kills it",
         pod(["app"]), [running("app", cid="c1")],
         {"containers_to_kill": (ContainerToKill(
             "app", "liveness probe", "Container app failed liveness probe, will be restarted"),),
          "containers_to_start": ()},
         seen={"probe_failures": {"app": ProbeFailure("Liveness", "c1")}}),
    Case("a startup failure kills with the probe's grace period",
         pod(["app"]), [running("app", cid="c1")],
         {"containers_to_kill": (ContainerToKill(
             "app", "startup probe", "Container app failed startup probe, will be restarted",
             5.0),)},
         seen={"probe_failures": {"app": ProbeFailure("Startup", "c1", 5.0)}}),
    Case("a verdict about an earlier attempt is ignored",
         pod(["app"]), [running("app", cid="c2")],
         {"containers_to_kill": ()},
         seen={"probe_failures": {"app": ProbeFailure("Liveness", "c1")}}),
    Case("a liveness verdict for a container that already ended is ignored; it restarts",
         pod(["app"]), [exited("app", 137)],
         {"containers_to_kill": (),
          "containers_to_start": (start("app", count_restart=True, ran_for=5.0),)},
         seen={"probe_failures": {"app": ProbeFailure("Liveness", "id-app")}}),
    # -- activeDeadlineSeconds -----------------------------------------------------------------
    Case("past activeDeadlineSeconds the Pod is killed and fails",
         pod(["app"], deadline=5), [running("app")],
         {"kill_pod": ("DeadlineExceeded", plan.DEADLINE_MESSAGE), "containers_to_start": ()},
         seen={"active_seconds": 10.0}),
    Case("before activeDeadlineSeconds: woken when it passes",
         pod(["app"], deadline=5), [running("app")],
         {"kill_pod": None, "wake_after": 3.0}, seen={"active_seconds": 2.0}),
    Case("the deadline counts from the start: not started, no deadline yet",
         pod(["app"], deadline=5), [],
         {"kill_pod": None, "wake_after": None, "containers_to_start": (start("app"),)}),
    Case("a Pod that already failed its deadline does nothing more",
         pod(["app"], deadline=5), [exited("app", 137)],
         {"kill_pod": None, "containers_to_start": ()},
         seen={"active_seconds": 10.0, "failed": True}),
    # -- finished Pods, sandbox ----------------------------------------------------------------
    Case("a finished Pod releases its volumes and sandbox",
         pod(["app"], policy="Never", phase="Succeeded"), [exited("app", 0)],
         {"clean_up_terminal": True, "containers_to_start": ()}),
    Case("an evicted Pod whose containers still run has them stopped",
         pod(["app"], phase="Failed"), [running("app")],
         {"stop_all": True, "clean_up_terminal": False, "containers_to_start": ()}),
    Case("no sandbox yet: made first",
         pod(["app"]), [], {"create_sandbox": True, "containers_to_start": (start("app"),)},
         seen={"sandbox_ready": False}),
    # -- ephemeral containers (kubectl debug) --------------------------------------------------
    Case("a new ephemeral container is started beside running app containers",
         pod(["app"], spec={"ephemeralContainers": [{"name": "dbg", "image": "b"}]}),
         [running("app")],
         {"ephemerals_to_start": (start("dbg"),), "containers_to_start": ()}),
    Case("a running ephemeral container is left alone",
         pod(["app"], spec={"ephemeralContainers": [{"name": "dbg", "image": "b"}]}),
         [running("app"), running("dbg", ephemeral=True)],
         {"ephemerals_to_start": ()}),
    Case("an ephemeral container that ended is never restarted, whatever the policy",
         pod(["app"], spec={"ephemeralContainers": [{"name": "dbg", "image": "b"}]}),
         [running("app"), exited("dbg", 1, ephemeral=True)],
         {"ephemerals_to_start": (), "back_off": (), "containers_to_start": ()}),
    Case("an ephemeral container starts while an init container still runs",
         pod(["app"], ["i1"], spec={"ephemeralContainers": [{"name": "dbg", "image": "b"}]}),
         [init("i1", running("i1"))],
         {"ephemerals_to_start": (start("dbg"),), "init_to_start": None,
          "containers_to_start": ()}),
    Case("an ephemeral container whose config failed waits for the retry time",
         pod(["app"], spec={"ephemeralContainers": [{"name": "dbg", "image": "b"}]}),
         [running("app"), waiting("dbg", "CreateContainerConfigError", ephemeral=True)],
         {"ephemerals_to_start": (), "wake_after": 4.0},
         seen={"config_retry_at": {"dbg": NOW + 4.0}}),
    Case("a finished Pod starts no ephemeral container",
         pod(["app"], policy="Never", phase="Succeeded",
             spec={"ephemeralContainers": [{"name": "dbg", "image": "b"}]}),
         [exited("app", 0)], {"clean_up_terminal": True, "ephemerals_to_start": ()}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_compute_pod_actions(case: Case) -> None:
    actions = compute(case)
    for key, want in case.expect.items():
        assert getattr(actions, key) == want, key


SHOULD_RESTART = [("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False),
                  ("OnFailure", 137, True), ("Never", 0, False), ("Never", 1, False)]


@pytest.mark.parametrize(("policy", "code", "want"), SHOULD_RESTART)
def test_should_restart(policy: str, code: int, want: bool) -> None:
    assert plan.should_restart(policy, code) is want


GRACE = [
    ({}, {}, False, 30.0),
    ({}, {"terminationGracePeriodSeconds": 5}, False, 5.0),
    ({"deletionTimestamp": "t", "deletionGracePeriodSeconds": 2},
     {"terminationGracePeriodSeconds": 5}, True, 2.0),
    ({}, {"terminationGracePeriodSeconds": 5}, True, 0.0),  # removed without a graceful delete
    ({"deletionTimestamp": "t", "deletionGracePeriodSeconds": 0}, {}, False, 0.0),
]


@pytest.mark.parametrize(("meta", "spec", "removed", "want"), GRACE)
def test_termination_grace(meta: dict, spec: dict, removed: bool, want: float) -> None:
    assert plan.termination_grace(pod(["app"], meta=meta, spec=spec), removed) == want


def test_termination_order_apps_first_then_sidecars_in_reverse() -> None:
    p = pod(["a", "b"], ["s1", "i", "s2"], sidecars={"s1", "s2"})
    records = plan.initial_records(p)
    for name in ("a", "b", "s1", "s2"):
        rec = records[name]
        rec.id, rec.started_at, rec.waiting_reason = f"id-{name}", "t", ""
    first, sidecars = plan.termination_order(p, records)
    assert [r.name for r in first] == ["a", "b"]
    assert [r.name for r in sidecars] == ["s2", "s1"]


def test_initial_records_wait_for_init_containers() -> None:
    records = plan.initial_records(pod(["app"], ["i1", "side"], sidecars={"side"}))
    assert records["app"].waiting_reason == "PodInitializing"
    assert records["i1"].waiting_reason == "ContainerCreating" and records["i1"].init
    assert records["side"].sidecar and not records["i1"].sidecar


def test_the_plan_does_not_change_its_inputs() -> None:
    case = CASES[0]
    records = plan.initial_records(case.pod)
    before = {n: (r.waiting_reason, r.attempt, r.id) for n, r in records.items()}
    plan.compute_pod_actions(case.pod, plan.PodObservation(uid=UID, records=records), NOW,
                             BackOff())
    assert {n: (r.waiting_reason, r.attempt, r.id) for n, r in records.items()} == before


def test_ephemeral_records_and_termination() -> None:
    p = pod(["a"], spec={"ephemeralContainers": [{"name": "dbg", "image": "b"}]})
    records = plan.initial_records(p)
    assert records["dbg"].ephemeral and not records["dbg"].init
    assert records["dbg"].waiting_reason == "ContainerCreating"
    for name in ("a", "dbg"):
        rec = records[name]
        rec.id, rec.started_at, rec.waiting_reason = f"id-{name}", "t", ""
    first, _ = plan.termination_order(p, records)
    assert [r.name for r in first] == ["a", "dbg"]
    assert [r.name for r in plan.ephemerals_of(p, records)] == ["dbg"]
    assert [r.name for r in plan.apps_of(p, records)] == ["a"]
