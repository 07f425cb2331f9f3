"""Generated manifests through the in-process ApiServer: never a 5xx, never an exception."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.apiserver.helpers import call, make_api

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from(["", "x", "1Gi", "-1", "abc", "/data", "Always", "TCP",
                                     "80", "busybox", "../x", "Data_1"]))
KEYS = st.sampled_from(["name", "image", "imagee", "ports", "containerPort", "protocol", "env",
                        "value", "valueFrom", "resources", "limits", "requests", "cpu",
                        "volumeMounts", "mountPath", "subPath", "livenessProbe", "exec",
                        "command", "httpGet", "port", "emptyDir", "sizeLimit", "securityContext",
                        "runAsUser", "lifecycle", "preStop", "envFrom", "restartPolicy"])
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)
CONTAINER = st.fixed_dictionaries({"name": st.sampled_from(["app", "App", ""]),
                                   "image": st.sampled_from(["busybox", ""])},
                                  optional={k: VALUES for k in (
                                      "ports", "env", "envFrom", "resources", "volumeMounts",
                                      "livenessProbe", "readinessProbe", "lifecycle",
                                      "securityContext", "imagee", "restartPolicy")})
SPEC = st.fixed_dictionaries({"containers": st.one_of(st.lists(CONTAINER, max_size=2), VALUES)},
                             optional={"volumes": VALUES, "initContainers": st.lists(
                                 CONTAINER, max_size=1), "restartPolicy": VALUES,
                                       "hostNetwork": VALUES, "activeDeadlineSeconds": VALUES,
                                       "terminationGracePeriodSeconds": VALUES})
MANIFEST = st.fixed_dictionaries({"apiVersion": st.just("v1"), "kind": st.just("Pod"),
                                  "metadata": st.fixed_dictionaries({"name": st.just("fuzz")}),
                                  "spec": st.one_of(SPEC, VALUES)})
MODES = st.sampled_from(["Strict", "Warn", "Ignore"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(manifest=MANIFEST, patch=VALUES, mode=MODES)
def test_generated_manifests_never_break_the_server(tmp_path: Path, manifest: dict[str, Any],
                                                    patch: Any, mode: str) -> None:
    async def run() -> None:
        api = make_api(Path(tempfile.mkdtemp(dir=tmp_path)))
        status, body = await call(api, "POST",
                                  f"/api/v1/namespaces/default/pods?fieldValidation={mode}",
                                  manifest)
        assert status in (201, 400, 422), body
        if status == 201:
            assert "imagee" not in json.dumps(body)
            status, body = await call(
                api, "PATCH", "/api/v1/namespaces/default/pods/fuzz",
                {"spec": {"containers": [{"name": "app", "ports": patch}]}},
                headers={"Content-Type": "application/strategic-merge-patch+json"})
            assert status < 500, body
    asyncio.run(run())
