"""The web inbox's one style sheet and one script, served from the emulator (no build step).

The script keeps pages current while a DAG runs: every 2 s it asks ``/_emulator/inbox/version``
for the state's version and, when it changed, fetches the same URL again and swaps in the parts
of the page marked ``data-live`` (the search box, the scroll position and an open mail stay).

Example::

    Response(INBOX_JS, media_type="text/javascript")
"""

from __future__ import annotations

INBOX_JS = """\
"use strict";
(function () {
  var body = document.body;
  var versionUrl = body.dataset.versionUrl;
  var current = body.dataset.version;
  var badge = document.getElementById("live");
  var busy = false;

  function show(text, state) {
    if (badge) {
      badge.textContent = text;
      badge.dataset.state = state;
    }
  }

  function refresh() {
    return fetch(location.href, { cache: "no-store" })
      .then(function (response) { return response.text(); })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (region) {
          var twin = region.id ? fresh.getElementById(region.id) : null;
          if (twin) { region.innerHTML = twin.innerHTML; }
        });
        body.dataset.refreshes = String(Number(body.dataset.refreshes || "0") + 1);
      });
  }

  function poll() {
    if (busy || document.hidden || !versionUrl) { return; }
    busy = true;
    fetch(versionUrl, { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        show("live", "ok");
        if (data.version !== current) {
          current = data.version;
          return refresh();
        }
        return undefined;
      })
      .catch(function () { show("offline", "off"); })
      .finally(function () { busy = false; });
  }

  // A mail's frame takes the mail's height (it would otherwise be 60vh for two lines). The frame is
  // sandboxed without scripts; its same origin lets this script measure the document.
  function fit(frame) {
    var doc;
    try { doc = frame.contentDocument; } catch (e) { return; }
    if (!doc || !doc.documentElement || doc.readyState !== "complete") { return; }
    frame.style.height = "0px";  // scrollHeight is at least the frame's own height: measure from 0
    frame.style.height = (doc.documentElement.scrollHeight + 2) + "px";
    frame.dataset.fitted = "yes";
  }

  document.addEventListener("load", function (event) {
    if (event.target instanceof HTMLIFrameElement) { fit(event.target); }
  }, true);
  document.querySelectorAll("iframe.frame").forEach(fit);  // loaded before this script ran

  setInterval(poll, 2000);
})();
"""

INBOX_CSS = """\
:root { --ink: #1d2330; --muted: #5b6474; --line: #dde2ea; --bg: #f6f7fa; --accent: #c02c3d;
        --ok: #1c7a45; --bad: #b3261e; --warn: #9a6700; font-family: system-ui, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: var(--bg); font-size: 14px; }
header { display: flex; align-items: center; gap: 24px; padding: 10px 20px; background: #fff;
         border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; color: var(--accent); text-decoration: none; }
nav.main a { margin-right: 16px; color: var(--muted); text-decoration: none; }
nav.main a[aria-current] { color: var(--ink); font-weight: 600; border-bottom: 2px solid var(--accent); }
.live { margin-left: auto; font-size: 12px; color: var(--ok); }
.live[data-state=off] { color: var(--bad); }
main { padding: 16px 20px; }
h1 { font-size: 20px; margin: 4px 0 12px; }
h2 { font-size: 16px; margin: 20px 0 8px; }
.summary { color: var(--muted); margin: 8px 0; }
form.search { display: flex; gap: 8px; margin-bottom: 12px; flex-wrap: wrap; }
form.search input[type=search] { flex: 1; min-width: 260px; padding: 6px 8px; border: 1px solid var(--line);
                                 border-radius: 4px; }
form.search select, form.search button { padding: 6px 10px; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: #eef1f6; font-weight: 600; }
tr.empty td { color: var(--muted); text-align: center; padding: 20px; }
td.nowrap, th.nowrap { white-space: nowrap; }
table.kv th { width: 200px; background: #f9fafc; font-weight: 500; }
.status { display: inline-block; white-space: nowrap; padding: 1px 8px; border-radius: 10px; font-size: 12px;
          background: #e8ecf2; }
.status.delivered { background: #dff3e6; color: var(--ok); }
.status.failed, .status.complained { background: #fbe3e1; color: var(--bad); }
.status.tempfail, .status.pending { background: #fff2d6; color: var(--warn); }
.tag { display: inline-block; padding: 0 6px; margin-right: 4px; border-radius: 3px; background: #eef1f6;
       font-size: 12px; }
.pager { margin: 12px 0; display: flex; gap: 14px; }
.pager .off { color: #aab1bd; }
.frame { width: 100%; height: 60vh; border: 1px solid var(--line); background: #fff; resize: vertical; }
pre { white-space: pre-wrap; background: #fff; border: 1px solid var(--line); padding: 10px; margin: 0; }
details pre { font-size: 12px; }
.tabs a { margin-right: 12px; }
.tabs a[aria-current] { color: var(--ink); font-weight: 700; text-decoration: none; }
.muted { color: var(--muted); }
"""
