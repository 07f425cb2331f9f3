"""Every resource podhost serves, in one table: its group and version, kind, scope, verbs,
short names, categories, field selectors, subresources and OpenAPI definition.

Discovery (`/api/v1`, `/apis`, `/apis/GROUP/VERSION`, aggregated discovery), routing
(`/api/v1/...` and `/apis/GROUP/VERSION/...`), the wire `apiVersion` and `kind` of stored
objects and lists, schemas (decoding, pruning, server-side apply) and OpenAPI all read it.

To serve a new resource, add one `ResourceType` to the table of its group below (`CORE` for
core/v1; a named group gets a tuple of its own, listed in `GROUPS`), keeping plural names unique
across groups (the store keys objects by them); then give it validation (`api/validation.py`),
defaults and strategy where it has any, and table columns (`api/table.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

VERBS_ALL = ("create", "delete", "deletecollection", "get", "list", "patch", "update",
             "watch")
VERBS_NO_COLLECTION_DELETE = ("create", "delete", "get", "list", "patch", "update", "watch")
META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class Subresource:
    name: str  # "status", "log", "scale", ...
    kind: str  # the kind the subresource takes and returns
    verbs: tuple[str, ...]
    group: str = ""  # the kind's group when it is not the resource's (autoscaling for scale)
    version: str = ""


@dataclass(frozen=True)
class ResourceType:
    name: str  # plural, also the store's key
    singular: str
    kind: str
    group: str = ""  # "" is the core (legacy) group
    version: str = "v1"
    namespaced: bool = True
    verbs: tuple[str, ...] = VERBS_ALL
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    field_selectors: frozenset[str] = META_FIELDS
    subresources: tuple[Subresource, ...] = ()
    definition_package: str = ""  # OpenAPI name prefix, e.g. "io.k8s.api.apps.v1."
    served_versions: tuple[str, ...] = ()  # a custom resource's served versions (`version`
    # is the storage one); objects are rewritten between them (CRD conversion None)

    @property
    def api_version(self) -> str:
        """The `apiVersion` of its objects: `v1`, `apps/v1`, ..."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def definition(self) -> str:
        """Its OpenAPI definition name, e.g. `io.k8s.api.core.v1.Pod`."""
        package = self.definition_package or _default_package(self.group, self.version)
        return package + self.kind

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    @property
    def versions(self) -> tuple[str, ...]:
        return self.served_versions or (self.version,)


def _default_package(group: str, version: str) -> str:
    """`io.k8s.api.<first label of the group>.<version>.` as the OpenAPI names go (core for
    the legacy group: `apps` for apps, `rbac` for rbac.authorization.k8s.io)."""
    return f"io.k8s.api.{group.split('.')[0] if group else 'core'}.{version}."


POD_FIELDS = frozenset({"metadata.name", "metadata.namespace", "spec.nodeName",
                        "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                        "status.phase", "status.podIP", "status.nominatedNodeName",
                        "spec.hostNetwork"})
EVENT_FIELDS = frozenset({"metadata.name", "metadata.namespace", "involvedObject.kind",
                          "involvedObject.namespace", "involvedObject.name",
                          "involvedObject.uid", "involvedObject.apiVersion",
                          "involvedObject.resourceVersion", "involvedObject.fieldPath",
                          "reason", "reportingComponent", "source", "type"})
STATUS_VERBS = ("get", "patch", "update")

CORE: tuple[ResourceType, ...] = (
    ResourceType("pods", "pod", "Pod", short_names=("po",), categories=("all",),
                 field_selectors=POD_FIELDS, subresources=(
                     Subresource("status", "Pod", STATUS_VERBS),
                     Subresource("ephemeralcontainers", "Pod", STATUS_VERBS),
                     Subresource("log", "Pod", ("get",)),
                     Subresource("attach", "PodAttachOptions", ("create", "get")),
                     Subresource("exec", "PodExecOptions", ("create", "get")),
                     Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
                     Subresource("eviction", "Eviction", ("create",), group="policy",
                                 version="v1"))),
    ResourceType("namespaces", "namespace", "Namespace", namespaced=False,
                 verbs=VERBS_NO_COLLECTION_DELETE, short_names=("ns",),
                 field_selectors=frozenset({"metadata.name", "status.phase"}),
                 subresources=(Subresource("status", "Namespace", STATUS_VERBS),)),
    ResourceType("events", "event", "Event", short_names=("ev",), field_selectors=EVENT_FIELDS),
    ResourceType("configmaps", "configmap", "ConfigMap", short_names=("cm",)),
    ResourceType("secrets", "secret", "Secret", field_selectors=META_FIELDS | {"type"}),
    ResourceType("serviceaccounts", "serviceaccount", "ServiceAccount", short_names=("sa",),
                 subresources=(Subresource("token", "TokenRequest", ("create",),
                                           group="authentication.k8s.io", version="v1"),)),
    ResourceType("nodes", "node", "Node", namespaced=False, short_names=("no",),
                 field_selectors=frozenset({"metadata.name", "spec.unschedulable"}),
                 subresources=(Subresource("status", "Node", STATUS_VERBS),)),
    ResourceType("services", "service", "Service", short_names=("svc",), categories=("all",),
                 field_selectors=META_FIELDS | {"spec.clusterIP", "spec.type"},
                 subresources=(Subresource("status", "Service", STATUS_VERBS),)),
    ResourceType("endpoints", "endpoints", "Endpoints", short_names=("ep",)),
    ResourceType("persistentvolumes", "persistentvolume", "PersistentVolume", namespaced=False,
                 short_names=("pv",),
                 subresources=(Subresource("status", "PersistentVolume", STATUS_VERBS),)),
    ResourceType("persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim",
                 short_names=("pvc",),
                 subresources=(Subresource("status", "PersistentVolumeClaim", STATUS_VERBS),)),
    ResourceType("resourcequotas", "resourcequota", "ResourceQuota", short_names=("quota",),
                 subresources=(Subresource("status", "ResourceQuota", STATUS_VERBS),)),
    ResourceType("limitranges", "limitrange", "LimitRange", short_names=("limits",)),
    ResourceType("podtemplates", "podtemplate", "PodTemplate"),
)
DISCOVERY: tuple[ResourceType, ...] = (
    ResourceType("endpointslices", "endpointslice", "EndpointSlice", group="discovery.k8s.io",
                 field_selectors=META_FIELDS | {"addressType"}),
)

NETWORKING: tuple[ResourceType, ...] = (
    ResourceType("ingressclasses", "ingressclass", "IngressClass", group="networking.k8s.io",
                 namespaced=False),
    ResourceType("ingresses", "ingress", "Ingress", group="networking.k8s.io",
                 short_names=("ing",),
                 subresources=(Subresource("status", "Ingress", STATUS_VERBS),)),
    ResourceType("networkpolicies", "networkpolicy", "NetworkPolicy", group="networking.k8s.io",
                 short_names=("netpol",)),
)

STORAGE: tuple[ResourceType, ...] = (
    ResourceType("storageclasses", "storageclass", "StorageClass", group="storage.k8s.io",
                 namespaced=False, short_names=("sc",)),
)
STORAGE_RESOURCES = frozenset({"persistentvolumes", "persistentvolumeclaims", "storageclasses"})

SCALE = Subresource("scale", "Scale", STATUS_VERBS, group="autoscaling", version="v1")


def _workload(name: str, singular: str, kind: str, group: str, short: tuple[str, ...],
              scale: bool = False) -> ResourceType:
    """An apps/v1 or batch/v1 workload: in "all", with status (and scale) subresources."""
    subs = (Subresource("status", kind, STATUS_VERBS), *((SCALE,) if scale else ()))
    return ResourceType(name, singular, kind, group=group, short_names=short,
                        categories=("all",), subresources=subs)


CORE = (*CORE, _workload("replicationcontrollers", "replicationcontroller",
                          "ReplicationController", "", ("rc",), scale=True))
APPS: tuple[ResourceType, ...] = (
    ResourceType("controllerrevisions", "controllerrevision", "ControllerRevision",
                 group="apps"),
    _workload("daemonsets", "daemonset", "DaemonSet", "apps", ("ds",)),
    _workload("deployments", "deployment", "Deployment", "apps", ("deploy",), scale=True),
    _workload("replicasets", "replicaset", "ReplicaSet", "apps", ("rs",), scale=True),
    _workload("statefulsets", "statefulset", "StatefulSet", "apps", ("sts",), scale=True),
)
BATCH: tuple[ResourceType, ...] = (
    _workload("cronjobs", "cronjob", "CronJob", "batch", ("cj",)),
    _workload("jobs", "job", "Job", "batch", ()),
)
# CRDs; the custom resources they define are registered at run time (apiserver/crds.py)
APIEXTENSIONS: tuple[ResourceType, ...] = (
    ResourceType("customresourcedefinitions", "customresourcedefinition",
                 "CustomResourceDefinition", group="apiextensions.k8s.io", namespaced=False,
                 short_names=("crd", "crds"),
                 subresources=(Subresource("status", "CustomResourceDefinition",
                                           STATUS_VERBS),),
                 categories=("api-extensions",),
                 definition_package="io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."),
)
APIREGISTRATION: tuple[ResourceType, ...] = (
    ResourceType("apiservices", "apiservice", "APIService", group="apiregistration.k8s.io",
                 namespaced=False, verbs=("get", "list", "watch"), categories=("api-extensions",),
                 definition_package="io.k8s.kube-aggregator.pkg.apis.apiregistration.v1."),
)
COORDINATION: tuple[ResourceType, ...] = (
    ResourceType("leases", "lease", "Lease", group="coordination.k8s.io"),
)
ADMISSIONREGISTRATION: tuple[ResourceType, ...] = (
    ResourceType("mutatingwebhookconfigurations", "mutatingwebhookconfiguration",
                 "MutatingWebhookConfiguration", group="admissionregistration.k8s.io",
                 namespaced=False, categories=("api-extensions",)),
    ResourceType("validatingadmissionpolicies", "validatingadmissionpolicy",
                 "ValidatingAdmissionPolicy", group="admissionregistration.k8s.io",
                 namespaced=False, categories=("api-extensions",),
                 subresources=(Subresource("status", "ValidatingAdmissionPolicy",
                                           STATUS_VERBS),)),
    ResourceType("validatingadmissionpolicybindings", "validatingadmissionpolicybinding",
                 "ValidatingAdmissionPolicyBinding", group="admissionregistration.k8s.io",
                 namespaced=False, categories=("api-extensions",)),
    ResourceType("validatingwebhookconfigurations", "validatingwebhookconfiguration",
                 "ValidatingWebhookConfiguration", group="admissionregistration.k8s.io",
                 namespaced=False, categories=("api-extensions",)),
)
# identity: RBAC objects, and the create-only reviews (answered, never stored)
RBAC: tuple[ResourceType, ...] = tuple(
    ResourceType(name, name[:-1], kind, group="rbac.authorization.k8s.io", namespaced=namespaced)
    for name, kind, namespaced in (("clusterrolebindings", "ClusterRoleBinding", False),
                                   ("clusterroles", "ClusterRole", False),
                                   ("rolebindings", "RoleBinding", True),
                                   ("roles", "Role", True)))
RBAC_RESOURCES = frozenset(r.name for r in RBAC)
AUTHORIZATION: tuple[ResourceType, ...] = tuple(
    ResourceType(name, name[:-1], kind, group="authorization.k8s.io", namespaced=namespaced,
                 verbs=("create",), field_selectors=frozenset())
    for name, kind, namespaced in (
        ("localsubjectaccessreviews", "LocalSubjectAccessReview", True),
        ("selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
        ("selfsubjectrulesreviews", "SelfSubjectRulesReview", False),
        ("subjectaccessreviews", "SubjectAccessReview", False)))
AUTHENTICATION: tuple[ResourceType, ...] = (
    ResourceType("selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview",
                 group="authentication.k8s.io", namespaced=False, verbs=("create",),
                 field_selectors=frozenset()),
)
WORKLOADS = frozenset({"deployments", "replicasets", "statefulsets", "daemonsets", "jobs",
                       "cronjobs"})

AUTOSCALING: tuple[ResourceType, ...] = (
    ResourceType("horizontalpodautoscalers", "horizontalpodautoscaler",
                 "HorizontalPodAutoscaler", group="autoscaling", version="v2",
                 short_names=("hpa",), categories=("all",),
                 subresources=(Subresource("status", "HorizontalPodAutoscaler", STATUS_VERBS),)),
)
SCHEDULING: tuple[ResourceType, ...] = (
    ResourceType("priorityclasses", "priorityclass", "PriorityClass", group="scheduling.k8s.io",
                 namespaced=False, short_names=("pc",)),
)
NODE: tuple[ResourceType, ...] = (
    ResourceType("runtimeclasses", "runtimeclass", "RuntimeClass", group="node.k8s.io",
                 namespaced=False),
)
CERTIFICATES: tuple[ResourceType, ...] = (
    ResourceType("certificatesigningrequests", "certificatesigningrequest",
                 "CertificateSigningRequest", group="certificates.k8s.io", namespaced=False,
                 short_names=("csr",), subresources=(
                     Subresource("approval", "CertificateSigningRequest", STATUS_VERBS),
                     Subresource("status", "CertificateSigningRequest", STATUS_VERBS))),
)
POLICY: tuple[ResourceType, ...] = (
    ResourceType("poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget",
                 group="policy", short_names=("pdb",),
                 subresources=(Subresource("status", "PodDisruptionBudget", STATUS_VERBS),)),
)

# the named groups' tables, in the order discovery lists them
GROUPS: tuple[tuple[ResourceType, ...], ...] = (DISCOVERY, APPS, AUTOSCALING, BATCH, POLICY,
                                                SCHEDULING, NODE, CERTIFICATES, NETWORKING,
                                                STORAGE, APIEXTENSIONS, APIREGISTRATION,
                                                ADMISSIONREGISTRATION, COORDINATION, RBAC,
                                                AUTHORIZATION, AUTHENTICATION)

_BY_NAME = {r.name: r for table in (CORE, *GROUPS) for r in table}

# resources served at a second group by converting to and from the stored ones of the same
# name (apiserver/eventsv1.py): listed by discovery, not keys of the store
CONVERTED: tuple[ResourceType, ...] = (
    ResourceType("events", "event", "Event", group="events.k8s.io", short_names=("ev",)),
)


def register(*types: ResourceType, replace: bool = False) -> None:
    """Add resources at run time (custom resources, tests); `replace` an earlier row of the
    same name (a CRD that changed)."""
    for t in types:
        if t.name in _BY_NAME and _BY_NAME[t.name] != t and not replace:
            raise ValueError(f"resource {t.name} is already registered")
        _BY_NAME[t.name] = t


def unregister(name: str) -> None:
    """Stop serving a resource added by `register`."""
    _BY_NAME.pop(name, None)


def resources() -> tuple[ResourceType, ...]:
    """Every served resource, in registration order."""
    return tuple(_BY_NAME.values())


class NamespacedView(Mapping[str, bool]):
    """resource -> namespaced, over the resources served now."""

    def __getitem__(self, name: str) -> bool:
        return _BY_NAME[name].namespaced

    def __iter__(self) -> Iterator[str]:
        return iter(list(_BY_NAME))

    def __len__(self) -> int:
        return len(_BY_NAME)


def get(name: str) -> ResourceType | None:
    return _BY_NAME.get(name)


def by_kind(kind: str, api_version: str | None = None) -> ResourceType | None:
    return next((r for r in resources() if r.kind == kind and
                 (api_version is None or r.api_version == api_version)), None)


def kind_of(name: str) -> str:
    r = _BY_NAME.get(name)
    return r.kind if r else name


def qualified(name: str) -> str:
    """The resource as the API server names it in messages: `deployments.apps`, `pods`."""
    r = _BY_NAME.get(name)
    return f"{name}.{r.group}" if r is not None and r.group else name


def api_version_of(name: str) -> str:
    r = _BY_NAME.get(name)
    return r.api_version if r else "v1"


def served(name: str, group: str, version: str) -> ResourceType | None:
    """The resource `name` if it is served at this group and version."""
    r = _BY_NAME.get(name)
    if r is None or r.group != group or version not in r.versions:
        return None
    return r


def group_versions() -> list[tuple[str, str]]:
    """The named groups and their versions, in the order they were registered."""
    seen: dict[tuple[str, str], None] = {}
    for r in (*resources(), *CONVERTED):
        if r.group:
            seen.update(dict.fromkeys((r.group, v) for v in r.versions))
    return list(seen)


def in_group_version(group: str, version: str) -> Iterator[ResourceType]:
    return (r for r in (*resources(), *CONVERTED) if r.group == group and version in r.versions)
