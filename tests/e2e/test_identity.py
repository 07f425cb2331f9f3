"""Identity and access, tried as a new user would with real kubectl and curl: the Pod's bound
ServiceAccount token, RBAC, `kubectl auth can-i`, `kubectl create token`, user certificates
from `podhost kubeconfig --user`, and Secrets nobody but root can read under the node's root."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Node

pytestmark = pytest.mark.e2e

NS = "identity"
SA = f"system:serviceaccount:{NS}:default"
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
POD = f"""
apiVersion: v1
kind: Pod
metadata: {{name: api-client, namespace: {NS}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
"""


def curl(node: Node, path: str, token: str) -> tuple[int, dict[str, object]]:
    out = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", "--cacert", str(node.root / "pki" / "ca.crt"),
         "-H", f"Authorization: Bearer {token}", f"https://127.0.0.1:{node.port}{path}"],
        capture_output=True, text=True, timeout=30, check=True).stdout
    body, _, code = out.rpartition("\n")
    return int(code), json.loads(body)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def ns(node: Node) -> Iterator[str]:
    node.kubectl("create", "namespace", NS)
    yield NS
    node.kubectl("delete", "namespace", NS, "--wait=false", check=False)


def test_pod_token_rbac_and_binding(node: Node, ns: str) -> None:
    node.kubectl("apply", "-f", "-", input=POD)
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/api-client", "--timeout=60s",
                 timeout=70)
    ls = node.kubectl("exec", "-n", ns, "api-client", "--", "ls", MOUNT).stdout.split()
    assert ls == ["ca.crt", "namespace", "token"]
    assert node.kubectl("exec", "-n", ns, "api-client", "--", "cat",
                        f"{MOUNT}/namespace").stdout == ns
    ca = node.kubectl("exec", "-n", ns, "api-client", "--", "cat", f"{MOUNT}/ca.crt").stdout
    assert ca == (node.root / "pki" / "ca.crt").read_text()
    token = node.kubectl("exec", "-n", ns, "api-client", "--", "cat", f"{MOUNT}/token").stdout
    pods = f"/api/v1/namespaces/{ns}/pods"

    code, status = curl(node, pods, token)
    assert code == 403
    assert status["message"] == (f'pods is forbidden: User "{SA}" cannot list resource "pods" '
                                 f'in API group "" in the namespace "{ns}"')
    can_i = node.kubectl("auth", "can-i", "list", "pods", "-n", ns, f"--as={SA}", check=False)
    assert (can_i.returncode, can_i.stdout.strip()) == (1, "no")

    node.kubectl("create", "rolebinding", "client-view", "-n", ns, "--clusterrole=view",
                 f"--serviceaccount={ns}:default")
    assert node.kubectl("auth", "can-i", "list", "pods", "-n", ns,
                        f"--as={SA}").stdout.strip() == "yes"
    assert node.kubectl("auth", "can-i", "get", "secrets", "-n", ns, f"--as={SA}",
                        check=False).stdout.strip() == "no"
    code, listed = curl(node, pods, token)
    assert code == 200 and [p["metadata"]["name"] for p in listed["items"]] == ["api-client"]
    code, status = curl(node, f"/api/v1/namespaces/{ns}/secrets", token)
    assert code == 403 and "cannot list resource \"secrets\"" in str(status["message"])

    minted = node.kubectl("create", "token", "default", "-n", ns).stdout.strip()
    assert curl(node, pods, minted)[0] == 200

    node.kubectl("delete", "pod", "-n", ns, "api-client", "--wait=true", timeout=90)
    code, status = curl(node, pods, token)
    assert (code, status["reason"]) == (401, "Unauthorized")  # bound to the deleted Pod


def test_forged_tokens_are_refused(node: Node, ns: str) -> None:
    token = node.kubectl("create", "token", "default", "-n", ns).stdout.strip()
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = f"system:serviceaccount:{ns}:admin"
    tampered = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    unsigned = b64url(b'{"alg":"none","typ":"JWT"}') + "." + payload + "."
    for bad in (tampered, unsigned, "not-a-token"):
        assert curl(node, "/api/v1/namespaces/default/pods", bad)[0] == 401


def test_user_certificate_forbidden_until_group_binding(node: Node, ns: str) -> None:
    config = node.root.parent / "alice.kubeconfig"
    config.write_text(node.podhost("kubeconfig", "--user", "alice", "--group", "dev").stdout)
    config.chmod(0o600)
    denied = node.kubectl("--kubeconfig", str(config), "get", "pods", "-n", ns, check=False)
    assert denied.returncode == 1
    assert denied.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource '
        f'"pods" in API group "" in the namespace "{ns}"')
    node.kubectl("create", "rolebinding", "dev-view", "-n", ns, "--clusterrole=view",
                 "--group=dev")
    node.kubectl("--kubeconfig", str(config), "get", "pods", "-n", ns)
    # admin of the namespace may bind what it holds (edit), not what it does not (cluster-admin)
    node.kubectl("create", "rolebinding", "dev-admin", "-n", ns, "--clusterrole=admin",
                 "--group=dev")
    node.kubectl("--kubeconfig", str(config), "create", "rolebinding", "bob-edit", "-n", ns,
                 "--clusterrole=edit", "--user=bob")
    escalate = node.kubectl("--kubeconfig", str(config), "create", "rolebinding", "mine", "-n",
                            ns, "--clusterrole=cluster-admin", "--user=alice", check=False)
    assert escalate.returncode == 1
    assert ('rolebindings.rbac.authorization.k8s.io "mine" is forbidden: user "alice" '
            '(groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions '
            'not currently held:') in escalate.stderr


def test_service_account_admission(node: Node, ns: str) -> None:
    off = POD.replace("spec:\n", "spec:\n  automountServiceAccountToken: false\n")
    pod = json.loads(node.kubectl("apply", "-f", "-", "--dry-run=server", "-o", "json",
                                  input=off).stdout)
    assert not pod["spec"].get("volumes")
    missing = POD.replace("spec:\n", "spec:\n  serviceAccountName: nobody-here\n")
    out = node.kubectl("apply", "-f", "-", input=missing, check=False)
    assert out.returncode == 1
    assert ('pods "api-client" is forbidden: error looking up service account '
            f'{ns}/nobody-here: serviceaccount "nobody-here" not found') in out.stderr


def test_secrets_unreadable_under_the_root(node: Node, ns: str) -> None:
    value = "S3cr3t-" + b64url(__import__("os").urandom(9))
    node.kubectl("create", "secret", "generic", "topsecret", "-n", ns,
                 f"--from-literal=password={value}")
    assert base64.b64decode(node.kubectl(
        "get", "secret", "topsecret", "-n", ns, "-o", "jsonpath={.data.password}").stdout
    ).decode() == value
    needles = [value, base64.b64encode(value.encode()).decode()]
    args = [a for n in needles for a in ("-e", n)]
    # the claims' btrfs image is searched through its mount (storage/local-path), not as a
    # sparse file of the disk's size
    as_root = subprocess.run(["grep", "-r", "-l", "-a", "--exclude-dir=images",
                              "--exclude-dir=overlay", "--exclude=pool.img", *args,
                              str(node.root)], capture_output=True, text=True, timeout=120)
    assert as_root.stdout == ""  # encrypted at rest: not even root finds it in plain
    as_nobody = subprocess.run(["runuser", "-u", "nobody", "--", "grep", "-r", "-l", "-a", "-s",
                                *args, str(node.root)], capture_output=True, text=True,
                               timeout=60)
    assert as_nobody.stdout == ""
    for name in ("podhost.db", "podhost.db-wal", "kubeconfig", "pki/sa.key",
                 "pki/encryption-keys"):
        assert (node.root / name).stat().st_mode & 0o077 == 0, name
    listing = subprocess.run(["runuser", "-u", "nobody", "--", "ls", str(node.root)],
                             capture_output=True, text=True)
    assert listing.returncode != 0


def test_issuer_discovery(node: Node) -> None:
    token = (node.root / "pki" / "token").read_text().strip()
    code, doc = curl(node, "/.well-known/openid-configuration", token)
    assert code == 200 and doc["issuer"] == "https://kubernetes.default.svc.cluster.local"
    code, jwks = curl(node, "/openid/v1/jwks", token)
    assert code == 200 and [k["alg"] for k in jwks["keys"]] == ["ES256"]  # type: ignore[union-attr]
