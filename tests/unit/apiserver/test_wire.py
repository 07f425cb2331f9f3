"""Wire details clients print: the status line's reason phrase, the newline after JSON bodies,
resources qualified with their group in Status (apimachinery's errors.go shapes)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from podhost.api import errors
from podhost.apiserver import http
from podhost.apiserver.http import Request, Response
from tests.unit.apiserver.helpers import call, make_api, request

DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
          "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
              "metadata": {"labels": {"app": "web"}},
              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_not_found_is_qualified_with_the_group() -> None:
    status = errors.NotFoundError.of("deployments", "web").to_status()
    assert status["message"] == 'deployments.apps "web" not found'
    assert status["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    assert list(status["details"]) == ["name", "group", "kind"]  # the API's field order
    core = errors.NotFoundError.of("pods", "p").to_status()
    assert core["message"] == 'pods "p" not found'
    assert core["details"] == {"name": "p", "kind": "pods"}


def test_already_exists_conflict_forbidden_invalid_shapes() -> None:
    exists = errors.AlreadyExistsError.of("roles", "r").to_status()
    assert exists["message"] == 'roles.rbac.authorization.k8s.io "r" already exists'
    assert exists["details"]["group"] == "rbac.authorization.k8s.io"
    conflict = errors.ConflictError.modified("statefulsets", "db").to_status()
    assert conflict["message"] == (
        'Operation cannot be fulfilled on statefulsets.apps "db": the object has been modified;'
        " please apply your changes to the latest version and try again")
    assert conflict["details"] == {"name": "db", "group": "apps", "kind": "statefulsets"}
    forbidden = errors.ForbiddenError.of("jobs", "j", "because").to_status()
    assert forbidden["message"] == 'jobs.batch "j" is forbidden: because'
    assert forbidden["details"] == {"name": "j", "group": "batch", "kind": "jobs"}
    invalid = errors.InvalidError("Deployment", "web", [errors.required("spec.selector")])
    status = invalid.to_status()
    assert status["message"] == 'Deployment.apps "web" is invalid: spec.selector: Required value'
    assert list(status["details"]) == ["name", "group", "kind", "causes"]
    assert status["details"]["group"] == "apps" and status["details"]["kind"] == "Deployment"
    options = errors.InvalidError("PatchOptions.meta.k8s.io", "", []).to_status()
    assert options["details"]["group"] == "meta.k8s.io"
    assert options["details"]["kind"] == "PatchOptions"


def test_api_answers_qualified_statuses_ending_in_a_newline(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        assert (await call(api, "POST", DEPLOYMENTS, DEPLOY))[0] == 201
        resp = await api.handle(request("POST", DEPLOYMENTS, DEPLOY))
        assert isinstance(resp, Response) and resp.status == 409
        assert resp.body.endswith(b"}\n")
        status = json.loads(resp.body)
        assert status["message"] == 'deployments.apps "web" already exists'
        assert status["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
        code, status = await call(api, "GET", DEPLOYMENTS + "/nope")
        assert code == 404 and status["message"] == 'deployments.apps "nope" not found'
        got = await api.handle(request("GET", DEPLOYMENTS + "/web"))
        assert isinstance(got, Response) and got.body.endswith(b"}\n")
        listed = await api.handle(request("GET", DEPLOYMENTS))
        assert isinstance(listed, Response) and listed.body.endswith(b"]}\n")
        bad = {**DEPLOY, "metadata": {"name": "bad"}, "spec": {**DEPLOY["spec"], "replicas": -1}}
        code, status = await call(api, "POST", DEPLOYMENTS, bad)
        assert code == 422 and status["message"].startswith('Deployment.apps "bad" is invalid')
        assert status["details"]["group"] == "apps"
        scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"},
                 "spec": {"replicas": -1}}
        code, status = await call(api, "PUT", DEPLOYMENTS + "/web/scale", scale)
        assert code == 422 and status["message"].startswith('Scale.autoscaling "web" is invalid')
    run(go())


def test_status_lines_carry_go_reason_phrases() -> None:
    assert http.reason_phrase(200) == b"OK"
    assert http.reason_phrase(201) == b"Created"
    assert http.reason_phrase(404) == b"Not Found"
    assert http.reason_phrase(422) == b"Unprocessable Entity"
    assert http.reason_phrase(413) == b"Request Entity Too Large"
    assert http.reason_phrase(101) == b"Switching Protocols"

    async def go() -> None:
        async def handler(req: Request) -> Response:
            return Response(404 if req.path == "/missing" else 200, b"{}\n")

        server = await http.serve("127.0.0.1", 0, handler, lambda: Response(413), None)
        port = server.sockets[0].getsockname()[1]
        try:
            for path, line in (("/", b"HTTP/1.1 200 OK\r\n"),
                               ("/missing", b"HTTP/1.1 404 Not Found\r\n")):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                             .encode())
                assert await reader.readline() == line
                writer.close()
        finally:
            server.close()
            await server.wait_closed()
    run(go())


def test_create_answers_the_zero_status(tmp_path: Path) -> None:
    """What the official Python client needs (`current_number_scheduled` must not be None)."""
    template = DEPLOY["spec"]
    wanted = {"daemonsets": {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                             "desiredNumberScheduled": 0, "numberReady": 0},
              "replicasets": {"replicas": 0},
              "statefulsets": {"replicas": 0, "availableReplicas": 0},
              "deployments": {}}

    async def go() -> None:
        api = make_api(tmp_path)
        for resource, status in wanted.items():
            kind = {"daemonsets": "DaemonSet", "replicasets": "ReplicaSet",
                    "statefulsets": "StatefulSet", "deployments": "Deployment"}[resource]
            body = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "x"},
                    "spec": template}
            code, created = await call(api, "POST",
                                       f"/apis/apps/v1/namespaces/default/{resource}", body)
            assert code == 201, created
            assert created["status"] == status, resource
    run(go())


def test_a_failed_delete_precondition_is_a_qualified_conflict(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        assert (await call(api, "POST", DEPLOYMENTS, DEPLOY))[0] == 201
        options = {"kind": "DeleteOptions", "apiVersion": "v1",
                   "preconditions": {"uid": "not-the-uid"}}
        code, status = await call(api, "DELETE", DEPLOYMENTS + "/web", options)
        assert code == 409 and status["reason"] == "Conflict"
        assert status["message"].startswith(
            'Operation cannot be fulfilled on deployments.apps "web": Precondition failed: UID in '
            "precondition: not-the-uid, UID in object meta: ")
        assert status["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    run(go())
