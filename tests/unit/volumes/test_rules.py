"""Pure volume rules: tmpfs sizing, quantities, fsGroup modes, subPath checks, eviction messages."""

from __future__ import annotations

import pytest

from podhost.volumes import eviction, ownership, sizing, subpath
from podhost.volumes.emptydir import VolumeSetupError
from podhost.volumes.manager import hugepage_size

MI = 1 << 20


def pod(*limits: str | None, volumes: list | None = None, inits: tuple = ()) -> dict:
    def c(i: int, lim: str | None) -> dict:
        return {"name": f"c{i}", "resources": {"limits": {"memory": lim}} if lim else {}}
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"containers": [c(i, x) for i, x in enumerate(limits)],
                     "initContainers": [c(9, x) for x in inits], "volumes": volumes or []}}


def test_meminfo() -> None:
    info = sizing.parse_meminfo("MemTotal:  1024 kB\nHugePages_Total:       0\n")
    assert info == {"MemTotal": 1024 * 1024, "HugePages_Total": 0}


def test_pod_memory_limit_needs_every_container() -> None:
    assert sizing.pod_memory_limit(pod("64Mi", "32Mi")) == 96 * MI
    assert sizing.pod_memory_limit(pod("64Mi", None)) is None
    assert sizing.pod_memory_limit(pod("16Mi", inits=("128Mi",))) == 128 * MI


@pytest.mark.parametrize("node,pod_limit,size,want", [
    (1000 * MI, None, None, 1000 * MI), (1000 * MI, 96 * MI, None, 96 * MI),
    (1000 * MI, 96 * MI, 10 * MI, 10 * MI), (1000 * MI, 8 * MI, 10 * MI, 8 * MI),
    (1000 * MI, None, 0, 1000 * MI), (1000 * MI, None, 2000 * MI, 1000 * MI)])
def test_tmpfs_size(node: int, pod_limit: int | None, size: int | None, want: int) -> None:
    assert sizing.tmpfs_size(node, pod_limit, size) == want


@pytest.mark.parametrize("text,want", [("40Mi", "40Mi"), ("40960Ki", "40Mi"),
                                       ("41943040", "41943040"), ("1000M", "1G"), ("1Gi", "1Gi")])
def test_canonical(text: str, want: str) -> None:
    assert sizing.canonical(text) == want


def test_fs_group_modes() -> None:
    assert oct(ownership.new_mode(0o40777)) == oct(0o2777)
    assert oct(ownership.new_mode(0o41777)) == oct(0o3777)
    assert oct(ownership.new_mode(0o100644)) == oct(0o664)
    assert oct(ownership.new_mode(0o100600, readonly=True)) == oct(0o640)


def test_hugepages() -> None:
    with pytest.raises(VolumeSetupError, match="node has no huge pages"):
        hugepage_size(pod("1Mi"), "HugePages", 0)
    p = pod("1Mi")
    with pytest.raises(VolumeSetupError, match="no resource request for huge pages"):
        hugepage_size(p, "HugePages", 4)
    p["spec"]["containers"][0]["resources"]["requests"] = {"hugepages-2Mi": "4Mi"}
    assert hugepage_size(p, "HugePages", 4) == "2Mi"
    assert hugepage_size(p, "HugePages-2Mi", 4) == "2Mi"


def test_sub_path_expr() -> None:
    assert subpath.expand("$(POD_NAME)/x$$", {"POD_NAME": "p"}) == "p/x$"
    with pytest.raises(VolumeSetupError, match="^missing value for A, B$"):
        subpath.expand("$(B)/$(A)", {"B": ""})


@pytest.mark.parametrize("sub,message", [
    ("/tmp", "error SubPath `/tmp` must not be an absolute path"),
    ("..", "unable to provision SubPath `..`: must not contain '..'"),
    ("a/../b", "unable to provision SubPath `a/../b`: must not contain '..'")])
def test_sub_path_checks(sub: str, message: str) -> None:
    with pytest.raises(VolumeSetupError) as e:
        subpath.check(sub)
    assert str(e.value) == message
    subpath.check("..foo/a..b")


def test_within() -> None:
    assert subpath.within("/v/a", "/v") and subpath.within("/v", "/v")
    assert not subpath.within("/va", "/v") and not subpath.within("/", "/v")


def test_eviction_message() -> None:
    p = pod(None, volumes=[{"name": "a", "emptyDir": {}},
                           {"name": "cache", "emptyDir": {"sizeLimit": "40Mi"}}])
    assert eviction.over_limit(p, {"a": (100 * MI, None), "cache": (40 * MI, 40 * MI)}) is None
    assert eviction.over_limit(p, {"cache": (40 * MI + 1, 40 * MI)}) == \
        'Usage of EmptyDir volume "cache" exceeds the limit "40Mi". '


def test_keep_terminal() -> None:
    old = {"phase": "Failed", "reason": "Evicted", "message": "m"}
    assert eviction.keep_terminal(old, {"phase": "Running"}) == old
    assert eviction.keep_terminal({"phase": "Running"}, {"phase": "Failed"}) == {"phase": "Failed"}
