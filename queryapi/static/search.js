// Agents' search page: query box → GET /v1/tickets/search; facets filter on click; cursor "more"; tokens on
// demand (/v1/analyze); tenant freshness (/v1/status). All data is rendered as text (TS.el / TS.fragment).
"use strict";

const FACETS = ["status", "priority", "tags", "category", "channel"];
const FACET_FIELD = { tags: "tag", assignee_id: "assignee" };   // facet key → query-language field
const FACET_TITLE = { status: "Status", priority: "Priority", tags: "Tags", category: "Category", channel: "Channel" };
const FIELD_LABEL = { subject: "subject", body: "body", comments: "comment" };

const state = { q: "", sort: "relevance", order: "desc", cursor: null, shown: 0, seq: 0 };
const $ = (id) => document.getElementById(id);

function quoteValue(v) {
  return /[\s"()]/.test(v) ? `"${v}"` : v;
}

function showQueryError(q, err) {
  const box = $("q-error");
  box.replaceChildren();
  const d = err.details || {};
  box.dataset.code = err.code;
  if (typeof d.position === "number") {
    const pos = Math.max(0, Math.min(d.position, q.length));
    box.dataset.position = String(pos);
    const at = q.slice(pos, pos + 1) || "\u2003";   // an em space marks "end of query"
    box.append(
      TS.el("p", { class: "error", text: `${err.message} (at character ${pos + 1})` }),
      TS.el("pre", { class: "error-context", "aria-hidden": "true" },
            q.slice(0, pos), TS.el("mark", { class: "err-at", text: at }), q.slice(pos + 1)),
    );
    const input = $("q");
    input.focus();
    input.setSelectionRange(pos, Math.min(pos + 1, q.length));
  } else {
    delete box.dataset.position;
    box.append(TS.el("p", { class: "error", text: err.message }));
  }
  box.hidden = false;
  $("q").setAttribute("aria-invalid", "true");
}

function clearQueryError() {
  $("q-error").hidden = true;
  $("q").removeAttribute("aria-invalid");
}

function badge(cls, text, title) {
  return TS.el("span", { class: "badge " + cls, text, title });
}

function renderHit(h) {
  const hl = h.highlights || [];
  const subjectHl = hl.find((x) => x.field === "subject");
  const bodyHl = hl.find((x) => x.field === "body");
  const commentHls = hl.filter((x) => x.field === "comments");
  const title = TS.el("h2", { class: "subject" });
  title.append(subjectHl ? TS.fragment(subjectHl.fragment) : document.createTextNode(h.subject || "(no subject)"));
  const meta = TS.el("div", { class: "meta" },
    badge("num", h.ticket_number || "#" + h.ticket_id),
    h.status ? badge("status s-" + h.status, h.status, "status") : null,
    h.priority ? badge("prio p-" + h.priority, h.priority, "priority") : null,
    h.category ? badge("cat", h.category, "category") : null,
    h.channel ? badge("chan", h.channel, "channel") : null,
    ...(h.tags || []).map((t) => badge("tag", t, "tag")),
  );
  const body = TS.el("p", { class: "snippet body" });
  if (bodyHl) body.append(TS.fragment(bodyHl.fragment));
  else body.textContent = (h.body || "").slice(0, 160) + ((h.body || "").length > 160 ? "…" : "");
  const comments = commentHls.map((c) => TS.el("p", { class: "snippet comment" },
    TS.el("span", { class: "label", text: "comment " + (c.comment ?? "") }), " ", TS.fragment(c.fragment)));
  const when = h.updated_at || h.created_at;
  const foot = TS.el("p", { class: "foot" },
    when ? TS.el("time", { datetime: when, text: "updated " + String(when).replace("T", " ").slice(0, 16) }) : null,
    h.comment_count ? ` · ${h.comment_count} comment${h.comment_count === 1 ? "" : "s"}` : "");
  return TS.el("li", { class: "hit card", "data-ticket-id": h.ticket_id }, title, meta, body, ...comments, foot);
}

function renderFacets(facets) {
  const box = $("facets");
  box.replaceChildren();
  if (!facets) return;
  for (const name of FACETS) {
    const key = name === "assignee" ? "assignee_id" : name;
    const values = facets[key] || [];
    if (!values.length) continue;
    const field = FACET_FIELD[key] || key;
    const list = TS.el("ul");
    for (const { value, count } of values) {
      const clause = `${field}:${quoteValue(value)}`;
      const usable = !value.includes("\"");
      list.append(TS.el("li", {},
        TS.el("button", {
          type: "button", class: "facet", disabled: !usable, "data-facet": key, "data-value": value,
          "data-count": count, title: "filter: " + clause,
          onclick: () => { $("q").value = (state.q ? state.q + " " : "") + clause; runSearch(); },
        }, TS.el("span", { class: "fv", text: value }), TS.el("span", { class: "fc", text: String(count) }))));
    }
    box.append(TS.el("section", { class: "facet-group", "data-facet-group": key },
      TS.el("h3", { text: FACET_TITLE[key] || key }), list));
  }
}

async function runSearch({ more = false } = {}) {
  const seq = ++state.seq;
  if (!more) {
    state.q = $("q").value.trim();
    state.sort = $("sort").value;
    state.order = $("order").value;
    state.cursor = null;
    const url = new URL(window.location.href);
    url.search = "";
    if (state.q) url.searchParams.set("q", state.q);
    if (state.sort !== "relevance") url.searchParams.set("sort", state.sort);
    if (state.order !== "desc") url.searchParams.set("order", state.order);
    history.replaceState(null, "", url);
  }
  if (!state.q && state.sort === "relevance" && !more) {
    // An empty relevance query: show the newest tickets with their facets instead of an error.
    state.sort = "updated";
  }
  const params = { q: state.q, sort: state.sort, order: state.order, limit: 10 };
  if (more) params.cursor = state.cursor; else params.facets = FACETS.join(",");
  $("summary").textContent = "Searching…";
  document.body.dataset.busy = "1";
  try {
    const t0 = performance.now();
    const res = await TS.api("/v1/tickets/search", { params });
    if (seq !== state.seq) return;
    clearQueryError();
    const hits = $("hits");
    if (!more) { hits.replaceChildren(); state.shown = 0; renderFacets(res.facets); }
    for (const h of res.hits) hits.append(renderHit(h));
    state.shown += res.hits.length;
    state.cursor = res.next_cursor;
    $("more").hidden = !res.next_cursor;
    const ms = Math.round(performance.now() - t0);
    const s = $("summary");
    s.dataset.total = String(res.total);
    s.textContent = res.total === 0 ? "No tickets match." :
      `${res.total} ticket${res.total === 1 ? "" : "s"} · showing ${state.shown} · ${ms} ms`;
  } catch (e) {
    if (seq !== state.seq) return;
    if (e.status === 401) { TS.clearKey(); window.location.reload(); return; }
    $("summary").textContent = "";
    if (!more) { $("hits").replaceChildren(); $("facets").replaceChildren(); $("more").hidden = true; }
    showQueryError(state.q, e);
  } finally {
    if (seq === state.seq) delete document.body.dataset.busy;
  }
}

async function showTokens() {
  const box = $("tokens");
  const text = $("q").value.trim();
  if (!box.hidden && box.dataset.text === text) { box.hidden = true; return; }
  box.replaceChildren();
  box.hidden = false;
  box.dataset.text = text;
  if (!text) { box.append(TS.el("p", { text: "Type a query first." })); return; }
  try {
    const res = await TS.api("/v1/analyze", { params: { text, mode: "query" } });
    const list = TS.el("ol", { class: "token-list" });
    for (const t of res.tokens) {
      list.append(TS.el("li", { class: "token", title: `${t.origin || t.source} · chars ${t.start}–${t.end}` },
        TS.el("span", { class: "term", text: t.term }),
        t.original !== t.term ? TS.el("span", { class: "orig", text: t.original }) : null));
    }
    box.append(TS.el("p", { class: "label", text: `How “${text}” was segmented (analyzer ${res.analyzer}):` }), list);
    const slots = (res.synonyms && res.synonyms.slots) || [];
    const alts = slots.filter((s) => s.alternatives && s.alternatives.length);
    if (alts.length) {
      box.append(TS.el("p", { class: "label", text: "Synonyms: " + alts.map((s) =>
        s.terms.join(" ") + " → " + s.alternatives.map((a) => a.join(" ")).join(" | ")).join("; ") }));
    }
  } catch (e) {
    box.append(TS.el("p", { class: "error", text: e.message }));
  }
}

async function showFreshness() {
  const p = $("freshness");
  try {
    const st = await TS.api("/v1/status");
    const t = (st.tenants || [])[0];
    if (!t) { p.textContent = ""; return; }
    const lag = TS.lag(t.position || t.applied, st.source);
    p.dataset.level = lag.level;
    const secs = t.lag_seconds ?? t.seconds_behind_source ?? st.seconds_behind_source;
    p.textContent = `${t.documents} tickets indexed · ${lag.text}` +
      (typeof secs === "number" ? ` (${secs.toFixed(1)} s)` : "");
  } catch (e) {
    p.textContent = "freshness unknown: " + e.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  TS.boot(() => {
    const params = new URLSearchParams(window.location.search);
    $("q").value = params.get("q") || "";
    $("sort").value = params.get("sort") || "relevance";
    $("order").value = params.get("order") || "desc";
    $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); runSearch(); });
    $("sort").addEventListener("change", () => runSearch());
    $("order").addEventListener("change", () => runSearch());
    $("more").addEventListener("click", () => runSearch({ more: true }));
    $("analyze").addEventListener("click", showTokens);
    $("q").focus();
    showFreshness();
    setInterval(showFreshness, 15000);
    if ($("q").value) runSearch();
  });
});
