"""A newcomer's first mistakes, each explaining itself (issue 32): every resource type by the
server's discovery (`get all`, pv, sc, roles), kubectl's texts plus what to do for a stale
kubeconfig, a node that is not running and a non-root user, and a hostPort that shadows a
process of the node. The troubleshooting page quotes what kubectl 1.33 prints."""

from __future__ import annotations

import base64
import datetime
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.e2e.conftest import PODHOST, Node, free_port

pytestmark = pytest.mark.e2e

TROUBLESHOOTING = (REPO / "docs" / "troubleshooting.md").read_text()
KUBECTL_133 = shutil.which("kubectl.1.33") or "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"


def run(node: Node, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env or node.env(), capture_output=True, text=True,
                          timeout=60)


def test_every_kind_comes_from_discovery(node: Node) -> None:
    out = run(node, PODHOST, "get", "all")
    assert out.returncode == 0, out.stderr
    assert "service/kubernetes" in out.stdout
    script = run(node, PODHOST, "completion", "bash").stdout
    completed = run(node, "bash", "-c", f"{script}\nCOMP_WORDS=(podhost get s); COMP_CWORD=2; "
                    "_podhost; echo ${COMPREPLY[*]}",
                    env=dict(node.env(), PATH=f"{Path(PODHOST).parent}:{os.environ['PATH']}"))
    assert {"sc", "storageclasses", "services", "svc", "statefulsets", "sts"} <= \
        set(completed.stdout.split()), completed
    ours = run(node, PODHOST, "get", "all", "-A", "-o", "name").stdout.split()
    theirs = node.kubectl("get", "all", "-A", "-o", "name").stdout.split()
    assert sorted(ours) == sorted(theirs) and "service/kubernetes" in ours
    sc = run(node, PODHOST, "get", "sc", "-o", "name")
    assert sc.stdout.split() == ["storageclass.storage.k8s.io/local-path",
                                 "storageclass.storage.k8s.io/standard"]
    for kind in ("pv", "roles", "clusterroles", "rolebindings", "cm", "sa", "ev", "ds"):
        got = run(node, PODHOST, "get", kind, "-A")
        assert "doesn't have a resource type" not in got.stderr, (kind, got.stderr)
    every = node.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
    got = run(node, PODHOST, "get", ",".join(every), "-A")
    assert got.returncode == 0 and "error" not in got.stderr, got.stderr
    mixed = run(node, PODHOST, "get", "svc,sc", "--no-headers")
    assert "service/kubernetes" in mixed.stdout and "storageclass.storage.k8s.io/" \
        in mixed.stdout


def _other_ca() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "an earlier node")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _kubeconfig(node: Node, path: Path, ca: bytes | None = None, token: str | None = None,
                server: str | None = None) -> dict[str, str]:
    config = yaml.safe_load(node.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    if ca is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    if server is not None:
        cluster["server"] = server
    if token is not None:
        config["users"][0]["user"] = {"token": token}
    path.write_text(yaml.safe_dump(config))
    return dict(node.env(), KUBECONFIG=str(path), PODHOST_NO_AUTOSTART="1")


def _documented(text: str) -> None:
    assert f"`{text}`" in TROUBLESHOOTING, f"docs/troubleshooting.md lacks: {text}"


@pytest.mark.parametrize("case", ["stale-ca", "stale-token", "no-node"])
def test_mistakes_explain_themselves(node: Node, tmp_path: Path, case: str) -> None:
    port = free_port()
    env = _kubeconfig(node, tmp_path / "kubeconfig",
                      ca=_other_ca() if case == "stale-ca" else None,
                      token="not-this-node" if case == "stale-token" else None,
                      server=f"https://127.0.0.1:{port}" if case == "no-node" else None)
    kubectl_text, hint = {
        "stale-ca": ("Unable to connect to the server: tls: failed to verify certificate: "
                     "x509: certificate signed by unknown authority", "sudo podhost kubeconfig"),
        "stale-token": ("error: You must be logged in to the server (Unauthorized)",
                        "sudo podhost kubeconfig"),
        "no-node": (f"The connection to the server 127.0.0.1:{port} was refused - did you "
                    "specify the right host or port?", "podhost up"),
    }[case]
    ours = run(node, PODHOST, "get", "pods", env=env)
    assert ours.returncode == 1 and "Traceback" not in ours.stderr
    first, second = ours.stderr.splitlines()[:2]
    assert first == kubectl_text and second.startswith("hint: ") and hint in second
    _documented(kubectl_text.replace(str(port), "6443"))
    if os.access(KUBECTL_133, os.X_OK):
        theirs = run(node, KUBECTL_133, "get", "pods", env=env)
        assert theirs.returncode == 1
        assert theirs.stderr.splitlines()[-1] == kubectl_text


NOBODY_PYTHON = "/usr/bin/python3"


def test_non_root_user(node: Node, tmp_path: Path) -> None:
    """As another user: doctor and status answer (no traceback, health ok), get pods says
    kubectl's text and how to get a kubeconfig."""
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            NOBODY_PYTHON, "-c", "import yaml, cryptography"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("no system python3 with PyYAML and cryptography for another user")
    for path in [*node.root.parents, *tmp_path.parents, tmp_path]:
        if path.is_relative_to(Path("/tmp")) and path != Path("/tmp"):
            os.chmod(path, os.stat(path).st_mode | 0o011)  # pytest's tmp dirs are 0700
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    env = dict(node.env(), HOME=str(home), PYTHONPATH=str(REPO / "src"))
    env.pop("KUBECONFIG")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", NOBODY_PYTHON,
              "-m", "podhost"]
    status = run(node, *nobody, "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "health:     ok" in status.stdout and "root's only" in status.stdout, status.stdout
    doctor = run(node, *nobody, "doctor", env=env)
    assert "Traceback" not in doctor.stderr and "[FAIL] root" in doctor.stdout, doctor.stderr
    assert "sudo podhost doctor" in doctor.stdout
    pods = run(node, *nobody, "get", "pods", env=env)
    text = (f'error: error loading config file "{node.kubeconfig}": open {node.kubeconfig}: '
            "permission denied")
    assert pods.returncode == 1 and pods.stderr.splitlines()[0] == text
    assert "sudo podhost kubeconfig >" in pods.stderr.splitlines()[1]
    _documented(text.replace(str(node.kubeconfig), "/var/lib/podhost/kubeconfig"))
    if os.access(KUBECTL_133, os.X_OK):
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", KUBECTL_133,
                     "get", "pods"]
        theirs = run(node, *as_nobody, env=dict(env, KUBECONFIG=str(node.kubeconfig)))
        assert theirs.stderr.splitlines()[-1] == text
        nothing = run(node, *as_nobody, env=env)  # no kubeconfig at all
        last = nothing.stderr.splitlines()[-1]
        assert last == ("The connection to the server localhost:8080 was refused - did you "
                        "specify the right host or port?")
        _documented(last)


SHADOW = """apiVersion: v1
kind: Pod
metadata: {{name: nc-shadow}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    ports: [{{containerPort: 80, hostPort: {port}}}]
"""


def test_host_port_shadowing_a_node_process_is_reported(node: Node) -> None:
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", port))
        listener.listen()
        node.kubectl("apply", "-f", "-", input=SHADOW.format(port=port))
        try:
            node.wait_ready("nc-shadow")
            deadline, events = time.monotonic() + 20, ""
            while "HostPortInUse" not in events and time.monotonic() < deadline:
                events = node.kubectl("get", "events", "--field-selector",
                                      "involvedObject.name=nc-shadow").stdout
                time.sleep(0.2)
            assert f"hostPort {port}/TCP: a process of the node listens on 0.0.0.0:{port}" \
                in events, events
        finally:
            node.kubectl("delete", "pod", "nc-shadow", "--wait=true")


CLAIMS = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: {size}}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: {name}}}}}]
"""


def test_claims_are_checked_against_the_disk(node: Node) -> None:
    """A claim the disk cannot hold is refused (Warning ProvisioningFailed, Pending); `df` in
    the container shows the pool (what the disk had free), not the claim's limit."""
    node.kubectl("apply", "-f", "-", input=CLAIMS.format(name="nc-huge", size="100Ti"))
    node.kubectl("apply", "-f", "-", input=CLAIMS.format(name="nc-small", size="16Mi"))
    try:
        deadline, events = time.monotonic() + 30, ""
        while "ProvisioningFailed" not in events and time.monotonic() < deadline:
            events = node.kubectl("get", "events", "--field-selector",
                                  "involvedObject.name=nc-huge,involvedObject.kind="
                                  "PersistentVolumeClaim").stdout
            time.sleep(0.3)
        assert re.search(r"Warning\s+ProvisioningFailed\s+persistentvolumeclaim/nc-huge\s+"
                         r'failed to provision volume with StorageClass "standard": not '
                         r"enough free space on the node: the claim asks for 100Ti, the pool "
                         r"can hold [\d.]+Gi more", events), events
        phase = node.kubectl("get", "pvc", "nc-huge", "-o", "jsonpath={.status.phase}").stdout
        assert phase == "Pending"
        node.wait_ready("nc-small")
        df = node.kubectl("exec", "nc-small", "--", "df", "-k", "/data").stdout.splitlines()
        blocks = int(df[1].split()[1])
        disk = shutil.disk_usage(node.root)
        assert 16 * 1024 < blocks * 1024 <= disk.total  # the pool, not the claim's 16Mi
    finally:
        node.kubectl("delete", "pod", "nc-huge", "nc-small", "--wait=true")
        node.kubectl("delete", "pvc", "nc-huge", "nc-small", "--wait=true")
