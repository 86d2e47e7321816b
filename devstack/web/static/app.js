// devstack's dashboard: one page, four views, fed by the daemon's event stream (/api/stream) and its JSON API.
// Plain JavaScript, no build step. Text from the daemon is only ever set as text, never parsed as HTML.
"use strict";

const LINES_PER_RESOURCE = 5000;  // what the page keeps of each resource's log
const LINES_SHOWN = 1000;         // what the log view draws of the lines that match
const DRAW_EVERY_MS = 200;        // at most five redraws of the log a second, however fast lines come
// A line that reports a failure ("failed=0" is a count, not one).
const ERROR_LINE = /\b(errors?|exception|traceback|fatal|panic|failure|refused|denied)\b|\bfailed\b(?![=:]\s*0\b)|✗/i;

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

const page = {
  board: null,
  logs: new Map(),       // resource → [line], each bounded by LINES_PER_RESOURCE
  sources: new Set(),
  skipped: 0,
  drawPending: false,
  lastDraw: 0,
  smokeRuns: -1,
  mailMessages: -1,
  mailRate: { at: 0, messages: 0 },
  mailAsked: 0,
  selected: null,
};

// ---- time and small formats ----

function clock(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function age(since) {
  if (!since) return "";
  const s = Math.max(0, Date.now() / 1000 - since);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

function colour(name) {
  let sum = 0;
  for (const c of name) sum += c.charCodeAt(0);
  return `c${sum % 8}`;
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, options);
  const document_ = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(document_.error || `${response.status} ${response.statusText}`);
  return document_;
}

function showError(message) {
  const banner = $("error");
  banner.textContent = message || "";
  banner.classList.toggle("hidden", !message);
}

// ---- views ----

function showView() {
  const name = (location.hash || "#resources").slice(1);
  for (const section of document.querySelectorAll(".view")) {
    section.classList.toggle("hidden", section.id !== `view-${name}`);
  }
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.view === name);
  }
  if (name === "logs") scheduleDraw();
  if (name === "smoke") loadSmoke();
  if (name === "mail") refreshMail(true);
}

// ---- the board: resources, title, favicon ----

function verdict(board) {
  const active = board.resources.filter((r) => !r.disabled);
  const failing = active.filter((r) =>
    r.build === "error" || r.deploy === "error" || r.smoke === "failed" || r.reason || (!r.ready && r.deploy === "ok"));
  const working = board.working || active.some((r) => ["building", "deploying"].includes(r.build) ||
    ["building", "deploying"].includes(r.deploy));
  if (board.error || failing.length) return { kind: "failing", text: `✗ ${failing.length || 1} failing`, count: failing.length };
  if (working || board.phase === "starting") return { kind: "working", text: "… working" };
  if (active.length && active.every((r) => r.ready)) return { kind: "ready", text: "✓ all ready" };
  return { kind: "working", text: "… waiting" };
}

function setTitleAndIcon(board) {
  const v = verdict(board);
  document.title = `${v.text} · ${board.project} · devstack`;
  const fill = { ready: "#2e9e5b", failing: "#d64545", working: "#3b82c4" }[v.kind];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6" fill="${fill}"/></svg>`;
  $("favicon").href = `data:image/svg+xml,${encodeURIComponent(svg)}`;
  const summary = $("summary");
  summary.textContent = v.text;
  summary.className = `summary ${v.kind}`;
}

function onBoard(board) {
  page.board = board;
  $("project").textContent = `${board.project} · ${board.provider}`;
  $("phase").textContent = board.phase === "watching" ? "watching for changes" : board.phase;
  showError(board.error);
  setTitleAndIcon(board);
  drawResources(board);
  drawLogFilters();
  const smoke = board.smoke || { runs: 0, running: false };
  $("smoke-state").textContent = smoke.running ? "running…" : `${smoke.runs} run(s)`;
  if (smoke.runs !== page.smokeRuns && !$("view-smoke").classList.contains("hidden")) loadSmoke();
}

function stateCell(value, extra) {
  const text = value === null || value === undefined ? "—" : String(value);
  return el("td", { class: `state s-${text.replace(/[^a-z]/g, "")} ${extra}`, text });
}

function endpoints(resource) {
  return (resource.endpoints || []).map((e) =>
    /^https?:\/\//.test(e.url) ? el("a", { href: e.url, target: "_blank", rel: "noopener noreferrer", text: e.name })
      : el("span", { text: e.name }));
}

function cycleCell(resource) {
  const cycle = resource.cycle;
  if (!cycle) return el("td", { class: "cycle", "data-testid": "cycle", text: "—" });
  return el("td", { class: `cycle ${cycle.ok ? "ok" : "failed"}`, "data-testid": "cycle", "data-cycle": cycle.n },
    el("span", { class: "cycle-n", text: `#${cycle.n}` }), " ",
    el("span", { text: `${cycle.steps.join(" → ")} (${cycle.seconds.toFixed(1)}s)` }),
    el("span", { class: "muted", text: ` ${age(cycle.at)} ago` }));
}

function resourceRow(resource) {
  const runtime = resource.ready ? "ready" : "not ready";
  const trigger = el("button", { type: "button", class: "trigger", text: "Trigger", title: `rebuild and restart ${resource.name}`,
    onclick: (event) => triggerResource(resource.name, event.target) });
  const toggle = el("button", { type: "button", class: "switch", text: resource.disabled ? "Enable" : "Disable",
    title: resource.disabled ? `bring ${resource.name} back` : `remove ${resource.name} from the cluster (volumes kept)`,
    onclick: (event) => switchResource(resource.name, resource.disabled, event.target) });
  const manual = resource.trigger === "manual";
  const mode = el("button", { type: "button", class: "mode", "data-testid": "trigger-mode",
    text: manual ? "Switch to auto" : "Switch to manual",
    title: manual ? `run ${resource.name}'s saves at once` : `hold ${resource.name}'s saves until Trigger`,
    onclick: (event) => setTriggerMode(resource.name, manual ? "auto" : "manual", event.target) });
  const reset = resource.trigger_override ? el("button", { type: "button", class: "mode-reset",
    text: "Reset mode", title: "back to the trigger mode devstack.toml gives it",
    onclick: (event) => setTriggerMode(resource.name, "reset", event.target) }) : null;
  const kind = manual ? `${resource.kind} · manual` : resource.kind;
  if (resource.disabled) {
    return el("tr", { "data-resource": resource.name, class: "disabled" },
      el("td", { class: "name" }, el("strong", { text: resource.name }), el("div", { class: "muted", text: "disabled" })),
      el("td", { colSpan: 8, class: "muted", text: "disabled for this project: not deployed, no forwards, no smoke tests" }),
      el("td", { class: "actions" }, toggle));
  }
  return el("tr", { "data-resource": resource.name, class: resource.ready ? "" : "not-ready" },
    el("td", { class: "name" }, el("strong", { text: resource.name }),
      el("div", { class: "muted", "data-testid": "mode",
        text: resource.trigger_override ? `${kind} (switched from devstack.toml)` : kind }),
      resource.pending ? el("div", { class: "pending", "data-testid": "pending",
        text: `${resource.pending} save(s) pending: Trigger runs them` }) : null,
      resource.reason ? el("div", { class: "reason", text: resource.reason }) : null),
    stateCell(resource.build, "build"), stateCell(resource.deploy, "deploy"), stateCell(runtime, "runtime"),
    stateCell(resource.smoke, "smoke"),
    el("td", { class: "age", "data-since": resource.since || "", text: age(resource.since) }),
    el("td", { class: "image", text: resource.image || "—" }),
    el("td", { class: "endpoints" }, endpoints(resource)),
    cycleCell(resource),
    el("td", { class: "actions" }, trigger, toggle, mode, reset, commandButtons(resource.name)));
}

function commandButtons(name) {
  const commands = (page.board.commands || []).filter((c) => c.resource === name);
  return commands.map((c) => el("div", { class: "command" },
    el("button", { type: "button", text: `Run ${c.name}`, title: c.description || `run the command ${c.name}`,
      disabled: c.state === "running", "data-command": c.name,
      onclick: (event) => runCommand(c.name, event.target) }),
    c.state ? el("span", { class: `muted command-state s-${c.state.replace(/[^a-z]/g, "")}`, text: ` ${c.state}` }) : null));
}

async function switchResource(name, enable, button) {
  button.disabled = true;
  try {
    await api("POST", `/api/resources/${encodeURIComponent(name)}/${enable ? "enable" : "disable"}`);
  } catch (err) {
    showError(`${enable ? "enable" : "disable"} ${name}: ${err.message}`);
  }
}

async function setTriggerMode(name, mode, button) {
  button.disabled = true;
  try {
    await api("POST", `/api/resources/${encodeURIComponent(name)}/trigger-mode/${mode}`);
  } catch (err) {
    showError(`trigger mode of ${name}: ${err.message}`);
  }
}

async function runCommand(name, button) {
  button.disabled = true;
  try {
    await api("POST", `/api/commands/${encodeURIComponent(name)}/run`);
  } catch (err) {
    showError(`command ${name}: ${err.message}`);
  }
}

function drawResources(board) {
  const body = $("resources");
  const groups = new Map();
  for (const resource of board.resources) {
    if (!groups.has(resource.group)) groups.set(resource.group, []);
    groups.get(resource.group).push(resource);
  }
  const rows = [];
  for (const [group, members] of groups) {
    const cycle = group === board.project && board.cycle ? board.cycle : null;
    rows.push(el("tr", { class: "group" }, el("th", { colSpan: 10 }, el("span", { text: group }),
      cycle ? el("span", { class: `group-cycle ${cycle.ok ? "ok" : "failed"}`, "data-cycle": cycle.n,
        text: ` · #${cycle.n} ${cycle.steps.join(" → ")} (${cycle.seconds.toFixed(1)}s)` }) : null)));
    rows.push(...members.map(resourceRow));
  }
  if (!rows.length) rows.push(el("tr", {}, el("td", { colSpan: 10, class: "muted", text: "nothing deployed yet" })));
  body.replaceChildren(...rows);
}

async function triggerResource(name, button) {
  button.disabled = true;
  button.textContent = "Queued";
  try {
    await api("POST", `/api/resources/${encodeURIComponent(name)}/trigger`);
  } catch (err) {
    showError(`trigger ${name}: ${err.message}`);
  }
}

async function runSmoke() {
  try {
    await api("POST", "/api/smoke");
    $("smoke-state").textContent = "queued…";
  } catch (err) {
    showError(`smoke tests: ${err.message}`);
  }
}

function tickAges() {
  for (const cell of document.querySelectorAll("td.age")) cell.textContent = age(Number(cell.dataset.since));
}

// ---- logs ----

function onLogs(batch) {
  for (const line of batch.lines) {
    let ring = page.logs.get(line.r);
    if (!ring) page.logs.set(line.r, (ring = []));
    ring.push(line);
    if (line.s) page.sources.add(line.s);
  }
  for (const ring of page.logs.values()) {
    if (ring.length > LINES_PER_RESOURCE) ring.splice(0, ring.length - LINES_PER_RESOURCE);
  }
  page.skipped += batch.skipped;
  drawLogFilters();
  scheduleDraw();
}

function setOptions(select, values) {
  const have = new Set([...select.options].map((o) => o.value));
  for (const value of values) if (!have.has(value)) select.append(el("option", { value, text: value }));
}

function drawLogFilters() {
  const names = new Set(page.logs.keys());
  for (const r of page.board ? page.board.resources : []) names.add(r.name);
  setOptions($("log-resource"), [...names].sort());
  setOptions($("log-source"), [...page.sources].sort());
}

function matcher() {
  const text = $("log-search").value.trim();
  const notice = $("log-notice");
  notice.classList.add("hidden");
  if (!text) return () => true;
  const regex = /^\/(.+)\/([a-z]*)$/.exec(text);
  if (regex) {
    try {
      const pattern = new RegExp(regex[1], regex[2].includes("i") ? regex[2] : `${regex[2]}i`);
      return (line) => pattern.test(line.x);
    } catch (err) {
      notice.textContent = `not a regular expression: ${err.message}`;
      notice.classList.remove("hidden");
      return () => false;
    }
  }
  const needle = text.toLowerCase();
  return (line) => line.x.toLowerCase().includes(needle);
}

function selectedLines() {
  const resource = $("log-resource").value;
  const source = $("log-source").value;
  const errorsOnly = $("log-errors").checked;
  const matches = matcher();
  const rings = resource ? [page.logs.get(resource) || []] : [...page.logs.values()];
  const chosen = [];
  for (const ring of rings) {
    for (const line of ring) {
      if (source && line.s !== source) continue;
      if (errorsOnly && !ERROR_LINE.test(line.x)) continue;
      if (matches(line)) chosen.push(line);
    }
  }
  chosen.sort((a, b) => a.n - b.n);
  return chosen;
}

function scheduleDraw() {
  if (page.drawPending || $("view-logs").classList.contains("hidden")) return;
  page.drawPending = true;
  const wait = Math.max(0, DRAW_EVERY_MS - (performance.now() - page.lastDraw));
  setTimeout(() => requestAnimationFrame(drawLog), wait);
}

function logLine(line) {
  const error = ERROR_LINE.test(line.x);
  return el("div", { class: error ? "line error" : "line", "data-resource": line.r },
    el("span", { class: "time", text: clock(line.t) }),
    el("span", { class: `res ${colour(line.r)}`, text: line.r }),
    line.s ? el("span", { class: "src", text: line.s }) : null,
    el("span", { class: "text", text: line.x }));
}

function drawLog() {
  page.drawPending = false;
  page.lastDraw = performance.now();
  const lines = selectedLines();
  const shown = lines.slice(-LINES_SHOWN);
  const box = $("log");
  box.replaceChildren(...shown.map(logLine));
  const kept = [...page.logs.values()].reduce((n, ring) => n + ring.length, 0);
  $("log-count").textContent = `${lines.length} matching of ${kept} kept` +
    (lines.length > shown.length ? ` (the last ${shown.length} shown)` : "");
  if (page.skipped) {
    const notice = $("log-notice");
    notice.textContent = `${page.skipped} lines were skipped to keep this page responsive ` +
      "(the daemon keeps each resource's latest lines; `devstack logs` shows them all)";
    notice.classList.remove("hidden");
  }
  if ($("log-follow").checked) box.scrollTop = box.scrollHeight;
}

// ---- smoke tests ----

function timings(result) {
  return Object.entries(result.timings || {}).map(([k, v]) => `${k} ${Math.round(v * 1000)}ms`).join(" · ");
}

function smokeResult(result) {
  const head = el("div", { class: "result-head" },
    el("span", { class: `badge ${result.ok ? "ok" : "failed"}`, text: result.ok ? "✓" : "✗" }),
    el("strong", { text: ` ${result.name}` }), el("span", { class: "muted", text: ` (${result.type})` }),
    el("span", { text: ` ${result.seconds.toFixed(2)}s` }),
    timings(result) ? el("span", { class: "muted", text: ` · ${timings(result)}` }) : null);
  const body = result.ok ? [el("div", { text: result.summary })] : [
    el("div", {}, el("span", { class: "label", text: "expected " }), el("span", { text: result.expected })),
    el("div", {}, el("span", { class: "label", text: "got " }), el("span", { text: result.got })),
    result.logs.length ? el("pre", { class: "excerpt", text: result.logs.join("\n") }) : null];
  return el("li", { class: `result ${result.ok ? "ok" : "failed"}`, "data-test": result.name }, head, ...body);
}

function smokeRun(run) {
  const failed = run.results.filter((r) => !r.ok).length;
  const verdict_ = failed ? `✗ ${failed} of ${run.results.length} failed` : `✓ ${run.results.length} passed`;
  return el("article", { class: "run", "data-run": run.id },
    el("h3", { text: `Run #${run.id} · ${clock(run.started)} · ${run.reason} · ${verdict_}` }),
    el("ul", { class: "results" }, run.results.map(smokeResult)));
}

async function loadSmoke() {
  try {
    const document_ = await api("GET", "/api/smoke");
    page.smokeRuns = document_.runs.length;
    const runs = document_.runs.slice().reverse();
    $("smoke-runs").replaceChildren(...(runs.length ? runs.map(smokeRun)
      : [el("p", { class: "muted", text: "no smoke run yet" })]));
  } catch (err) {
    showError(`smoke runs: ${err.message}`);
  }
}

// ---- mail ----

function mailProblem(message) {
  const box = $("mail-problem");
  box.textContent = message || "";
  box.classList.toggle("hidden", !message);
}

function counters(stats) {
  const now = performance.now() / 1000;
  const last = page.mailRate;
  const rate = last.at ? Math.max(0, (stats.messages - last.messages) / (now - last.at)) : 0;
  page.mailRate = { at: now, messages: stats.messages };
  const items = [["messages", stats.messages], ["recipients", stats.recipients], ["bytes", bytes(stats.bytes)],
    ["refused", stats.rejected], ["faults applied", stats.faults], ["open connections", stats.connections_active],
    ["messages/s", rate.toFixed(1)]];
  $("mail-counters").replaceChildren(...items.map(([label, value]) =>
    el("div", { class: "counter", "data-counter": label }, el("div", { class: "value", text: String(value) }),
      el("div", { class: "muted", text: label }))));
}

async function refreshMail(force) {
  if ($("view-mail").classList.contains("hidden")) return;
  try {
    const stats = await api("GET", "/api/mail/stats");
    mailProblem("");
    counters(stats);
    if (force || stats.messages !== page.mailMessages) {
      page.mailMessages = stats.messages;
      await loadMessages();
    }
    if (force) await loadFaults();
  } catch (err) {
    mailProblem(err.message);
  }
}

async function loadMessages() {
  const asked = ++page.mailAsked;  // an older search that answers late must not overwrite a newer one
  const field = $("mail-field").value;
  const text = $("mail-search").value.trim();
  const query = new URLSearchParams({ limit: "200" });
  if (text) query.set(field, text);
  try {
    const document_ = await api("GET", `/api/mail/messages?${query}`);
    if (asked !== page.mailAsked) return;
    const rows = document_.messages.map((m) => el("tr", { class: m.id === page.selected ? "selected" : "",
      "data-id": m.id, onclick: () => openMessage(m.id) },
    el("td", { text: clock(m.received_at) }), el("td", { text: m.mail_from }),
    el("td", { text: m.rcpt_tos.join(", ") }), el("td", { text: m.subject || "(no subject)" }),
    el("td", { class: m.reply.startsWith("2") ? "ok" : "failed", text: m.reply.slice(0, 3) })));
    $("messages").replaceChildren(...(rows.length ? rows
      : [el("tr", {}, el("td", { colSpan: 5, class: "muted", text: text ? "no message matches" : "no message yet" }))]));
  } catch (err) {
    mailProblem(err.message);
  }
}

async function openMessage(id) {
  page.selected = id;
  for (const row of document.querySelectorAll("#messages tr")) row.classList.toggle("selected", row.dataset.id === id);
  try {
    const m = await api("GET", `/api/mail/messages/${encodeURIComponent(id)}`);
    const envelope = [["Received", clock(m.received_at)], ["From", m.mail_from], ["To", m.rcpt_tos.join(", ")],
      ["Peer", m.peer], ["Reply", m.reply], ["Size", `${bytes(m.size)}${m.truncated ? " (cut to the capture's bounds)" : ""}`]];
    $("message").replaceChildren(
      el("h3", { text: m.subject || "(no subject)" }),
      el("table", { class: "envelope" }, el("tbody", {}, envelope.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v }))))),
      el("details", {}, el("summary", { text: `Headers (${m.headers.length})` }),
        el("table", { class: "headers" }, el("tbody", {}, m.headers.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v })))))),
      el("pre", { class: "body", text: m.body }));
    if (m.message_id) {
      $("where-id").value = m.message_id;
      await showTimeline(m.message_id);
    }
  } catch (err) {
    mailProblem(err.message);
  }
}

async function showTimeline(messageId) {
  try {
    const document_ = await api("GET", `/api/mail/timeline?${new URLSearchParams({ message_id: messageId })}`);
    $("timeline-title").textContent = `Timeline of ${messageId}`;
    $("timeline-title").classList.remove("hidden");
    const items = document_.entries.map((e) => el("li", { class: "entry", "data-kind": e.kind },
      el("span", { class: "time", text: clock(e.t) }), el("span", { class: `badge ${e.kind}`, text: e.kind }),
      el("span", { class: "where", text: e.where }), el("span", { class: "text", text: e.text })));
    if (!items.length) items.push(el("li", { class: "muted", text: "seen nowhere yet" }));
    if (document_.note) items.push(el("li", { class: "muted", text: document_.note }));
    $("timeline").replaceChildren(...items);
  } catch (err) {
    mailProblem(err.message);
  }
}

async function loadFaults() {
  try {
    const document_ = await api("GET", "/api/mail/faults");
    if (document.activeElement !== $("faults")) $("faults").value = document_.rules.map((r) => r.rule).join("\n");
    $("fault-hits").replaceChildren(...document_.rules.map((r) =>
      el("tr", {}, el("td", { text: r.rule }), el("td", { text: `${r.hits} hit(s)` }))));
  } catch (err) {
    $("faults-state").textContent = err.message;
  }
}

async function saveFaults() {
  const rules = $("faults").value.split("\n").map((r) => r.trim()).filter(Boolean);
  try {
    await api("PUT", "/api/mail/faults", { rules });
    $("faults-state").textContent = `saved ${rules.length} rule(s)`;
    await loadFaults();
  } catch (err) {
    $("faults-state").textContent = err.message;
  }
}

// ---- wiring ----

function connect() {
  const stream = new EventSource("/api/stream");
  stream.addEventListener("state", (event) => onBoard(JSON.parse(event.data)));
  stream.addEventListener("logs", (event) => onLogs(JSON.parse(event.data)));
  stream.onopen = () => $("connection").classList.add("live");
  // EventSource reconnects by itself and says where it was (Last-Event-ID).
  stream.onerror = () => $("connection").classList.remove("live");
}

function debounce(action, ms) {
  let timer = 0;
  return () => { clearTimeout(timer); timer = setTimeout(action, ms); };
}

function start() {
  window.addEventListener("hashchange", showView);
  $("run-smoke").addEventListener("click", runSmoke);
  $("run-smoke-2").addEventListener("click", runSmoke);
  for (const id of ["log-resource", "log-source", "log-errors", "log-follow"]) $(id).addEventListener("change", scheduleDraw);
  $("log-search").addEventListener("input", scheduleDraw);
  $("mail-search").addEventListener("input", debounce(loadMessages, 250));
  $("mail-field").addEventListener("change", loadMessages);
  $("faults-save").addEventListener("click", saveFaults);
  $("where").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("where-id").value.trim();
    if (id) showTimeline(id);
  });
  setInterval(tickAges, 1000);
  setInterval(() => refreshMail(false), 2000);
  connect();
  showView();
}

start();
