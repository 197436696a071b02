// mlba dashboard: builds a problem from the form, asks the local API, draws the answer.
// No framework, no CDN. User-supplied names only ever go through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";
const state = { devices: [{ name: "RTX 4090", count: 1 }], links: {}, positions: {}, last: null, timer: null, seq: 0 };

function el(tag, attrs = {}, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function api(path, body) {
  const opts = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(path, opts);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

function fillList(id, rows) {
  const dl = $(id);
  dl.replaceChildren(...rows.map((r) => el("option", { value: r.name })));
}

function renderDevices() {
  const box = $("devices");
  box.replaceChildren();
  state.devices.forEach((d, i) => {
    const row = el("div", { class: "device-row" });
    const name = el("input", { list: "device-names", "aria-label": `device ${i + 1}` });
    name.value = d.name;
    name.addEventListener("change", () => { d.name = name.value; devicesChanged(); });
    const count = el("input", { type: "number", min: "1", max: "64", "aria-label": `count ${i + 1}` });
    count.value = d.count;
    count.addEventListener("input", () => { d.count = Math.max(1, parseInt(count.value || "1", 10)); devicesChanged(); });
    const rm = el("button", { type: "button", class: "small", "aria-label": `remove device ${i + 1}` }, "×");
    rm.addEventListener("click", () => { if (state.devices.length > 1) { state.devices.splice(i, 1); renderDevices(); devicesChanged(); } });
    row.append(name, count, rm);
    box.append(row);
  });
}

function problem() {
  const p = {
    model: $("model").value, quant: $("quant").value,
    devices: state.devices.map((d) => ({ name: d.name, count: d.count })),
    strategy: $("strategy").value,
    workload: { prompt_tokens: +$("prompt").value, gen_tokens: +$("gen").value, batch: +$("batch").value },
    cost: { price_kwh: +$("price").value },
  };
  if ($("runtime").value) p.runtime = $("runtime").value;
  if ($("link").value) p.link = $("link").value;
  if ($("topology").value) p.topology = $("topology").value;
  if ($("rdma").checked) p.rdma = true;
  const links = Object.entries(state.links).map(([k, kind]) => ({ between: k.split("-").map(Number), kind }));
  if (links.length) p.links = links;
  return p;
}

function devicesChanged() {
  state.links = {};  // per-edge overrides name device positions, which just moved
  schedule();
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(update, 200);
}

const fmt = (x, d = 1) => (x === null || x === undefined ? "–" : Number(x).toLocaleString(undefined, { maximumFractionDigits: d }));

async function update() {
  $("status-line").textContent = "computing…";
  const seq = ++state.seq;  // a slow older answer must not overwrite a newer one
  try {
    const a = await api("/api/analyze", problem());
    if (seq !== state.seq) return;
    state.last = a;
    $("error").hidden = true;
    showSystem(a);
    showBars(a);
    drawTopology(a);
    showBenchmarks(a);
    $("status-line").textContent = `${a.model} · ${a.quant} · ${a.strategy} · ${a.fits ? "fits" : "does not fit"}`;
  } catch (e) {
    if (seq !== state.seq) return;
    $("error").hidden = false;
    $("error").textContent = e.message;
    $("status-line").textContent = "error";
  }
}

function showSystem(a) {
  const s = a.system;
  $("k-decode").textContent = fmt(s.decode_tok_s);
  $("k-prefill").textContent = fmt(s.prefill_tok_s, 0);
  $("k-ttft").textContent = fmt(s.ttft_s, 3);
  $("k-mem").textContent = fmt(s.memory_percent, 0);
  $("k-power").textContent = fmt(s.power_w, 0);
  $("k-cost").textContent = fmt(s.cost_per_day_usd, 2);
  $("power-cost").textContent = `Power ${fmt(s.power_decode_w, 0)} W decoding, ${fmt(s.power_prefill_w, 0)} W prefilling · `
    + `${fmt(s.energy_kwh_per_day, 1)} kWh/day · $${fmt(s.cost_per_month_usd, 0)}/month · `
    + `${fmt(s.tokens_per_usd, 0)} tokens per $ · ${fmt(s.tokens_per_kwh, 0)} tokens per kWh`
    + (s.price_usd ? ` · hardware $${fmt(s.price_usd, 0)}` : "");
  $("bottleneck").textContent = `Bottleneck: ${s.bottleneck} — ${s.bottleneck_detail}`;
  const b = a.uncertainty && a.uncertainty.decode_tok_s;
  $("band").textContent = b ? `Likely decode range ${fmt(b.low)}–${fmt(b.high)} tok/s (${b.basis})` : "";
  $("warnings").replaceChildren(...a.warnings.map((w) => el("p", { class: "warn" }, w)));
}

function bar(label, value, title) {
  const wrap = el("div", { class: "bar", title });
  wrap.append(el("div", { class: "small muted" }, `${label}: ${fmt(value * 100, 0)}%`));
  const track = el("div", { class: "track" });
  track.append(el("div", { class: "fill" + (value > 1 ? " over" : ""), style: `width:${Math.min(100, value * 100)}%` }));
  wrap.append(track);
  return wrap;
}

function showBars(a) {
  const box = $("bars");
  box.replaceChildren();
  for (const d of a.devices) {
    const card = el("div", { class: "device" });
    card.append(el("strong", {}, d.name));
    card.append(el("div", { class: "small muted" }, `layers ${d.layer_range[0]}–${d.layer_range[1] - 1} · ${d.bottleneck} · ${fmt(d.power_w, 0)} W`));
    card.append(bar("memory", d.memory_used_gb / d.memory_usable_gb, `${fmt(d.memory_used_gb)} of ${fmt(d.memory_usable_gb)} GB usable`));
    card.append(bar("bandwidth", d.bandwidth_utilization, `decode step ${fmt(d.decode_step_ms, 2)} ms`));
    card.append(bar("compute", d.compute_utilization, `calibration ${d.efficiency_group}`));
    box.append(card);
  }
}

function drawTopology(a) {
  const svg = $("topo");
  svg.replaceChildren();
  const defs = el("svg:defs");
  const marker = el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse" });
  marker.append(el("svg:path", { d: "M0 0 L10 5 L0 10 z", fill: "#cbd5e1" }));
  defs.append(marker);
  svg.append(defs);
  const n = a.devices.length;
  // nodes are keyed by index and name, so identical devices get their own places
  const key = (d) => `${d.index}:${d.name}:${n}`;
  a.devices.forEach((d, i) => {
    if (!state.positions[key(d)]) {
      const ang = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
      state.positions[key(d)] = n === 1 ? [450, 210] : [450 + 300 * Math.cos(ang), 210 + 150 * Math.sin(ang)];
    }
  });
  const pos = (idx) => state.positions[key(a.devices.find((d) => d.index === idx))];
  for (const lk of a.links) {
    const [x1, y1] = pos(lk.between[0]);
    const [x2, y2] = pos(lk.between[1]);
    const cls = "edge" + (lk.inferred ? " inferred" : "") + (lk.bottleneck ? " bottleneck" : "");
    const line = el("svg:line", { x1, y1, x2, y2, class: cls, "data-between": lk.between.join("-") });
    if (lk.traffic === "pipeline" || lk.traffic === "kv handoff") line.setAttribute("marker-end", "url(#arrow)");
    line.append(el("svg:title", {}, `${lk.traffic}: ${lk.link_id}, ${lk.bandwidth_gb_s} GB/s, ${fmt(lk.time_per_token_ms, 3)} ms/token`));
    line.addEventListener("click", () => changeLink(lk));
    svg.append(line);
    svg.append(el("svg:text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, class: "edge-label", "text-anchor": "middle" }, `${lk.link_id} ${lk.bandwidth_gb_s} GB/s`));
  }
  for (const d of a.devices) {
    const [x, y] = state.positions[key(d)];
    const g = el("svg:g", { class: "node", transform: `translate(${x - 110},${y - 24})`, "data-name": d.name });
    g.append(el("svg:rect", { width: "220", height: "48", rx: "8" }));
    g.append(el("svg:text", { x: "10", y: "19" }, d.name));
    g.append(el("svg:text", { x: "10", y: "37", class: "edge-label" }, `L${d.layer_range[0]}–${d.layer_range[1] - 1} ${d.role}${d.tp_group ? " TP" + d.tp_group : ""}`));
    drag(g, key(d), a);
    svg.append(g);
  }
}

function drag(g, name, a) {
  g.addEventListener("pointerdown", (ev) => {
    const svg = $("topo");
    const pt = svg.createSVGPoint();
    const move = (e) => {
      pt.x = e.clientX; pt.y = e.clientY;
      const p = pt.matrixTransform(svg.getScreenCTM().inverse());
      state.positions[name] = [p.x, p.y];
      drawTopology(a);
    };
    const up = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up); };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
    ev.preventDefault();
  });
}

function changeLink(lk) {
  const kind = window.prompt(`Link between devices ${lk.between[0]} and ${lk.between[1]} (e.g. TB5 RDMA, 10GbE, NVLink 4)`, lk.link_id);
  if (kind) { state.links[lk.between.join("-")] = kind; update(); }
}

function table(id, header, rows, chosen) {
  const t = $(id);
  t.replaceChildren();
  const tr = el("tr");
  header.forEach((h) => tr.append(el("th", {}, h)));
  t.append(tr);
  rows.forEach((r) => {
    const row = el("tr", chosen && chosen(r) ? { class: "chosen" } : {});
    r.cells.forEach((c) => row.append(el("td", {}, c)));
    t.append(row);
  });
}

function showBenchmarks(a) {
  table("bench-table", ["source", "metric", "measured", "predicted", "error"],
    (a.benchmarks || []).map((m) => ({ cells: [m.source_id, m.metric, fmt(m.measured), fmt(m.predicted), `${fmt(m.error * 100, 0)}%`] })));
}

async function runAuto() {
  $("auto-reason").textContent = "solving…";
  try {
    const r = await api("/api/auto", { problem: problem(), objective: "decode" });
    $("auto-reason").textContent = `Selected ${r.chosen}. ${r.reasoning}. ${r.vs_exo}`;
    table("auto-table", ["strategy", "fits", "decode", "prefill", "TTFT", "note"],
      r.alternatives.map((x) => ({ strategy: x.strategy, cells: [x.strategy, x.fits === null ? "–" : x.fits ? "yes" : "no", fmt(x.decode_tok_s), fmt(x.prefill_tok_s, 0), fmt(x.ttft_s, 3), x.invalid_reason || x.detail] })),
      (row) => row.strategy === r.chosen);
  } catch (e) { $("auto-reason").textContent = e.message; }
}

async function share() {
  try {
    const r = await api("/api/share", problem());
    $("share-out").textContent = `${location.origin}/?s=${r.share}`;
    history.replaceState(null, "", `/?s=${r.share}`);
  } catch (e) { $("share-out").textContent = e.message; }
}

function save() {
  const blob = new Blob([JSON.stringify(problem(), null, 2)], { type: "application/json" });
  const a = el("a", { href: URL.createObjectURL(blob), download: "mlba-scenario.json" });
  a.click();
}

function addCompare() {
  if (!state.last) return;
  const list = JSON.parse(localStorage.getItem("mlba-compare") || "[]");
  const s = state.last.system;
  list.push({ name: `${state.last.model} on ${state.last.devices.map((d) => d.name).join(" + ")}`, decode: s.decode_tok_s, ttft: s.ttft_s, price: s.price_usd, power: s.power_w, cost: s.cost_per_day_usd });
  localStorage.setItem("mlba-compare", JSON.stringify(list.slice(-8)));
  showCompare();
}

function showCompare() {
  const list = JSON.parse(localStorage.getItem("mlba-compare") || "[]");
  table("compare-table", ["scenario", "decode", "TTFT", "price $", "power W", "$/day"],
    list.map((r) => ({ cells: [r.name, fmt(r.decode), fmt(r.ttft, 3), fmt(r.price, 0), fmt(r.power, 0), fmt(r.cost, 2)] })));
}

async function hardware(kind) {
  const body = { model: $("model").value, quant: $("quant").value, workload: { prompt_tokens: +$("prompt").value, gen_tokens: +$("gen").value } };
  if ($("runtime").value) body.runtime = $("runtime").value;
  if ($("cap").value) body.power_cap_w = +$("cap").value;
  if (kind === "min-hardware") body.target_decode = +$("target").value; else body.budget_usd = +$("budget").value;
  $("hw-out").textContent = "searching the catalog…";
  try {
    const r = await api(`/api/${kind}`, body);
    $("hw-out").textContent = r.feasible ? r.reasoning : `No plan: ${r.binding_limit}`;
    drawPareto(r.pareto);
  } catch (e) { $("hw-out").textContent = e.message; }
}

function drawPareto(front) {
  const svg = $("pareto");
  svg.replaceChildren();
  if (!front.length) return;
  const maxX = Math.max(...front.map((p) => p.price_usd)) * 1.1;
  const maxY = Math.max(...front.map((p) => p.decode_tok_s)) * 1.15;
  const px = (x) => 40 + (x / maxX) * 540, py = (y) => 270 - (y / maxY) * 250;
  svg.append(el("svg:polyline", { points: front.map((p) => `${px(p.price_usd)},${py(p.decode_tok_s)}`).join(" "), fill: "none", stroke: "#60a5fa", "stroke-width": "2" }));
  for (const p of front) {
    const c = el("svg:circle", { cx: px(p.price_usd), cy: py(p.decode_tok_s), r: "5", fill: "#f59e0b" });
    c.append(el("svg:title", {}, `${p.count}x ${p.device} (${p.strategy}): $${fmt(p.price_usd, 0)}, ${fmt(p.decode_tok_s)} tok/s, ${fmt(p.power_w, 0)} W`));
    svg.append(c);
  }
  svg.append(el("svg:text", { x: "300", y: "295", class: "edge-label", "text-anchor": "middle" }, "price (USD) →  decode tok/s ↑"));
}

async function init() {
  for (const [section, list] of [["models", "models"], ["quants", "quants"], ["runtimes", "runtimes"], ["links", "links"], ["devices", "device-names"]]) {
    api(`/api/catalog/${section}`).then((rows) => fillList(list, rows)).catch(() => {});
  }
  const code = new URLSearchParams(location.search).get("s");
  if (code) {
    try {
      const p = await api(`/api/share/${encodeURIComponent(code)}`);
      $("model").value = p.model; $("quant").value = p.quant;
      if (p.runtime) $("runtime").value = p.runtime;
      if (p.link) $("link").value = p.link;
      if (p.strategy) $("strategy").value = p.strategy;
      if (p.topology) $("topology").value = p.topology;
      $("rdma").checked = !!p.rdma;
      if (p.cost && p.cost.price_kwh !== undefined) $("price").value = p.cost.price_kwh;
      state.links = Object.fromEntries((p.links || []).map((l) => [l.between.join("-"), l.kind]));
      state.devices = p.devices.map((d) => (typeof d === "string" ? { name: d, count: 1 } : { name: d.name, count: d.count || 1 }));
      const w = p.workload || {};
      if (w.prompt_tokens !== undefined) $("prompt").value = w.prompt_tokens;
      if (w.gen_tokens !== undefined) $("gen").value = w.gen_tokens;
      if (w.batch !== undefined) $("batch").value = w.batch;
    } catch (e) { $("error").hidden = false; $("error").textContent = e.message; }
  }
  renderDevices();
  for (const id of ["model", "quant", "runtime", "link", "topology", "rdma", "strategy", "prompt", "gen", "batch", "price"]) {
    $(id).addEventListener("input", schedule);
    $(id).addEventListener("change", schedule);
  }
  $("add-device").addEventListener("click", () => { state.devices.push({ name: "RTX 3090", count: 1 }); renderDevices(); devicesChanged(); });
  $("run-auto").addEventListener("click", runAuto);
  $("share").addEventListener("click", share);
  $("save").addEventListener("click", save);
  $("add-compare").addEventListener("click", addCompare);
  $("run-min").addEventListener("click", () => hardware("min-hardware"));
  $("run-rec").addEventListener("click", () => hardware("recommend"));
  showCompare();
  update();
}

init();
