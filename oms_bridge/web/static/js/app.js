// Dispatcher console: sign-in, the live outage board, the map, detail and coverage.

import { api, AuthError, openStream, pages, token } from "./api.js";
import { Board } from "./board.js";
import { affectedMeters, renderDetail } from "./detail.js";
import { clock, DEVICE_KINDS, esc, kindLabel, num, pct } from "./format.js";
import { FeederMap } from "./map.js";

const $ = (sel) => document.querySelector(sel);

const state = {
  store: new Map(),      // outage_id -> {o, changedAt}
  devices: new Map(),    // device id -> {kind, feeder_id, xy, bbox, lo, hi, customers, ami, non_ami}
  unresolved: new Set(),
  feeders: [],
  coverage: [],
  filters: { feeder: "", status: "", kind: "", sort: "customers" },
  selectedId: null,
  detail: null,
  detailMeters: [],
  view: "outages",
  stream: null,
  wasDown: false,
};

let board;
let fmap;
let renderQueued = false;
let resolveTimer = null;
let lastDarkKey = "";

// ------------------------------------------------------------------ sign in
function showSignin(message = "") {
  $("#app").hidden = true;
  $("#signin").hidden = false;
  $("#signin-error").textContent = message;
  $("#signin-token").value = "";
  $("#signin-token").focus();
}

async function onSignin(ev) {
  ev.preventDefault();
  const value = $("#signin-token").value.trim();
  const err = $("#signin-error");
  err.textContent = "";
  if (!value) { err.textContent = "Enter your dispatcher token."; return; }
  const button = ev.submitter ?? $("#signin-form button");
  button.disabled = true;
  try {
    await api("/api/v1/map/config", { tokenValue: value });
    token.set(value);
    $("#signin").hidden = true;
    await start();
  } catch (e) {
    err.textContent = e instanceof AuthError
      ? (e.status === 403 ? `This token is not a dispatcher token: ${e.message}` : "Token not recognised.")
      : `Cannot reach the service: ${e.message}`;
    $("#signin-token").select();
  } finally {
    button.disabled = false;
  }
}

function signOut(message = "") {
  state.stream?.close();
  token.clear();
  state.store.clear();
  showSignin(message);
}

// ------------------------------------------------------------------ data
function upsert(o, now = Date.now()) {
  if (!o || !o.outage_id) return false;
  const prev = state.store.get(o.outage_id);
  const merged = prev ? { ...prev.o, ...o } : o;
  const changed = !prev || prev.o.status !== merged.status || prev.o.device_id !== merged.device_id
    || prev.o.meters_affected !== merged.meters_affected || prev.o.meters_reporting !== merged.meters_reporting;
  state.store.set(o.outage_id, { o: merged, changedAt: changed && prev !== undefined ? now : (prev?.changedAt ?? (state.loaded ? now : 0)) });
  if (!state.devices.has(merged.device_id)) state.unresolved.add(merged.device_id);
  if (!prev && merged.status === "active" && state.loaded) {
    announce(`New outage on ${kindLabel(merged.device_type)} ${merged.device_id}, feeder ${merged.feeder_id}`);
  } else if (prev && prev.o.status === "active" && merged.status === "restored") {
    announce(`Restored: ${merged.device_id}`);
  }
  return true;
}

async function resolveDevices() {
  const ids = [...state.unresolved];
  if (!ids.length) return;
  state.unresolved.clear();
  for (let i = 0; i < ids.length; i += 5000) {
    const res = await api("/api/v1/map/resolve", { method: "POST", body: { devices: ids.slice(i, i + 5000) } });
    for (const [id, info] of Object.entries(res.devices)) state.devices.set(id, info);
    for (const id of res.unknown) state.devices.set(id, { unknown: true });
  }
}

function scheduleResolve() {
  clearTimeout(resolveTimer);
  resolveTimer = setTimeout(async () => {
    try { await resolveDevices(); } catch (e) { console.warn("resolve failed", e); }
    queueRender();
  }, 150);
}

async function loadOutages() {
  const [active, momentary, restored] = await Promise.all([
    pages("/api/v1/outages", { status: "active" }, 20000),
    pages("/api/v1/outages", { status: "momentary" }, 2000),
    pages("/api/v1/outages", { status: "restored" }, 2000),
  ]);
  const seen = new Set();
  for (const o of [...active, ...momentary, ...restored]) { upsert(o); seen.add(o.outage_id); }
  for (const id of [...state.store.keys()]) if (!seen.has(id)) state.store.delete(id);
  await resolveDevices();
}

function darkRanges() {
  const out = [];
  for (const { o } of state.store.values()) {
    if (o.status !== "active") continue;
    const d = state.devices.get(o.device_id);
    if (d && d.lo !== undefined) out.push([d.lo, d.hi]);
  }
  return out;
}

// ------------------------------------------------------------------ render
function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

function render() {
  board.render(state.store, state.devices, state.filters, state.selectedId);
  let active = 0; let customersOut = 0; let momentary = 0; let restored = 0;
  const visible = [];
  for (const { o } of state.store.values()) {
    if (o.status === "active") {
      active += 1;
      const d = state.devices.get(o.device_id);
      customersOut += (o.meters_affected ?? 0) + (o.non_ami_affected ?? d?.non_ami ?? 0);
      if ((!state.filters.feeder || o.feeder_id === state.filters.feeder)
        && (!state.filters.kind || o.device_type === state.filters.kind)) visible.push(o);
    } else if (o.status === "momentary") momentary += 1;
    else if (o.status === "restored") restored += 1;
  }
  $("#kpi-active").textContent = num(active);
  $("#kpi-active").classList.toggle("hot", active > 0);
  $("#kpi-customers").textContent = num(customersOut);
  $("#kpi-customers").classList.toggle("hot", customersOut > 0);
  $("#kpi-momentary").textContent = num(momentary);
  $("#kpi-restored").textContent = num(restored);
  if (fmap?.map) {
    const showOnMap = state.filters.status && state.filters.status !== "active" ? [] : visible;
    fmap.setOutages(showOnMap, state.devices, state.selectedId);
    const darkKey = JSON.stringify(darkRanges());
    if (darkKey !== lastDarkKey) { lastDarkKey = darkKey; fmap.schedule(400); }
  }
  refreshFeederOptions();
}

function refreshFeederOptions() {
  const sel = $("#f-feeder");
  const ids = new Set(state.feeders.map((f) => f.feeder_id));
  for (const { o } of state.store.values()) if (o.feeder_id) ids.add(o.feeder_id);
  const sorted = [...ids].sort();
  const key = sorted.join("|");
  if (sel._key === key) return;
  sel._key = key;
  const current = sel.value;
  sel.innerHTML = `<option value="">All feeders</option>${sorted.map((f) => `<option value="${esc(f)}">${esc(f)}</option>`).join("")}`;
  sel.value = current;
}

function announce(text) {
  const el = $("#announce");
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { el.textContent = text; }, 200);
}

// ------------------------------------------------------------------ stream
function setConn(kind, info = {}) {
  const el = $("#conn");
  el.className = `conn conn-${kind}`;
  const text = kind === "live" ? "Live" : kind === "connecting" ? "Connecting…" : `Disconnected · retry in ${info.retryInS}s`;
  $("#conn-text").textContent = text;
  const banner = $("#banner");
  if (kind === "down") {
    state.wasDown = true;
    banner.hidden = false;
    banner.textContent = `Disconnected from the outage stream: the board may be out of date. Reconnecting automatically in ${info.retryInS}s…`;
  } else if (kind === "live") {
    banner.hidden = true;
    if (state.wasDown) {
      state.wasDown = false;
      loadOutages().then(queueRender).catch((e) => console.warn("resync failed", e));
    }
  }
  document.body.dataset.conn = kind;
}

function onStreamEvent(msg) {
  if (msg.event === "resync" || msg.event === "reset") {
    loadOutages().then(queueRender).catch((e) => console.warn("resync failed", e));
    return;
  }
  let data;
  try { data = JSON.parse(msg.data); } catch { return; }
  const list = Array.isArray(data) ? data : Array.isArray(data.items) ? data.items : [data];
  let any = false;
  for (const item of list) {
    const o = item?.outage ?? item;
    if (upsert(o)) any = true;
  }
  if (!any) return;
  if (state.unresolved.size) scheduleResolve();
  queueRender();
  if (state.selectedId && list.some((it) => (it?.outage ?? it)?.outage_id === state.selectedId)) {
    openOutage(state.selectedId, { fit: false, focus: false });
  }
}

// ------------------------------------------------------------------ detail
async function openOutage(id, { fit = true, focus = true } = {}) {
  state.selectedId = id;
  const panel = $("#detail");
  const entry = state.store.get(id);
  let detail = null;
  try {
    detail = await api(`/api/v1/outages/${encodeURIComponent(id)}`);
  } catch (e) {
    if (e instanceof AuthError) { signOut("Session expired: sign in again."); return; }
    console.warn("outage detail failed", e);
  }
  if (state.selectedId !== id) return;
  const outage = { ...(entry?.o ?? {}), ...(detail?.outage ?? detail ?? {}) };
  if (!outage.outage_id) return;
  if (!state.devices.has(outage.device_id)) { state.unresolved.add(outage.device_id); await resolveDevices(); }
  const device = state.devices.get(outage.device_id);
  const meters = affectedMeters(detail?.outage ? { ...detail, ...detail.outage } : detail);
  let points = [];
  if (meters.length) {
    const res = await api("/api/v1/map/resolve", { method: "POST", body: { meters: meters.slice(0, 20000).map((m) => m.id) } });
    const on = new Map(meters.map((m) => [m.id, m.on]));
    points = Object.entries(res.meters).map(([mid, info]) => ({ id: mid, xy: info.xy, on: on.get(mid) }));
  }
  if (state.selectedId !== id) return;
  renderDetail(panel, { outage, detail, device, store: state.store, rawUrl: `/api/v1/outages/${encodeURIComponent(id)}` });
  panel.hidden = false;
  panel.dataset.outage = id;
  fmap.map.invalidateSize({ pan: false });
  fmap.showSelection(outage, device, points, { fit });
  queueRender();
  if (focus) panel.focus();
}

function closeDetail() {
  const id = state.selectedId;
  state.selectedId = null;
  $("#detail").hidden = true;
  fmap.clearSelection();
  fmap.map.invalidateSize();
  queueRender();
  if (id) document.querySelector(`tr[data-id="${CSS.escape(id)}"]`)?.focus();
}

async function openRaw(url) {
  const data = await api(url);
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  window.open(URL.createObjectURL(blob), "_blank", "noopener");
}

// ------------------------------------------------------------------ coverage
async function loadCoverage() {
  const res = await api("/api/v1/coverage");
  const items = Array.isArray(res) ? res : res.items ?? res.feeders ?? [];
  items.sort((a, b) => Number(Boolean(b.flagged)) - Number(Boolean(a.flagged)) || (a.coverage ?? 0) - (b.coverage ?? 0));
  state.coverage = items;
  const tbody = $("#rows-coverage");
  tbody.innerHTML = items.map((f) => {
    const blind = f.blind_devices ?? [];
    return `<tr tabindex="0" data-feeder="${esc(f.feeder_id)}" class="${f.flagged ? "flagged" : ""}"
        aria-label="Feeder ${esc(f.feeder_id)}, AMI coverage ${pct(f.coverage)}${f.flagged ? ", flagged" : ""}, ${blind.length} blind devices. Enter shows them on the map.">
      <td><span class="dev-id">${esc(f.feeder_id)}</span> ${f.flagged ? '<span class="badge b-flagged">Flagged</span>' : '<span class="badge b-ok">OK</span>'}</td>
      <td><div class="cov-bar"><div class="bar" aria-hidden="true"><i style="width:${Math.round((f.coverage ?? 0) * 100)}%"></i></div><b>${pct(f.coverage)}</b></div></td>
      <td class="num">${num(f.ami_meters)} / ${num(f.service_points)}</td>
      <td class="num">${num(blind.length)}</td></tr>`;
  }).join("") || '<tr><td colspan="4" class="muted">No coverage figures yet.</td></tr>';
  const all = items.flatMap((f) => f.blind_devices ?? []);
  await showBlind(all, null);
}

async function showBlind(ids, feederId) {
  const res = ids.length ? await api("/api/v1/map/resolve", { method: "POST", body: { devices: ids } }) : { devices: {} };
  const devs = new Map(Object.entries(res.devices));
  fmap.setBlind(state.view === "coverage" ? devs : new Map());
  state.blind = devs;
  const list = $("#blind-list");
  if (feederId) {
    list.innerHTML = `<h3 class="section-title">Blind protective devices on ${esc(feederId)} <span class="count">${num(ids.length)}</span></h3>`
      + (ids.length ? `<ul>${ids.map((id) => `<li><span class="mono">${esc(id)}</span> <span class="muted">${esc(kindLabel(devs.get(id)?.kind))}, ${num(devs.get(id)?.customers)} customers</span></li>`).join("")}</ul>`
        : '<p class="muted">Every protective device has an AMI meter below it.</p>');
  }
}

function selectFeederCoverage(feederId) {
  const f = state.coverage.find((c) => c.feeder_id === feederId);
  if (!f) return;
  fmap.fitFeeder(feederId);
  showBlind(f.blind_devices ?? [], feederId).catch((e) => console.warn(e));
}

// ------------------------------------------------------------------ views
function setView(view) {
  state.view = view;
  const outages = view === "outages";
  $("#tab-outages").setAttribute("aria-selected", String(outages));
  $("#tab-coverage").setAttribute("aria-selected", String(!outages));
  $("#tab-outages").tabIndex = outages ? 0 : -1;
  $("#tab-coverage").tabIndex = outages ? -1 : 0;
  $("#board").hidden = !outages;
  $("#coverage").hidden = outages;
  for (const id of ["#f-status", "#f-kind", "#f-sort"]) $(id).closest("label").hidden = !outages;
  if (outages) fmap.setBlind(new Map());
  else loadCoverage().catch((e) => console.warn("coverage failed", e));
}

function wireControls() {
  $("#signout").addEventListener("click", () => signOut());
  for (const [id, key] of [["#f-feeder", "feeder"], ["#f-status", "status"], ["#f-kind", "kind"], ["#f-sort", "sort"]]) {
    $(id).addEventListener("change", (ev) => {
      state.filters[key] = ev.target.value;
      if (key === "feeder") { fmap.fitFeeder(state.filters.feeder || null); fmap.schedule(50); }
      queueRender();
    });
  }
  $("#f-kind").innerHTML += DEVICE_KINDS.map((k) => `<option value="${k}">${esc(kindLabel(k))}</option>`).join("");
  $("#tab-outages").addEventListener("click", () => setView("outages"));
  $("#tab-coverage").addEventListener("click", () => setView("coverage"));
  $(".tabs").addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
      const next = state.view === "outages" ? "coverage" : "outages";
      setView(next);
      $(`#tab-${next}`).focus();
    }
  });
  $("#rows-coverage").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-feeder]");
    if (tr) selectFeederCoverage(tr.dataset.feeder);
  });
  $("#rows-coverage").addEventListener("keydown", (ev) => {
    const tr = ev.target.closest("tr[data-feeder]");
    if (tr && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); selectFeederCoverage(tr.dataset.feeder); }
  });
  $("#detail").addEventListener("click", (ev) => {
    const open = ev.target.closest("[data-open]");
    if (open) { openOutage(open.dataset.open); return; }
    if (ev.target.closest("[data-close]")) { closeDetail(); return; }
    const raw = ev.target.closest("[data-raw]");
    if (raw) openRaw(raw.dataset.raw).catch((e) => console.warn(e));
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && state.selectedId) { ev.preventDefault(); closeDetail(); }
    if (ev.altKey && ev.key === "1") { ev.preventDefault(); setView("outages"); $("#tab-outages").focus(); }
    if (ev.altKey && ev.key === "2") { ev.preventDefault(); setView("coverage"); $("#tab-coverage").focus(); }
  });
  setInterval(() => { $("#clock").textContent = clock(Date.now()); }, 1000);
  $("#clock").textContent = clock(Date.now());
  setInterval(queueRender, 5000); // ages move on
}

// ------------------------------------------------------------------ start
let wired = false;
async function start() {
  $("#app").hidden = false;
  if (!wired) {
    wired = true;
    board = new Board($("#board"), { onOpen: (id) => openOutage(id) });
    fmap = new FeederMap($("#map"), {
      onOpenOutage: (id) => openOutage(id), getDark: darkRanges, getFeeder: () => state.filters.feeder,
    });
    wireControls();
    // A read-only handle for tests and for the curious at the console.
    window.omsBridge = Object.freeze({
      get map() { return fmap.map; },
      selectionLayers: () => fmap.selectLayer?.getLayers().length ?? 0,
      drawn: () => fmap.drawn,
      outages: () => [...state.store.values()].map((e) => e.o),
    });
  }
  try {
    const [config, feeders] = await Promise.all([
      api("/api/v1/map/config"),
      api("/api/v1/map/feeders").catch(() => ({ items: [] })),
      loadOutages(),
    ]);
    performance.mark("oms-data");
    state.feeders = feeders.items ?? [];
    if (!fmap.map) fmap.init(config, state.feeders);
    state.loaded = true;
    render();
    performance.mark("oms-board");
    lastDarkKey = JSON.stringify(darkRanges());
    await fmap.refresh();
    performance.mark("oms-map");
  } catch (e) {
    if (e instanceof AuthError) { signOut(e.status === 403 ? e.message : "Token not accepted: sign in again."); return; }
    $("#banner").hidden = false;
    $("#banner").textContent = `Cannot load outages: ${e.message}`;
  }
  document.body.dataset.ready = "true";
  performance.mark("oms-ready");
  state.stream = openStream("/api/v1/stream", {
    onEvent: onStreamEvent,
    onState: setConn,
    onAuthError: () => signOut("Token no longer accepted: sign in again."),
  });
  $("#board").focus({ preventScroll: true });
}

$("#signin-form").addEventListener("submit", onSignin);
if (token.get()) start(); else showSignin();
