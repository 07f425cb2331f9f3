from __future__ import annotations

from datetime import timedelta

from podhost.api import meta, table


def pod(**status):
    return {"metadata": {"name": "p", "creationTimestamp": meta.rfc3339()},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": status}


def running(name, ready=True, restarts=0):
    return {"name": name, "ready": ready, "restartCount": restarts,
            "state": {"running": {"startedAt": meta.rfc3339()}}}


def test_running_pod_row() -> None:
    cells = table.pod_cells(pod(phase="Running", containerStatuses=[running("a"), running("b")]),
                            meta.now())
    assert cells[:4] == ["p", "2/2", "Running", "0"]
    assert cells[5:] == ["<none>", "<none>", "<none>", "<none>"]


def test_container_creating_and_terminating() -> None:
    waiting = {"name": "a", "ready": False, "restartCount": 0,
               "state": {"waiting": {"reason": "ContainerCreating"}}}
    assert table.pod_cells(pod(phase="Pending", containerStatuses=[waiting]),
                           meta.now())[2] == "ContainerCreating"
    p = pod(phase="Running", containerStatuses=[running("a"), running("b")])
    p["metadata"]["deletionTimestamp"] = meta.rfc3339()
    assert table.pod_cells(p, meta.now())[2] == "Terminating"


def test_completed_and_error() -> None:
    done = {"name": "a", "ready": False, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    failed = {"name": "b", "ready": False, "restartCount": 0,
              "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}
    assert table.pod_cells(pod(phase="Failed", containerStatuses=[done, failed]),
                           meta.now())[2] == "Completed"  # the first container wins


def test_human_age() -> None:
    assert meta.human_age(5) == "5s"
    assert meta.human_age(150) == "2m30s"
    assert meta.human_age(3600 * 3) == "3h"
    assert meta.human_age(timedelta(days=3).total_seconds()) == "3d"
