"""Build small OCI / docker-archive test images offline, from Debian packages.

Stdlib only (Python 3.11).  Used by ``hack/build-test-images.py``; importable
on its own::

    import mkimage
    mkimage.build_image("busybox", "build/test-images")

Each image is a single layer.  Two archives are written per image:

* ``<name>.oci.tar``    - OCI image layout in a tar (``podman save --format
  oci-archive`` / ``skopeo copy ... oci-archive:``), gzip layer blob.
* ``<name>.docker.tar`` - classic ``docker save`` archive (``manifest.json``,
  ``repositories``, ``<config-hex>.json``, ``<id>/layer.tar``), uncompressed.

Both carry the same image config, so the image ID (sha256 of the config) is
identical in both archives.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from typing import BinaryIO

# Bump a recipe version whenever the produced image would change; the cache
# stamp (DIR/.stamp-<name>) records it.
RECIPE_VERSION = {
    "busybox": "busybox-1",
    "nginx": "nginx-1",
}

IMAGE_REFS = {
    "busybox": "docker.io/library/busybox:latest",
    "nginx": "docker.io/library/nginx:latest",
}

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Fixed timestamp for everything we generate (2024-01-01T00:00:00Z), unless
# SOURCE_DATE_EPOCH says otherwise.  Makes the output (nearly) deterministic.
DEFAULT_EPOCH = 1704067200

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"

CHUNK = 1 << 20


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_epoch() -> int:
    v = os.environ.get("SOURCE_DATE_EPOCH")
    return int(v) if v and v.isdigit() else DEFAULT_EPOCH


def rfc3339(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def go_arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(m, m)


def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# Layer tar writer
# ---------------------------------------------------------------------------

def norm_name(name: str) -> str:
    """'./usr/bin/' -> 'usr/bin'; '/etc/x' -> 'etc/x'; './' -> ''."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    name = name.lstrip("/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"refusing path with '..': {name!r}")
    return "/".join(parts)


class LayerWriter:
    """Writes an uncompressed PAX layer tar with numeric ownership.

    uname/gname are left empty so that extractors use the numeric uid/gid
    (image users/groups differ from the host's).  mtimes are clamped to
    ``epoch``.  Names are written without a leading './'.
    """

    def __init__(self, path: str, epoch: int):
        self.epoch = epoch
        self._f = open(path, "wb")
        self.tar = tarfile.open(fileobj=self._f, mode="w", format=tarfile.PAX_FORMAT)
        self.names: set[str] = set()

    def _info(self, name: str, type_: bytes, mode: int, uid: int, gid: int,
              mtime: int | None) -> tarfile.TarInfo:
        name = norm_name(name)
        if not name:
            raise ValueError("empty member name")
        if name in self.names:
            raise ValueError(f"duplicate layer member {name!r}")
        self.names.add(name)
        ti = tarfile.TarInfo(name)
        ti.type = type_
        ti.mode = mode & 0o7777
        ti.uid, ti.gid = uid, gid
        ti.uname = ti.gname = ""
        ti.mtime = self.epoch if mtime is None else min(int(mtime), self.epoch)
        return ti

    def dir(self, name, mode=0o755, uid=0, gid=0, mtime=None, pax=None):
        ti = self._info(name, tarfile.DIRTYPE, mode, uid, gid, mtime)
        ti.pax_headers = dict(pax or {})
        self.tar.addfile(ti)

    def file(self, name, data: bytes | None = None, mode=0o644, uid=0, gid=0, mtime=None,
             fileobj: BinaryIO | None = None, size: int | None = None, pax=None):
        ti = self._info(name, tarfile.REGTYPE, mode, uid, gid, mtime)
        ti.pax_headers = dict(pax or {})
        if data is not None:
            ti.size = len(data)
            fileobj = io.BytesIO(data)
        else:
            assert fileobj is not None and size is not None
            ti.size = size
        self.tar.addfile(ti, fileobj)

    def symlink(self, name, target: str, uid=0, gid=0, mtime=None):
        ti = self._info(name, tarfile.SYMTYPE, 0o777, uid, gid, mtime)
        ti.linkname = target
        self.tar.addfile(ti)

    def hardlink(self, name, target: str, mode=0o755, uid=0, gid=0, mtime=None):
        target = norm_name(target)
        if target not in self.names:
            raise ValueError(f"hard link {name!r} -> {target!r}: target not in layer (yet)")
        ti = self._info(name, tarfile.LNKTYPE, mode, uid, gid, mtime)
        ti.linkname = target
        self.tar.addfile(ti)

    def device(self, name, type_: bytes, major: int, minor: int, mode=0o666, uid=0, gid=0,
               mtime=None):
        ti = self._info(name, type_, mode, uid, gid, mtime)
        ti.devmajor, ti.devminor = major, minor
        self.tar.addfile(ti)

    def fifo(self, name, mode=0o644, uid=0, gid=0, mtime=None):
        self.tar.addfile(self._info(name, tarfile.FIFOTYPE, mode, uid, gid, mtime))

    def close(self):
        self.tar.close()
        self._f.close()


# ---------------------------------------------------------------------------
# Image assembly (OCI archive + docker archive from one layer tar)
# ---------------------------------------------------------------------------

class _HashWriter:
    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()
        self.size = 0

    def write(self, b):
        self.h.update(b)
        self.size += len(b)
        return self.f.write(b)

    def flush(self):
        self.f.flush()


def gzip_file(src: str, dst: str, level: int = 6) -> tuple[str, int]:
    """gzip src -> dst (no name, mtime 0: deterministic). Returns (hex, size)."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        hw = _HashWriter(fo)
        with gzip.GzipFile(filename="", mode="wb", compresslevel=level, fileobj=hw,
                           mtime=0) as gz:
            while chunk := fi.read(CHUNK):
                gz.write(chunk)
    return hw.h.hexdigest(), hw.size


@dataclasses.dataclass
class ImageSpec:
    name: str                 # short name, e.g. "busybox"
    ref: str                  # docker.io/library/busybox:latest
    config: dict              # the "config" member of the image config
    created_by: str           # history text for the layer
    epoch: int


class _OuterTar:
    """Plain tar for the archive itself (root-owned files, fixed mtime)."""

    def __init__(self, path: str, epoch: int):
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.epoch = epoch

    def _ti(self, name, type_=tarfile.REGTYPE, mode=0o644):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = type_, mode, self.epoch
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    def dir(self, name):
        self.tar.addfile(self._ti(name, tarfile.DIRTYPE, 0o755))

    def bytes(self, name, data: bytes):
        ti = self._ti(name)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))

    def path(self, name, path: str):
        ti = self._ti(name)
        ti.size = os.path.getsize(path)
        with open(path, "rb") as f:
            self.tar.addfile(ti, f)

    def close(self):
        self.tar.close()


def assemble(spec: ImageSpec, layer_tar: str, out_dir: str, workdir: str) -> dict:
    """Write <out>/<name>.oci.tar and <name>.docker.tar from one layer tar."""
    created = rfc3339(spec.epoch)
    diff_id = sha256_file(layer_tar)
    layer_gz = os.path.join(workdir, "layer.tar.gz")
    t0 = time.monotonic()
    blob_hex, blob_size = gzip_file(layer_tar, layer_gz)
    log(f"  {spec.name}: gzip layer {os.path.getsize(layer_tar)} -> {blob_size} bytes "
        f"in {time.monotonic() - t0:.1f}s")

    history = [{"created": created, "created_by": spec.created_by,
                "comment": "podhost hack/mkimage.py"}]
    for key in ("Entrypoint", "Cmd"):
        if key in spec.config:
            history.append({"created": created,
                            "created_by": f"/bin/sh -c #(nop)  {key.upper()} "
                                          f"{json.dumps(spec.config[key])}",
                            "empty_layer": True})
    config = {
        "created": created,
        "architecture": go_arch(),
        "os": "linux",
        "config": spec.config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": history,
    }
    config_b = canonical_json(config)
    config_hex = hashlib.sha256(config_b).hexdigest()

    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": f"sha256:{config_hex}",
                   "size": len(config_b)},
        "layers": [{"mediaType": MT_OCI_LAYER_GZ, "digest": f"sha256:{blob_hex}",
                    "size": blob_size}],
    }
    manifest_b = canonical_json(manifest)
    manifest_hex = hashlib.sha256(manifest_b).hexdigest()
    index = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [{
            "mediaType": MT_OCI_MANIFEST,
            "digest": f"sha256:{manifest_hex}",
            "size": len(manifest_b),
            "annotations": {
                "org.opencontainers.image.ref.name": spec.ref,
                "io.containerd.image.name": spec.ref,
            },
        }],
    }

    # --- OCI archive -------------------------------------------------------
    oci_path = os.path.join(out_dir, f"{spec.name}.oci.tar")
    tmp = oci_path + ".tmp"
    ot = _OuterTar(tmp, spec.epoch)
    ot.bytes("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
    ot.bytes("index.json", canonical_json(index))
    ot.dir("blobs")
    ot.dir("blobs/sha256")
    ot.bytes(f"blobs/sha256/{config_hex}", config_b)
    ot.bytes(f"blobs/sha256/{manifest_hex}", manifest_b)
    ot.path(f"blobs/sha256/{blob_hex}", layer_gz)
    ot.close()
    os.replace(tmp, oci_path)
    os.unlink(layer_gz)

    # --- docker archive (classic `docker save` layout) ----------------------
    repo, _, tag = spec.ref.rpartition(":")
    layer_id = diff_id  # single layer: chain id == diff id
    v1_json = canonical_json({"id": layer_id, "created": created, "os": "linux",
                              "architecture": go_arch(), "config": spec.config})
    docker_path = os.path.join(out_dir, f"{spec.name}.docker.tar")
    tmp = docker_path + ".tmp"
    dt = _OuterTar(tmp, spec.epoch)
    dt.bytes(f"{config_hex}.json", config_b)
    dt.dir(layer_id)
    dt.bytes(f"{layer_id}/VERSION", b"1.0")
    dt.bytes(f"{layer_id}/json", v1_json)
    dt.path(f"{layer_id}/layer.tar", layer_tar)
    dt.bytes("manifest.json", canonical_json([{
        "Config": f"{config_hex}.json",
        "RepoTags": [spec.ref],
        "Layers": [f"{layer_id}/layer.tar"],
    }]))
    dt.bytes("repositories", canonical_json({repo: {tag: layer_id}}))
    dt.close()
    os.replace(tmp, docker_path)

    return {"image_id": f"sha256:{config_hex}", "manifest": f"sha256:{manifest_hex}",
            "diff_id": f"sha256:{diff_id}", "oci": oci_path, "docker": docker_path}


# ---------------------------------------------------------------------------
# busybox: Debian's busybox-static + all applets as hard links in /bin
# ---------------------------------------------------------------------------

BUSYBOX_PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""

BUSYBOX_GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nobody:x:65534:
"""

BUSYBOX_SHADOW = "".join(
    f"{line.split(':')[0]}:*:10933:0:99999:7:::\n" for line in BUSYBOX_PASSWD.splitlines())

BUSYBOX_BIN = "/bin/busybox"


def busybox_inputs() -> dict:
    return {"busybox_sha256": sha256_file(BUSYBOX_BIN)}


def build_busybox_layer(layer_path: str, epoch: int) -> tuple[dict, str]:
    if not os.path.exists(BUSYBOX_BIN):
        raise SystemExit(f"{BUSYBOX_BIN} missing: apt-get install busybox-static")
    out = subprocess.run([BUSYBOX_BIN, "--list"], check=True, capture_output=True,
                         text=True).stdout
    applets = sorted({a.strip() for a in out.split() if a.strip()} - {"busybox"})
    lw = LayerWriter(layer_path, epoch)
    for d, mode in [("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755),
                    ("proc", 0o555), ("root", 0o700), ("sys", 0o555), ("tmp", 0o1777),
                    ("usr", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755),
                    ("var", 0o755), ("var/spool", 0o755), ("var/spool/mail", 0o755),
                    ("var/www", 0o755)]:
        lw.dir(d, mode)
    size = os.path.getsize(BUSYBOX_BIN)
    with open(BUSYBOX_BIN, "rb") as f:
        lw.file("bin/busybox", fileobj=f, size=size, mode=0o755)
    for a in applets:
        if "/" in a:
            continue
        lw.hardlink(f"bin/{a}", "bin/busybox", mode=0o755)
    lw.file("etc/passwd", BUSYBOX_PASSWD.encode())
    lw.file("etc/group", BUSYBOX_GROUP.encode())
    lw.file("etc/shadow", BUSYBOX_SHADOW.encode(), mode=0o600)
    lw.close()
    ver = subprocess.run([BUSYBOX_BIN], capture_output=True, text=True).stdout.split("\n")[0]
    config = {"Env": [DEFAULT_PATH], "Cmd": ["sh"]}
    return config, f"busybox-static ({ver.strip()}) + {len(applets)} applet hard links"


# ---------------------------------------------------------------------------
# nginx: mmdebstrap --variant=essential --include=nginx-light, post-processed
# ---------------------------------------------------------------------------

NGINX_CONF = """\
user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;

include /etc/nginx/modules-enabled/*.conf;

events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    #tcp_nopush     on;

    keepalive_timeout  65;

    #gzip  on;

    include /etc/nginx/conf.d/*.conf;
}
"""

# As the official image's default.conf (its entrypoint adds "listen [::]:80"
# only when IPv6 is available; we have no entrypoint, so IPv4 only).
NGINX_DEFAULT_CONF = """\
server {
    listen       80;
    server_name  localhost;

    #access_log  /var/log/nginx/host.access.log  main;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    #error_page  404              /404.html;

    # redirect server error pages to the static page /50x.html
    #
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""

NGINX_INDEX_FALLBACK = """\
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

NGINX_50X = """\
<!DOCTYPE html>
<html>
<head>
<title>Error</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>If you are the system administrator of this resource then you should check
the error log for details.</p>
<p><em>Faithfully yours, nginx.</em></p>
</body>
</html>
"""

# Trimmed from the image (content only; the directories stay).
_NGINX_DROP_PREFIXES = (
    "usr/share/doc/", "usr/share/man/", "usr/share/locale/", "usr/share/info/",
    "usr/share/lintian/", "usr/share/bug/",
    "var/lib/apt/lists/", "var/cache/apt/", "var/log/apt/",
    "dev/",  # the runtime provides /dev; the official images ship it empty
)
_NGINX_DROP_EXACT = {
    "var/log/dpkg.log", "var/log/alternatives.log", "var/log/bootstrap.log",
    "var/cache/debconf/config.dat-old", "var/cache/debconf/templates.dat-old",
    "var/lib/dpkg/status-old", "var/lib/dpkg/diversions-old",
    "etc/nginx/sites-enabled/default",
    "var/log/nginx/access.log", "var/log/nginx/error.log",  # replaced by symlinks
}

MERGED_USR_HOOKS = "/usr/share/mmdebstrap/hooks/merged-usr"

MMDEBSTRAP_EXCLUDES = [
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
]


def _keep_nginx_member(name: str, isdir: bool) -> bool:
    if name in _NGINX_DROP_EXACT:
        return False
    for p in _NGINX_DROP_PREFIXES:
        if name.startswith(p):
            if name.startswith("usr/share/doc/") and name.endswith("/copyright"):
                return True
            # keep first-level dirs (e.g. usr/share/doc/<pkg>) only if they hold a copyright
            if isdir and name.startswith("usr/share/doc/") and name.count("/") == 3:
                return True
            return False
    return True


def host_apt_source_files(suite: str) -> list[str]:
    """Host apt source files that mention the suite (fallback 'mirror' args)."""
    cands = ["/etc/apt/sources.list"]
    d = "/etc/apt/sources.list.d"
    if os.path.isdir(d):
        cands += [os.path.join(d, f) for f in sorted(os.listdir(d))
                  if f.endswith((".list", ".sources"))]
    out = []
    for c in cands:
        try:
            text = open(c).read()
        except OSError:
            continue
        live = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        if suite in live and "/debian" in live:
            out.append(c)
    return out


def run_mmdebstrap(target: str, logfile: str, epoch: int, suite: str = "bookworm",
                   apt_sources: str = "auto") -> None:
    if not shutil.which("mmdebstrap"):
        raise SystemExit("mmdebstrap missing: apt-get install mmdebstrap")
    # The merged-usr hook (shipped with mmdebstrap) sets up merged-/usr itself
    # and installs usr-is-merged.  Without it apt satisfies init-system-helpers'
    # "usrmerge | usr-is-merged" with usrmerge, which drags in full perl (~60 MB).
    base = ["mmdebstrap", "--variant=essential", "--include=nginx-light", "--format=tar"]
    if os.path.isdir(MERGED_USR_HOOKS):
        base.append(f"--hook-dir={MERGED_USR_HOOKS}")
    base.append('--aptopt=Acquire::Languages "none";')
    base += [f"--dpkgopt={o}" for o in MMDEBSTRAP_EXCLUDES]
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    attempts = []
    if apt_sources in ("auto", "default"):
        attempts.append(("mmdebstrap default mirror", []))
    if apt_sources in ("auto", "host"):
        files = host_apt_source_files(suite)
        if files:
            attempts.append(("host apt sources " + " ".join(files), files))
        elif apt_sources == "host":
            raise SystemExit(f"no host apt source file mentions {suite}")
    err = None
    for label, mirrors in attempts:
        log(f"  nginx: mmdebstrap ({label}) ...")
        with open(logfile, "wb") as lf:
            p = subprocess.run(base + ["--", suite, target] + mirrors, stdout=lf,
                               stderr=subprocess.STDOUT, env=env)
        if p.returncode == 0:
            return
        tail = open(logfile, errors="replace").read()[-3000:]
        err = f"mmdebstrap failed (rc={p.returncode}) using {label}:\n{tail}"
        log(err)
    raise SystemExit(err or "mmdebstrap: nothing attempted")


def _dpkg_version(status: bytes, pkg: str) -> str:
    for para in status.decode(errors="replace").split("\n\n"):
        fields = {}
        for ln in para.splitlines():
            if ln and not ln[0].isspace() and ":" in ln:
                k, v = ln.split(":", 1)
                fields[k] = v.strip()
        if fields.get("Package") == pkg and "installed" in fields.get("Status", ""):
            return fields.get("Version", "")
    raise RuntimeError(f"{pkg} not installed in rootfs")


def _add_user(passwd: bytes, group: bytes, name: str, uid: int) -> tuple[bytes, bytes]:
    if not any(ln.split(":")[0] == name for ln in passwd.decode().splitlines()):
        passwd = passwd.rstrip(b"\n") + \
            f"\n{name}:x:{uid}:{uid}:nginx user:/nonexistent:/usr/sbin/nologin\n".encode()
    if not any(ln.split(":")[0] == name for ln in group.decode().splitlines()):
        group = group.rstrip(b"\n") + f"\n{name}:x:{uid}:\n".encode()
    return passwd, group


def rewrite_rootfs(src_tar: str, layer_path: str, epoch: int,
                   keep: Callable[[str, bool], bool],
                   replace: dict[str, bytes | tuple[bytes, int]],
                   extra: Callable[[LayerWriter], None]) -> None:
    """Copy src_tar into a normalised layer tar, dropping/replacing members.

    Works purely on tar metadata: nothing is ever extracted on the host, so no
    symlink in the rootfs can redirect a write onto the host filesystem.
    """
    lw = LayerWriter(layer_path, epoch)
    with tarfile.open(src_tar, "r:") as src:
        members = src.getmembers()
        by_name = {norm_name(m.name): m for m in members}
        for m in members:
            name = norm_name(m.name)
            if not name:
                continue  # the root directory itself
            if not keep(name, m.isdir()):
                continue
            xattrs = {k: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
            common = dict(uid=m.uid, gid=m.gid, mtime=m.mtime)
            if name in replace:
                data = replace.pop(name)
                mode = m.mode if m.isreg() else 0o644
                if isinstance(data, tuple):
                    data, mode = data
                lw.file(name, data, mode=mode, **common)
            elif m.isdir():
                lw.dir(name, m.mode, pax=xattrs, **common)
            elif m.isreg():
                lw.file(name, fileobj=src.extractfile(m), size=m.size, mode=m.mode,
                        pax=xattrs, **common)
            elif m.issym():
                lw.symlink(name, m.linkname, **common)
            elif m.islnk():
                target = norm_name(m.linkname)
                if target in lw.names:
                    lw.hardlink(name, target, mode=m.mode, **common)
                else:  # target was dropped: store the content as a plain file
                    tm = by_name[target]
                    lw.file(name, fileobj=src.extractfile(tm), size=tm.size, mode=m.mode,
                            pax=xattrs, **common)
            elif m.ischr() or m.isblk():
                lw.device(name, m.type, m.devmajor, m.devminor, m.mode, **common)
            elif m.isfifo():
                lw.fifo(name, m.mode, **common)
            else:
                raise ValueError(f"unsupported tar member type {m.type!r}: {name}")
    if replace:
        raise RuntimeError(f"files to replace not found in rootfs: {sorted(replace)}")
    extra(lw)
    lw.close()


def build_nginx_layer(layer_path: str, epoch: int, workdir: str,
                      apt_sources: str = "auto") -> tuple[dict, str]:
    raw = os.path.join(workdir, "mmdebstrap.tar")
    t0 = time.monotonic()
    run_mmdebstrap(raw, os.path.join(workdir, "mmdebstrap.log"), epoch,
                   apt_sources=apt_sources)
    log(f"  nginx: mmdebstrap done in {time.monotonic() - t0:.1f}s "
        f"({os.path.getsize(raw)} bytes)")

    with tarfile.open(raw, "r:") as t:
        def read(n):
            return t.extractfile("./" + n).read()
        version = _dpkg_version(read("var/lib/dpkg/status"), "nginx-light")
        passwd, group = _add_user(read("etc/passwd"), read("etc/group"), "nginx", 101)
        names = {norm_name(n) for n in t.getnames()}
        index = read("usr/share/nginx/html/index.html") \
            if "usr/share/nginx/html/index.html" in names else b""
    if b"Welcome to nginx!" not in index:
        index = NGINX_INDEX_FALLBACK.encode()

    replace = {
        "etc/passwd": passwd,
        "etc/group": group,
        "etc/nginx/nginx.conf": NGINX_CONF.encode(),
        # runtime bind-mounts these; keep empty mount points, not the host's data
        "etc/hostname": (b"", 0o644),
        "etc/resolv.conf": (b"", 0o644),
    }
    if "usr/share/nginx/html/index.html" in names:
        replace["usr/share/nginx/html/index.html"] = index
    for opt in ("etc/shadow", "etc/gshadow"):
        if opt in names:
            raise RuntimeError(f"{opt} present in rootfs; _add_user would need to handle it")

    def extra(lw: LayerWriter) -> None:
        lw.file("etc/nginx/conf.d/default.conf", NGINX_DEFAULT_CONF.encode())
        if "usr/share/nginx/html/index.html" not in lw.names:
            lw.file("usr/share/nginx/html/index.html", index)
        lw.file("usr/share/nginx/html/50x.html", NGINX_50X.encode())
        lw.symlink("var/log/nginx/access.log", "/dev/stdout")
        lw.symlink("var/log/nginx/error.log", "/dev/stderr")

    rewrite_rootfs(raw, layer_path, epoch, _keep_nginx_member, replace, extra)
    os.unlink(raw)
    config = {
        "Env": [DEFAULT_PATH, f"NGINX_VERSION={version}"],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "ExposedPorts": {"80/tcp": {}},
        "StopSignal": "SIGQUIT",
    }
    return config, f"mmdebstrap --variant=essential --include=nginx-light bookworm " \
                   f"(nginx-light {version})"


# ---------------------------------------------------------------------------
# Driver with caching
# ---------------------------------------------------------------------------

def outputs(name: str, out_dir: str) -> list[str]:
    return [os.path.join(out_dir, f"{name}.oci.tar"), os.path.join(out_dir, f"{name}.docker.tar")]


def stamp_path(name: str, out_dir: str) -> str:
    return os.path.join(out_dir, f".stamp-{name}")


def _recipe(name: str) -> dict:
    r = {"recipe": RECIPE_VERSION[name], "ref": IMAGE_REFS[name], "arch": go_arch()}
    if name == "busybox":
        r.update(busybox_inputs())
    return r


def is_cached(name: str, out_dir: str) -> bool:
    if not all(os.path.isfile(p) for p in outputs(name, out_dir)):
        return False
    try:
        with open(stamp_path(name, out_dir)) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        return False
    return stamp.get("recipe_inputs") == _recipe(name)


def build_image(name: str, out_dir: str, force: bool = False,
                apt_sources: str = "auto") -> dict | None:
    """Build one image; returns info dict, or None when the cache was used."""
    if name not in RECIPE_VERSION:
        raise ValueError(f"unknown image {name!r}")
    os.makedirs(out_dir, exist_ok=True)
    if not force and is_cached(name, out_dir):
        return None
    try:
        os.unlink(stamp_path(name, out_dir))
    except FileNotFoundError:
        pass
    epoch = build_epoch()
    workdir = tempfile.mkdtemp(prefix=f".work-{name}-", dir=out_dir)
    try:
        layer = os.path.join(workdir, "layer.tar")
        if name == "busybox":
            config, created_by = build_busybox_layer(layer, epoch)
        else:
            config, created_by = build_nginx_layer(layer, epoch, workdir, apt_sources)
        spec = ImageSpec(name=name, ref=IMAGE_REFS[name], config=config,
                         created_by=created_by, epoch=epoch)
        info = assemble(spec, layer, out_dir, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with open(stamp_path(name, out_dir), "w") as f:
        json.dump({"recipe_inputs": _recipe(name), "image_id": info["image_id"],
                   "manifest": info["manifest"]}, f, indent=1, sort_keys=True)
        f.write("\n")
    return info


__all__ = ["build_image", "is_cached", "assemble", "LayerWriter", "ImageSpec",
           "rewrite_rootfs", "IMAGE_REFS", "RECIPE_VERSION", "outputs"]
