"""Acceptance (issue 9) in headless Debian Chromium: the agents' search page and the admins' page, against the
real pipeline (real tickets in MariaDB → `ticketsearch sync` → Tantivy → `ticketsearch serve`).

Covered: a distinctive phrase of a real ticket is found and highlighted; a facet click narrows the results to
exactly its count; a malformed query shows its error at the right position; another tenant's ticket never
appears (also when the page's own requests are tampered with); the admin page shows the tenant's counts and a
reindex progressing to completion (skipped, naming the missing endpoint, while the admin API is absent); at 390px
nothing overflows horizontally; screenshots of both pages at both widths are written and are not blank.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import Stack

from analyzers import Analyzer, AnalyzerConfig

pytestmark = pytest.mark.integration
CJK = re.compile(r"^[\u4e00-\u9fff]+$")

# In the page: is every character of `phrase` inside a <mark> in one snippet of the hit?
PHRASE_COVERED_JS = """([ticket, phrase]) => {
  const hit = document.querySelector(`#hits li.hit[data-ticket-id="${ticket}"]`);
  if (!hit) return {found: false};
  const out = {found: true, marks: [...hit.querySelectorAll("mark")].map((m) => m.textContent), covered: false};
  for (const snip of hit.querySelectorAll(".subject, .snippet")) {
    let text = "", mask = [];
    for (const n of snip.childNodes) {
      const t = n.textContent || "";
      text += t;
      for (let i = 0; i < t.length; i++) mask.push(n.nodeName === "MARK");
    }
    let at = text.indexOf(phrase);
    while (at >= 0) {
      if (mask.slice(at, at + phrase.length).every(Boolean)) out.covered = true;
      at = text.indexOf(phrase, at + 1);
    }
  }
  return out;
}"""

# In about:blank: how many pixels differ from the most common colour of a PNG (a blank page has none)?
NON_BLANK_JS = """async (b64) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  const c = document.createElement("canvas");
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const counts = new Map();
  for (let i = 0; i < d.length; i += 4) {
    const k = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
    counts.set(k, (counts.get(k) || 0) + 1);
  }
  const top = Math.max(...counts.values());
  return {width: img.width, height: img.height, colours: counts.size, other: d.length / 4 - top};
}"""


def distinctive_phrase(stack: Stack, tenant: int, seed: int) -> tuple[int, str, str]:
    """(ticket id, phrase, subject) — a run of 3–5 CJK words of a ticket's description found in no other ticket."""
    analyzer = Analyzer(AnalyzerConfig())
    rows = stack.query("SELECT id, description, subject FROM tickets WHERE tenant_id=%s AND CHAR_LENGTH(description)"
                       " >= 30 ORDER BY id", (tenant,))
    for i in range(len(rows)):
        ticket, text, subject = rows[(seed * 7919 + i) % len(rows)]
        tokens = analyzer.analyze_query(text)
        for j in range(len(tokens) - 4):
            run = tokens[j:j + 4]
            phrase = text[run[0].start:run[-1].end]
            if not CJK.match(phrase) or not 6 <= len(phrase) <= 12:
                continue
            like = "%" + phrase + "%"
            count = stack.query("SELECT COUNT(*) FROM tickets WHERE description LIKE %s OR subject LIKE %s",
                                (like, like))[0][0]
            if count == 1:
                return int(ticket), phrase, str(subject)
    raise AssertionError(f"no distinctive phrase in tenant {tenant}")


def sign_in(page: Any, stack: Stack, key: str, path: str = "/ui/") -> None:
    page.goto(stack.base_url + path)
    page.get_by_label(re.compile("API key")).fill(key)
    page.get_by_label(re.compile("API key")).press("Enter")   # keyboard submit
    page.wait_for_selector("#app:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('ticketsearch.key')") == key
    assert page.evaluate("localStorage.length") == 0


def search(page: Any, q: str) -> dict[str, Any]:
    box = page.get_by_label("Search query")
    box.fill(q)
    with page.expect_response(lambda r: "/v1/tickets/search" in r.url) as resp:
        box.press("Enter")
    page.wait_for_function("() => !document.body.dataset.busy")
    return {"status": resp.value.status, "total": page.get_attribute("#summary", "data-total")}


def wait_search_after(page: Any, action: Any) -> None:
    with page.expect_response(lambda r: "/v1/tickets/search" in r.url):
        action()
    page.wait_for_function("() => !document.body.dataset.busy")


def api(stack: Stack, key: str, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(stack.base_url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_distinctive_phrase_is_found_and_highlighted(stack: Stack, page: Any) -> None:
    tenant = stack.tenants[0]
    ticket, phrase, subject = distinctive_phrase(stack, tenant, seed=1)
    sign_in(page, stack, stack.agent_keys[tenant])
    got = search(page, phrase)
    assert got["status"] == 200
    top3 = page.eval_on_selector_all("#hits li.hit", "els => els.slice(0, 3).map(e => +e.dataset.ticketId)")
    assert ticket in top3, (phrase, top3)
    shown = page.evaluate(PHRASE_COVERED_JS, [ticket, phrase])
    assert shown["found"] and shown["covered"], (phrase, shown)
    hit = page.locator(f'#hits li.hit[data-ticket-id="{ticket}"]')
    assert hit.locator(".badge.status").count() == 1 and hit.locator(".badge.prio").count() == 1
    assert subject[:6] in hit.locator(".subject").inner_text()
    # "how was my query segmented", on demand
    page.get_by_role("button", name="Tokens").click()
    page.wait_for_selector("#tokens .token")
    terms = page.eval_on_selector_all("#tokens .token .term", "els => els.map(e => e.textContent)")
    assert "".join(terms) == phrase, terms
    print(f"\nphrase {phrase!r} → ticket {ticket} of tenant {tenant} in the top 3, highlighted as {shown['marks']}")


def test_facet_click_narrows_results_to_its_count(stack: Stack, page: Any) -> None:
    tenant = stack.tenants[0]
    sign_in(page, stack, stack.agent_keys[tenant])
    got = search(page, "")          # browse the tenant's tickets, newest first, with facets
    total = int(got["total"])
    assert total == stack.query("SELECT COUNT(*) FROM tickets WHERE tenant_id=%s", (tenant,))[0][0]
    for facet in ("status", "priority"):
        buttons = page.locator(f'#facets button.facet[data-facet="{facet}"]')
        counts = [(int(b.get_attribute("data-count")), b.get_attribute("data-value")) for b in buttons.all()]
        narrower = [c for c in counts if c[0] < total]
        assert narrower, (facet, counts, total)
        count, value = max(narrower)
        wait_search_after(page, lambda f=facet, v=value: page.locator(
            f'#facets button.facet[data-facet="{f}"][data-value="{v}"]').click())
        now = int(page.get_attribute("#summary", "data-total"))
        assert now == count < total, (facet, value, now, count, total)
        badges = page.eval_on_selector_all(f"#hits .badge.{'prio' if facet == 'priority' else facet}",
                                           "els => els.map(e => e.textContent)")
        assert badges and set(badges) == {value}, (facet, badges)
        assert f"{facet}:{value}" in page.input_value("#q")
        total = now
    # cursor paging: "more" appends the next page without repeats, until the count is reached
    seen = page.eval_on_selector_all("#hits li.hit", "els => els.map(e => e.dataset.ticketId)")
    while page.locator("#more").is_visible():
        wait_search_after(page, lambda: page.locator("#more").click())
        seen = page.eval_on_selector_all("#hits li.hit", "els => els.map(e => e.dataset.ticketId)")
    assert len(seen) == len(set(seen)) == total


@pytest.mark.parametrize(("query", "position", "at"), [
    ("打印机 (status:open", 4, "("), ("卡纸 priority>=huge", 13, "h"), ('退款 "无法登录', 3, '"')])
def test_malformed_query_shows_error_at_its_position(stack: Stack, page: Any, query: str, position: int,
                                                     at: str) -> None:
    sign_in(page, stack, stack.agent_keys[stack.tenants[0]])
    got = search(page, query)
    assert got["status"] == 400
    err = page.locator("#q-error")
    assert err.is_visible() and err.get_attribute("data-code") == "query_syntax"
    assert err.get_attribute("data-position") == str(position)
    assert page.inner_text("#q-error .err-at") == at
    assert page.evaluate("document.getElementById('q').selectionStart") == position
    assert page.get_attribute("#q", "aria-invalid") == "true"
    assert page.locator("#hits li").count() == 0
    search(page, "卡纸")                 # a good query clears the error
    assert not err.is_visible()


def test_another_tenants_ticket_never_appears(stack: Stack, page: Any) -> None:
    mine, theirs = stack.tenants[0], stack.tenants[1]
    ticket, phrase, subject = distinctive_phrase(stack, theirs, seed=2)
    requests: list[tuple[str, str | None]] = []
    page.on("request", lambda r: requests.append((r.url, r.headers.get("authorization"))))
    sign_in(page, stack, stack.agent_keys[theirs])          # their own agent finds it: the query is meaningful
    search(page, phrase)
    assert page.locator(f'#hits li.hit[data-ticket-id="{ticket}"]').count() == 1
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("#signin:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('ticketsearch.key')") is None
    sign_in(page, stack, stack.agent_keys[mine])
    for q in (phrase, f'"{phrase}"', subject[:12]):
        search(page, q)
        texts = page.eval_on_selector_all("#hits li.hit", "els => els.map(e => e.innerText)")
        assert all(phrase not in t for t in texts), (q, texts)
    own = [(u, a) for u, a in requests if "/v1/" in u or "/ui/session" in u]
    assert own and all(a and a.startswith("Bearer ") for _, a in own), own
    assert not [u for u, _ in own if "tenant" in u.partition("?")[2]], own     # the page never names a tenant
    # tampering with the page's requests cannot name another tenant: the key alone decides
    tampered = page.evaluate("""async ([phrase, tenant]) => {
        const r = await fetch(`/v1/tickets/search?q=${encodeURIComponent(phrase)}&tenant_id=${tenant}&tenant=${tenant}`,
                              {headers: {Authorization: "Bearer " + sessionStorage.getItem("ticketsearch.key")}});
        return [r.status, await r.json()];
    }""", [phrase, theirs])
    assert tampered[0] in (200, 400), tampered
    assert all(phrase not in f"{h.get('subject')} {h.get('body')}" for h in tampered[1].get("hits") or []), tampered
    status = page.evaluate("""async () => (await fetch('/v1/status', {headers: {Authorization: 'Bearer ' +
        sessionStorage.getItem('ticketsearch.key')}})).json()""")
    assert [t["tenant_id"] for t in status["tenants"]] == [mine]
    assert not page.get_by_role("link", name="Admin").is_visible()      # agents are not offered the admin page


def test_admin_page_shows_tenant_counts_and_health(stack: Stack, page: Any) -> None:
    tenant = stack.tenants[0]
    sign_in(page, stack, stack.admin_keys[tenant], "/ui/admin")
    card = page.locator(f'#tenants article.tenant[data-tenant="{tenant}"]')
    card.wait_for()
    docs = stack.query("SELECT COUNT(*) FROM tickets WHERE tenant_id=%s", (tenant,))[0][0]
    assert f"documents{docs}" in card.inner_text().replace("\n", "").replace("\t", "").replace(" ", "")
    page.wait_for_function("() => document.querySelectorAll('#health .badge').length === 2")
    page.wait_for_function("() => document.querySelector('#tenants article dd:nth-of-type(3)').textContent !== '–'",
                           timeout=10_000)   # throughput needs two polls
    # an agent key gets the admin page's warning, and no admin link on the search page
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, stack, stack.agent_keys[tenant], "/ui/admin")
    assert page.locator("#role-warning").is_visible()
    missing = [f"{m} {p}" for m, p in (("GET", "/v1/admin/sync"), ("GET", "/v1/admin/reindex"),
                                        ("GET", "/v1/admin/deadletters"), ("POST", "/v1/admin/deadletters/replay"),
                                        ("POST", "/v1/admin/reconcile"))
               if api(stack, stack.admin_keys[tenant], p, m, {} if m == "POST" else None)[0] in (404, 405)]
    if missing:
        print(f"\nadmin API endpoints not on the server yet (issue 7/8): {missing}")


def test_admin_page_reconcile_reports_clean_index(stack: Stack, page: Any) -> None:
    tenant = stack.tenants[0]
    code, _ = api(stack, stack.admin_keys[tenant], "/v1/admin/reconcile/rc-0-none")
    if code == 405 or api(stack, stack.admin_keys[tenant], "/v1/admin/reindex")[0] == 404:
        pytest.skip("POST /v1/admin/reconcile (issue 7) is not in queryapi yet")
    sign_in(page, stack, stack.admin_keys[tenant], "/ui/admin")
    page.get_by_role("button", name="Check for drift").click()
    result = page.locator('#rec-result .msg[data-done="1"]')
    result.wait_for(timeout=60_000)
    docs = stack.query("SELECT COUNT(*) FROM tickets WHERE tenant_id=%s", (tenant,))[0][0]
    text = result.inner_text()
    assert f"tenant {tenant}: clean" in text and f"source tickets: {docs}" in text and "missing: 0" in text, text


def test_admin_page_reindex_progresses_to_completion(stack: Stack, page: Any) -> None:
    tenant = stack.tenants[0]
    code, body = api(stack, stack.admin_keys[tenant], "/v1/admin/reindex")
    if code in (404, 405):
        pytest.skip(f"GET /v1/admin/reindex answers {code}: the reindex admin API (issue 7: POST /v1/admin/reindex, "
                    "GET /v1/admin/reindex/{job}) is not in queryapi yet")
    docs = stack.query("SELECT COUNT(*) FROM tickets WHERE tenant_id=%s", (tenant,))[0][0]
    sign_in(page, stack, stack.admin_keys[tenant], "/ui/admin")
    page.fill("#ri-throttle", str(max(10, docs // 5)))           # ~5 s of copying: progress is observable
    page.get_by_role("button", name="Start reindex").click()
    job = page.locator("#jobs li.job").first
    job.wait_for()
    seen: list[int] = []
    deadline = time.monotonic() + 90
    state = ""
    while time.monotonic() < deadline:
        state = job.get_attribute("data-state") or ""
        value = int(job.locator("[role=progressbar]").get_attribute("aria-valuenow") or 0)
        if not seen or seen[-1] != value:
            seen.append(value)
        if state == "done":
            break
        assert state not in ("failed", "cancelled", "rejected"), (state, job.inner_text())
        time.sleep(0.1)
    print(f"\nreindex progress seen: {seen}, final state {state}")
    assert seen[-1] == 100 and len([v for v in seen if v < 100]) >= 2, seen
    code, status = api(stack, stack.agent_keys[tenant], "/v1/status")
    assert status["tenants"][0]["documents"] == docs


def _non_blank(browser: Any, png: bytes) -> dict[str, int]:
    blank = browser.new_page()
    try:
        return dict(blank.evaluate(NON_BLANK_JS, base64.b64encode(png).decode()))
    finally:
        blank.close()


def test_layout_at_1280_and_390_and_screenshots(stack: Stack, browser: Any, page: Any, screenshots: Path) -> None:
    tenant = stack.tenants[0]
    ticket, phrase, _ = distinctive_phrase(stack, tenant, seed=3)
    written = []
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        sign_in(page, stack, stack.agent_keys[tenant])
        search(page, phrase)
        page.get_by_role("button", name="Tokens").click()
        page.wait_for_selector("#tokens .token")
        page.wait_for_selector("#freshness:not(:empty)")
        for sel in ("#q", "#go", "#sort", "#hits li.hit mark", "#facets button.facet", "#freshness"):
            box = page.locator(sel).first.bounding_box()
            assert box and box["width"] > 0, (width, sel, box)
            assert 0 <= box["x"] <= box["x"] + box["width"] <= width + 0.5, (width, sel, box)
        overflow = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert overflow[0] <= overflow[1] == width, (width, overflow)
        shot = screenshots / f"search-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        written.append(shot)

        page.get_by_role("button", name="Sign out").click()
        sign_in(page, stack, stack.admin_keys[tenant], "/ui/admin")
        page.locator("#tenants article.tenant").first.wait_for()
        page.wait_for_function("() => document.querySelectorAll('#health .badge').length === 2")
        page.wait_for_function("() => document.querySelector('#tenants article dd:nth-of-type(3)').textContent"
                               " !== '–'", timeout=10_000)
        for sel in ("#h-sync", "#tenants article.tenant", "#ri-start", "#h-dl", "#rec-check"):
            box = page.locator(sel).first.bounding_box()
            assert box and box["width"] > 0 and box["x"] + box["width"] <= width + 0.5, (width, sel, box)
        overflow = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert overflow[0] <= overflow[1] == width, (width, overflow)
        shot = screenshots / f"admin-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        written.append(shot)
        page.get_by_role("button", name="Sign out").click()
    for shot in written:
        stats = _non_blank(browser, shot.read_bytes())
        assert stats["other"] > 2000 and stats["colours"] > 20, (shot, stats)
        print(f"\nscreenshot {shot} ({stats['width']}x{stats['height']}, {stats['colours']} colours)")
