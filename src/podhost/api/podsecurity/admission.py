"""The PodSecurity admission decision of k8s.io/pod-security-admission/admission (1.32), pure:
given the configuration, the namespace's labels and the object, what the API server answers
(a Forbidden or Invalid error), the warnings it sends and the audit annotations it records.

- Pods (create, update that changes an image or adds containers, the ephemeralcontainers
  subresource) are checked against enforce, audit and warn;
- objects with a pod template (Deployments, Jobs, CronJobs, …) against audit and warn only
  (their Pods are enforced when the controller makes them);
- namespaces: their labels are validated, and a stricter enforce level is checked against the
  Pods already there, answered with warnings;
- exemptions: usernames, namespaces, runtimeClassNames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from podhost.api import errors
from podhost.api.podsecurity import evaluator
from podhost.api.podsecurity.config import Config
from podhost.api.podsecurity.evaluator import Aggregate
from podhost.api.podsecurity.levels import (
    PREFIX,
    PRIVILEGED,
    LevelVersion,
    Policy,
    compare_levels,
    policy_from_labels,
)
from podhost.api.types import Obj

TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "podtemplates": ("template",), "replicationcontrollers": ("spec", "template"),
    "replicasets": ("spec", "template"), "deployments": ("spec", "template"),
    "statefulsets": ("spec", "template"), "daemonsets": ("spec", "template"),
    "jobs": ("spec", "template"), "cronjobs": ("spec", "jobTemplate", "spec", "template")}
IGNORED_POD_SUBRESOURCES = frozenset({"exec", "attach", "binding", "eviction", "log",
                                      "portforward", "proxy", "status"})
MAX_PODS_CHECKED = 3000


@dataclass
class Decision:
    error: errors.ApiError | None = None
    warnings: list[str] = field(default_factory=list)
    audit: dict[str, str] = field(default_factory=dict)  # keys with the plugin's prefix


@dataclass(frozen=True)
class Request:
    """The admission attributes PodSecurity reads."""

    resource: str
    subresource: str
    operation: str  # CREATE or UPDATE
    namespace: str
    name: str
    username: str
    obj: Obj
    old: Obj | None = None


def _exempt(reason: str) -> Decision:
    return Decision(audit={f"{PREFIX}exempt": reason})


def _exemption(config: Config, req: Request) -> Decision | None:
    if req.namespace and req.namespace in config.namespaces:
        return _exempt("namespace")
    if req.username and req.username in config.usernames:
        return _exempt("user")
    return None


def admit(config: Config, req: Request, ns_labels: dict[str, str] | None,
          pods: Callable[[], Iterable[Obj]] = list) -> Decision:
    """The decision on a create or update (`pods`: the namespace's Pods, for namespaces)."""
    if req.operation not in ("CREATE", "UPDATE"):
        return Decision()
    if req.resource == "namespaces":
        return _namespace(config, req, pods)
    evaluate = EVALUATIONS.get(req.resource)  # Pods, and the kinds with a Pod template
    return evaluate(config, req, ns_labels) if evaluate is not None else Decision()


def _pod(config: Config, req: Request, ns_labels: dict[str, str] | None) -> Decision:
    if req.subresource in IGNORED_POD_SUBRESOURCES:
        return Decision()
    if (exempt := _exemption(config, req)) is not None:
        return exempt
    policy, errs = policy_from_labels(ns_labels, config.defaults)
    if not errs and policy.fully_privileged():
        return Decision(audit={f"{PREFIX}enforce-policy": str(LevelVersion(PRIVILEGED))})
    if req.operation == "UPDATE" and req.old is not None and \
            not significant_update(_spec(req.obj), _spec(req.old)):
        return Decision()
    return evaluate(config, policy, errs, req, _meta(req.obj), _spec(req.obj), enforce=True)


def _workload(config: Config, req: Request, ns_labels: dict[str, str] | None) -> Decision:
    if req.subresource:
        return Decision()
    if (exempt := _exemption(config, req)) is not None:
        return exempt
    policy, errs = policy_from_labels(ns_labels, config.defaults)
    if not errs and policy.warn.level == PRIVILEGED and policy.audit.level == PRIVILEGED:
        return Decision()
    template: object = req.obj
    for key in TEMPLATE_PATHS[req.resource]:
        template = template.get(key) if isinstance(template, dict) else None
    if not isinstance(template, dict):
        return Decision()
    return evaluate(config, policy, errs, req, _meta(template), _spec(template), enforce=False)


def evaluate(config: Config, policy: Policy, errs: list[errors.FieldError], req: Request,
             meta: Obj, spec: Obj, *, enforce: bool) -> Decision:
    """EvaluatePod: enforce (Pods only), audit, then warn unless already refused."""
    if spec.get("runtimeClassName") and spec["runtimeClassName"] in config.runtime_classes:
        return _exempt("runtimeClass")
    decision = Decision()
    if errs:
        decision.audit["error"] = "Failed to parse policy: " + _aggregate(errs)
    results: dict[LevelVersion, Aggregate] = {}

    def result(lv: LevelVersion) -> Aggregate:
        if lv not in results:
            results[lv] = evaluator.evaluate(lv, meta, spec)
        return results[lv]
    if enforce:
        decision.audit["enforce-policy"] = str(policy.enforce)
        if not (r := result(policy.enforce)).allowed:
            decision.error = errors.ForbiddenError(
                f'{req.resource} "{req.name}" is forbidden: violates PodSecurity '
                f'"{policy.enforce}": {r.forbidden_detail()}', kind=req.resource, name=req.name)
    if not (r := result(policy.audit)).allowed:
        decision.audit["audit-violations"] = \
            f'would violate PodSecurity "{policy.audit}": {r.forbidden_detail()}'
    if decision.error is None and not (r := result(policy.warn)).allowed:
        decision.warnings.append(f'would violate PodSecurity "{policy.warn}": '
                                 f"{r.forbidden_detail()}")
    decision.audit = {PREFIX + k: v for k, v in decision.audit.items()}
    return decision


def _namespace(config: Config, req: Request, pods: Callable[[], Iterable[Obj]]) -> Decision:
    if req.subresource:
        return Decision()
    labels = _labels(req.obj)
    policy, errs = policy_from_labels(labels, config.defaults)
    name = str(_meta(req.obj).get("name") or req.name)
    if req.operation == "CREATE" or req.old is None:
        if errs:
            return Decision(errors.InvalidError("Namespace", name, errs))
        return Decision(warnings=_exempt_namespace_warning(config, name, policy, labels))
    old_policy, old_errs = policy_from_labels(_labels(req.old), config.defaults)
    if errs and (not old_errs or errs != old_errs):
        return Decision(errors.InvalidError("Namespace", name, errs))
    new, old = policy.enforce, old_policy.enforce
    if new == old or new.level == PRIVILEGED or \
            (new.version == old.version and compare_levels(new.level, old.level) < 1):
        return Decision()
    if name in config.namespaces:
        return Decision(warnings=_exempt_namespace_warning(config, name, policy, labels))
    return Decision(warnings=pods_warnings(config, name, new, list(pods())))


def pods_warnings(config: Config, namespace: str, enforce: LevelVersion, pods: list[Obj]
                  ) -> list[str]:
    """EvaluatePodsInNamespace: the existing Pods against a new enforce level, one warning per
    distinct reason (named by its lexically first Pod)."""
    pods = _prioritized(config, pods)
    total, checked = len(pods), pods[:MAX_PODS_CHECKED]
    first: dict[str, tuple[str, int]] = {}  # reason -> (first pod name, count)
    for pod in checked:
        r = evaluator.evaluate(enforce, _meta(pod), _spec(pod))
        if r.allowed:
            continue
        reason, pod_name = r.forbidden_reason(), str(_meta(pod).get("name") or "")
        seen_name, count = first.get(reason, (pod_name, 0))
        first[reason] = (min(seen_name, pod_name), count + 1)
    warnings = []
    if len(checked) < total:
        warnings.append(f"new PodSecurity enforce level only checked against the first "
                        f"{len(checked)} of {total} existing pods")
    if first:
        warnings.append(f'existing pods in namespace "{namespace}" violate the new PodSecurity '
                        f'enforce level "{enforce}"')
    decorated = []
    for reason, (pod_name, count) in first.items():
        others = "" if count == 1 else " (and 1 other pod)" if count == 2 \
            else f" (and {count - 1} other pods)"
        decorated.append(f"{pod_name}{others}: {reason}")
    return warnings + sorted(decorated)


def _prioritized(config: Config, pods: list[Obj]) -> list[Obj]:
    """Exempt runtime classes skipped, one Pod per controller first, the rest after."""
    first, duplicates, seen = [], [], set()
    for pod in pods:
        if _spec(pod).get("runtimeClassName") in config.runtime_classes:
            continue
        owner = next((r.get("uid") for r in _meta(pod).get("ownerReferences") or []
                      if isinstance(r, dict) and r.get("controller")), None)
        if owner is None or owner not in seen:
            first.append(pod)
            if owner is not None:
                seen.add(owner)
        else:
            duplicates.append(pod)
    return first + duplicates


def _exempt_namespace_warning(config: Config, name: str, policy: Policy,
                              labels: dict[str, str]) -> list[str]:
    if name not in config.namespaces or policy.fully_privileged() or \
            policy.equivalent(config.defaults):
        return []
    parts = [f"{mode}={getattr(policy, mode)}" for mode in ("enforce", "audit", "warn")
             if getattr(policy, mode).level != PRIVILEGED
             and (PREFIX + mode in labels or f"{PREFIX}{mode}-version" in labels)]
    return [f'namespace "{name}" is exempt from Pod Security, and the policy '
            f'({", ".join(parts)}) will be ignored']


def significant_update(spec: Obj, old: Obj) -> bool:
    """isSignificantPodUpdate: containers added or removed, an image changed, an ephemeral
    container added or its image changed."""
    for key in ("containers", "initContainers"):
        new_list, old_list = spec.get(key) or [], old.get(key) or []
        if len(new_list) != len(old_list) or any(
                _image(a) != _image(b) for a, b in zip(new_list, old_list, strict=True)):
            return True
    before = {c.get("name"): c for c in old.get("ephemeralContainers") or []
              if isinstance(c, dict)}
    return any(not isinstance(c, dict) or c.get("name") not in before
               or _image(c) != _image(before[c.get("name")])
               for c in spec.get("ephemeralContainers") or [])


def _image(c: object) -> object:
    return c.get("image") if isinstance(c, dict) else c


def _meta(obj: Obj) -> Obj:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def _spec(obj: Obj | None) -> Obj:
    s = (obj or {}).get("spec")
    return s if isinstance(s, dict) else {}


def _labels(obj: Obj) -> dict[str, str]:
    labels = _meta(obj).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _aggregate(errs: list[errors.FieldError]) -> str:
    texts = [str(e) for e in errs]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


Evaluation = Callable[[Config, Request, dict[str, str] | None], Decision]
EVALUATIONS: dict[str, Evaluation] = {"pods": _pod, **dict.fromkeys(TEMPLATE_PATHS, _workload)}
