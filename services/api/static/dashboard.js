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

function renderReview(data) {
  $("review-total").textContent = data.total;
  $("threshold-note").textContent = `(confidence < ${data.threshold})`;
  rows($("review").tBodies[0], data.items.map((r) =>
    `<tr><td><a href="/v1/listings/${encodeURIComponent(r.listing_id)}">${esc(r.listing_id)}</a></td><td>${esc(r.title).slice(0, 80)}</td>` +
    `<td>${r.prdtypecode} ${esc(r.label)}</td><td class="num">${r.confidence.toFixed(3)}</td><td>${esc(r.model_version)}</td></tr>`), 5);
}

function renderJobs(jobs) {
  rows($("jobs").tBodies[0], jobs.map((j) => {
    const pct = Math.round(100 * j.progress);
    return `<tr><td title="${esc(j.job_id)}">${esc(j.job_id.slice(0, 8))}</td><td class="status-${esc(j.status)}">${esc(j.status)}</td>` +
      `<td><div class="bar ${j.status === "completed" ? "done" : ""}" style="width:${pct}%"></div>${pct}%</td>` +
      `<td class="num">${j.published}/${j.total}</td><td class="num">${j.completed}</td><td class="num">${j.in_flight}</td></tr>`;
  }), 6);
}

function f1(metrics, path) {
  const value = path.reduce((m, key) => (m == null ? m : m[key]), metrics);
  return value && value.weighted_f1 != null ? value.weighted_f1.toFixed(3) : "–";
}

function minutes(seconds) {
  return seconds < 90 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}

// Which version classified what, with each version's held-out F1 (GET /v1/models).
function renderModels(models, seen) {
  const counts = Object.fromEntries(seen.map((v) => [v.model_version, v.count]));
  rows($("models").tBodies[0], models.models.map((m) =>
    `<tr class="${m.current ? "current" : ""}" data-version="${esc(m.version)}"><td>${esc(m.version)}</td>` +
    `<td>${esc(m.training && m.training.profile ? m.training.profile.name : "")}</td><td>${m.current ? "current" : ""}</td>` +
    `<td class="num">${f1(m.metrics, ["fusion"])}</td><td class="num">${f1(m.metrics, ["modalities", "text"])}</td>` +
    `<td class="num">${f1(m.metrics, ["modalities", "image"])}</td><td class="num count">${counts[m.version] || 0}</td></tr>`), 7);
}

// The background training's progress bar (GET /v1/training; state "none": hidden).
function renderTraining(t) {
  const box = $("training");
  box.hidden = t.state === "none";
  if (box.hidden) return;
  const pct = Math.round(100 * t.fraction);
  let text = `training the ${esc(t.profile)} model in the background: ${esc(t.stage)}, ${pct}%`;
  if (t.state === "running" && t.eta_s != null) text += `, about ${minutes(t.eta_s)} left`;
  if (t.state === "published") text = `${esc(t.profile)} model ${esc(t.version)} published after ${minutes(t.elapsed_s)}; the workers switched to it`;
  if (t.state === "failed") text = `background training failed: ${esc(t.error)}`;
  box.dataset.state = t.state;
  $("training-text").innerHTML = text;
  $("training-bar").style.width = `${pct}%`;
  $("training-bar").className = `bar ${t.state === "published" ? "done" : ""}`;
}

async function refreshVersions(seen) {
  const select = $("version");
  const known = new Set([...select.options].map((o) => o.value));
  for (const v of seen) {
    if (!known.has(v.model_version)) select.add(new Option(`${v.model_version} (${v.count})`, v.model_version));
  }
}

async function refresh() {
  const params = filters();
  const bucket = bucketFor(Number($("window").value));
  const review = new URLSearchParams({ limit: "15" });
  if ($("version").value) review.set("model_version", $("version").value);
  try {
    const [dist, tput, queue, jobs, models, seen, training] = await Promise.all([
      getJSON(`/v1/stats/distribution?${params}`),
      getJSON(`/v1/stats/throughput?${params}&bucket_s=${bucket}`),
      getJSON(`/v1/stats/review-queue?${review}`),
      getJSON("/v1/jobs?limit=10"),
      getJSON("/v1/models"),
      getJSON("/v1/stats/versions"),
      getJSON("/v1/training"),
    ]);
    renderDistribution(dist);
    renderThroughput(tput);
    renderReview(queue);
    renderJobs(jobs);
    renderModels(models, seen);
    renderTraining(training);
    await refreshVersions(seen);
    $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = "true";
  } catch (err) {
    $("status").textContent = `refresh failed: ${err.message}`;
  }
}

for (const id of ["window", "origin", "version"]) $(id).addEventListener("change", refresh);
refresh();
setInterval(refresh, REFRESH_MS);
