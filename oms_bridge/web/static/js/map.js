// The feeder map: Leaflet on canvas, fed by /api/v1/map/* for the visible area only.

import { api } from "./api.js";
import { esc, kindLabel, num } from "./format.js";

const L = window.L;

const NODE_STYLE = {
  source: { radius: 9, color: "#ffffff", fillColor: "#4cc2ff" },
  breaker: { radius: 8, color: "#ffffff", fillColor: "#f5f7fa" },
  recloser: { radius: 7, color: "#0a0f16", fillColor: "#4cc2ff" },
  sectionalizer: { radius: 6, color: "#0a0f16", fillColor: "#80deea" },
  fuse: { radius: 4.5, color: "#0a0f16", fillColor: "#ffd54f" },
  switch: { radius: 4, color: "#0a0f16", fillColor: "#b0bec5" },
  transformer: { radius: 2.6, color: "#7d8fa6", fillColor: "#7d8fa6" },
};

const SEG_STYLE = {
  primary: { color: "#5a7190", weight: 2, opacity: 0.95 },
  tap: { color: "#3a4d66", weight: 1, opacity: 0.9 },
  primaryDark: { color: "#ff4d4f", weight: 3.2, opacity: 1 },
  tapDark: { color: "#d93a3c", weight: 1.4, opacity: 1 },
};

function ll(xy) { return [xy[1], xy[0]]; }

export class FeederMap {
  constructor(el, { onOpenOutage, getDark, getFeeder }) {
    this.el = el;
    this.onOpenOutage = onOpenOutage;
    this.getDark = getDark;
    this.getFeeder = getFeeder;
    this.feeders = [];
    this.fetching = null;
    this.timer = null;
    this.drawn = 0;
    this.status = null;
  }

  init(config, feeders) {
    this.feeders = feeders;
    const map = L.map(this.el, { preferCanvas: true, zoomSnap: 0.5, keyboard: true, minZoom: 3,
      maxZoom: 21, attributionControl: true, worldCopyJump: false });
    this.map = map;
    map.attributionControl.setPrefix("");
    for (const [name, z] of [["net", 410], ["outages", 440], ["select", 460]]) {
      map.createPane(name).style.zIndex = String(z);
    }
    this.renderers = {
      net: L.canvas({ pane: "net", padding: 0.3 }),
      outages: L.canvas({ pane: "outages", padding: 0.3 }),
      select: L.canvas({ pane: "select", padding: 0.3 }),
    };
    if (config.tile_url) {
      L.tileLayer(config.tile_url, { maxZoom: config.tile_max_zoom ?? 19,
        attribution: config.tile_attribution ?? "" }).addTo(map);
    }
    this.netLayer = L.layerGroup().addTo(map);
    this.outageLayer = L.layerGroup().addTo(map);
    this.blindLayer = L.layerGroup().addTo(map);
    this.selectLayer = L.layerGroup().addTo(map);
    const status = L.control({ position: "bottomright" });
    status.onAdd = () => {
      this.status = L.DomUtil.create("div", "map-status");
      this.status.setAttribute("role", "status");
      return this.status;
    };
    status.addTo(map);
    const legend = L.control({ position: "topright" });
    legend.onAdd = () => {
      const el = L.DomUtil.create("div", "legend");
      el.setAttribute("aria-hidden", "true");
      el.innerHTML = '<span><i class="lg lg-out"></i>Outage device</span>'
        + '<span><i class="lg lg-nested"></i>Nested outage</span>'
        + '<span><i class="lg lg-dark"></i>Dark customers</span>'
        + '<span><i class="lg lg-on"></i>Customers on</span>'
        + '<span><i class="lg lg-blind"></i>Blind device</span>';
      return el;
    };
    legend.addTo(map);
    this.el.setAttribute("tabindex", "0");
    this.fitFeeder(null, false);
    map.on("moveend", () => this.schedule(120));
    map.on("zoomend", () => { if (this.lastOutages) this.setOutages(...this.lastOutages); });
    new ResizeObserver(() => map.invalidateSize({ debounceMoveend: true })).observe(this.el);
  }

  bboxOf(feederId) {
    const pick = feederId ? this.feeders.filter((f) => f.feeder_id === feederId) : this.feeders;
    const boxes = pick.map((f) => f.bbox).filter(Boolean);
    if (!boxes.length) return null;
    return [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1])),
      Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))];
  }

  fitFeeder(feederId, animate = true) {
    const b = this.bboxOf(feederId);
    if (b) this.map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [24, 24], animate });
    else this.map.setView([35.85, -78.7], 12);
  }

  schedule(ms = 300) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), ms);
  }

  /** Fetch and draw what is in view; resolves once drawn. */
  async refresh() {
    if (!this.map) return;
    this.fetching?.abort();
    const ctl = new AbortController();
    this.fetching = ctl;
    const b = this.map.getBounds();
    const zoom = Math.round(this.map.getZoom());
    const body = { bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()], zoom,
      feeder: this.getFeeder() || null, dark: this.getDark() };
    let data;
    try {
      data = await api("/api/v1/map/topology", { method: "POST", body, signal: ctl.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      if (this.status) this.status.textContent = `Map data unavailable: ${err.message}`;
      throw err;
    }
    if (ctl.signal.aborted) return;
    this.draw(data);
  }

  draw(data) {
    const segs = { primary: [], tap: [], primaryDark: [], tapDark: [] };
    const r = this.renderers.net;
    const layers = [];
    const points = [];
    for (const f of data.features) {
      const p = f.properties;
      if (p.t === "seg") {
        const key = (p.kind === "transformer" ? "tap" : "primary") + (p.dark ? "Dark" : "");
        segs[key].push(f.geometry.coordinates.map(ll));
      } else {
        points.push(f);
      }
    }
    for (const [key, lines] of Object.entries(segs)) {
      if (lines.length) layers.push(L.polyline(lines, { ...SEG_STYLE[key], renderer: r, interactive: false }));
    }
    const order = { cluster: 0, sp: 1, node: 2 };
    points.sort((a, b) => order[a.properties.t] - order[b.properties.t]
      || (a.properties.t === "node" ? (a.properties.kind === "transformer" ? -1 : 0) - (b.properties.kind === "transformer" ? -1 : 0) : 0));
    for (const f of points) {
      const p = f.properties;
      const at = ll(f.geometry.coordinates);
      if (p.t === "node") {
        const st = NODE_STYLE[p.kind] ?? NODE_STYLE.switch;
        const m = L.circleMarker(at, { ...st, weight: 1.5, fillOpacity: 1, renderer: r });
        m.bindTooltip(() => `<b>${esc(p.id)}</b><br>${esc(kindLabel(p.kind))} · ${esc(p.feeder)}<br>${num(p.customers)} customers · ${num(p.ami)} AMI${p.blind ? "<br><b>No AMI below: blind</b>" : ""}`);
        layers.push(m);
      } else if (p.t === "sp") {
        const isAmi = p.mt === "ami";
        const m = L.circleMarker(at, {
          radius: p.dark ? 3.6 : 3, weight: isAmi ? 0 : 1.5, renderer: r,
          color: p.dark ? "#ff4d4f" : "#8aa0bb", fillColor: p.dark ? "#ff4d4f" : "#5f7896",
          fillOpacity: isAmi ? 1 : 0.15,
        });
        m.bindTooltip(() => `<b>${esc(p.id)}</b><br>${p.meter ? `Meter ${esc(p.meter)} (${esc(p.mt.toUpperCase())})` : "No meter"}${p.dark ? "<br><b>In an outage</b>" : ""}`);
        layers.push(m);
      } else if (p.t === "cluster") {
        const size = Math.round(20 + Math.min(26, Math.sqrt(p.n) * 2.2));
        const frac = p.n ? p.dark / p.n : 0;
        const cls = frac >= 0.999 ? "all" : frac > 0 ? "part" : "";
        const icon = L.divIcon({
          className: "", iconSize: [size, size],
          html: `<div class="cluster-icon ${cls}" style="width:${size}px;height:${size}px;--dark:${Math.round(frac * 100)}%">${num(p.n)}</div>`,
        });
        const m = L.marker(at, { icon, keyboard: false, pane: "net" });
        m.bindTooltip(`${num(p.n)} customers · ${num(p.ami)} AMI${p.dark ? ` · <b>${num(p.dark)} dark</b>` : ""}`);
        m.on("click", () => this.map.setView(at, Math.min(this.map.getZoom() + 2, 19)));
        layers.push(m);
      }
    }
    this.netLayer.clearLayers();
    for (const l of layers) this.netLayer.addLayer(l);
    this.drawn += 1;
    const meta = data.meta;
    if (this.status) {
      this.status.textContent = `${num(meta.counts.devices)} devices · ${num(meta.counts.service_points)} customers in view`
        + `${meta.service_points === "clustered" ? " (grouped; zoom in for each)" : ""}`
        + `${meta.transformers === "hidden" ? " · transformers hidden" : ""}`;
    }
  }

  /** Outage device markers; nested outages drawn smaller, in amber, above their parent. */
  setOutages(outages, devices, selectedId) {
    this.lastOutages = [outages, devices, selectedId];
    const zoom = this.map.getZoom();
    const scale = zoom < 13 ? 0.45 : zoom < 15 ? 0.65 : zoom < 17 ? 0.85 : 1;
    const sig = `${scale}|${selectedId}|${outages.map((o) => `${o.outage_id}:${o.device_id}:${o.parent_outage_id ?? ""}:${devices.get(o.device_id)?.xy ? 1 : 0}`).join(",")}`;
    if (sig === this.outageSig) return;
    this.outageSig = sig;
    const r = this.renderers.outages;
    this.outageLayer.clearLayers();
    const sorted = [...outages].sort((a, b) => Number(Boolean(a.parent_outage_id)) - Number(Boolean(b.parent_outage_id)));
    for (const o of sorted) {
      const d = devices.get(o.device_id);
      if (!d?.xy) continue;
      const nested = Boolean(o.parent_outage_id);
      const selected = o.outage_id === selectedId;
      const size = Math.min(14, Math.max(6, 4 + Math.sqrt(d.customers ?? 1) * 1.6));
      const m = L.circleMarker(ll(d.xy), {
        renderer: r, radius: (nested ? 0.75 : 1) * size * scale, weight: selected ? 4 : scale < 0.7 ? 1.5 : 2.5,
        color: selected ? "#ffe14d" : "#ffffff", fillColor: nested ? "#ff9f1a" : "#ff4d4f", fillOpacity: 1,
      });
      m.bindTooltip(`<b>${esc(o.device_id)}</b> ${nested ? "(nested)" : ""}<br>${esc(kindLabel(o.device_type))} · ${num(o.meters_affected)} AMI meters out`);
      m.on("click", () => this.onOpenOutage(o.outage_id));
      this.outageLayer.addLayer(m);
    }
  }

  /** The selected outage: its extent box, exact affected meters, and a view that shows it. */
  showSelection(outage, device, meterPoints, { fit = true } = {}) {
    this.selectLayer.clearLayers();
    if (!outage || !device) return;
    const r = this.renderers.select;
    const pts = meterPoints.filter((m) => m.xy);
    let box = device.bbox;
    if (pts.length) {
      const xs = pts.map((m) => m.xy[0]);
      const ys = pts.map((m) => m.xy[1]);
      box = [Math.min(...xs, box?.[0] ?? Infinity), Math.min(...ys, box?.[1] ?? Infinity),
        Math.max(...xs, box?.[2] ?? -Infinity), Math.max(...ys, box?.[3] ?? -Infinity)];
    }
    if (box) {
      const pad = 0.0002;
      this.selectLayer.addLayer(L.rectangle([[box[1] - pad, box[0] - pad], [box[3] + pad, box[2] + pad]], {
        renderer: r, color: "#ffe14d", weight: 2, dashArray: "8 6", fill: true, fillColor: "#ffe14d",
        fillOpacity: 0.05, interactive: false,
      }));
    }
    for (const m of pts) {
      this.selectLayer.addLayer(L.circleMarker(ll(m.xy), {
        renderer: r, radius: 4.5, weight: 1.5, color: "#ffffff", fillColor: m.on ? "#3ddc84" : "#ff4d4f",
        fillOpacity: 1, interactive: false,
      }));
    }
    if (device.xy) {
      this.selectLayer.addLayer(L.circleMarker(ll(device.xy), {
        renderer: r, radius: 16, weight: 3, color: "#ffe14d", fill: false, interactive: false,
      }));
    }
    if (fit && box) {
      this.map.fitBounds([[box[1], box[0]], [box[3], box[2]]], { padding: [40, 40], maxZoom: 18 });
    } else if (fit && device.xy) {
      this.map.setView(ll(device.xy), 17);
    }
  }

  clearSelection() { this.selectLayer.clearLayers(); }

  /** Protective devices with no AMI below them (coverage view). */
  setBlind(devices) {
    this.blindLayer.clearLayers();
    for (const [id, d] of devices) {
      if (!d.xy) continue;
      const m = L.circleMarker(ll(d.xy), { renderer: this.renderers.select, radius: 11, weight: 3,
        color: "#e35bff", dashArray: "4 3", fillColor: "#e35bff", fillOpacity: 0.15 });
      m.bindTooltip(`<b>${esc(id)}</b><br>${esc(kindLabel(d.kind))}: no AMI meter below; AMI cannot see its outages`);
      this.blindLayer.addLayer(m);
    }
  }
}
