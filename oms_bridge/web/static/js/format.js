// Small pure helpers: escaping, numbers, times, labels.

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESC[c]);
}

const NUM = new Intl.NumberFormat("en-US");
export function num(value) {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : NUM.format(value);
}

export function pct(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`;
}

export function parseTime(value) {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

/** "2h 05m", "14m", "38s" — how long ago, for a wall screen. */
export function age(since, now = Date.now()) {
  const t = typeof since === "number" ? since : parseTime(since);
  if (t === null) return "–";
  let s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Local wall-clock time "14:03:22", with the date when not today. */
export function clock(value) {
  const t = typeof value === "number" ? value : parseTime(value);
  if (t === null) return "–";
  const d = new Date(t);
  const time = d.toLocaleTimeString("en-GB", { hour12: false });
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.toLocaleDateString("en-GB", { day: "2-digit", month: "short" })} ${time}`;
}

const KIND_LABELS = {
  breaker: "Breaker", recloser: "Recloser", sectionalizer: "Sectionalizer", fuse: "Fuse",
  switch: "Switch", transformer: "Transformer", service_point: "Service point", source: "Source",
};
export function kindLabel(kind) {
  return KIND_LABELS[kind] ?? (kind ? String(kind) : "Unknown");
}

export const DEVICE_KINDS = ["breaker", "recloser", "sectionalizer", "fuse", "transformer",
  "service_point"];

export function confidenceClass(c) {
  if (c === null || c === undefined) return "conf-none";
  if (c >= 0.8) return "conf-high";
  if (c >= 0.5) return "conf-mid";
  return "conf-low";
}
