// The cluster around the Pods: the node's capacity and usage, the workloads with the
// ReplicaSets and Pods they own (by ownerReferences), the Services with their endpoints (from
// EndpointSlices), the claims with their capacity and usage (from the Summary API).
import { h, bytes, quantityBytes, cpu, cores, meter, key } from "./util.js";

const inScope = (state) => (o) => !state.namespace || o.metadata.namespace === state.namespace;
const byKey = (a, b) => key(a).localeCompare(key(b));

function ownedBy(map, owner) {
  return [...map.values()].filter((o) =>
    (o.metadata.ownerReferences || []).some((r) => r.uid === owner.metadata.uid)).sort(byKey);
}

function podChip(pod, actions) {
  const phase = pod.metadata.deletionTimestamp ? "Terminating" : (pod.status.phase || "Pending");
  return h("button", { class: `chip ${phase}`, "data-owned-pod": key(pod), title: phase,
    onclick: () => actions.showPod(pod) }, pod.metadata.name);
}

function nodeCard(name, node, stats, pods) {
  const cap = (node && (node.status.allocatable || node.status.capacity)) || {};
  const running = pods.filter((p) => p.spec.nodeName === name &&
    !["Succeeded", "Failed"].includes(p.status.phase)).length;
  const meters = [];
  if (stats) {
    const total = cores(cap.cpu);
    const used = stats.cpu.usageNanoCores / 1e9;
    meters.push(meter(used, total, `CPU ${cpu(stats.cpu.usageNanoCores)}` +
      (total ? ` of ${total} cores` : ""), { "data-meter": "cpu" }));
    const mem = quantityBytes(cap.memory);
    meters.push(meter(stats.memory.workingSetBytes, mem, `memory ${bytes(stats.memory.workingSetBytes)}` +
      (mem ? ` of ${bytes(mem)}` : ""), { "data-meter": "memory" }));
    if (stats.fs) {
      meters.push(meter(stats.fs.usedBytes, stats.fs.capacityBytes,
        `disk ${bytes(stats.fs.usedBytes)} of ${bytes(stats.fs.capacityBytes)}`, { "data-meter": "disk" }));
    }
  }
  const maxPods = Number(cap.pods || 0);
  meters.push(meter(running, maxPods, `${running} Pods` + (maxPods ? ` of ${maxPods}` : ""),
    { "data-meter": "pods" }));
  return h("article", { class: "card node-card", "data-node": name },
    h("h3", {}, name, node && node.status.nodeInfo ?
      h("span", { class: "muted" }, ` ${node.status.nodeInfo.osImage || ""}`) : null),
    h("div", { class: "meters" }, meters));
}

function workload(kind, obj, state, actions) {
  const st = obj.status || {};
  const ready = {
    Deployment: `${st.readyReplicas || 0}/${obj.spec.replicas ?? 1} ready`,
    StatefulSet: `${st.readyReplicas || 0}/${obj.spec.replicas ?? 1} ready`,
    DaemonSet: `${st.numberReady || 0}/${st.desiredNumberScheduled || 0} ready`,
    Job: `${st.succeeded || 0}/${obj.spec.completions ?? 1} succeeded` +
      (st.active ? `, ${st.active} active` : "") + (st.failed ? `, ${st.failed} failed` : ""),
  }[kind];
  const children = kind === "Deployment"
    ? ownedBy(state.replicasets, obj).filter((rs) => (rs.spec.replicas || 0) > 0 ||
        ownedBy(state.pods, rs).length).map((rs) =>
      h("li", { "data-replicaset": key(rs) },
        h("span", { class: "kind" }, "ReplicaSet"), ` ${rs.metadata.name} `,
        h("span", { class: "muted" }, `${rs.status.readyReplicas || 0}/${rs.spec.replicas || 0}`),
        h("div", { class: "chips" }, ownedBy(state.pods, rs).map((p) => podChip(p, actions)))))
    : [h("li", {}, h("div", { class: "chips" }, ownedBy(state.pods, obj).map((p) => podChip(p, actions))))];
  return h("li", { class: "workload", "data-workload": `${kind}/${key(obj)}` },
    h("span", { class: "kind" }, kind), ` ${obj.metadata.name} `,
    h("span", { class: "muted" }, `${obj.metadata.namespace} · ${ready}`),
    h("ul", {}, children));
}

function service(svc, state) {
  const slices = [...state.slices.values()].filter((sl) =>
    sl.metadata.namespace === svc.metadata.namespace &&
    (sl.metadata.labels || {})["kubernetes.io/service-name"] === svc.metadata.name);
  const endpoints = [];
  for (const sl of slices) {
    const port = (sl.ports || [])[0];
    for (const ep of sl.endpoints || []) {
      const ready = !ep.conditions || ep.conditions.ready !== false;
      for (const addr of ep.addresses || []) {
        endpoints.push(h("span", { class: `chip ${ready ? "Running" : "Pending"}`,
          "data-endpoint": addr, title: ready ? "ready" : "not ready" },
        `${addr}${port && port.port ? `:${port.port}` : ""}` +
          (ep.targetRef ? ` ${ep.targetRef.name}` : "")));
      }
    }
  }
  const ports = (svc.spec.ports || []).map((p) => `${p.port}${p.targetPort && p.targetPort !== p.port ?
    `→${p.targetPort}` : ""}/${p.protocol || "TCP"}${p.nodePort ? ` (node ${p.nodePort})` : ""}`).join(", ");
  return h("li", { "data-service": key(svc) },
    h("span", { class: "kind" }, svc.spec.type || "ClusterIP"), ` ${svc.metadata.name} `,
    h("span", { class: "muted" }, `${svc.metadata.namespace} · ${svc.spec.clusterIP || ""} · ${ports}`),
    h("div", { class: "chips" }, endpoints.length ? endpoints : h("span", { class: "muted" }, "no endpoints")));
}

function claim(pvc, state) {
  const usage = state.claimUsage.get(key(pvc));
  const capacity = quantityBytes((pvc.status.capacity || {}).storage) ||
    (usage && usage.capacityBytes);
  const requested = (pvc.spec.resources && pvc.spec.resources.requests || {}).storage;
  return h("li", { "data-claim": key(pvc) },
    h("span", { class: `badge ${pvc.status.phase || "Pending"}` }, pvc.status.phase || "Pending"),
    ` ${pvc.metadata.name} `,
    h("span", { class: "muted" }, `${pvc.metadata.namespace} · ${pvc.spec.storageClassName || ""} · ` +
      `${(pvc.status.capacity || {}).storage || requested || ""}`),
    usage ? meter(usage.usedBytes, capacity, `${bytes(usage.usedBytes)} used of ${bytes(capacity)}`,
      { "data-usage": String(usage.usedBytes) })
      : h("div", { class: "sub muted" }, "not mounted: usage not measured"));
}

function panel(id, title, items, empty) {
  const el = document.getElementById(id);
  el.replaceChildren(h("h2", {}, title),
    items.length ? h("ul", { class: "tree" }, items) : h("p", { class: "muted" }, empty));
}

export function renderOverview(state, actions) {
  const pods = [...state.pods.values()];
  const names = new Set([...state.nodes.values()].map((n) => n.metadata.name));
  for (const name of state.nodeStats.keys()) names.add(name);
  const nodes = document.getElementById("node");
  nodes.replaceChildren(...[...names].sort().map((name) => nodeCard(name,
    [...state.nodes.values()].find((n) => n.metadata.name === name), state.nodeStats.get(name), pods)));
  const visible = inScope(state);
  const workloads = [
    ...[...state.deployments.values()].filter(visible).sort(byKey).map((o) => workload("Deployment", o, state, actions)),
    ...[...state.statefulsets.values()].filter(visible).sort(byKey).map((o) => workload("StatefulSet", o, state, actions)),
    ...[...state.daemonsets.values()].filter(visible).sort(byKey).map((o) => workload("DaemonSet", o, state, actions)),
    ...[...state.jobs.values()].filter(visible).sort(byKey).map((o) => workload("Job", o, state, actions)),
  ];
  panel("workloads", "Workloads", workloads, "No Deployments, StatefulSets, DaemonSets or Jobs.");
  panel("services", "Services", [...state.services.values()].filter(visible).sort(byKey)
    .map((svc) => service(svc, state)), "No Services.");
  panel("claims", "Claims", [...state.claims.values()].filter(visible).sort(byKey)
    .map((pvc) => claim(pvc, state)), "No PersistentVolumeClaims.");
}
