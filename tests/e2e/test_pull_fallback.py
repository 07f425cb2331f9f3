"""imagePullPolicy Always when the registry cannot be reached and the image is on the node: by
default the container starts with that copy and the Pod gets a Warning
PullFailedUsingLocalImage; `podhost serve --image-pull-fallback=false` reports ErrImagePull,
as kubelet does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import TEST_IMAGES
from tests.e2e.conftest import Node, free_port, start_node, stop_node
from tests.images_registry import mirror_conf

pytestmark = pytest.mark.e2e

POD = """apiVersion: v1
kind: Pod
metadata: {name: fb}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: main, image: busybox, imagePullPolicy: Always, command: [sleep, "3600"]}
"""


def _node(tmp_path: Path, name: str, *flags: str) -> Node:
    conf = tmp_path / "registries.conf"  # docker.io through a mirror nobody serves
    conf.write_text(mirror_conf([f"127.0.0.1:{free_port()}"]))
    node = start_node(tmp_path / name, ["--registries-conf", str(conf), "--pod-cidr", "none",
                                        *flags])
    node.podhost("images", "load", str(TEST_IMAGES / "busybox.oci.tar"))
    node.kubectl("apply", "-f", "-", input=POD)
    return node


def _events(node: Node, wanted: str) -> str:
    deadline, events = time.monotonic() + 40, ""
    while wanted not in events and time.monotonic() < deadline:
        events = node.kubectl("get", "events", "--field-selector",
                              "involvedObject.name=fb").stdout
        time.sleep(0.3)
    return events


def test_failed_pull_runs_the_local_copy_with_a_warning(tmp_path: Path) -> None:
    node = _node(tmp_path, "on")
    try:
        node.wait_ready("fb")
        events = _events(node, "PullFailedUsingLocalImage")
        line = next(x for x in events.splitlines() if "PullFailedUsingLocalImage" in x)
        assert line.split()[1] == "Warning", events
        assert 'Failed to pull image "busybox": ' in line
        assert line.endswith("; started with the copy of the image already on the node "
                             "(podhost serve --image-pull-fallback=false fails the pull "
                             "instead, as kubelet does)")
    finally:
        node.kubectl("delete", "pod", "fb", "--wait=true")
        stop_node(node)


def test_fallback_off_is_errimagepull(tmp_path: Path) -> None:
    node = _node(tmp_path, "off", "--image-pull-fallback=false")
    try:
        events = _events(node, "ErrImagePull")
        assert "PullFailedUsingLocalImage" not in events
        reason = node.kubectl("get", "pod", "fb", "-o", "jsonpath={.status.containerStatuses[0]"
                              ".state.waiting.reason}").stdout
        assert reason in ("ErrImagePull", "ImagePullBackOff")
    finally:
        node.kubectl("delete", "pod", "fb", "--wait=true")
        stop_node(node)
