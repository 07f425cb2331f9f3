"""The API server in process: resources, namespaces, paging, watch, dry run, conflicts."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from podhost.apiserver import common, reads
from podhost.apiserver.http import StreamResponse
from tests.unit.apiserver.helpers import call, controllers, eventually, make_api, request

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_seeded_namespaces_service_accounts_and_node(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, body = await call(api, "GET", "/api/v1/namespaces")
        assert code == 200
        assert [n["metadata"]["name"] for n in body["items"]] == [
            "default", "kube-node-lease", "kube-public", "kube-system"]
        code, sa = await call(api, "GET", "/api/v1/namespaces/kube-system/serviceaccounts/default")
        assert code == 200 and sa["kind"] == "ServiceAccount"
        code, node = await call(api, "GET", "/api/v1/nodes/testnode")
        assert node["status"]["capacity"]["pods"] == "110"
        assert node["status"]["capacity"]["memory"] == "8000000Ki"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0"
        code, t = await call(api, "GET", "/api/v1/nodes", headers={"accept": TABLE})
        assert [c["name"] for c in t["columnDefinitions"]] == [
            "Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP",
            "OS-Image", "Kernel-Version", "Container-Runtime"]
        assert t["rows"][0]["cells"][:3] == ["testnode", "Ready", "<none>"]
        assert t["rows"][0]["cells"][5:] == ["127.0.0.1", "<none>",
                                             "Debian GNU/Linux 12 (bookworm)", "6.1.0",
                                             "runc://1.1.5"]
    run(go())


def test_reopen_keeps_node_uid(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        _, first = await call(api, "GET", "/api/v1/nodes/testnode")
        api.store.close()
        api = make_api(tmp_path)
        _, second = await call(api, "GET", "/api/v1/nodes/testnode")
        assert first["metadata"]["uid"] == second["metadata"]["uid"]
        assert int(second["metadata"]["resourceVersion"]) > int(
            first["metadata"]["resourceVersion"])
    run(go())


def test_configmap_table_and_secret_string_data(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, _ = await call(api, "POST", "/api/v1/namespaces/default/configmaps",
                             cm("one", a="1", b="2"))
        assert code == 201
        _, t = await call(api, "GET", "/api/v1/namespaces/default/configmaps",
                          headers={"accept": TABLE})
        assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Data", "Age"]
        assert t["rows"][0]["cells"][:2] == ["one", 2]
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                  "data": {"a": base64.b64encode(b"x").decode()}, "stringData": {"b": "why"}}
        code, body = await call(api, "POST", "/api/v1/namespaces/default/secrets", secret)
        assert code == 201 and "stringData" not in body and body["type"] == "Opaque"
        assert base64.b64decode(body["data"]["b"]) == b"why"
        bad = dict(secret, metadata={"name": "bad"}, data={"a": "not base64!"})
        code, status = await call(api, "POST", "/api/v1/namespaces/default/secrets", bad)
        assert code == 400 and "illegal base64 data at input byte 3" in status["message"]
        _, t = await call(api, "GET", "/api/v1/namespaces/default/secrets",
                          headers={"accept": TABLE})
        assert t["rows"][0]["cells"][:3] == ["s", "Opaque", 2]
    run(go())


def test_invalid_configmap_key(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, status = await call(api, "POST", "/api/v1/namespaces/default/configmaps",
                                  cm("x", **{"a b": "1"}))
        assert code == 422
        assert status["message"].startswith('ConfigMap "x" is invalid: data[a b]: Invalid value: '
                                            '"a b": a valid config key must consist of')
    run(go())


def test_namespace_create_and_delete_cascade(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
        async with controllers(api):
            assert (await call(api, "POST", "/api/v1/namespaces", ns))[0] == 201
            _, sa = await call(api, "GET", "/api/v1/namespaces/team/serviceaccounts/default")
            assert sa["metadata"]["namespace"] == "team"
            await call(api, "POST", "/api/v1/namespaces/team/configmaps", cm("c"))
            code, body = await call(api, "DELETE", "/api/v1/namespaces/team")
            assert code == 200 and body["status"]["phase"] == "Terminating"
            code, status = await call(api, "POST", "/api/v1/namespaces/team/configmaps", cm("d"))
            assert code == 403 and status["message"] == (
                'configmaps "d" is forbidden: unable to create new content in namespace team '
                "because it is being terminated")
            await eventually(api, "GET", "/api/v1/namespaces/team", 404)
        assert api.store.list("configmaps", "team")[0] == []
        assert api.store.list("serviceaccounts", "team")[0] == []
        code, status = await call(api, "DELETE", "/api/v1/namespaces/default")
        assert code == 403
        assert status["message"] == ('namespaces "default" is forbidden: this namespace may not '
                                     "be deleted")
    run(go())


def test_paging_with_continue(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        for i in range(5):
            await call(api, "POST", "/api/v1/namespaces/default/configmaps", cm(f"c{i}"))
        names, token, remaining = [], "", []
        while True:
            q = "?limit=2" + (f"&continue={token}" if token else "")
            _, body = await call(api, "GET", "/api/v1/namespaces/default/configmaps" + q)
            names += [o["metadata"]["name"] for o in body["items"]]
            remaining.append(body["metadata"].get("remainingItemCount"))
            token = body["metadata"].get("continue", "")
            if not token:
                break
        assert names == [f"c{i}" for i in range(5)]
        assert remaining == [3, 1, None]
        code, status = await call(api, "GET", "/api/v1/namespaces/default/configmaps?continue=xx")
        assert code == 400 and status["message"].startswith("continue key is not valid")
    run(go())


def test_plain_list_serves_stored_json_as_the_decoded_list_would_be(tmp_path: Path) -> None:
    """A LIST without selector or Table is the stored rows joined: byte for byte the body of
    the decoding path (a selector every object matches takes that path)."""
    async def go() -> None:
        api = make_api(tmp_path)
        await call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": "other"}})
        for ns in ("default", "other"):
            for i in range(4):
                body = cm(f"c{i}", text="é ü \u2603 \U0001f600 \"q\" \\ </>", n="1.5e300")
                body["metadata"]["labels"] = {"all": "yes"}
                body["metadata"]["annotations"] = {"x/y": "ünïcode", "f": "-0.0"}
                await call(api, "POST", f"/api/v1/namespaces/{ns}/configmaps", body)
        await call(api, "PATCH", "/api/v1/namespaces/default/configmaps/c1",
                   {"data": {"more": "x"}},
                   headers={"content-type": "application/merge-patch+json"})
        for path in ("/api/v1/namespaces/default/configmaps", "/api/v1/configmaps",
                     "/api/v1/namespaces", "/api/v1/nodes", "/api/v1/serviceaccounts"):
            selected = "labelSelector=all" if "configmaps" in path else \
                "fieldSelector=metadata.name!=zz"
            for query in ("", "limit=3", "limit=100"):
                fast = await api.handle(request("GET", f"{path}?{query}"))
                slow = await api.handle(request("GET", f"{path}?{query}&{selected}"))
                assert fast.status == slow.status == 200
                assert fast.body == slow.body, (path, query)
                assert fast.headers == slow.headers and fast.content_type == slow.content_type
            # paging through continue tokens from either path gives the same pages
            token = json.loads(fast.body)["metadata"].get("continue")
            q = "?limit=2" + (f"&continue={token}" if token else "")
            fast = await api.handle(request("GET", path + q))
            slow = await api.handle(request("GET", path + q + "&" + selected))
            assert fast.body == slow.body
        _, listed = await call(api, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=")
        assert [o["metadata"]["name"] for o in listed["items"]] == [f"c{i}" for i in range(4)]
        assert listed["items"][1]["data"]["more"] == "x"
        assert listed["metadata"]["resourceVersion"] == str(api.store.current_rv())
        assert all(o["metadata"]["resourceVersion"] and o["metadata"]["managedFields"]
                   for o in listed["items"])
    run(go())


def test_list_body_matches_dumps() -> None:
    items = [{"a": "é", "b": [1, 2.5, None, True]}, {"metadata": {"name": "x"}}]
    extra = {"continue": "tok", "remainingItemCount": 3}
    expected = common.dumps({"kind": "PodList", "apiVersion": "v1",
                             "metadata": {"resourceVersion": "7", **extra}, "items": items})
    encoded = [common.dumps(o).decode() for o in items]
    assert reads.list_body("Pod", 7, extra, encoded) == expected + b"\n"
    assert reads.list_body("Pod", 7, {}, []) == common.dumps(
        {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"},
         "items": []}) + b"\n"


def test_bad_query_values_are_400(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        for q in ("timeoutSeconds=abc", "limit=x", "watch=true&resourceVersion=abc",
                  "labelSelector=a%20in", "fieldSelector=nope%3D1"):
            code, status = await call(api, "GET", "/api/v1/namespaces/default/pods?" + q)
            assert code == 400, q
            assert status["kind"] == "Status" and status["reason"] == "BadRequest"
        code, body = await call(api, "GET", "/api/v1/namespaces/default/pods?limit=-1")
        assert code == 200 and body["items"] == []
    run(go())


def test_dry_run_and_generate_name_and_conflict(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        code, body = await call(api, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All",
                                cm("dry"))
        assert code == 201
        assert (await call(api, "GET", "/api/v1/namespaces/default/configmaps/dry"))[0] == 404
        gen = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
        code, body = await call(api, "POST", "/api/v1/namespaces/default/configmaps", gen)
        name = body["metadata"]["name"]
        assert code == 201 and name.startswith("gen-") and len(name) == 9
        stale = dict(body, data={"a": "1"})
        assert (await call(api, "PUT", f"/api/v1/namespaces/default/configmaps/{name}",
                           stale))[0] == 200
        code, status = await call(api, "PUT", f"/api/v1/namespaces/default/configmaps/{name}",
                                  stale)
        assert code == 409 and status["reason"] == "Conflict"
        assert status["message"] == (
            f'Operation cannot be fulfilled on configmaps "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again")
        code, _ = await call(api, "DELETE",
                             f"/api/v1/namespaces/default/configmaps/{name}?dryRun=All")
        assert code == 200
        assert (await call(api, "GET", f"/api/v1/namespaces/default/configmaps/{name}"))[0] == 200
        code, status = await call(api, "DELETE",
                                  f"/api/v1/namespaces/default/configmaps/{name}?dryRun=Some")
        assert code == 422
    run(go())


def test_delete_collection_with_label_selector(tmp_path: Path) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        for i, app in enumerate(["a", "a", "b"]):
            obj = cm(f"c{i}")
            obj["metadata"]["labels"] = {"app": app}
            await call(api, "POST", "/api/v1/namespaces/default/configmaps", obj)
        code, body = await call(api, "DELETE",
                                "/api/v1/namespaces/default/configmaps?labelSelector=app%3Da")
        assert code == 200 and body["kind"] == "ConfigMapList" and len(body["items"]) == 2
        left, _ = api.store.list("configmaps", "default")
        assert [o["metadata"]["name"] for o in left] == ["c2"]
    run(go())


async def _lines(resp: StreamResponse, n: int, timeout: float = 2) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    it = resp.chunks.__aiter__()
    while len(out) < n:
        chunk = await asyncio.wait_for(it.__anext__(), timeout)
        out += [json.loads(line) for line in chunk.splitlines() if line]
    await it.aclose()
    return out


def test_watch_initial_backlog_gone_and_bookmark(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        api = make_api(tmp_path)
        _, c0 = await call(api, "POST", "/api/v1/namespaces/default/configmaps", cm("w0"))
        rv0 = c0["metadata"]["resourceVersion"]
        await call(api, "POST", "/api/v1/namespaces/default/configmaps", cm("w1"))
        base = "/api/v1/namespaces/default/configmaps?watch=true"
        resp = await api.handle(request("GET", base + "&resourceVersion=0"))
        events = await _lines(resp, 2)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            ("ADDED", "w0"), ("ADDED", "w1")]
        resp = await api.handle(request("GET", base + f"&resourceVersion={rv0}"))
        assert [e["object"]["metadata"]["name"] for e in await _lines(resp, 1)] == ["w1"]
        resp = await api.handle(request("GET", base + "&resourceVersion=5"))
        (err,) = await _lines(resp, 1)
        assert err["type"] == "ERROR" and err["object"]["code"] == 410
        assert err["object"]["reason"] == "Expired"
        assert err["object"]["message"].startswith("too old resource version: 5 (")
        monkeypatch.setattr(reads, "BOOKMARK_INTERVAL", 0.05)
        resp = await api.handle(request(
            "GET", base + f"&resourceVersion={rv0}&allowWatchBookmarks=true&timeoutSeconds=5"))
        events = await _lines(resp, 3)
        assert [e["type"] for e in events] == ["ADDED", "BOOKMARK", "BOOKMARK"]
        assert events[1]["object"] == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {
            "resourceVersion": str(api.store.current_rv())}}
        resp = await api.handle(request("GET", base + "&resourceVersion=0&timeoutSeconds=1"))
        it = resp.chunks.__aiter__()
        await it.__anext__()
        await it.__anext__()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(it.__anext__(), 3)
    run(go())


def test_root_ca_configmap_and_node_address(tmp_path: Path) -> None:
    from podhost.apiserver.app import ApiServer
    from podhost.store.sqlite import Store
    from tests.unit.apiserver.helpers import FACTS, TOKEN, FakeNode
    api = ApiServer(Store(tmp_path / "db.sqlite"), FakeNode(), token=TOKEN, node_facts=FACTS,
                    node_ip="192.0.2.2", pod_cidr="10.244.0.0/16")
    bundle = "-----BEGIN CERTIFICATE-----\nX\n"

    async def scenario() -> None:
        path = "/api/v1/namespaces/default/configmaps/kube-root-ca.crt"
        async with controllers(api, bundle):
            cm = await eventually(api, "GET", path, 200)
            assert cm["data"] == {"ca.crt": bundle}
            assert cm["metadata"]["annotations"]["kubernetes.io/description"].startswith(
                "Contains a CA bundle that can be used to verify the kube-apiserver")
            assert (await call(api, "DELETE", path))[0] == 200
            for _ in range(100):  # made again by the publisher
                code, again = await call(api, "GET", path)
                if code == 200 and again["metadata"]["uid"] != cm["metadata"]["uid"]:
                    break
                await asyncio.sleep(0.02)
            assert code == 200 and again["metadata"]["uid"] != cm["metadata"]["uid"]
            await call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})
            await eventually(api, "GET", "/api/v1/namespaces/team/configmaps/kube-root-ca.crt",
                             200)
        _, node = await call(api, "GET", f"/api/v1/nodes/{api.node_name}")
        assert node["status"]["addresses"][0] == {"type": "InternalIP", "address": "192.0.2.2"}
        assert node["spec"] == {"podCIDR": "10.244.0.0/16", "podCIDRs": ["10.244.0.0/16"]}

    asyncio.run(scenario())


def test_metadata_update_rules(tmp_path: Path) -> None:
    api = make_api(tmp_path)

    async def scenario() -> None:
        path = "/api/v1/namespaces/default/configmaps"
        _, cm = await call(api, "POST", path, {"metadata": {"name": "c", "finalizers": ["a/b"]}})
        changed = {**cm, "metadata": {**cm["metadata"], "uid": "not-the-uid"}}
        code, status = await call(api, "PUT", f"{path}/c", changed)
        assert code == 422 and status["message"] == (
            'ConfigMap "c" is invalid: metadata.uid: Invalid value: "not-the-uid": field is '
            "immutable")
        kept = {**cm, "metadata": {k: v for k, v in cm["metadata"].items() if k != "uid"}}
        code, updated = await call(api, "PUT", f"{path}/c", kept)
        assert code == 200 and updated["metadata"]["uid"] == cm["metadata"]["uid"]
        assert (await call(api, "DELETE", f"{path}/c"))[0] == 200  # held by its finalizer
        _, deleting = await call(api, "GET", f"{path}/c")
        assert deleting["metadata"].get("deletionTimestamp")
        more = {**deleting, "metadata": {**deleting["metadata"], "finalizers": ["a/b", "c/d"]}}
        code, status = await call(api, "PUT", f"{path}/c", more)
        assert code == 422 and status["message"].endswith(
            'metadata.finalizers: Forbidden: no new finalizers can be added if the object is '
            'being deleted, found new finalizers []string{"c/d"}')
        done = {**deleting, "metadata": {**deleting["metadata"], "finalizers": []}}
        code, last = await call(api, "PUT", f"{path}/c", done)
        assert code == 200 and last["metadata"]["finalizers"] == []
        assert (await call(api, "GET", f"{path}/c"))[0] == 404  # gone with its last finalizer

    asyncio.run(scenario())


def test_yaml_body_with_dates_and_number_keys(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    body = b"metadata:\n  name: dated\ndata:\n  1: one\n  since: 2020-01-01\n"

    async def scenario() -> None:
        code, cm = await call(api, "POST", "/api/v1/namespaces/default/configmaps", body,
                              headers={"Content-Type": "application/yaml"})
        assert code == 201 and cm["data"] == {"1": "one", "since": "2020-01-01"}

    asyncio.run(scenario())
