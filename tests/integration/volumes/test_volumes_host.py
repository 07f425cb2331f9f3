"""emptyDir, subPath and eviction measurement on the real host (needs root for mounts)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from podhost.host import mount as mounts
from podhost.volumes import emptydir, eviction, subpath
from podhost.volumes.emptydir import VolumeSetupError
from podhost.volumes.manager import container_mounts, tear_down_pod

pytestmark = pytest.mark.integration
MI = 1 << 20


def make_pod(volumes: list, mounts_: list, fs_group: int | None = None) -> dict:
    sc = {"fsGroup": fs_group} if fs_group is not None else {}
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"securityContext": sc, "volumes": volumes,
                     "containers": [{"name": "c", "volumeMounts": mounts_}]}}


@pytest.fixture()
def pod_dir(tmp_path: Path):
    d = tmp_path / "pods" / "u1"
    emptydir.make_pod_dirs(d)
    yield d
    tear_down_pod(d)
    assert mounts.mount_points(tmp_path) == []


def setup(pod_dir: Path, pod: dict, env: dict | None = None):
    return container_mounts(pod_dir, pod, pod["spec"]["containers"][0], env or {})


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_disk_layout_mode_and_idempotence(pod_dir: Path) -> None:
    old = os.umask(0o077)
    try:
        pod = make_pod([{"name": "d", "emptyDir": {}}], [{"name": "d", "mountPath": "data"}])
        [m] = setup(pod_dir, pod)
    finally:
        os.umask(old)
    assert m.host_path == str(pod_dir / "volumes/kubernetes.io~empty-dir/d")
    assert m.container_path == "/data"
    assert mode(m.host_path) == 0o777
    assert (pod_dir / "plugins/kubernetes.io~empty-dir/d/ready").is_file()
    assert mode(pod_dir) == 0o750
    Path(m.host_path, "keep").write_text("x")
    setup(pod_dir, pod)  # a container restart
    assert Path(m.host_path, "keep").read_text() == "x"


def test_memory_tmpfs_size_mode_enospc_teardown(pod_dir: Path) -> None:
    pod = make_pod([{"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "2Mi"}}],
                   [{"name": "m", "mountPath": "/m"}])
    [m] = setup(pod_dir, pod)
    assert mounts.is_mount_point(m.host_path)
    st = os.statvfs(m.host_path)
    assert st.f_blocks * st.f_frsize == 2 * MI
    assert mode(m.host_path) == 0o1777
    with pytest.raises(OSError) as e:
        Path(m.host_path, "big").write_bytes(b"x" * (3 * MI))
    assert e.value.errno == errno.ENOSPC
    Path(m.host_path, "big").unlink()
    Path(m.host_path, "keep").write_text("x")
    setup(pod_dir, pod)
    assert Path(m.host_path, "keep").read_text() == "x"
    tear_down_pod(pod_dir)
    assert not Path(m.host_path).exists()


def test_unknown_medium(pod_dir: Path) -> None:
    pod = make_pod([{"name": "m", "emptyDir": {"medium": "Disk"}}],
                   [{"name": "m", "mountPath": "/m"}])
    with pytest.raises(VolumeSetupError, match='^unknown storage medium "Disk"$'):
        setup(pod_dir, pod)


@pytest.mark.parametrize("medium,root_mode", [("", 0o2777), ("Memory", 0o3777)])
def test_fs_group(pod_dir: Path, medium: str, root_mode: int) -> None:
    pod = make_pod([{"name": "v", "emptyDir": {"medium": medium}}],
                   [{"name": "v", "mountPath": "/v"},
                    {"name": "v", "mountPath": "/s", "subPath": "test-sub"}], fs_group=123)
    whole, sub = setup(pod_dir, pod)
    st = os.stat(whole.host_path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 123, root_mode)
    st = os.stat(sub.host_path)  # E3: the new subPath dir copies the root's mode
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 123, root_mode)
    assert sub.host_path == str(pod_dir / "volume-subpaths/v/c/1")


def test_sub_path_file_dir_and_expr(pod_dir: Path) -> None:
    pod = make_pod([{"name": "v", "emptyDir": {}}], [{"name": "v", "mountPath": "/v"}])
    [whole] = setup(pod_dir, pod)
    Path(whole.host_path, "f").write_text("file")
    os.symlink("realdir", Path(whole.host_path, "alias"))  # (g) inside the volume: works
    Path(whole.host_path, "realdir").mkdir()
    Path(whole.host_path, "realdir", "x").write_text("in")
    pod["spec"]["containers"][0]["volumeMounts"] += [
        {"name": "v", "mountPath": "/f", "subPath": "f"},
        {"name": "v", "mountPath": "/a", "subPath": "alias"},
        {"name": "v", "mountPath": "/e", "subPathExpr": "$(POD_NAME)/logs"}]
    _, f, a, e = setup(pod_dir, pod, {"POD_NAME": "p"})
    assert Path(f.host_path).read_text() == "file"
    assert Path(a.host_path, "x").read_text() == "in"
    assert Path(whole.host_path, "p", "logs").is_dir() and mounts.is_mount_point(e.host_path)


@pytest.mark.parametrize("target,message", [
    ("/", "failed to prepare subPath"),  # (a)
    ("/bin", "failed to prepare subPath"),  # (b) S5
    ("/bin/sh", "failed to prepare subPath"),  # (c) S6
    ("/bin/notanexistingpath", "failed to create subPath directory"),  # (d) S7
    ("../", "failed to prepare subPath"),  # (e) S8
])
def test_symlink_attacks_fail(pod_dir: Path, target: str, message: str) -> None:
    pod = make_pod([{"name": "v", "emptyDir": {}}], [{"name": "v", "mountPath": "/v"}])
    [whole] = setup(pod_dir, pod)
    os.symlink(target, Path(whole.host_path, "door"))
    pod["spec"]["containers"][0]["volumeMounts"].append(
        {"name": "v", "mountPath": "/x", "subPath": "door"})
    with pytest.raises(VolumeSetupError) as e:
        setup(pod_dir, pod)
    assert str(e.value) == f'{message} for volumeMount "v" of container "c"'
    assert mounts.mount_points(pod_dir / "volume-subpaths") == []


def test_swap_after_resolution_is_refused(pod_dir: Path, tmp_path: Path) -> None:
    """(f) in miniature: a component swapped for a symlink between check and open is refused."""
    vol = pod_dir / "volumes/kubernetes.io~empty-dir/v"
    (vol / "d").mkdir(parents=True)
    os.rename(vol / "d", vol / "d.real")
    os.symlink("/", vol / "d")
    with pytest.raises(OSError, match="unexpected symlink"):
        with __import__("contextlib").ExitStack() as stack:
            subpath._open_beneath(str(vol), "d", stack)


def test_usage_counts_blocks_and_hard_links_once(pod_dir: Path) -> None:
    pod = make_pod([{"name": "c", "emptyDir": {"sizeLimit": "1Mi"}}],
                   [{"name": "c", "mountPath": "/c"}])
    [m] = setup(pod_dir, pod)
    with open(Path(m.host_path, "sparse"), "wb") as f:
        f.truncate(100 * MI)  # no blocks allocated
    assert eviction.check_pod(pod_dir, pod) is None
    Path(m.host_path, "data").write_bytes(os.urandom(MI))
    os.link(Path(m.host_path, "data"), Path(m.host_path, "link"))
    used, limit = eviction.usage(pod_dir, pod)["c"]
    assert MI < used < MI + 64 * 1024 and limit == MI
    assert eviction.check_pod(pod_dir, pod) == \
        'Usage of EmptyDir volume "c" exceeds the limit "1Mi". '
    text = eviction.metrics_text([(pod_dir, pod)])
    assert 'podhost_emptydir_limit_bytes{namespace="default",pod="p",uid="u1",volume="c"} ' \
           f"{MI}\n" in text


@pytest.mark.parametrize("kind,exists,message", [
    ("Directory", False, "is not a directory"), ("File", True, "is not a file"),
    ("Socket", True, "is not a socket file"), ("CharDevice", True, "is not a character device"),
    ("BlockDevice", True, "is not a block device")])
def test_host_path_type_checks(pod_dir: Path, tmp_path: Path, kind: str, exists: bool,
                               message: str) -> None:
    path = tmp_path / "h"
    if exists:
        path.mkdir()
    pod = make_pod([{"name": "h", "hostPath": {"path": str(path), "type": kind}}],
                   [{"name": "h", "mountPath": "/h"}])
    with pytest.raises(VolumeSetupError) as e:
        setup(pod_dir, pod)
    assert str(e.value) == f'MountVolume.SetUp failed for volume "h" : hostPath type check ' \
                           f"failed: {path} {message}"


def test_host_path_or_create(pod_dir: Path, tmp_path: Path) -> None:
    pod = make_pod([{"name": "d", "hostPath": {"path": str(tmp_path / "a/b"),
                                               "type": "DirectoryOrCreate"}},
                    {"name": "f", "hostPath": {"path": str(tmp_path / "f"),
                                               "type": "FileOrCreate"}}],
                   [{"name": "d", "mountPath": "/d"}, {"name": "f", "mountPath": "/f"}])
    d, f = setup(pod_dir, pod)
    assert mode(d.host_path) == 0o755 & ~os.umask(os.umask(0)) and Path(f.host_path).is_file()
    assert d.host_path == str(tmp_path / "a/b")


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict = {}

    def get(self, resource: str, namespace: str, name: str) -> dict:
        from podhost.api import errors
        try:
            return self.objects[(resource, namespace, name)]
        except KeyError:
            raise errors.NotFoundError.of(resource, name) from None


def test_config_map_atomic_update_and_secret_tmpfs(pod_dir: Path) -> None:
    store = FakeStore()
    store.objects[("configmaps", "default", "cm")] = {"data": {"a": "1", "b": "2"}}
    store.objects[("secrets", "default", "s")] = {"data": {"pw": "aHVudGVyMg=="}}
    pod = make_pod([{"name": "cfg", "configMap": {"name": "cm"}},
                    {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400}}],
                   [{"name": "cfg", "mountPath": "/cfg"}, {"name": "sec", "mountPath": "/sec"}])
    cfg, sec = container_mounts(pod_dir, pod, pod["spec"]["containers"][0], {}, store)
    assert cfg.read_only and sec.read_only
    root = Path(cfg.host_path)
    assert root == pod_dir / "volumes/kubernetes.io~configmap/cfg"
    assert os.readlink(root / "a") == "..data/a" and (root / "a").read_text() == "1"
    assert mode(root) == 0o777 and mode(root / "a") == 0o644
    assert mounts.is_mount_point(sec.host_path)
    assert Path(sec.host_path, "pw").read_bytes() == b"hunter2" and \
        mode(Path(sec.host_path, "pw")) == 0o400
    old = os.readlink(root / "..data")
    store.objects[("configmaps", "default", "cm")] = {"data": {"a": "9"}}
    from podhost.volumes.manager import refresh
    assert refresh(pod_dir, pod, store) == ["cfg"]
    assert (root / "a").read_text() == "9" and not (root / "b").exists()
    assert not (root / old).exists() and refresh(pod_dir, pod, store) == []
