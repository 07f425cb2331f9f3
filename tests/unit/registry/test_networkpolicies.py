"""NetworkPolicies through the API server and the registry: 422s with the API server's text,
upstream's defaults and generation, kubectl's table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.unit.apiserver.helpers import call, make_api

PATH = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"
TABLE = {"accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}


def body(name: str, spec: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name}, "spec": spec}


def test_create_update_and_list(tmp_path: Path) -> None:
    api = make_api(tmp_path)

    async def run() -> None:
        status, refused = await call(api, "POST", PATH, body("Bad_Name", {
            "podSelector": {}, "ingress": [{"from": [{}]}]}))
        assert status == 422
        assert refused["message"] == (
            'NetworkPolicy.networking.k8s.io "Bad_Name" is invalid: [metadata.name: Invalid '
            "value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case "
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
            "character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*"
            "[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), spec.ingress[0].from[0]: "
            "Required value: must specify a peer]")
        assert [c["field"] for c in refused["details"]["causes"]] == [
            "metadata.name", "spec.ingress[0].from[0]"]
        status, created = await call(api, "POST", PATH, body("db", {
            "podSelector": {"matchLabels": {"app": "db"}},
            "egress": [{"ports": [{"port": 53}]}]}))
        assert status == 201, created
        assert created["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert created["spec"]["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]
        assert created["metadata"]["generation"] == 1
        created["spec"]["podSelector"] = {}
        status, updated = await call(api, "PUT", f"{PATH}/db", created)
        assert status == 200 and updated["metadata"]["generation"] == 2
        status, table = await call(api, "GET", PATH, headers=TABLE)
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Pod-Selector",
                                                                   "Age"]
        assert table["rows"][0]["cells"][:2] == ["db", "<none>"]

    asyncio.run(run())
