"""PersistentVolumes, claims and StorageClasses: defaults, validation in the API server's
words, DefaultStorageClass, volume matching, the scheduler's verdicts and the table cells."""

from __future__ import annotations

from typing import Any

import pytest

from podhost.api import errors, pvbinding, storagetable, volumeclaims
from podhost.api.types import Obj
from podhost.registry import generic


def claim(name: str = "data", size: str = "1Gi", modes: Any = ("ReadWriteOnce",),
          **spec: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": size}},
                     **spec}}


def volume(name: str, size: str, modes: Any = ("ReadWriteOnce",), **spec: Any) -> Obj:
    return {"metadata": {"name": name, "labels": spec.pop("labels", {})},
            "spec": {"capacity": {"storage": size}, "accessModes": list(modes),
                     "hostPath": {"path": "/srv"}, **spec},
            "status": {"phase": "Available"}}


def messages(resource: str, obj: Obj, old: Obj | None = None) -> str:
    with pytest.raises(errors.InvalidError) as e:
        generic.validate(resource, obj, old)
    return e.value.message


def test_claim_validation_messages() -> None:
    bad = claim(modes=())
    bad["spec"]["resources"] = {}
    text = messages("persistentvolumeclaims", bad)
    assert "spec.accessModes: Required value: at least 1 access mode is required" in text
    assert "spec.resources[storage]: Required value" in text
    text = messages("persistentvolumeclaims", claim(modes=("ReadWriteOncePod", "ReadOnlyMany")))
    assert "may not use ReadWriteOncePod with other access modes" in text
    assert 'Unsupported value: "Sometimes"' in messages("persistentvolumeclaims",
                                                        claim(modes=("Sometimes",)))


def test_claim_update_rules() -> None:
    old = claim(size="1Gi")
    old["status"] = {"phase": "Bound"}
    text = messages("persistentvolumeclaims", claim(size="512Mi"), old)
    assert "spec.resources.requests.storage: Forbidden: field can not be less than previous " \
        "value" in text
    generic.validate("persistentvolumeclaims", claim(size="2Gi"), old)  # growth is fine
    pending = claim(size="1Gi")
    assert "spec is immutable after creation" in messages(
        "persistentvolumeclaims", claim(size="2Gi"), pending)
    assert "spec is immutable after creation" in messages(
        "persistentvolumeclaims", claim(modes=("ReadWriteMany",)), old)


def test_volume_and_class_validation() -> None:
    pv = volume("v", "1Gi")
    del pv["spec"]["hostPath"]
    pv["spec"]["local"] = {"path": "/srv"}
    assert "spec.nodeAffinity: Required value: Local volume requires node affinity" in \
        messages("persistentvolumes", pv)
    pv = volume("v", "1Gi")
    pv["spec"]["nfs"] = {"server": "x", "path": "/"}
    assert "spec.nfs: Forbidden: may not specify more than 1 volume type" in \
        messages("persistentvolumes", pv)
    sc = {"metadata": {"name": "fast"}, "reclaimPolicy": "Recycle",
          "volumeBindingMode": "Immediate"}
    text = messages("storageclasses", sc)
    assert "provisioner: Required value" in text
    assert 'reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", ' \
        '"Retain"' in text
    old = {**sc, "provisioner": "a", "reclaimPolicy": "Delete"}
    new = {**old, "provisioner": "b"}
    assert "provisioner: Forbidden: updates to provisioner are forbidden." in \
        messages("storageclasses", new, old)


def test_defaults_and_default_class() -> None:
    pvc = generic.prepare_for_create("persistentvolumeclaims", claim(), "default")
    assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["status"] == {"phase": "Pending"}
    classes = volumeclaims.built_in_classes()
    volumeclaims.admit_claim(pvc, classes)
    assert pvc["spec"]["storageClassName"] == "standard"
    assert pvc["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    empty = claim(storageClassName="")
    volumeclaims.admit_claim(empty, classes)
    assert empty["spec"]["storageClassName"] == ""  # "" asks for no class
    pv = generic.prepare_for_create("persistentvolumes", volume("v", "1Gi"), None)
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"


def test_find_volume_prefers_prebound_then_smallest_fit() -> None:
    pvc = claim(size="1Gi", storageClassName="")
    big, small, tiny = volume("big", "10Gi"), volume("small", "2Gi"), volume("tiny", "512Mi")
    rwx = volume("rwx", "1Gi", modes=("ReadWriteMany",))
    assert pvbinding.find_volume(pvc, [big, small, tiny, rwx]) is small
    pre = volume("pre", "20Gi", claimRef={"namespace": "default", "name": "data"})
    assert pvbinding.find_volume(pvc, [small, pre]) is pre
    other = volume("other", "1Gi", claimRef={"namespace": "default", "name": "else"})
    assert pvbinding.find_volume(pvc, [other]) is None
    selective = claim(storageClassName="", selector={"matchLabels": {"tier": "db"}})
    labelled = volume("l", "5Gi", labels={"tier": "db"})
    assert pvbinding.find_volume(selective, [small, labelled]) is labelled
    classy = claim(storageClassName="fast")
    assert pvbinding.find_volume(classy, [small]) is None


def test_pod_claims_and_rwop() -> None:
    pod = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"}, "spec": {"volumes": [
        {"name": "a", "persistentVolumeClaim": {"claimName": "solo"}},
        {"name": "b", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]}}
    assert [c.claim for c in pvbinding.pod_claims(pod)] == ["solo", "p-b"]
    made = pvbinding.ephemeral_claim(pod, pod["spec"]["volumes"][1])
    assert made["metadata"]["name"] == "p-b" and pvbinding.owned_by(made, pod)
    other = {"metadata": {"name": "q", "namespace": "default"}, "spec": pod["spec"],
             "status": {"phase": "Running"}}
    solo = claim("solo", modes=("ReadWriteOncePod",))
    assert pvbinding.rwop_conflict(pod, {"solo": solo}, [other])
    assert not pvbinding.rwop_conflict(pod, {"solo": claim("solo")}, [other])


def test_table_cells() -> None:
    now = __import__("datetime").datetime.now(__import__("datetime").timezone.utc)
    sc = volumeclaims.built_in_classes()[0]
    sc["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    assert storagetable.sc_cells(sc, now)[:5] == [
        "standard (default)", "podhost.io/local-path", "Delete", "WaitForFirstConsumer", "true"]
    pvc = claim(volumeName="pv1", storageClassName="standard")
    pvc["status"] = {"phase": "Bound", "capacity": {"storage": "1Gi"},
                     "accessModes": ["ReadWriteOncePod", "ReadWriteOnce"]}
    assert storagetable.pvc_cells(pvc, now)[:6] == ["data", "Bound", "pv1", "1Gi", "RWO,RWOP",
                                                    "standard"]
