// One outage: facts, evidence timeline, affected meters, nested children, raw JSON.

import { age, clock, confidenceClass, esc, kindLabel, num, parseTime, pct } from "./format.js";
import { customers } from "./board.js";

/** The first array found under any of `keys`. */
function pickArray(obj, keys) {
  for (const k of keys) if (Array.isArray(obj?.[k]) && obj[k].length) return obj[k];
  return [];
}

/** Affected meters as [{id, on}] whatever shape the service used. */
export function affectedMeters(detail) {
  // Meters back on: all of them once the outage is over, else those whose
  // latest evidence is a restore.
  const over = detail && detail.status && detail.status !== "active";
  const latest = new Map();
  for (const e of pickArray(detail, ["timeline", "evidence", "events"])) {
    if (!e.meter_id) continue;
    const type = String(e.type ?? e.kind ?? "").toLowerCase();
    latest.set(e.meter_id, type.includes("restor") || type === "3.26.0.216");
  }
  return pickArray(detail, ["affected_meters", "meters", "meter_ids", "affected"]).map((m) => {
    if (typeof m === "string") return { id: m, on: Boolean(over || latest.get(m)) };
    const id = m.meter_id ?? m.id ?? m.meter;
    const state = String(m.state ?? m.status ?? "").toLowerCase();
    const on = Boolean(over || m.restored_at || latest.get(id)) || state === "on" || state === "restored";
    return { id, on };
  }).filter((m) => m.id);
}

export function childIds(detail) {
  return pickArray(detail, ["children", "nested", "nested_outages", "child_outage_ids", "nested_outage_ids"])
    .map((c) => (typeof c === "string" ? c : c.outage_id)).filter(Boolean);
}

function timelineItems(detail) {
  const raw = [...pickArray(detail, ["timeline", "evidence", "events"]),
    ...pickArray(detail, ["history"]).filter((h) => h.at || h.recorded_at)];
  const items = raw.map((e) => {
    const at = e.at ?? e.occurred_at ?? e.time ?? e.recorded_at ?? e.predicted_at;
    const type = String(e.type ?? e.kind ?? e.event ?? e.change ?? "").toLowerCase();
    let cls = "";
    let what = type.replace(/_/g, " ") || "event";
    if (type.includes("gasp") || type === "3.26.0.85" || type === "power_off") { cls = "t-gasp"; what = "Last gasp"; }
    else if (type.includes("restor") && (e.meter_id || type.includes("power"))) { cls = "t-restore"; what = "Power restored"; }
    else if (type.includes("predict") || type.includes("move") || type.includes("status") || e.device_id) { cls = "t-predict"; }
    const bits = [];
    if (e.meter_id) bits.push(`meter <span class="mono">${esc(e.meter_id)}</span>`);
    if (e.from_device_id || e.previous_device_id) bits.push(`from <span class="mono">${esc(e.from_device_id ?? e.previous_device_id)}</span>`);
    if (e.device_id && !e.meter_id) bits.push(`on <span class="mono">${esc(e.device_id)}</span>`);
    if (e.status) bits.push(esc(e.status));
    if (e.confidence !== undefined && e.confidence !== null) bits.push(`confidence ${pct(e.confidence)}`);
    if (e.meters_reporting !== undefined) bits.push(`${num(e.meters_reporting)} reporting`);
    if (e.detail || e.note) bits.push(esc(e.detail ?? e.note));
    const label = what[0].toUpperCase() + what.slice(1);
    return { t: parseTime(at), at, cls, label, meter: e.meter_id, html: `<b>${esc(label)}</b> ${bits.join(" · ")}` };
  }).sort((a, b) => (a.t ?? 0) - (b.t ?? 0));
  // A storm is hundreds of identical gasps: one line per kind and second.
  const out = [];
  for (const item of items) {
    const prev = out[out.length - 1];
    const sameSecond = prev && item.t !== null && prev.t !== null && Math.floor(prev.t / 1000) === Math.floor(item.t / 1000);
    if (prev && item.meter && prev.meters && sameSecond && prev.label === item.label) {
      prev.meters.push(item.meter);
      const shown = prev.meters.slice(0, 6).map((m) => `<span class="mono">${esc(m)}</span>`).join(", ");
      const more = prev.meters.length > 6 ? ` and ${num(prev.meters.length - 6)} more` : "";
      prev.html = `<b>${esc(prev.label)}</b> ${num(prev.meters.length)} meters: ${shown}${more}`;
    } else {
      out.push({ ...item, meters: item.meter ? [item.meter] : null });
    }
  }
  return out;
}

export function renderDetail(el, { outage, detail, device, store, rawUrl }) {
  const o = { ...outage, ...(detail ?? {}) };
  const c = customers(o, device);
  const statusBadge = o.status === "active"
    ? (o.parent_outage_id ? '<span class="badge b-nested">Nested</span>' : '<span class="badge b-active">Active</span>')
    : `<span class="badge b-${esc(o.status)}">${esc(o.status)}</span>`;
  const meters = affectedMeters(detail);
  const kids = childIds(detail);
  for (const other of store.values()) {
    if (other.o.parent_outage_id === o.outage_id && !kids.includes(other.o.outage_id)) kids.push(other.o.outage_id);
  }
  const timeline = timelineItems(detail);
  const fact = (k, v) => `<div><dt>${k}</dt><dd>${v}</dd></div>`;
  const parent = o.parent_outage_id ? store.get(o.parent_outage_id)?.o : null;
  const kidItems = kids.map((id) => {
    const k = store.get(id)?.o;
    const label = k ? `${k.device_id} · ${k.status} · ${num(k.meters_affected)} meters` : id;
    return `<li><button type="button" class="linkbtn" data-open="${esc(id)}">${esc(label)}</button></li>`;
  }).join("");
  el.innerHTML = `
    <header>
      ${statusBadge}
      <h2 id="detail-title"><span class="mono">${esc(o.device_id)}</span></h2>
      <span class="muted">${esc(kindLabel(o.device_type))} · feeder <span class="mono">${esc(o.feeder_id)}</span></span>
      <button type="button" class="ghost close" data-close aria-label="Close outage detail">Close ✕</button>
    </header>
    ${parent || o.parent_outage_id ? `<p>Nested under <button type="button" class="linkbtn" data-open="${esc(o.parent_outage_id)}">${esc(parent?.device_id ?? o.parent_outage_id)}</button>: still dark after the parent device was restored.</p>` : ""}
    <dl class="facts">
      ${fact("Customers", `${num(c.total)}`)}
      ${fact("AMI / non-AMI", `${num(c.ami)} / ${num(c.nonAmi)}`)}
      ${fact("Meters reporting", `${num(o.meters_reporting)} / ${num(o.meters_affected)}`)}
      ${fact("Confidence", `<span class="${confidenceClass(o.confidence)}">${pct(o.confidence)}</span>`)}
      ${fact("Started", clock(o.started_at))}
      ${fact("Predicted", clock(o.predicted_at))}
      ${fact(o.status === "active" ? "Age" : "Duration", o.status === "active" ? age(o.started_at) : (parseTime(o.restored_at) && parseTime(o.started_at) ? age(parseTime(o.started_at), parseTime(o.restored_at)) : "–"))}
      ${fact("Restored / confirmed", o.restored_at ? `${clock(o.restored_at)} / ${clock(o.confirmed_at)}` : "–")}
    </dl>
    <div class="detail-cols">
      <section aria-labelledby="h-timeline">
        <h3 id="h-timeline">Evidence timeline <span class="muted small">(${num(timeline.reduce((n, t) => n + (t.meters?.length ?? 1), 0))} items)</span></h3>
        ${timeline.length ? `<ol class="timeline">${timeline.map((t) => `<li class="${t.cls}"><time datetime="${esc(t.at)}">${esc(clock(t.t))}</time>${t.html}</li>`).join("")}</ol>`
          : '<p class="muted">No evidence recorded in the detail.</p>'}
      </section>
      <section>
        <h3 id="h-meters">Affected meters <span class="muted small">(${num(meters.length)})</span></h3>
        ${meters.length ? `<ul class="meters" aria-labelledby="h-meters">${meters.slice(0, 400).map((m) => `<li class="${m.on ? "on" : ""}" title="${m.on ? "power restored" : "dark"}">${esc(m.id)}</li>`).join("")}</ul>${meters.length > 400 ? `<p class="muted small">and ${num(meters.length - 400)} more</p>` : ""}`
          : '<p class="muted">None listed.</p>'}
        <h3 id="h-children">Nested outages <span class="muted small">(${num(kids.length)})</span></h3>
        ${kids.length ? `<ul class="children" aria-labelledby="h-children">${kidItems}</ul>` : '<p class="muted">None.</p>'}
        <p class="links"><button type="button" class="linkbtn" data-raw="${esc(rawUrl)}" aria-label="Open the raw JSON of this outage in a new tab">Raw JSON ↗</button></p>
      </section>
    </div>`;
}
