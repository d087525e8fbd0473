// Shared by both pages: the signed-in key (sessionStorage only), JSON API calls, safe highlight rendering.
// Input: the key typed by the user. Output: DOM built with createElement/textContent only (no innerHTML of data).
"use strict";

const KEY_NAME = "ticketsearch.key";

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || "http_" + status;
    this.details = err;
  }
}

const TS = {
  key() { return sessionStorage.getItem(KEY_NAME); },
  setKey(k) { sessionStorage.setItem(KEY_NAME, k); },
  clearKey() { sessionStorage.removeItem(KEY_NAME); },

  async api(path, { params = null, method = "GET", body = undefined } = {}) {
    const url = new URL(path, window.location.origin);
    if (params) {
      for (const [k, v] of Object.entries(params)) {
        if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
      }
    }
    const headers = { "Accept": "application/json" };
    const key = TS.key();
    if (key) headers["Authorization"] = "Bearer " + key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                    credentials: "omit", cache: "no-store" });
    let data = null;
    const text = await resp.text();
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = { error: { message: text.slice(0, 200) } }; }
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  },

  el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = String(v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  },

  // The API sends HTML-escaped text with <em>…</em> around matches. Parse exactly that shape: split on the two
  // tags, decode the five entities the escaper produces, and build text nodes + <mark>. Nothing is ever parsed
  // as HTML, so a ticket containing markup shows as text.
  fragment(fragment) {
    const out = document.createDocumentFragment();
    const parts = String(fragment).split(/(<em>|<\/em>)/);
    let inside = false;
    for (const p of parts) {
      if (p === "<em>") { inside = true; continue; }
      if (p === "</em>") { inside = false; continue; }
      if (!p) continue;
      const text = TS.unescape(p);
      out.append(inside ? TS.el("mark", { text }) : document.createTextNode(text));
    }
    return out;
  },

  unescape(s) {
    return s.replace(/&(lt|gt|quot|#x27|#39|amp);/g, (_, e) => (
      { lt: "<", gt: ">", quot: "\"", "#x27": "'", "#39": "'", amp: "&" }[e]));
  },

  // Position lag of the index behind the source binlog, as words.
  lag(applied, source) {
    if (!applied) return { text: "not indexed yet", level: "warn" };
    if (!source) return { text: "source unreachable; indexed up to " + applied.file + ":" + applied.offset, level: "warn" };
    if (applied.file === source.file) {
      const behind = Math.max(0, source.offset - applied.offset);
      if (behind === 0) return { text: "up to date with the source", level: "ok", bytes: 0 };
      return { text: TS.bytes(behind) + " of binlog behind the source", level: behind > 1e6 ? "warn" : "ok", bytes: behind };
    }
    return applied.file < source.file
      ? { text: "behind the source: at " + applied.file + ", source at " + source.file, level: "warn" }
      : { text: "up to date with the source", level: "ok", bytes: 0 };
  },

  bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  },

  isAdmin(session) { return !!session && (session.role === "admin" || session.role === "platform_admin"); },

  // Sign-in: shows #signin until a key is accepted by /ui/session, then calls onReady(session).
  async boot(onReady) {
    const signin = document.getElementById("signin");
    const app = document.getElementById("app");
    const who = document.getElementById("who");
    const form = document.getElementById("signin-form");
    const err = document.getElementById("signin-error");
    const signout = document.getElementById("signout");

    const show = (session) => {
      signin.hidden = !!session;
      app.hidden = !session;
      who.textContent = session ? `tenant ${session.tenant_id} · ${session.role}` : "";
      signout.hidden = !session;
      document.querySelectorAll("[data-admin-only]").forEach((n) => { n.hidden = !TS.isAdmin(session); });
    };
    const tryKey = async () => {
      try {
        const session = await TS.api("/ui/session");
        show(session);
        onReady(session);
        return true;
      } catch (e) {
        TS.clearKey();
        show(null);
        if (e.status === 401 || e.status === 403) err.textContent = "That key was not accepted: " + e.message;
        else err.textContent = "Could not sign in: " + e.message;
        err.hidden = false;
        return false;
      }
    };
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const input = document.getElementById("key");
      const key = input.value.trim();
      if (!key) return;
      err.hidden = true;
      TS.setKey(key);
      input.value = "";
      await tryKey();
    });
    signout.addEventListener("click", () => { TS.clearKey(); window.location.reload(); });
    if (TS.key()) await tryKey(); else show(null);
  },
};
