// Dashboard: fetches the JSON endpoints every few seconds and renders them (no build step).
"use strict";
const REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function filters() {
  const params = new URLSearchParams();
  const win = $("window").value;
  if (win) params.set("since", new Date(Date.now() - Number(win) * 1000).toISOString());
  else params.set("since", "1970-01-01T00:00:00Z");
  if ($("origin").value) params.set("origin", $("origin").value);
  if ($("version").value) params.set("model_version", $("version").value);
  return params;
}

async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function rows(tbody, html, columns) {
  tbody.innerHTML = html.length ? html.join("") : `<tr><td class="empty" colspan="${columns}">nothing yet</td></tr>`;
}

function renderDistribution(data) {
  $("total-predictions").textContent = data.total;
  $("categories-count").textContent = data.categories.length;
  const max = Math.max(1, ...data.categories.map((c) => c.count));
  rows($("distribution").tBodies[0], data.categories.map((c) =>
    `<tr data-code="${c.prdtypecode}"><td>${c.prdtypecode}</td><td>${esc(c.label)}</td><td class="num count">${c.count}</td>` +
    `<td><div class="bar" style="width:${(100 * c.count) / max}%"></div></td><td class="num">${c.mean_confidence.toFixed(2)}</td></tr>`), 5);
}

function bucketFor(windowSeconds) {
  if (!windowSeconds) return 3600;
  return Math.max(60, 60 * Math.round(windowSeconds / 3600));
}

function renderThroughput(data) {
  const svg = $("throughput-chart");
  const pts = data.points;
  $("bucket-note").textContent = `(${data.bucket_s} s buckets)`;
  const total = data.stage_mean_s.total;
  $("lag-mean").textContent = total == null ? "–" : `${total.toFixed(2)} s`;
  rows($("stages").tBodies[0], Object.entries(data.stage_mean_s).map(([stage, s]) =>
    `<tr><td>${esc(stage)}</td><td class="num">${s == null ? "–" : s.toFixed(3)}</td></tr>`), 2);
  if (!pts.length) { svg.innerHTML = '<text x="10" y="20" fill="#7a8291">no predictions in this window</text>'; return; }
  const W = 800, H = 200, pad = 4;
  const maxCount = Math.max(1, ...pts.map((p) => p.count));
  const maxLag = Math.max(0.001, ...pts.map((p) => p.lag_mean_s || 0));
  const step = (W - 2 * pad) / pts.length;
  const bars = pts.map((p, i) => {
    const h = ((H - 20) * p.count) / maxCount;
    return `<rect x="${pad + i * step}" y="${H - h}" width="${Math.max(1, step - 1)}" height="${h}" fill="#93c5fd"><title>${esc(p.t)}: ${p.count}</title></rect>`;
  });
  const line = pts.map((p, i) => `${pad + i * step + step / 2},${H - ((H - 20) * (p.lag_mean_s || 0)) / maxLag}`).join(" ");
  svg.innerHTML = bars.join("") + `<polyline points="${line}" fill="none" stroke="#dc2626" stroke-width="2"/>` +
    `<text x="6" y="14" font-size="12" fill="#1d2330">max ${maxCount}/bucket · lag up to ${maxLag.toFixed(2)} s</text>`;
}

// Explanations of review-queue offers: fetched one at a time (each costs the API ~1-2 s the first
// time, then comes from its cache), kept here by submission so refreshes never re-ask.
const explanations = new Map();
const explainQueue = [];
let explaining = false;

function chips(words, cls) {
  return words.length ? words.map((w) => `<span class="chip ${cls}" title="${w.weight.toFixed(3)} log-odds">${esc(w.word)}</span>`).join("") : '<span class="muted">none</span>';
}

function renderWhy(e) {
  if (!e) return '<span class="muted">explaining…</span>';
  if (e.error) return `<span class="muted">no explanation: ${esc(e.error)}</span>`;
  const m = e.modalities;
  const photo = e.heatmap
    ? `<img class="heat" alt="photo heat-map" title="red: pushed for ${esc(e.label)}; blue: against" src="data:image/png;base64,${e.heatmap.png_base64}">`
    : `<div class="heat none">no photo${e.image_missing_reason ? ` (${esc(e.image_missing_reason)})` : ""}</div>`;
  return `<div class="why">${photo}<div>` +
    `<div><b>for</b> ${chips(e.words_for, "for")}</div><div><b>against</b> ${chips(e.words_against, "against")}</div>` +
    `<div class="share"><span style="width:${100 * m.share_text}%" class="text">text ${Math.round(100 * m.share_text)}%</span>` +
    `<span style="width:${100 * m.share_image}%" class="image">photo ${Math.round(100 * m.share_image)}%</span></div></div></div>`;
}

async function explainNext() {
  if (explaining || !explainQueue.length) return;
  explaining = true;
  const item = explainQueue.shift();
  try {
    explanations.set(item.submission_id, await getJSON(`/v1/listings/${encodeURIComponent(item.listing_id)}/explanation`));
  } catch (err) {
    explanations.set(item.submission_id, { error: err.message });
  }
  const cell = document.querySelector(`[data-why="${item.submission_id}"]`);
  if (cell) cell.innerHTML = renderWhy(explanations.get(item.submission_id));
  explaining = false;
  explainNext();
}

function topK(r) {
  const top = r.top_k.length ? r.top_k : [{ prdtypecode: r.prdtypecode, label: r.label, probability: r.confidence }];
  return top.slice(0, 3).map((c) => `<div>${c.prdtypecode} ${esc(c.label)} <span class="muted">${c.probability.toFixed(2)}</span></div>`).join("");
}

function renderReview(data) {
  $("review-total").textContent = data.total;
  $("threshold-note").textContent = `(confidence < ${data.threshold})`;
  rows($("review").tBodies[0], data.items.map((r) =>
    `<tr><td><a href="/v1/listings/${encodeURIComponent(r.listing_id)}">${esc(r.listing_id)}</a></td><td>${esc(r.title).slice(0, 80)}</td>` +
    `<td>${topK(r)}</td><td class="num">${r.confidence.toFixed(3)}</td><td>${esc(r.model_version)}</td>` +
    `<td data-why="${esc(r.submission_id)}">${renderWhy(explanations.get(r.submission_id))}</td></tr>`), 6);
  for (const r of data.items) {
    if (!explanations.has(r.submission_id) && !explainQueue.some((q) => q.submission_id === r.submission_id)) explainQueue.push(r);
  }
  explainNext();
}

function renderJobs(jobs) {
  rows($("jobs").tBodies[0], jobs.map((j) => {
    const pct = Math.round(100 * j.progress);
    return `<tr><td title="${esc(j.job_id)}">${esc(j.job_id.slice(0, 8))}</td><td class="status-${esc(j.status)}">${esc(j.status)}</td>` +
      `<td><div class="bar ${j.status === "completed" ? "done" : ""}" style="width:${pct}%"></div>${pct}%</td>` +
      `<td class="num">${j.published}/${j.total}</td><td class="num">${j.completed}</td><td class="num">${j.in_flight}</td></tr>`;
  }), 6);
}

async function refreshVersions() {
  const select = $("version");
  const known = new Set([...select.options].map((o) => o.value));
  for (const v of await getJSON("/v1/stats/versions")) {
    if (!known.has(v.model_version)) select.add(new Option(`${v.model_version} (${v.count})`, v.model_version));
  }
}

async function refresh() {
  const params = filters();
  const bucket = bucketFor(Number($("window").value));
  const review = new URLSearchParams({ limit: "15" });
  if ($("version").value) review.set("model_version", $("version").value);
  try {
    const [dist, tput, queue, jobs] = await Promise.all([
      getJSON(`/v1/stats/distribution?${params}`),
      getJSON(`/v1/stats/throughput?${params}&bucket_s=${bucket}`),
      getJSON(`/v1/stats/review-queue?${review}`),
      getJSON("/v1/jobs?limit=10"),
    ]);
    renderDistribution(dist);
    renderThroughput(tput);
    renderReview(queue);
    renderJobs(jobs);
    await refreshVersions();
    $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = "true";
  } catch (err) {
    $("status").textContent = `refresh failed: ${err.message}`;
  }
}

for (const id of ["window", "origin", "version"]) $(id).addEventListener("change", refresh);
refresh();
setInterval(refresh, REFRESH_MS);
