// Helpers shared by the views: DOM building (text is always set as text, never parsed as HTML)
// and the figures' formats.
const SVG = "http://www.w3.org/2000/svg";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k === "width") el.style.width = v; // CSSOM: the CSP allows no inline style
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

export function bytes(n) {
  if (n === undefined || n === null) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${units[i]}`;
}

export function quantityBytes(q) {
  if (q === undefined || q === null || q === "") return null;
  const m = String(q).match(/^([0-9.]+)([KMGTPE]i?|k|m)?$/);
  if (!m) return null;
  const pow = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
    k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, m: 1e-3 };
  return Number(m[1]) * (m[2] ? pow[m[2]] : 1);
}

// CPU in millicores as kubectl top prints it, with decimals below 10m (an idle container
// uses a fraction of a millicore: "0.21m", not "0m")
export function cpu(nanocores) {
  if (nanocores === undefined || nanocores === null) return "?";
  const m = nanocores / 1e6;
  if (m >= 10) return `${m.toFixed(0)}m`;
  if (m >= 1) return `${m.toFixed(1)}m`;
  return `${m.toFixed(2)}m`;
}

export function cores(q) {
  const n = quantityBytes(q); // the same suffixes: "4", "500m"
  return n === null ? null : n;
}

export function age(ts) {
  if (!ts) return "";
  const secs = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (secs < 120) return `${Math.round(secs)}s`;
  if (secs < 7200) return `${Math.round(secs / 60)}m`;
  return `${Math.round(secs / 3600)}h`;
}

export const key = (o) => `${o.metadata.namespace || ""}/${o.metadata.name}`;

export function meter(used, total, text, attrs = {}) {
  const pct = total ? Math.min(100, (100 * used) / total) : 0;
  return h("div", { class: "meter", ...attrs },
    h("div", { class: "sub" }, text),
    h("div", { class: `bar${pct > 90 ? " high" : ""}` }, h("span", { width: `${pct}%` })));
}
