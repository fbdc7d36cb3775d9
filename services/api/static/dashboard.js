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
  const merged = (c) => (c.merged_from && c.merged_from.length ? ` <span class="muted">(+ merged ${c.merged_from.join(", ")})</span>` : "");
  // drilling into an inner node shows the next level under it (a department's categories)
  const drill = (c) => (c.leaf === false ? ` <button class="drill" data-parent="${c.prdtypecode}" data-level="${(c.level || 1) + 1}">▸</button>` : "");
  rows($("distribution").tBodies[0], data.categories.map((c) =>
    `<tr data-code="${c.prdtypecode}"><td>${c.prdtypecode}</td><td>${esc(c.path || c.label)}${merged(c)}${drill(c)}</td><td class="num count">${c.count}</td>` +
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
  return top.slice(0, 3).map((c) => `<div>${c.prdtypecode} ${esc(c.path || c.label)} <span class="muted">${c.probability.toFixed(2)}</span></div>`).join("");
}

let categories = [];

function reviewButtons(r) {
  const alternatives = (r.top_k || []).filter((c) => c.prdtypecode !== r.prdtypecode).slice(0, 2);
  const id = encodeURIComponent(r.listing_id);
  return `<button class="review accept" data-listing="${id}" data-code="${r.prdtypecode}" data-sub="${esc(r.submission_id)}">✓ accept</button>` +
    alternatives.map((c) => `<button class="review" data-listing="${id}" data-code="${c.prdtypecode}" data-sub="${esc(r.submission_id)}">→ ${c.prdtypecode}</button>`).join("") +
    `<input class="review-search" list="category-list" size="18" placeholder="other… (search a name)" data-listing="${id}" data-sub="${esc(r.submission_id)}">`;
}

function renderCategoryList() {
  // the labelling menu: live leaves of the taxonomy, searched by code, name or path
  $("category-list").innerHTML = categories.map((c) => `<option value="${c.prdtypecode} ${esc(c.path || c.label)}"></option>`).join("");
}

// roll-up level and drill-down parent; the page's ?level=&parent= open it there (links to share)
const start = new URLSearchParams(location.search);
let distLevel = /^\d+$/.test(start.get("level") || "") ? start.get("level") : "";
let distParent = /^\d+$/.test(start.get("parent") || "") ? start.get("parent") : "";

function distributionQuery() {
  const q = new URLSearchParams();
  if (distLevel) q.set("level", distLevel);
  if (distParent) q.set("parent", distParent);
  $("dist-up").hidden = !distParent;
  return q.toString() ? `&${q}` : "";
}

function renderReview(data) {
  $("review-total").textContent = data.total;
  $("threshold-note").textContent = `(decided 'review' by the model's thresholds, or older predictions below ${data.threshold}; likeliest errors first)`;
  rows($("review").tBodies[0], data.items.map((r) =>
    `<tr><td><a href="/v1/listings/${encodeURIComponent(r.listing_id)}">${esc(r.listing_id)}</a></td><td>${esc(r.title).slice(0, 80)}</td>` +
    `<td>${topK(r)}</td><td class="num">${r.confidence.toFixed(3)}</td><td>${esc(r.model_version)}</td>` +
    `<td data-why="${esc(r.submission_id)}">${renderWhy(explanations.get(r.submission_id))}</td>` +
    `<td>${reviewButtons(r)}</td></tr>`), 7);
  for (const r of data.items) {
    if (!explanations.has(r.submission_id) && !explainQueue.some((q) => q.submission_id === r.submission_id)) explainQueue.push(r);
  }
  explainNext();
}

async function label(listing, code, submission) {
  const reviewer = $("reviewer").value.trim();
  if (!reviewer) { $("review-msg").textContent = "enter your name first"; return; }
  localStorage.setItem("reviewer", reviewer);
  localStorage.setItem("token", $("token").value);
  const headers = { "Content-Type": "application/json" };
  if ($("token").value) headers.Authorization = `Bearer ${$("token").value}`;
  const response = await fetch(`/v1/listings/${listing}/label`, {
    method: "POST", headers, body: JSON.stringify({ prdtypecode: Number(code), reviewer, submission_id: submission }),
  });
  const body = await response.json();
  $("review-msg").textContent = response.ok ? `${body.action}: ${decodeURIComponent(listing)} → ${body.prdtypecode}` : `failed: ${body.message}`;
  refresh();
}

$("review").addEventListener("click", (event) => {
  const b = event.target.closest("button.review");
  if (b) label(b.dataset.listing, b.dataset.code, b.dataset.sub);
});
$("review").addEventListener("change", (event) => {
  const s = event.target.closest("input.review-search");
  const code = s ? parseInt(s.value, 10) : NaN;
  if (categories.some((c) => c.prdtypecode === code)) label(s.dataset.listing, code, s.dataset.sub);
  else if (s && s.value) $("review-msg").textContent = "pick a category from the list";
});
$("distribution").addEventListener("click", (event) => {
  const b = event.target.closest("button.drill");
  if (b) { distParent = b.dataset.parent; distLevel = b.dataset.level; $("dist-level").value = ""; refresh(); }
});
if ([...$("dist-level").options].some((o) => o.value === distLevel)) $("dist-level").value = distLevel;
$("dist-level").addEventListener("change", () => { distLevel = $("dist-level").value; distParent = ""; refresh(); });
$("dist-up").addEventListener("click", () => { distParent = ""; distLevel = $("dist-level").value; refresh(); });

function ci(values) {
  return values ? ` <span class="muted">[${values[0].toFixed(2)}, ${values[1].toFixed(2)}]</span>` : "";
}

function renderQuality(q) {
  $("labels-note").textContent = `(${q.labels} labels: ${q.accepted} accepted, ${q.corrected} corrected)`;
  rows($("quality").tBodies[0], q.versions.map((v) =>
    `<tr><td>${esc(v.model_version)}${v.shadow ? ' <span class="badge">shadow</span>' : ""}</td><td class="num">${v.n}</td>` +
    `<td class="num">${v.accuracy == null ? "–" : v.accuracy.toFixed(3)}${ci(v.accuracy_ci95)}</td>` +
    `<td class="num">${v.weighted_f1 == null ? "–" : v.weighted_f1.toFixed(3)}${ci(v.weighted_f1_ci95)}</td></tr>`), 4);
  rows($("recent-labels").tBodies[0], q.recent.slice(0, 5).map((l) =>
    `<tr><td>${esc(l.listing_id)}</td><td>${esc(l.reviewer)}</td><td>${esc(l.action)}</td>` +
    `<td>${l.corrects ? l.corrects.prdtypecode : "–"}</td><td>${l.prdtypecode}</td></tr>`), 5);
}

function renderAutoAccept(a) {
  $("auto-note").textContent = `(target precision ${a.target_precision}; measured on reviewer labels of auto predictions)`;
  rows($("auto-accept").tBodies[0], a.versions.map((v) => {
    const verdict = v.precision == null ? "no labels yet" : v.below_target ? "below target" : "ok";
    return `<tr><td>${esc(v.model_version)}</td>` +
      `<td class="num">${v.coverage == null ? "–" : v.coverage.toFixed(3)}${ci(v.coverage_ci95)}</td>` +
      `<td class="num">${v.reviewed_auto}</td>` +
      `<td class="num">${v.precision == null ? "–" : v.precision.toFixed(3)}${ci(v.precision_ci95)}</td>` +
      `<td class="${v.below_target ? "st-alert" : "st-ok"}">${verdict}</td></tr>`;
  }), 5);
}

function renderDrift(d) {
  $("drift-note").textContent = `(${esc(d.model_version || "no model")}, last ${Math.round(d.window_s / 60)} min)`;
  $("warn-psi").textContent = d.thresholds.warn;
  $("alert-psi").textContent = d.thresholds.alert;
  const badge = $("drift-badge");
  const worst = Object.values(d.signals).map((s) => s.status);
  const level = d.alert ? "alert" : worst.includes("warn") ? "warn" : d.score == null ? "" : "ok";
  badge.className = `badge ${level}`;
  badge.textContent = d.score == null ? "not enough data" : `score ${d.score.toFixed(3)} · ${level}`;
  rows($("drift").tBodies[0], Object.entries(d.signals).map(([name, s]) =>
    `<tr><td>${esc(name)}</td><td class="num">${s.psi.toFixed(3)}</td><td class="st-${esc(s.status)}">${esc(s.status)}</td>` +
    `<td>${esc(s.reference)}</td><td class="num">${s.n}</td>` +
    `<td class="muted">${Object.entries(s.recent).slice(0, 3).map(([k, v]) => `${esc(k)} ${(100 * v).toFixed(0)}%`).join(", ")}</td></tr>`), 6);
}

function renderShadow(sh) {
  $("shadow-note").textContent = sh.shadow
    ? `(${sh.shadow.version} on ${Math.round(100 * sh.shadow.share)}% of live offers, current ${sh.current})`
    : `(no shadow candidate; current ${sh.current || "–"})`;
  rows($("shadow").tBodies[0], sh.agreement.map((p) =>
    `<tr><td>${esc(p.live_version)}</td><td>${esc(p.shadow_version)}</td><td class="num">${p.compared}</td>` +
    `<td class="num">${p.agreement == null ? "–" : (100 * p.agreement).toFixed(1) + "%"}</td>` +
    `<td class="muted">${p.top_changes.slice(0, 3).map((c) => `${c.from}→${c.to} (${c.count})`).join(", ")}</td></tr>`), 5);
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
    `<td class="num">${f1(m.metrics, ["modalities", "image"])}</td><td class="num predictions">${counts[m.version] || 0}</td></tr>`), 7);
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
  const review = new URLSearchParams({ limit: "8" });
  if ($("version").value) review.set("model_version", $("version").value);
  try {
    if (!categories.length) { categories = await getJSON("/v1/categories"); renderCategoryList(); }
    const [dist, tput, queue, jobs, quality, drift, shadow, models, seen, training, auto] = await Promise.all([
      getJSON(`/v1/stats/distribution?${params}${distributionQuery()}`),
      getJSON(`/v1/stats/throughput?${params}&bucket_s=${bucket}`),
      getJSON(`/v1/stats/review-queue?${review}`),
      getJSON("/v1/jobs?limit=10"),
      getJSON("/v1/stats/quality"),
      getJSON("/v1/stats/drift"),
      getJSON("/v1/stats/shadow"),
      getJSON("/v1/models"),
      getJSON("/v1/stats/versions"),
      getJSON("/v1/training"),
      getJSON("/v1/stats/auto-accept"),
    ]);
    renderDistribution(dist);
    renderThroughput(tput);
    renderReview(queue);
    renderJobs(jobs);
    renderQuality(quality);
    renderAutoAccept(auto);
    renderDrift(drift);
    renderShadow(shadow);
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
$("reviewer").value = localStorage.getItem("reviewer") || "";
$("token").value = localStorage.getItem("token") || "";
refresh();
setInterval(refresh, REFRESH_MS);
