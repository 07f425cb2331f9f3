// Drawing the state: namespaces, Pods as containers wired to the volumes they mount, events,
// and the detail panel (a container's log tail, a volume's files). Text is always set with
// textContent: nothing from the cluster is parsed as HTML.
import { h, s, bytes, quantityBytes, cpu, age, key } from "./util.js";
import { renderOverview } from "./overview.js";

const ROW = 64; // px per container or volume box (56 high + 8 apart)
const WIDE = 300; // px between the containers and the volumes
const LABEL = 44; // characters of a mount's label before it is cut (the whole in a tooltip)
const TOKEN_VOLUME = /^kube-api-access-/; // the projected ServiceAccount token, folded away

export function isTokenVolume(v) { return TOKEN_VOLUME.test(v.name) && !!v.projected; }

function volumeKind(v) {
  if (v.emptyDir) return v.emptyDir.medium === "Memory" ? "emptyDir (Memory)" : "emptyDir";
  if (v.persistentVolumeClaim) return `claim ${v.persistentVolumeClaim.claimName}`;
  if (v.configMap) return `configMap ${v.configMap.name}`;
  if (v.secret) return `secret ${v.secret.secretName}`;
  if (v.hostPath) return `hostPath ${v.hostPath.path}`;
  if (v.ephemeral) return "ephemeral claim";
  return Object.keys(v).find((k) => k !== "name") || "volume";
}

function containersOf(pod) {
  const sp = pod.spec;
  const statuses = new Map([...(pod.status.initContainerStatuses || []),
    ...(pod.status.containerStatuses || []),
    ...(pod.status.ephemeralContainerStatuses || [])].map((c) => [c.name, c]));
  return [
    ...(sp.initContainers || []).map((c) => ({ c, tag: c.restartPolicy === "Always" ? "sidecar" : "init" })),
    ...(sp.containers || []).map((c) => ({ c, tag: "" })),
    ...(sp.ephemeralContainers || []).map((c) => ({ c, tag: "debug" })),
  ].map((x) => ({ ...x, status: statuses.get(x.c.name) }));
}

function stateOf(status) {
  const st = status && status.state;
  if (!st) return ["waiting", "Pending"];
  if (st.running) return ["running", "running"];
  if (st.terminated) {
    return [st.terminated.exitCode === 0 ? "Succeeded" : "terminated", st.terminated.reason || "terminated"];
  }
  return ["waiting", (st.waiting && st.waiting.reason) || "waiting"];
}

// the image being pulled for a container: its latest pull event says Pulling
function pulling(pod, name, events) {
  let last = null;
  for (const e of events) {
    const o = e.involvedObject || e.regarding || {};
    if (o.uid !== pod.metadata.uid || o.fieldPath !== `spec.containers{${name}}`) continue;
    if (!["Pulling", "Pulled", "Failed", "BackOff"].includes(e.reason)) continue;
    const t = e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp;
    if (!last || t >= last.t) last = { t, reason: e.reason, message: e.message };
  }
  return last && last.reason === "Pulling" ? last.message : null;
}

function restarts(pod) {
  return (pod.status.containerStatuses || []).reduce((n, c) => n + (c.restartCount || 0), 0);
}

function containerBox(pod, x, usage, events, state, actions) {
  const [cls, label] = stateOf(x.status);
  const pull = cls === "waiting" ? pulling(pod, x.c.name, events) : null;
  const progress = pull ? state.pulls.get(x.c.image) : null;
  const u = usage && usage.containers.get(x.c.name);
  const sel = state.selection;
  const selected = sel && sel.kind === "logs" && sel.uid === pod.metadata.uid &&
    sel.container === x.c.name;
  const sub = u ? `${x.c.image} · ${cpu(u.cpu.usageNanoCores)} CPU · ` +
    `${bytes(u.memory.workingSetBytes)}` : x.c.image;
  return h("div", { class: `node container${selected ? " selected" : ""}`,
    "data-container": x.c.name, title: "show the log tail",
    onclick: () => actions.showLogs(pod, x.c.name) },
  h("div", { class: "title" }, x.c.name,
    x.tag ? h("span", { class: "badge" }, x.tag) : null,
    h("span", { class: `badge ${pull ? "pulling" : cls}` }, pull ? "pulling image" : label),
    x.status && x.status.restartCount ? h("span", { class: "badge bad" },
      `${x.status.restartCount} restarts`) : null),
  h("div", { class: "sub", "data-cpu": u ? String(u.cpu.usageNanoCores) : "" },
    progress ? pullText(progress) : pull || sub),
  progress ? h("div", { class: "bar", "data-pull": x.c.image },
    h("span", { width: `${progress.totalBytes ? (100 * progress.downloadedBytes) / progress.totalBytes : 0}%` }))
    : null);
}

function pullText(p) {
  if (p.phase === "unpacking") return `unpacking ${p.image} (${bytes(p.totalBytes)})`;
  if (p.phase !== "downloading") return `resolving ${p.image}`;
  return `pulling ${p.image}: ${bytes(p.downloadedBytes)} of ${bytes(p.totalBytes)}` +
    ` (${p.layers} layers)`;
}

function volumeBox(pod, v, usage, state, actions) {
  const stats = usage && usage.volumes.get(v.name);
  const limit = quantityBytes(v.emptyDir && v.emptyDir.sizeLimit);
  const cap = limit || (stats && stats.capacityBytes);
  const used = stats ? stats.usedBytes : null;
  const pct = cap && used !== null ? Math.min(100, (100 * used) / cap) : 0;
  const of = limit ? `of ${bytes(limit)} sizeLimit` : cap ? `of ${bytes(cap)} capacity` : "";
  const sel = state.selection;
  const selected = sel && sel.kind === "volume" && sel.uid === pod.metadata.uid &&
    sel.volume === v.name;
  return h("div", { class: `node volume${selected ? " selected" : ""}`, "data-volume": v.name,
    title: "list the files", onclick: () => actions.showVolume(pod, v.name) },
  h("div", { class: "title" }, v.name, h("span", { class: "badge" }, volumeKind(v))),
  h("div", { class: "sub", "data-usage": used === null ? "" : String(used) },
    used === null ? "usage not measured" : `${bytes(used)} used ${of}`),
  h("div", { class: `bar${pct > 90 ? " high" : ""}` }, h("span", { width: `${pct}%` })));
}

function wires(containers, volumes) {
  const rows = Math.max(containers.length, volumes.length, 1);
  const height = rows * ROW - 8;
  const svg = s("svg", { viewBox: `0 0 ${WIDE} ${height}`, height });
  containers.forEach((x, i) => {
    const mounts = x.c.volumeMounts || [];
    const step = Math.min(16, 44 / Math.max(mounts.length, 1));
    mounts.forEach((m, k) => {
      const j = volumes.findIndex((v) => v.name === m.name);
      if (j < 0) return;
      const y1 = i * ROW + 28 - ((mounts.length - 1) * step) / 2 + k * step + 4;
      const y2 = j * ROW + 28;
      const mid = WIDE * 0.62;
      const path = s("path", { d: `M0 ${y1} L ${mid - 40} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${WIDE} ${y2}`,
        class: m.readOnly ? "ro" : "" });
      path.setAttribute("data-mount", `${x.c.name}:${m.name}`);
      svg.append(path);
      const label = m.mountPath + (m.readOnly ? " (ro)" : "") +
        (m.subPath ? ` subPath ${m.subPath}` : m.subPathExpr ? ` subPathExpr ${m.subPathExpr}` : "");
      const text = s("text", { x: 6, y: y1 - 3, "data-mount-path": m.mountPath,
        "data-container": x.c.name, "data-volume": m.name },
      label.length > LABEL ? `${label.slice(0, LABEL - 1)}…` : label);
      text.append(s("title", {}, `${x.c.name} mounts ${m.name} at ${label}`));
      svg.append(text);
    });
  });
  return svg;
}

function podCard(pod, state, actions, events) {
  const containers = containersOf(pod);
  const all = pod.spec.volumes || [];
  const volumes = state.showTokens ? all : all.filter((v) => !isTokenVolume(v));
  const folded = all.length - volumes.length;
  const usage = state.summary.get(`${pod.metadata.namespace}/${pod.metadata.name}`);
  const phase = pod.metadata.deletionTimestamp ? "Terminating" : (pod.status.reason || pod.status.phase || "Pending");
  return h("article", { class: "pod", "data-pod": `${pod.metadata.namespace}/${pod.metadata.name}` },
    h("div", { class: "pod-head" },
      h("h3", {}, pod.metadata.name),
      h("span", { class: `badge ${pod.status.phase}`, "data-phase": phase }, phase),
      h("span", { class: "muted" }, `${restarts(pod)} restarts`),
      h("span", { class: "muted" }, pod.metadata.namespace),
      h("span", { class: "muted" }, pod.status.podIP || ""),
      h("span", { class: "muted" }, age(pod.metadata.creationTimestamp)),
      folded ? h("button", { class: "fold", "data-folded": String(folded), title: "show the " +
        "projected ServiceAccount token volumes (kube-api-access-*)",
        onclick: () => actions.toggleTokens() }, `+${folded} token volume`) : null),
    h("div", { class: "graph" },
      h("div", { class: "col containers" }, containers.map((x) => containerBox(pod, x, usage, events, state, actions))),
      wires(containers, volumes),
      h("div", { class: "col volumes" }, volumes.length ? volumes.map((v) => volumeBox(pod, v, usage, state, actions))
        : h("p", { class: "muted" }, "no volumes"))));
}

function sortedEvents(state) {
  return [...state.events.values()].sort((a, b) =>
    String(b.lastTimestamp || b.eventTime || b.metadata.creationTimestamp).localeCompare(
      String(a.lastTimestamp || a.eventTime || a.metadata.creationTimestamp)));
}

export function render(state, actions) {
  renderOverview(state, actions);
  document.getElementById("tokens").textContent = state.showTokens ?
    "fold ServiceAccount token volumes" : "show ServiceAccount token volumes";
  const counts = new Map();
  for (const p of state.pods.values()) counts.set(p.metadata.namespace, (counts.get(p.metadata.namespace) || 0) + 1);
  const nsList = document.getElementById("namespaces");
  nsList.replaceChildren(
    h("li", {}, h("button", { class: state.namespace ? "" : "selected", onclick: () => actions.selectNamespace("") },
      "All namespaces", h("span", { class: "count" }, String(state.pods.size)))),
    ...[...state.namespaces.values()].map((n) => n.metadata.name).sort().map((name) =>
      h("li", {}, h("button", { class: state.namespace === name ? "selected" : "", "data-namespace": name,
        onclick: () => actions.selectNamespace(name) }, name,
      h("span", { class: "count" }, String(counts.get(name) || 0))))));
  const events = sortedEvents(state);
  const pods = [...state.pods.values()]
    .filter((p) => !state.namespace || p.metadata.namespace === state.namespace)
    .sort((a, b) => key(a).localeCompare(key(b)));
  const section = document.getElementById("pods");
  section.replaceChildren(...(state.summaryError ? [h("p", { class: "muted" }, state.summaryError)] : []),
    ...(pods.length ? pods.map((p) => podCard(p, state, actions, events))
      : [h("p", { class: "muted" }, "No Pods in this namespace.")]));
  document.getElementById("events").replaceChildren(...events
    .filter((e) => !state.namespace || e.metadata.namespace === state.namespace).slice(0, 25)
    .map((e) => {
      const o = e.involvedObject || e.regarding || {};
      return h("li", { class: e.type || "" },
        h("span", { class: "when" }, age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp)),
        h("span", { class: "what" }, `${e.reason} `), `${(o.kind || "").toLowerCase()}/${o.name}`,
        h("div", {}, e.message || ""));
    }));
}

export function renderDetail(state, actions) {
  const el = document.getElementById("detail");
  const d = state.detail;
  const sel = state.selection;
  if (!sel) { el.hidden = true; el.replaceChildren(); return; }
  el.hidden = false;
  const close = h("a", { class: "close", onclick: () => actions.close() }, "close");
  if (sel.kind === "logs") {
    el.replaceChildren(h("h3", {}, `Log of ${sel.ns}/${sel.pod} · ${sel.container} `, close),
      h("pre", { "data-log": sel.container }, d ? (d.error || d.text || "(empty)") : "loading…"));
    const pre = el.querySelector("pre");
    pre.scrollTop = pre.scrollHeight;
    return;
  }
  const pod = state.pods.get(sel.uid);
  const crumbs = [h("a", { onclick: () => actions.showVolume(pod, sel.volume, "") }, sel.volume)];
  let acc = "";
  for (const part of sel.path.split("/").filter(Boolean)) {
    acc = acc ? `${acc}/${part}` : part;
    const to = acc;
    crumbs.push(" / ", h("a", { onclick: () => actions.showVolume(pod, sel.volume, to) }, part));
  }
  const head = h("h3", {}, `Files of ${sel.ns}/${sel.pod} · `, ...crumbs, " ", close);
  if (!d) { el.replaceChildren(head, h("p", { class: "muted" }, "loading…")); return; }
  if (d.error) { el.replaceChildren(head, h("p", { class: "muted" }, d.error)); return; }
  if (sel.file) { el.replaceChildren(head, h("pre", { "data-file": sel.path }, d.text)); return; }
  el.replaceChildren(head, h("table", { "data-listing": sel.volume }, h("tbody", {},
    d.entries.map((e) => {
      const path = sel.path ? `${sel.path}/${e.name}` : e.name;
      const name = e.type === "directory" ? h("a", { onclick: () => actions.showVolume(pod, sel.volume, path) }, `${e.name}/`)
        : e.type === "file" ? h("a", { onclick: () => actions.showVolume(pod, sel.volume, path, true) }, e.name)
          : `${e.name}${e.target ? ` -> ${e.target}` : ""}`;
      return h("tr", { "data-entry": e.name }, h("td", {}, e.mode || ""), h("td", { class: "num" }, bytes(e.size)),
        h("td", {}, new Date((e.mtime || 0) * 1000).toLocaleString()), h("td", {}, name));
    }))));
}
