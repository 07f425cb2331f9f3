// The dashboard's data: lists and watches of the standard API (through the local proxy, which
// adds the credentials), the node's Summary API for volume usage, logs and volume listings.
import { render, renderDetail } from "./view.js";

const state = {
  namespaces: new Map(), pods: new Map(), events: new Map(),
  deployments: new Map(), replicasets: new Map(), statefulsets: new Map(),
  daemonsets: new Map(), jobs: new Map(), services: new Map(), slices: new Map(),
  claims: new Map(), nodes: new Map(),
  summary: new Map(), // "ns/pod" -> {volumes: Map, containers: Map}
  nodeStats: new Map(), // node name -> the Summary API's node
  claimUsage: new Map(), // "ns/claim" -> the Summary API's volume stats
  pulls: new Map(), // image -> the node's pull under way
  summaryError: "", namespace: "", selection: null, detail: null, info: {},
  showTokens: false,
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const key = (o) => `${o.metadata.namespace || ""}/${o.metadata.name}`;

async function getJSON(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(body.message || `${resp.status} ${resp.statusText}`);
    err.status = resp.status;
    throw err;
  }
  return body;
}

let scheduled = false;
function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; render(state, actions); });
}

function setStatus(text, live) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.className = `status ${live ? "live" : "down"}`;
}

// list, then watch from the list's resourceVersion; list again when the watch ends badly
async function watch(path, map, onChange = changed) {
  for (;;) {
    try {
      const list = await getJSON(path);
      map.clear();
      for (const item of list.items || []) map.set(item.metadata.uid || key(item), item);
      onChange();
      let rv = list.metadata.resourceVersion;
      setStatus("live", true);
      for (let relist = false; !relist;) {
        const resp = await fetch(`${path}?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`);
        if (!resp.ok) break;
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let nl;
          while ((nl = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (!line) continue;
            const event = JSON.parse(line);
            if (event.type === "ERROR") { relist = true; break; }
            rv = event.object.metadata.resourceVersion || rv;
            if (event.type === "BOOKMARK") continue;
            const id = event.object.metadata.uid || key(event.object);
            if (event.type === "DELETED") map.delete(id); else map.set(id, event.object);
            onChange();
          }
          if (relist) { reader.cancel(); break; }
        }
      }
    } catch (err) {
      setStatus(`disconnected: ${err.message}`, false);
    }
    await sleep(1000);
  }
}

// the objects around the Pods, listed every 3 s rather than watched: a browser keeps at most
// six connections to the proxy, and the watches of namespaces, Pods and events hold three
async function pollLists(lists) {
  const gone = new Set(); // lists this user may not read
  for (;;) {
    const got = [];
    for (const [path, map] of lists) {
      if (gone.has(path)) continue;
      try {
        got.push([map, (await getJSON(path)).items || []]);
      } catch (err) {
        if (err.status === 403 || err.status === 404) gone.add(path);
      }
    }
    for (const [map, items] of got) { // all at once: an owner is never drawn without its own
      map.clear();
      for (const item of items) map.set(item.metadata.uid || key(item), item);
    }
    changed();
    await sleep(3000);
  }
}

// kubelet's Summary API through the node proxy, for every node that runs a shown Pod
// and the image pulls under way on those nodes (podhost's `podhost/pulls`)
async function pollSummary() {
  for (;;) {
    const nodes = new Set([...state.pods.values()].map((p) => p.spec.nodeName).filter(Boolean));
    for (const n of state.nodes.values()) nodes.add(n.metadata.name);
    const next = new Map();
    const nodeStats = new Map();
    const claimUsage = new Map();
    const pulls = new Map();
    let error = "";
    for (const node of nodes) {
      const base = `/api/v1/nodes/${encodeURIComponent(node)}/proxy`;
      try {
        const s = await getJSON(`${base}/stats/summary`);
        nodeStats.set(node, s.node);
        for (const pod of s.pods || []) {
          next.set(`${pod.podRef.namespace}/${pod.podRef.name}`, {
            volumes: new Map((pod.volume || []).map((v) => [v.name, v])),
            containers: new Map((pod.containers || []).map((c) => [c.name, c])),
          });
          for (const v of pod.volume || []) {
            if (v.pvcRef) claimUsage.set(`${v.pvcRef.namespace}/${v.pvcRef.name}`, v);
          }
        }
        const p = await getJSON(`${base}/podhost/pulls`).catch(() => ({ pulls: [] }));
        for (const pull of p.pulls || []) pulls.set(pull.image, pull);
      } catch (err) { error = `volume usage unavailable: ${err.message}`; }
    }
    Object.assign(state, { summary: next, nodeStats, claimUsage, pulls, summaryError: error });
    changed();
    await sleep(pulls.size ? 1000 : 3000);
  }
}

function podPath(ns, pod) {
  return `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(pod)}`;
}

function volumePath(pod, volume, path) {
  const parts = path.split("/").filter(Boolean).map(encodeURIComponent);
  return `/api/v1/nodes/${encodeURIComponent(pod.spec.nodeName)}/proxy/podhost/volumes/` +
    `${encodeURIComponent(pod.metadata.namespace)}/${encodeURIComponent(pod.metadata.name)}/` +
    `${encodeURIComponent(volume)}${parts.length ? "/" + parts.join("/") : ""}`;
}

let detailToken = 0;
async function refreshDetail() {
  const sel = state.selection;
  const token = ++detailToken;
  if (!sel) { state.detail = null; renderDetail(state, actions); return; }
  const pod = state.pods.get(sel.uid);
  let detail;
  try {
    if (!pod) detail = { ...sel, error: "the Pod is gone" };
    else if (sel.kind === "logs") {
      const resp = await fetch(`${podPath(sel.ns, sel.pod)}/log?container=` +
        `${encodeURIComponent(sel.container)}&tailLines=200`);
      const text = await resp.text();
      detail = { ...sel, text: resp.ok ? text : (JSON.parse(text).message || text) };
    } else if (sel.file) {
      const resp = await fetch(volumePath(pod, sel.volume, sel.path));
      const text = await resp.text();
      detail = { ...sel, text: resp.ok ? text.slice(0, 65536) : text };
    } else {
      const listing = await getJSON(`${volumePath(pod, sel.volume, sel.path)}?op=ls`);
      detail = { ...sel, entries: listing.entries || [] };
    }
  } catch (err) { detail = { ...sel, error: err.message }; }
  if (token !== detailToken) return;
  state.detail = detail;
  renderDetail(state, actions);
}

const actions = {
  selectNamespace(ns) { state.namespace = ns; changed(); },
  showLogs(pod, container) {
    state.selection = { kind: "logs", uid: pod.metadata.uid, ns: pod.metadata.namespace,
      pod: pod.metadata.name, container };
    state.detail = null; refreshDetail(); changed();
  },
  showVolume(pod, volume, path = "", file = false) {
    state.selection = { kind: "volume", uid: pod.metadata.uid, ns: pod.metadata.namespace,
      pod: pod.metadata.name, volume, path, file };
    state.detail = null; refreshDetail(); changed();
  },
  close() { state.selection = null; state.detail = null; renderDetail(state, actions); changed(); },
  toggleTokens() { state.showTokens = !state.showTokens; changed(); },
  showPod(pod) {
    const card = document.querySelector(`[data-pod="${CSS.escape(key(pod))}"]`);
    if (card) card.scrollIntoView({ behavior: "smooth", block: "start" });
  },
};

async function main() {
  try {
    state.info = await getJSON("/dashboard/info");
    document.getElementById("context").textContent =
      `context ${state.info.context || "(none)"} · ${state.info.server}`;
  } catch (err) { setStatus(err.message, false); }
  // a user who may not list across namespaces sees the context's namespace
  const wide = await fetch("/api/v1/pods?limit=1").then((r) => r.status !== 403, () => true);
  const scope = wide ? "/api/v1" : `/api/v1/namespaces/${encodeURIComponent(state.info.namespace || "default")}`;
  if (wide) watch("/api/v1/namespaces", state.namespaces);
  else state.namespaces.set("ns", { metadata: { name: state.info.namespace || "default" } });
  const ns = wide ? "" : `/namespaces/${encodeURIComponent(state.info.namespace || "default")}`;
  watch(`${scope}/pods`, state.pods);
  watch(`${scope}/events`, state.events);
  pollLists([
    ...[["deployments", state.deployments], ["replicasets", state.replicasets],
      ["statefulsets", state.statefulsets], ["daemonsets", state.daemonsets]]
      .map(([resource, map]) => [`/apis/apps/v1${ns}/${resource}`, map]),
    [`/apis/batch/v1${ns}/jobs`, state.jobs], [`${scope}/services`, state.services],
    [`/apis/discovery.k8s.io/v1${ns}/endpointslices`, state.slices],
    [`${scope}/persistentvolumeclaims`, state.claims],
    ["/api/v1/nodes", state.nodes]]); // left out quietly for a user who may not list nodes
  document.getElementById("tokens").addEventListener("click", () => actions.toggleTokens());
  pollSummary();
  for (;;) {  // the log tail and an open listing follow along
    await sleep(2000);
    if (state.selection) refreshDetail();
  }
}

main();
