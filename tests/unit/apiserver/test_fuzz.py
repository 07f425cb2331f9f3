"""Random requests against the in-process API server: always a Status or an object, never 5xx."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podhost.apiserver.http import Response, StreamResponse, Upgrade
from tests.unit.apiserver.helpers import make_api, request

SEGMENTS = st.sampled_from(["api", "v1", "namespaces", "default", "pods", "configmaps",
                            "secrets", "nodes", "events", "serviceaccounts", "status", "log",
                            "exec", "portforward", "x", "", "..", "%00", "kube-system"])
PARAMS = st.sampled_from(["watch", "limit", "continue", "timeoutSeconds", "resourceVersion",
                          "labelSelector", "fieldSelector", "dryRun", "gracePeriodSeconds",
                          "allowWatchBookmarks", "command", "container", "tailLines"])
VALUES = st.one_of(st.sampled_from(["true", "-1", "0", "abc", "All", "a=b", "!", "", "1e9"]),
                   st.text(max_size=8))
BODIES = st.one_of(st.just(b""), st.binary(max_size=40),
                   st.builds(lambda v: json.dumps(v).encode(),
                             st.recursive(st.none() | st.booleans() | st.integers() | st.text(
                                 max_size=5), lambda c: st.lists(c, max_size=3) | st.dictionaries(
                                 st.sampled_from(["metadata", "name", "data", "spec", "kind",
                                                  "apiVersion", "stringData", "type"]), c,
                                 max_size=4), max_leaves=10)))

_tmp = Path(tempfile.mkdtemp())
_api = make_api(_tmp)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
       segments=st.lists(SEGMENTS, min_size=1, max_size=7),
       params=st.lists(st.tuples(PARAMS, VALUES), max_size=3), body=BODIES,
       ctype=st.sampled_from(["application/json", "application/yaml",
                              "application/merge-patch+json", "application/json-patch+json",
                              "application/vnd.kubernetes.protobuf", "text/plain"]))
def test_never_a_server_error(method: str, segments: list[str], params: list[tuple[str, str]],
                              body: bytes, ctype: str) -> None:
    query = "&".join(f"{k}={quote(v)}" for k, v in params if not (k == "watch" and v == "true"))
    target = "/" + "/".join(segments) + ("?" + query if query else "")
    resp = asyncio.run(_api.handle(request(method, target, body,
                                           headers={"content-type": ctype})))
    assert isinstance(resp, (Response, StreamResponse, Upgrade))
    if isinstance(resp, Response):
        assert resp.status < 500, (target, resp.body)
