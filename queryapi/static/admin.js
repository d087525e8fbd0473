// Admins' page: sync health (/v1/status, /readyz), reindex jobs (/v1/admin/reindex…), dead letters
// (/v1/admin/deadletters…), reconcile (/v1/admin/reconcile). Endpoints that answer 404/405 are shown as
// "not available on this server" with the request that was tried. Field names read are listed in docs/ui.md.
"use strict";

const $ = (id) => document.getElementById(id);
const DONE = new Set(["done", "completed", "complete", "succeeded", "success", "finished", "switched"]);
const FAILED = new Set(["failed", "error", "cancelled", "canceled", "aborted", "rejected"]);
const jobs = new Map();       // job id → last seen job object
let lastStatus = null;        // {t, tenants: {id: {documents, offset, file}}}
let lastSync = null;          // the last /v1/admin/sync (or /v1/status) answer

function missing(e) { return e.status === 404 || e.status === 405 || e.status === 501; }

function unavailable(what, e) {
  return TS.el("p", { class: "unavailable", "data-missing": what,
                      text: `Not available on this server: ${what} answered ${e.status} (${e.message}).` });
}

function jobId(j) { return String(j.id ?? j.job_id ?? j.job ?? ""); }
function jobState(j) { return String(j.phase ?? j.state ?? "running").toLowerCase(); }
// POST /v1/admin/reindex and …/cancel answer {"job": "<id>", "phase": …}; GET answers the job record itself.
function asJob(res) { return typeof res.job === "string" ? { ...res, id: res.job } : (res.job ?? res); }
function jobFraction(j) {
  if (DONE.has(jobState(j))) return 1;
  let p = j.progress;
  if (p && typeof p === "object") {
    const done = p.done ?? p.rows_done ?? p.copied ?? p.rows_copied;
    const total = p.total ?? p.rows_total;
    p = typeof p.fraction === "number" ? p.fraction : (total ? done / total : null);
  }
  if (typeof p === "number") return p > 1 ? p / 100 : p;
  const done = j.copied ?? j.rows_done ?? j.rows_copied ?? j.done;
  const total = j.total ?? j.rows_total ?? j.total_rows;
  // 100% means switched: copying all rows is not the end (catch-up, verification, switch follow)
  return total ? Math.min(done / total, 0.99) : 0;
}

function renderJob(j) {
  const id = jobId(j);
  const st = jobState(j);
  const pct = Math.max(0, Math.min(100, Math.round(jobFraction(j) * 100)));
  const rate = j.rows_per_s ?? j.rows_per_second ?? j.rate;
  const eta = j.eta_s ?? j.eta_seconds ?? j.eta;
  const finished = DONE.has(st) || FAILED.has(st);
  const bar = TS.el("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
                             "aria-valuenow": pct, "aria-label": `reindex ${id} progress` },
    TS.el("div", { class: "fill" + (FAILED.has(st) ? " failed" : "") }));
  bar.firstChild.style.width = pct + "%";
  const facts = [st, pct + "%"];
  if (typeof rate === "number") facts.push(`${Math.round(rate)} rows/s`);
  if (typeof eta === "number" && !finished) facts.push(`ETA ${Math.round(eta)} s`);
  if (j.cancel_requested && !finished) facts.push("cancel requested");
  if (j.error) facts.push(String(j.error));
  const li = TS.el("li", { class: "job", "data-job-id": id, "data-state": st },
    TS.el("div", { class: "job-head" }, TS.el("strong", { text: "job " + id }),
      (j.tenant ?? j.tenant_id) !== undefined ? ` · tenant ${j.tenant ?? j.tenant_id}` : "",
      j.generation !== undefined ? ` · generation ${j.generation}` : ""),
    bar, TS.el("p", { class: "job-facts", text: facts.join(" · ") }),
    finished ? null : TS.el("button", { type: "button", class: "secondary", text: "Cancel",
                                        onclick: () => cancelJob(id) }));
  return li;
}

function renderJobs() {
  const list = $("jobs");
  list.replaceChildren(...[...jobs.values()].reverse().map(renderJob));
}

async function refreshJobs() {
  const open = [...jobs.values()].filter((j) => !DONE.has(jobState(j)) && !FAILED.has(jobState(j)));
  for (const j of open) {
    try {
      const fresh = await TS.api(`/v1/admin/reindex/${encodeURIComponent(jobId(j))}`);
      jobs.set(jobId(j), { ...j, ...asJob(fresh) });
    } catch (e) {
      if (missing(e)) { j.state = "unknown"; }
    }
  }
  renderJobs();
}

async function loadJobs() {
  try {
    const res = await TS.api("/v1/admin/reindex");
    const list = Array.isArray(res) ? res : (res.jobs || []);
    for (const j of list) jobs.set(jobId(j), j);
    renderJobs();
  } catch (e) {
    const msg = $("reindex-msg");
    if (missing(e)) msg.replaceChildren(unavailable("GET /v1/admin/reindex", e));
    else msg.textContent = e.message;
  }
}

async function startReindex(ev) {
  ev.preventDefault();
  const body = {};
  const mv = $("ri-mapping").value, dv = $("ri-dict").value.trim(), th = $("ri-throttle").value;
  if (mv) body.mapping_version = Number(mv);
  if (dv) body.dictionary_version = Number(dv);
  if (th) body.throttle = Number(th);
  const msg = $("reindex-msg");
  msg.replaceChildren();
  try {
    const res = await TS.api("/v1/admin/reindex", { method: "POST", body });
    const job = asJob(res);
    jobs.set(jobId(job), job);
    msg.textContent = `Reindex job ${jobId(job)} started.`;
    renderJobs();
  } catch (e) {
    if (missing(e)) msg.append(unavailable("POST /v1/admin/reindex", e));
    else msg.textContent = "Could not start: " + e.message;
  }
}

async function cancelJob(id) {
  const path = `/v1/admin/reindex/${encodeURIComponent(id)}`;
  try {
    let res;
    try { res = await TS.api(path + "/cancel", { method: "POST" }); } catch (e) {
      if (!missing(e)) throw e;
      res = await TS.api(path, { method: "DELETE" });
    }
    const j = jobs.get(id);
    if (j) jobs.set(id, { ...j, cancel_requested: true, ...(res && typeof res.phase === "string" ? { phase: res.phase } : {}) });
    renderJobs();
  } catch (e) {
    $("reindex-msg").textContent = "Could not cancel: " + e.message;
  }
}

async function refreshStatus() {
  const box = $("tenants");
  let st;
  try {   // /v1/admin/sync: the tenant's (or, for platform admins, every tenant's) counts, lag and dead letters
    st = await TS.api("/v1/admin/sync");
  } catch (e) {
    if (!missing(e) && e.status !== 403) { box.replaceChildren(TS.el("p", { class: "error", text: e.message })); return; }
    try { st = await TS.api("/v1/status"); } catch (e2) {
      box.replaceChildren(TS.el("p", { class: "error", text: e2.message })); return;
    }
  }
  let tenants = st.tenants || [];
  lastSync = st;
  if (!tenants.some((t) => t.analyzer)) {   // the own tenant's analyzer and mapping come with /v1/status
    try {
      const own = await TS.api("/v1/status");
      const extra = new Map((own.tenants || []).map((t) => [t.tenant_id, t]));
      tenants = tenants.map((t) => ({ ...(extra.get(t.tenant_id) || {}), ...t,
                                      position: t.position ?? (extra.get(t.tenant_id) || {}).position }));
    } catch (_) { /* keep what /v1/admin/sync said */ }
  }
  const now = performance.now();
  const prev = lastStatus;
  lastStatus = { t: now, tenants: {} };
  const cards = tenants.map((t) => {
    // every change before the checkpoint (`synced`) is committed in every tenant's index
    const pos = t.position || st.synced || t.applied;
    lastStatus.tenants[t.tenant_id] = { documents: t.documents, offset: pos ? pos.offset : null, file: pos ? pos.file : null };
    const lag = TS.lag(pos, st.source);
    const secs = st.seconds_behind_source;
    if (typeof secs === "number") lag.text += ` · ${secs.toFixed(1)} s behind`;
    let rate = "–";
    const p = prev && prev.tenants[t.tenant_id];
    if (p && pos && p.file === pos.file && p.offset !== null) {
      const dt = (now - prev.t) / 1000;
      rate = `${TS.bytes(Math.max(0, Math.round((pos.offset - p.offset) / dt)))}/s of binlog applied, ` +
             `${Math.round((t.documents - p.documents) / dt)} docs/s net`;
    }
    const dl = (k, v) => [TS.el("dt", { text: k }), TS.el("dd", { text: v })];
    return TS.el("article", { class: "tenant", "data-tenant": t.tenant_id },
      TS.el("h3", { text: "Tenant " + t.tenant_id + (t.name ? " · " + t.name : "") }),
      TS.el("dl", {},
        ...dl("documents", String(t.documents)),
        ...dl("lag", lag.text),
        ...dl("throughput", rate),
        ...(t.deadletters_pending !== undefined ? dl("dead letters", String(t.deadletters_pending)) : []),
        ...dl("indexed to", pos ? `${pos.file}:${pos.offset}` : "–"),
        ...dl("analyzer", t.analyzer ? String(t.analyzer) : "–"),
        ...dl("mapping", t.mapping_version !== undefined ? "v" + t.mapping_version : "–")));
  });
  box.replaceChildren(...cards);
}

async function refreshHealth() {
  const box = $("health");
  const parts = [];
  for (const path of ["/healthz", "/readyz"]) {
    try {
      const resp = await fetch(path, { cache: "no-store", credentials: "omit" });
      const label = resp.status === 404 ? "not available" : resp.ok ? "ok" : "NOT READY (" + resp.status + ")";
      parts.push(TS.el("span", { class: "badge " + (resp.ok ? "ok" : resp.status === 404 ? "" : "bad"),
                                 text: `${path}: ${label}` }));
    } catch (e) {
      parts.push(TS.el("span", { class: "badge bad", text: `${path}: ${e.message}` }));
    }
  }
  box.replaceChildren(...parts);
}

async function refreshDeadLetters() {
  const sum = $("dl-summary"), list = $("dl-list"), btn = $("dl-replay");
  try {
    const res = await TS.api("/v1/admin/deadletters", { params: { limit: 20 } });
    const items = res.items || res.deadletters || (Array.isArray(res) ? res : []);
    const count = res.count ?? res.total ?? items.length;
    const pending = res.pending ?? count;
    sum.textContent = `${count} dead letter${count === 1 ? "" : "s"}` + (pending !== count ? `, ${pending} not replayed` : "");
    sum.dataset.count = String(pending);
    btn.disabled = !pending;
    list.replaceChildren(...items.map((d) => TS.el("li", {},
      TS.el("strong", { text: `#${d.id} ${d.table ?? d.source_table ?? ""}` }),
      ` ticket ${d.ticket_id ?? "?"} · ${d.reason ?? ""}` + (d.replayed_at ? " · replayed" : ""))));
  } catch (e) {
    btn.disabled = true;
    list.replaceChildren();
    if (!missing(e)) { sum.textContent = e.message; return; }
    // no list endpoint: the pending count of /v1/admin/sync, and say what is missing for a list and replay
    const pending = ((lastSync && lastSync.tenants) || []).reduce((n, t) => n + (t.deadletters_pending ?? 0), 0);
    const known = lastSync && lastSync.tenants && lastSync.tenants.some((t) => t.deadletters_pending !== undefined);
    sum.replaceChildren(
      known ? TS.el("span", { text: `${pending} dead letter${pending === 1 ? "" : "s"} pending. ` }) : "",
      unavailable("GET /v1/admin/deadletters (list and replay)", e));
    sum.dataset.count = known ? String(pending) : "";
  }
}

async function replayDeadLetters() {
  const sum = $("dl-summary");
  try {
    const res = await TS.api("/v1/admin/deadletters/replay", { method: "POST", body: {} });
    sum.textContent = `Replayed: ${res.replayed ?? res.succeeded ?? JSON.stringify(res)}`;
    setTimeout(refreshDeadLetters, 1000);
  } catch (e) {
    sum.replaceChildren(missing(e) ? unavailable("POST /v1/admin/deadletters/replay", e) : TS.el("span", { text: e.message }));
  }
}

function reconcileSummary(report) {
  const per = Array.isArray(report.tenants) ? report.tenants : [report];
  const count = (v) => (Array.isArray(v) ? v.length : typeof v === "number" ? v : null);
  return per.map((t) => {
    const facts = ["source_tickets", "index_tickets", "missing", "extra", "stale", "repaired", "ranges_checked"]
      .filter((k) => count(t[k]) !== null).map((k) => `${k.replace("_", " ")}: ${count(t[k])}`);
    const head = t.tenant !== undefined ? `tenant ${t.tenant}: ` : "";
    return head + (t.clean === true ? "clean · " : t.clean === false ? "DRIFT · " : "") + facts.join(" · ");
  }).join("\n") + (report.error ? `\nerror: ${report.error}` : "");
}

async function reconcile(repair) {
  const box = $("rec-result");
  box.replaceChildren(TS.el("p", { text: repair ? "Reconciling and repairing…" : "Reconciling…" }));
  try {
    let res = await TS.api("/v1/admin/reconcile", { method: "POST", body: { repair } });
    const id = res.request;
    const deadline = Date.now() + 120000;
    while (id && res.done !== true && !res.tenants && Date.now() < deadline) {   // 202: poll the request
      await new Promise((r) => setTimeout(r, 500));
      res = await TS.api(`/v1/admin/reconcile/${encodeURIComponent(id)}`);
    }
    const done = res.done === true || !!res.tenants;
    box.replaceChildren(TS.el("p", { class: "msg", "data-done": done ? "1" : "0",
                                     text: done ? reconcileSummary(res.report ?? res) : "still running (sync service busy or stopped)" }));
  } catch (e) {
    box.replaceChildren(missing(e) ? unavailable("POST /v1/admin/reconcile", e) : TS.el("p", { class: "error", text: e.message }));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  TS.boot((session) => {
    $("role-warning").hidden = TS.isAdmin(session);
    $("reindex-form").addEventListener("submit", startReindex);
    $("dl-replay").addEventListener("click", replayDeadLetters);
    $("rec-check").addEventListener("click", () => reconcile(false));
    $("rec-repair").addEventListener("click", () => reconcile(true));
    refreshStatus().then(refreshDeadLetters); refreshHealth(); loadJobs();
    setInterval(refreshStatus, 2000);
    setInterval(refreshJobs, 500);
    setInterval(refreshHealth, 10000);
    setInterval(refreshDeadLetters, 10000);
  });
});
