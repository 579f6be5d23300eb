// The outage board: active first, momentaries apart, restored fading into a recent list.

import { age, clock, confidenceClass, esc, kindLabel, num, parseTime, pct } from "./format.js";

const RECENT_MAX = 40;
const FRESH_MS = 3000;

/** Customers affected, split AMI / non-AMI, from the outage or its device. */
export function customers(outage, device) {
  const ami = outage.meters_affected ?? device?.ami ?? 0;
  let nonAmi = outage.non_ami_affected ?? outage.customers_non_ami;
  if (nonAmi === undefined || nonAmi === null) nonAmi = device ? device.non_ami : 0;
  const total = outage.customers_affected ?? ami + nonAmi;
  return { total, ami, nonAmi };
}

function byCustomers(a, b) { return b.c.total - a.c.total || (b.t0 ?? 0) - (a.t0 ?? 0); }
const SORTS = {
  customers: byCustomers,
  newest: (a, b) => (b.t0 ?? 0) - (a.t0 ?? 0),
  oldest: (a, b) => (a.t0 ?? 0) - (b.t0 ?? 0),
};

/** Active outages in display order, each nested outage right under its parent. */
function orderActive(items, sortKey) {
  const byId = new Map(items.map((it) => [it.o.outage_id, it]));
  const kids = new Map();
  const tops = [];
  for (const it of items) {
    const parent = it.o.parent_outage_id;
    if (parent && byId.has(parent)) {
      if (!kids.has(parent)) kids.set(parent, []);
      kids.get(parent).push(it);
    } else {
      tops.push(it);
    }
  }
  const cmp = SORTS[sortKey] ?? byCustomers;
  const out = [];
  const visit = (it, depth) => {
    if (out.length > items.length) return; // guard against cycles
    it.depth = depth;
    out.push(it);
    for (const k of (kids.get(it.o.outage_id) ?? []).sort(cmp)) visit(k, depth + 1);
  };
  for (const it of tops.sort(cmp)) visit(it, 0);
  return out;
}

function activeRow(it, now, selectedId, store) {
  const { o, c } = it;
  const parent = o.parent_outage_id ? store.get(o.parent_outage_id)?.o : null;
  const under = o.parent_outage_id ? ` · under ${esc(parent?.device_id ?? "a restored device")}` : "";
  const affected = o.meters_affected ?? 0;
  const reporting = o.meters_reporting ?? 0;
  const frac = affected ? Math.min(1, reporting / affected) : 0;
  const nested = Boolean(o.parent_outage_id);
  const badge = nested ? '<span class="badge b-nested">Nested</span>'
    : '<span class="badge b-active">Active</span>';
  const html = `<td>${badge}</td>
    <td><span class="dev-id">${esc(o.device_id)}</span><span class="dev-kind">${esc(kindLabel(o.device_type))}${under}</span></td>
    <td class="mono">${esc(o.feeder_id)}</td>
    <td class="num"><span class="cust">${num(c.total)}</span><span class="cust-split">AMI ${num(c.ami)} · non-AMI ${num(c.nonAmi)}</span></td>
    <td class="rep"><span class="rep-text">${num(reporting)} / ${num(affected)}</span><div class="bar" aria-hidden="true"><i style="width:${Math.round(frac * 100)}%"></i></div></td>
    <td class="num"><span class="conf ${confidenceClass(o.confidence)}">${pct(o.confidence)}</span></td>
    <td class="num"><span class="age">${age(it.t0, now)}</span></td>`;
  const label = `${nested ? "Nested outage" : "Outage"} on ${kindLabel(o.device_type)} ${o.device_id}, feeder ${o.feeder_id}, ${c.total} customers, ${reporting} of ${affected} meters reporting, confidence ${pct(o.confidence)}, for ${age(it.t0, now)}`;
  return { html, label, cls: `${nested ? "nested" : ""} ${o.outage_id === selectedId ? "selected" : ""}` };
}

function recentRow(it, selectedId) {
  const { o, c } = it;
  const done = parseTime(o.confirmed_at) ?? parseTime(o.restored_at);
  const html = `<td><span class="badge b-restored">Restored</span> <span class="age">${clock(done)}</span></td>
    <td><span class="dev-id">${esc(o.device_id)}</span><span class="dev-kind">${esc(kindLabel(o.device_type))}</span></td>
    <td class="mono">${esc(o.feeder_id)}</td>
    <td class="num"><span class="cust">${num(c.total)}</span></td>
    <td class="num">${done && it.t0 ? age(it.t0, done) : "–"}</td>`;
  const label = `Restored outage on ${kindLabel(o.device_type)} ${o.device_id}, feeder ${o.feeder_id}, confirmed ${clock(done)}`;
  return { html, label, cls: o.outage_id === selectedId ? "selected" : "" };
}

/** Keyed rows: a row is rebuilt only when its content changed, and moved only when out of order. */
function reconcile(tbody, rows, cache) {
  const focusedId = document.activeElement?.dataset?.id;
  const keep = new Set();
  const wanted = [];
  for (const r of rows) {
    keep.add(r.id);
    let tr = cache.get(r.id);
    if (!tr) {
      tr = document.createElement("tr");
      tr.tabIndex = -1;
      tr.dataset.id = r.id;
      cache.set(r.id, tr);
    }
    if (tr._html !== r.html) { tr.innerHTML = r.html; tr._html = r.html; }
    if (tr.getAttribute("aria-label") !== r.label) tr.setAttribute("aria-label", r.label);
    const cls = `${r.cls} ${r.fresh ? "fresh" : ""}`.trim();
    if (tr._cls !== cls) {
      tr.className = cls; tr._cls = cls;
    }
    wanted.push(tr);
  }
  for (const [id, tr] of cache) if (!keep.has(id)) { tr.remove(); cache.delete(id); }
  let cur = tbody.firstElementChild;
  for (const tr of wanted) {
    if (cur === tr) { cur = cur.nextElementSibling; continue; }
    tbody.insertBefore(tr, cur);
  }
  // One row of the table is in the tab order (roving tabindex); arrows move within.
  const focusable = wanted.find((tr) => tr.dataset.id === focusedId) ?? wanted[0];
  for (const tr of wanted) tr.tabIndex = tr === focusable ? 0 : -1;
  if (focusedId && document.activeElement === document.body) cache.get(focusedId)?.focus();
}

export class Board {
  constructor(root, { onOpen }) {
    this.root = root;
    this.onOpen = onOpen;
    this.activeRows = new Map();
    this.recentRows = new Map();
    this.el = {
      active: root.querySelector("#rows-active"),
      recent: root.querySelector("#rows-recent"),
      momentary: root.querySelector("#rows-momentary"),
      emptyActive: root.querySelector("#empty-active"),
      nActive: root.querySelector("#n-active"),
      nRecent: root.querySelector("#n-recent"),
      nMomentary: root.querySelector("#n-momentary"),
    };
    root.addEventListener("click", (ev) => {
      const target = ev.target.closest("[data-id]");
      if (target) this.onOpen(target.dataset.id);
    });
    root.addEventListener("keydown", (ev) => this.keydown(ev));
  }

  keydown(ev) {
    const tr = ev.target.closest?.("tr[data-id]");
    if (!tr) return;
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      this.onOpen(tr.dataset.id);
      return;
    }
    const rows = [...this.root.querySelectorAll("tbody tr[data-id]")];
    const i = rows.indexOf(tr);
    let next = null;
    if (ev.key === "ArrowDown") next = rows[i + 1];
    else if (ev.key === "ArrowUp") next = rows[i - 1];
    else if (ev.key === "Home") next = rows[0];
    else if (ev.key === "End") next = rows[rows.length - 1];
    if (next) {
      ev.preventDefault();
      tr.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  }

  /** Redraw from the store; `filters` = {feeder, status, kind, sort}. */
  render(store, devices, filters, selectedId, now = Date.now()) {
    const pass = (o) => (!filters.feeder || o.feeder_id === filters.feeder)
      && (!filters.kind || o.device_type === filters.kind);
    const active = [];
    const momentary = [];
    const recent = [];
    for (const { o, changedAt } of store.values()) {
      if (!pass(o)) continue;
      const it = { o, c: customers(o, devices.get(o.device_id)), t0: parseTime(o.started_at),
        fresh: now - changedAt < FRESH_MS };
      if (o.status === "active") active.push(it);
      else if (o.status === "momentary") momentary.push(it);
      else if (o.status === "restored") recent.push(it);
    }
    const show = (s) => !filters.status || filters.status === s;
    const ordered = show("active") ? orderActive(active, filters.sort) : [];
    reconcile(this.el.active, ordered.map((it) => ({ id: it.o.outage_id, fresh: it.fresh, ...activeRow(it, now, selectedId, store) })), this.activeRows);
    this.el.emptyActive.hidden = ordered.length > 0;
    this.el.emptyActive.textContent = show("active") ? "No active outages." : "Hidden by the status filter.";
    this.el.nActive.textContent = num(active.length);

    const done = (it) => parseTime(it.o.confirmed_at) ?? parseTime(it.o.restored_at) ?? 0;
    recent.sort((a, b) => done(b) - done(a));
    const shownRecent = show("restored") ? recent.slice(0, RECENT_MAX) : [];
    reconcile(this.el.recent, shownRecent.map((it) => ({ id: it.o.outage_id, fresh: it.fresh, ...recentRow(it, selectedId) })), this.recentRows);
    this.el.nRecent.textContent = num(recent.length);

    momentary.sort((a, b) => (b.t0 ?? 0) - (a.t0 ?? 0));
    this.el.nMomentary.textContent = num(momentary.length);
    const chips = show("momentary") ? momentary.slice(0, 30).map(({ o, c, t0 }) =>
      `<li><button type="button" data-id="${esc(o.outage_id)}" aria-label="Momentary on ${esc(o.device_id)}, ${c.total} customers, ${esc(clock(t0))}">`
      + `<span class="mono">${esc(o.device_id)}</span><span class="muted">${num(c.total)} cust · ${esc(clock(t0))}</span></button></li>`).join("")
      : "";
    const html = chips || '<li class="empty-chip">None</li>';
    if (this.el.momentary._html !== html) { this.el.momentary.innerHTML = html; this.el.momentary._html = html; }

    return {
      active: active.length,
      customersOut: active.reduce((s, it) => s + it.c.total, 0),
      momentary: momentary.length,
      restored: recent.length,
    };
  }
}
