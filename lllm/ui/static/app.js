/* lllm ui: a small single-page app over the JSON API (lllm/ui/server.py). No framework, no build step.
   Every text from a session is put in the page as a text node (h() below), never parsed as HTML. */
"use strict";

const EMBED = document.getElementById("lllm-data");
const app = document.getElementById("app");
const mount = (...children) => app.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "className") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const money = (x) => "$" + (Number(x) || 0).toFixed(6);
const ms = (s) => (s === null || s === undefined) ? "-" : (s * 1000 >= 1000 ? (s).toFixed(2) + " s" : Math.round(s * 1000) + " ms");
const json = (v) => typeof v === "string" ? v : JSON.stringify(v, null, 2);
const when = (ts) => String(ts || "").replace("T", " ").slice(0, 19);
const stateBadge = (s) => h("span", {className: "state " + s, "data-state": s}, s);

async function api(path, options) {
  const res = await fetch(path, options);
  const body = await res.json().catch(() => ({error: "HTTP " + res.status}));
  if (!res.ok) throw new Error(body.error || ("HTTP " + res.status));
  return body;
}

const post = (path, body) => api(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body || {})});

/* ---- rendering of message content: markdown's common subset (headings, lists, code, bold, italic, links),
   images; everything else as text. Links open only for http(s) URLs. ---- */
function inline(text) {
  const out = [];
  text.split(/(`[^`\n]+`|\*\*[^*\n]+\*\*|\[[^\]\n]+\]\([^)\s]+\)|(?<![\w*])\*[^*\n]+\*(?![\w*]))/).forEach((piece, i) => {
    if (i % 2 === 0) return out.push(piece);
    if (piece[0] === "`") return out.push(h("code", {}, piece.slice(1, -1)));
    if (piece.startsWith("**")) return out.push(h("b", {}, piece.slice(2, -2)));
    if (piece[0] === "*") return out.push(h("i", {}, piece.slice(1, -1)));
    const [, label, url] = piece.match(/^\[([^\]]+)\]\((\S+)\)$/);
    out.push(/^https?:\/\//i.test(url) ? h("a", {href: url, target: "_blank", rel: "noopener noreferrer"}, label) : piece);
  });
  return out;
}

function blocks(text) {
  const out = [];
  let list = null, para = [];
  const flush = () => {
    if (para.length) out.push(h("div", {className: "text"}, inline(para.join("\n"))));
    para = [];
  };
  for (const line of text.split("\n")) {
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    const item = line.match(/^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/);
    if (item) {
      flush();
      const tag = item[1] ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) out.push(list = h(tag, {}));
      list.appendChild(h("li", {}, inline(item[3])));
      continue;
    }
    list = null;
    if (heading) {
      flush();
      out.push(h("h" + Math.min(6, heading[1].length + 2), {className: "md"}, inline(heading[2])));
    } else if (line.trim() === "") {
      flush();
    } else {
      para.push(line);
    }
  }
  flush();
  return out;
}

function renderText(text) {
  const out = [];
  const fence = /```([\w+-]*)\n?([\s\S]*?)```/g;
  let last = 0, m;
  while ((m = fence.exec(text)) !== null) {
    if (m.index > last) out.push(blocks(text.slice(last, m.index)));
    out.push(h("pre", {"data-lang": m[1] || null}, h("code", {}, m[2])));
    last = fence.lastIndex;
  }
  if (last < text.length) out.push(blocks(text.slice(last)));
  return out;
}

function renderContent(content) {
  if (typeof content === "string") return renderText(content);
  if (!Array.isArray(content)) return [h("pre", {}, json(content))];
  return content.map((part) => {
    if (part.type === "text") return renderText(part.text || "");
    const url = (part.image_url && (part.image_url.url || part.image_url)) || "";
    if (typeof url === "string" && url.startsWith("data:image/")) return h("img", {className: "part", src: url, alt: "image"});
    if (url) return h("div", {className: "muted"}, "[image: " + url + "]");
    return h("pre", {}, json(part));
  });
}

function renderToolCall(c) {
  const args = JSON.stringify(c.arguments || {});
  return h("details", {className: "toolcall", "data-tool": c.name},
    h("summary", {}, "tool ", h("b", {}, c.name), "(" + (args.length > 80 ? args.slice(0, 80) + "…" : args) + ")",
      c.duration_s !== null && c.duration_s !== undefined ? h("span", {className: "muted"}, " · " + ms(c.duration_s)) : null,
      c.error_message ? h("span", {className: "error"}, " · error") : null),
    h("div", {className: "muted"}, "arguments"), h("pre", {className: "tool-args"}, json(c.arguments || {})),
    c.error_message ? [h("div", {className: "error"}, "error"), h("pre", {}, c.error_message)] :
      [h("div", {className: "muted"}, "result"), h("pre", {className: "tool-result"}, c.result_str !== null && c.result_str !== undefined ? c.result_str : json(c.result))]);
}

function renderMessage(m) {
  const role = m.role || "?";
  const parsed = m.parsed && Object.keys(m.parsed).length ? h("details", {}, h("summary", {className: "muted"}, "parsed output"), h("pre", {}, json(m.parsed))) : null;
  const usage = m.usage && Object.keys(m.usage).length ? " · " + (m.usage.prompt_tokens || 0) + "→" + (m.usage.completion_tokens || 0) + " tokens" : "";
  return h("div", {className: "msg " + role},
    h("div", {className: "role"}, role, m.name ? " · " + m.name : "", h("span", {className: "muted"}, (m.model ? " · " + m.model : "") + usage +
      (m.metadata && m.metadata.prompt_key && !String(m.metadata.prompt_key).startsWith("_inline/") ? " · prompt " + m.metadata.prompt_key : ""))),
    renderContent(m.content), (m.function_calls || []).map(renderToolCall), parsed);
}

/* ---- session list ---- */
const FILTERS = [["tactic", "tactic", ""], ["state", "status", ""], ["batch", "batch id", ""], ["model", "model", ""],
  ["q", "text in task", "wide"], ["tag", "tags (k=v, k=v)", "wide"], ["after", "from (ISO date)", ""], ["before", "to (ISO date)", ""],
  ["min_cost", "min $", "num"], ["max_cost", "max $", "num"]];
let live = {rows: 0, ok: 0, failed: 0, cost: 0, since: Date.now()};
let listState = null;
let openFork = null;  // set by the session page: opens the fork editor at an agent

function listParams(form) {
  const p = new URLSearchParams();
  for (const [name] of FILTERS) {
    const v = (form.elements[name].value || "").trim();
    if (!v) continue;
    if (name === "tag") v.split(",").map((t) => t.trim()).filter(Boolean).forEach((t) => p.append("tag", t));
    else p.set(name, v);
  }
  p.set("sort", form.elements.sort.value);
  return p;
}

function sessionRow(r, fresh) {
  const tags = Object.entries(r.tags || {}).filter(([k]) => !k.startsWith("lllm.") || k === "lllm.batch_id");
  return h("tr", {className: fresh ? "new" : null, "data-session": r.session_id},
    h("td", {}, h("input", {type: "checkbox", className: "pick", value: r.session_id, "aria-label": "select for compare"})),
    h("td", {}, when(r.timestamp)), h("td", {}, h("a", {href: "#/s/" + r.session_id}, r.session_id)),
    h("td", {}, r.tactic_path || r.tactic_name), h("td", {}, stateBadge(r.state)),
    h("td", {className: "num"}, money(r.total_cost)), h("td", {className: "num"}, r.agent_call_count),
    h("td", {className: "task", title: r.task || ""}, r.task || ""), h("td", {}, (r.models || []).join(", ")),
    h("td", {}, tags.map(([k, v]) => h("span", {className: "tag"}, k.replace("lllm.batch_id", "batch") + "=" + v))));
}

function renderList(query) {
  const form = h("form", {className: "filters", onsubmit: (e) => { e.preventDefault(); location.hash = "#/?" + listParams(form); }},
    FILTERS.map(([name, label, cls]) => h("label", {}, label, name === "state"
      ? h("select", {name}, ["", "success", "failure", "running"].map((s) => h("option", {value: s}, s || "any")))
      : h("input", {name, className: cls || null, placeholder: name === "after" || name === "before" ? "2026-12-01" : ""}))),
    h("label", {}, "sort", h("select", {name: "sort"}, [["newest", "newest first"], ["oldest", "oldest first"], ["cost", "cost"], ["calls", "agent calls"]].map(([v, t]) => h("option", {value: v}, t)))),
    h("button", {type: "submit", id: "apply"}, "Filter"),
    h("button", {type: "button", className: "secondary", onclick: () => { location.hash = "#/"; }}, "Clear"),
    h("button", {type: "button", className: "secondary", id: "compare-picked", onclick: () => {
      const picked = [...document.querySelectorAll("input.pick:checked")].map((i) => i.value);
      if (picked.length !== 2) return alert("Pick exactly two sessions to compare.");
      location.hash = "#/compare/" + picked[0] + "/" + picked[1];
    }}, "Compare 2 selected"));
  for (const [k, v] of query.entries()) if (form.elements[k]) form.elements[k].value = k === "tag" ? query.getAll("tag").join(", ") : v;
  const body = h("tbody", {id: "rows"});
  const more = h("button", {className: "secondary", id: "more", style: "display:none"}, "Load more");
  const status = h("p", {className: "muted", id: "list-status"});
  mount(h("h2", {}, "Sessions"), form,
    h("table", {id: "sessions"}, h("thead", {}, h("tr", {}, ["", "time (UTC)", "session", "tactic", "status", "cost", "calls", "task", "models", "tags"]
      .map((t, i) => h("th", {className: i === 5 || i === 6 ? "num" : null}, t)))), body), status, more);
  listState = {filtered: [...query.keys()].some((k) => k !== "sort"), body};
  let cursor = null;
  const load = async () => {
    const p = new URLSearchParams(query);
    if (cursor) p.set("cursor", cursor);
    more.disabled = true;
    try {
      const page = await api("api/sessions?" + p);
      page.sessions.forEach((r) => body.appendChild(sessionRow(r, false)));
      cursor = page.next;
      more.style.display = cursor ? "" : "none";
      status.textContent = body.children.length ? body.children.length + " session(s) shown" : "No sessions match.";
    } catch (e) { status.textContent = "Error: " + e.message; status.className = "error"; }
    more.disabled = false;
  };
  more.onclick = load;
  load();
}

function startLive() {
  if (EMBED || !window.EventSource) return;
  const badge = document.getElementById("live");
  const show = () => {
    const mins = Math.max((Date.now() - live.since) / 60000, 1 / 60);
    badge.textContent = "live · " + live.rows + " new (" + live.ok + " done, " + live.failed + " failed) · " +
      (live.rows / mins).toFixed(1) + "/min · " + money(live.cost);
  };
  const es = new EventSource("api/events");
  es.addEventListener("ready", () => { badge.dataset.ready = "1"; show(); });
  es.addEventListener("session", (ev) => {
    const r = JSON.parse(ev.data);
    live.rows += 1; live.cost += r.total_cost || 0;
    if (r.state === "success") live.ok += 1; else if (r.state === "failure") live.failed += 1;
    show();
    if (listState && document.body.contains(listState.body)) {
      if (!listState.filtered) listState.body.insertBefore(sessionRow(r, true), listState.body.firstChild);
      else document.getElementById("list-status").textContent = "New sessions arrived: press Filter to refresh.";
    }
  });
  es.onerror = () => { badge.textContent = "live: disconnected (retrying)"; };
}

/* ---- one session ---- */
function dialogTree(dialogs) {
  const byId = {}, roots = [];
  dialogs.forEach((d) => { byId[d.id] = {d, kids: []}; });
  dialogs.forEach((d) => (d.parent_id && byId[d.parent_id] ? byId[d.parent_id].kids : roots).push(byId[d.id]));
  const node = (n) => h("li", {}, h("details", {className: "dialog", open: true, "data-dialog": n.d.agent + "/" + n.d.alias},
    h("summary", {}, h("b", {}, n.d.agent + " / " + n.d.alias), h("span", {className: "muted"},
      " · " + n.d.messages.length + " message(s)" + (n.d.parent_id ? " · fork at message " + n.d.split_point : "") + (n.d.top_prompt ? " · prompt " + n.d.top_prompt : ""))),
    n.d.messages.map(renderMessage)), n.kids.length ? h("ul", {className: "tree"}, n.kids.map(node)) : null);
  return h("ul", {className: "tree root"}, roots.map(node));
}

function renderInvoke(t, table) {
  const req = h("div", {});
  const det = h("details", {className: "invoke"}, h("summary", {}, "step " + t.step + " attempt " + t.attempt + " · " + t.model + " · " + ms(t.latency_s) + " · " +
      t.prompt_tokens + "→" + t.completion_tokens + " tokens · " + money(t.cost) + (t.replayed ? " · replayed" : "") + (t.retry_class ? " · retry: " + t.retry_class : ""),
      t.errors.length ? h("span", {className: "error"}, " · " + t.errors.length + " error(s)") : null), req);
  det.addEventListener("toggle", () => {
    if (!det.open || req.childElementCount) return;  // the request is rendered on first open
    req.append(h("div", {className: "muted"}, "request: " + t.messages.length + " message(s), tools [" + t.tools.join(", ") + "], args " + JSON.stringify(t.model_args)),
      t.messages.map((i) => renderMessage(table[i])), Object.keys(t.request || {}).length ? h("details", {}, h("summary", {className: "muted"}, "wire request"), h("pre", {}, json(t.request))) : null,
      h("div", {className: "muted"}, "response"), t.response ? renderMessage(t.response) : h("div", {className: "error"}, "no response"),
      t.raw_response !== null && t.raw_response !== undefined ? h("details", {}, h("summary", {className: "muted"}, "raw response"), h("pre", {}, json(t.raw_response))) : null,
      t.errors.map((e) => h("pre", {className: "error"}, (e.type || "") + ": " + (e.message || json(e)))));
  });
  return det;
}

function renderTactic(node, depth) {
  const table = node.messages;
  const agents = node.agents.map((a) => h("li", {}, h("details", {className: "agent", open: depth === 0},
    h("summary", {}, "agent ", h("b", {}, a.name), " #" + (a.index + 1) + " · ", stateBadge(a.state), " · " + (a.model || "") + " · " + a.invokes.length + " invoke(s) · " +
      a.tool_calls.length + " tool call(s) · " + money(a.cost) + " · " + ms(a.ended_at && a.started_at ? a.ended_at - a.started_at : null) +
      (a.exception_retries + a.llm_recalls + a.rate_limit_retries ? " · retries " + a.exception_retries + "/" + a.llm_recalls + "/" + a.rate_limit_retries : ""),
      !EMBED && depth === 0 ? h("button", {className: "secondary small fork-at", "data-agent": a.name, title: "edit this agent's system prompt and re-run from its first call",
        onclick: (e) => { e.preventDefault(); if (openFork) openFork(a.name); }}, "fork here") : null),
    a.error ? h("pre", {className: "error"}, (a.reason ? a.reason + ": " : "") + (a.error.type || "") + ": " + (a.error.message || "")) : null,
    a.invokes.map((t) => renderInvoke(t, table)), a.tool_calls.map(renderToolCall))));
  const subs = node.subs.map((s) => h("li", {}, h("details", {open: true}, h("summary", {}, "sub-tactic ", h("b", {}, s.tool), " #" + (s.index + 1) + " · " + (s.tactic_path || s.tactic_name) + " · ",
    stateBadge(s.state), " · " + money(s.cost)), renderTactic(s, depth + 1))));
  return h("ul", {className: "tree" + (depth ? "" : " root")}, h("li", {}, h("b", {}, "tactic " + (node.tactic_path || node.tactic_name)), " · ", stateBadge(node.state), " · " + money(node.cost) + (node.spent !== node.cost ? " (" + money(node.spent) + " spent, the rest replayed)" : "") + " · " +
    ms(node.ended_at && node.started_at ? node.ended_at - node.started_at : null), node.error ? h("div", {className: "error"}, node.error) : null,
    h("ul", {className: "tree"}, agents, subs)));
}

function allDialogs(node, out) {
  node.dialogs.forEach((d) => out.push(d));
  node.subs.forEach((s) => allDialogs(s, out));
  return out;
}

function waterfall(v) {
  const inv = v.invokes;
  if (!inv.length) return h("p", {className: "muted"}, "No model calls.");
  const t0 = Math.min(...inv.map((t) => t.started_at));
  const t1 = Math.max(...inv.map((t) => t.started_at + t.latency_s), v.tree.ended_at || 0);
  const span = Math.max(t1 - t0, 1e-6);
  return h("div", {className: "waterfall"}, inv.map((t) => h("div", {className: "wf-row"},
    h("div", {className: "wf-label", title: t.tactic}, t.agent + " #" + (t.call + 1) + " step " + t.step + (t.attempt ? " try " + (t.attempt + 1) : "")),
    h("div", {className: "wf-track"}, h("div", {className: "wf-bar" + (t.errors.length ? " err" : ""), title: t.model + " · " + ms(t.latency_s) + " · " + money(t.cost),
      style: "left:" + ((t.started_at - t0) / span * 100).toFixed(2) + "%;width:" + (t.latency_s / span * 100).toFixed(2) + "%"})))),
    h("div", {className: "muted"}, "0 … " + ms(span)));
}

function costTable(rows, label) {
  return h("table", {className: "cost"}, h("thead", {}, h("tr", {}, [label, "invokes", "prompt tok", "completion tok", "cost", "latency", "errors"].map((t, i) => h("th", {className: i ? "num" : null}, t)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, r.name), [r.invokes, r.prompt_tokens, r.completion_tokens, money(r.cost), ms(r.latency_s), r.errors].map((x) => h("td", {className: "num"}, x))))));
}

function diffBlock(text) {
  if (!text) return h("p", {className: "muted"}, "identical");
  return h("pre", {className: "diff"}, text.split("\n").map((line) => h("span", {className: line.startsWith("+") && !line.startsWith("+++") ? "add" :
    line.startsWith("-") && !line.startsWith("---") ? "del" : line.startsWith("@@") ? "hunk" : null}, line + "\n")));
}

function promptBox(p) {
  const original = p.template === null || p.template === undefined ? "" : p.template;
  const ta = h("textarea", {name: "prompt:" + p.key, "data-prompt": p.key, "data-system-of": p.system_of.join(" ") || null,
    placeholder: p.template === null ? "(the text is not available: type the new template)" : null}, original);
  ta.dataset.original = original;
  return h("label", {className: "prompt-edit"}, h("div", {}, "prompt ", h("b", {}, p.key), p.system_of.length ? " (system prompt of " + p.system_of.join(", ") + ")" : "",
    h("span", {className: "muted"}, " · used by " + p.agents.join(", ") + " · " + p.source + (p.args ? " · placeholders: " + (p.args.length ? p.args.map((a) => "{" + a + "}").join(" ") : "none") : ""))), ta);
}

function forkPanel(v, out) {
  const agents = (v.config.agent_configs || []).filter((a) => a && a.name && !(a.system_prompt_path && a.system_prompt === undefined));
  const boxes = agents.map((a) => h("label", {}, h("div", {}, "system prompt of ", h("b", {}, a.name)), h("textarea", {name: "sp:" + a.name, "data-agent": a.name}, a.system_prompt || "")));
  const prompts = h("div", {id: "fork-prompts"}, h("p", {className: "muted"}, "Loading the prompts this session used…"));
  const loaded = api("api/sessions/" + v.session_id + "/prompts").then((r) => {
    prompts.replaceChildren(...(r.prompts.length ? r.prompts.map(promptBox) : [h("p", {className: "muted"}, "No package or module prompt to edit in this session.")]));
    prompts.dataset.ready = "1";
  }).catch((e) => { prompts.replaceChildren(h("pre", {className: "error"}, e.message)); prompts.dataset.ready = "1"; });
  const over = h("textarea", {name: "overrides", placeholder: "KEY.PATH=VALUE per line, e.g. global.model_args.temperature=0.2"});
  const model = h("select", {name: "model"}, h("option", {value: "test"}, "LLLM test model (offline)"), h("option", {value: "session"}, "the session's model (needs its provider key)"));
  const run = h("button", {id: "fork-run", onclick: async () => {
    const system_prompts = {}, edited = {};
    boxes.forEach((b) => { const ta = b.querySelector("textarea"); system_prompts[ta.dataset.agent] = ta.value; });
    prompts.querySelectorAll("textarea[data-prompt]").forEach((ta) => { if (ta.value !== ta.dataset.original) edited[ta.dataset.prompt] = ta.value; });
    run.disabled = true; out.replaceChildren(h("p", {className: "muted"}, "Forking…"));
    try {
      const r = await post("api/sessions/" + v.session_id + "/fork", {system_prompts, prompts: edited, overrides: over.value, model: model.value});
      out.replaceChildren(h("p", {className: "ok"}, "Forked as ", h("a", {href: "#/s/" + r.session_id}, r.session_id),
        r.diverged_at ? " (diverged at agent " + r.diverged_at.agent + ", call #" + (r.diverged_at.call_index + 1) + ")" : ""));
      location.hash = "#/compare/" + v.session_id + "/" + r.session_id;
    } catch (e) { out.replaceChildren(h("pre", {className: "error"}, e.message)); }
    run.disabled = false;
  }}, "Run fork");
  const panel = h("div", {className: "panel", id: "fork-panel"}, h("b", {}, "Fork this session"),
    h("p", {className: "muted"}, "Calls identical to the recording are replayed; from the first changed one on, the chosen model answers. The child is saved and linked to this session."),
    boxes, h("h4", {}, "Prompts the session rendered"), prompts, h("label", {}, h("div", {}, "other overrides"), over), h("div", {className: "actions"}, model, run));
  panel.loaded = loaded;
  return panel;
}

function renderSession(v) {
  const out = h("div", {className: "result", id: "action-result"});
  const actions = EMBED ? null : h("div", {className: "actions"},
    h("button", {id: "replay", onclick: async (e) => {
      e.target.disabled = true; out.replaceChildren(h("p", {className: "muted"}, "Replaying offline…"));
      try {
        const r = await post("api/sessions/" + v.session_id + "/replay", {});
        out.replaceChildren(r.reproduced ? h("p", {className: "ok", id: "replay-ok"}, "Reproduced exactly (" + r.replayed_calls + " call(s) from the recording) as ", h("a", {href: "#/s/" + r.session_id}, r.session_id))
          : h("div", {id: "replay-diverged"}, h("p", {className: "bad"}, r.same_delivery ? "Every request matched, but the delivery differs." : "Diverged from the recording:"), diffBlock(r.diff || "")));
      } catch (err) { out.replaceChildren(h("pre", {className: "error"}, err.message)); }
      e.target.disabled = false;
    }}, "Replay offline"),
    h("button", {className: "secondary", id: "fork", onclick: () => openFork(null)}, "Fork…"),
    h("a", {href: "api/sessions/" + v.session_id + "/export.html", id: "export", download: "lllm-session-" + v.session_id + ".html"}, h("button", {className: "secondary", type: "button"}, "Export HTML")),
    h("input", {id: "compare-with", placeholder: "compare with session id", className: "wide"}),
    h("button", {className: "secondary", onclick: () => { const o = document.getElementById("compare-with").value.trim(); if (o) location.hash = "#/compare/" + v.session_id + "/" + o; }}, "Compare"));
  openFork = (agent) => {
    if (!document.getElementById("fork-panel")) out.before(forkPanel(v, out));
    const panel = document.getElementById("fork-panel");
    const box = agent && panel.querySelector("textarea[data-agent='" + CSS.escape(agent) + "']");
    (box || panel).scrollIntoView();
    if (box) box.focus();
    else if (agent) panel.loaded.then(() => {  // the agent's system prompt is a package prompt, listed once loaded
      const p = [...panel.querySelectorAll("textarea[data-system-of]")].find((t) => t.dataset.systemOf.split(" ").includes(agent));
      if (p) { p.scrollIntoView(); p.focus(); }
    });
  };
  const t = v.tree;
  mount(
    h("h2", {}, "Session " + v.session_id, " ", stateBadge(t.state)),
    h("div", {className: "meta card"}, h("span", {}, "tactic ", h("b", {}, t.tactic_path || t.tactic_name)), h("span", {}, "started " + when(v.timestamp)),
      h("span", {}, "duration " + ms(t.ended_at && t.started_at ? t.ended_at - t.started_at : null)), h("span", {}, "cost " + money(t.cost)),
      h("span", {}, v.invokes.length + " invoke(s)"), Object.entries(v.tags).map(([k, val]) => h("span", {className: "tag"}, k + "=" + val)),
      v.replay_of ? h("span", {}, "replay of ", EMBED ? v.replay_of : h("a", {href: "#/s/" + v.replay_of}, v.replay_of)) : null,
      v.children.length ? h("span", {}, "re-runs: ", v.children.map((c) => [EMBED ? c.session_id : h("a", {href: "#/s/" + c.session_id}, c.session_id), " "])) : null),
    actions, out,
    h("h3", {}, "Task"), renderContent(typeof v.task === "string" ? v.task : json(v.task)),
    h("h3", {}, t.error ? "Error" : "Result"), t.error ? h("pre", {className: "error"}, v.traceback || t.error) : renderContent(typeof v.delivery === "string" ? v.delivery : json(v.delivery)),
    h("h3", {}, "Call tree"), renderTactic(t, 0),
    h("h3", {}, "Timeline"), waterfall(v),
    h("h3", {}, "Cost and latency"), h("div", {className: "cols"}, costTable(v.per_agent, "agent"), costTable(v.per_model, "model")),
    h("h3", {}, "Dialogs"), h("div", {id: "dialogs"}, dialogTree(allDialogs(t, []))),
    h("h3", {}, "Config"), h("details", {}, h("summary", {className: "muted"}, "recorded config"), h("pre", {}, json(v.config))));
}

function renderCompare(c) {
  const side = (v) => h("div", {className: "card"}, h("div", {}, h("a", {href: "#/s/" + v.session_id}, v.session_id), " ", stateBadge(v.tree.state)),
    h("div", {className: "muted"}, (v.tree.tactic_path || v.tree.tactic_name) + " · " + money(v.tree.cost) + " · " + v.invokes.length + " invoke(s)" + (v.replay_of ? " · re-run of " + v.replay_of : "")),
    v.session_metadata && v.session_metadata.prompt_overrides ? h("div", {className: "muted edited-prompts"}, "edited prompt(s): " + Object.keys(v.session_metadata.prompt_overrides).join(", ")) : null,
    h("h3", {}, "Result"), renderContent(typeof v.delivery === "string" ? v.delivery : json(v.delivery)), h("h3", {}, "Dialogs"), dialogTree(allDialogs(v.tree, [])));
  const same = c.diffs.filter((d) => !d.diff).map((d) => d.what);
  mount(h("h2", {}, "Compare"),
    h("h3", {}, "Differences"), h("div", {id: "diffs"}, c.diffs.filter((d) => d.diff).map((d) => h("div", {className: "card", "data-what": d.what}, h("b", {}, d.what), diffBlock(d.diff))),
      same.length ? h("p", {className: "muted"}, "identical: " + same.join(", ")) : null),
    h("h3", {}, "Side by side"), h("div", {className: "cols"}, side(c.a), side(c.b)));
}

/* ---- routing ---- */
async function route() {
  if (EMBED) { renderSession(JSON.parse(EMBED.textContent)); return; }
  const hash = location.hash.slice(1) || "/";
  const [path, qs] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "s" && parts[1]) {
      mount(h("p", {className: "muted"}, "Loading…"));
      const view = await api("api/sessions/" + encodeURIComponent(parts[1]));
      const started = performance.now();
      renderSession(view);
      window.lllmRenderMs = performance.now() - started;
    } else if (parts[0] === "compare" && parts[2]) {
      renderCompare(await api("api/compare?a=" + encodeURIComponent(parts[1]) + "&b=" + encodeURIComponent(parts[2])));
    } else renderList(new URLSearchParams(qs || ""));
  } catch (e) { mount(h("p", {className: "error", id: "page-error"}, e.message), h("a", {href: "#/"}, "back to the list")); }
  document.body.dataset.view = parts[0] || "list";
}

window.addEventListener("hashchange", route);
route();
startLive();
