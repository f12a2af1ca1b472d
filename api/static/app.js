// article-qa chat page. Everything from the server or the user is put in the page as text
// (textContent, text nodes), never parsed as HTML.
"use strict";

const STORE = "article-qa.chat.v1";
const KEY_STORE = "article-qa.key";
const $ = (id) => document.getElementById(id);

const state = { turns: loadTurns(), busy: false, articles: [], activeChip: null };

function loadTurns() {
  try { return JSON.parse(localStorage.getItem(STORE)) || []; } catch { return []; }
}
/** The days the composer's date fields restrict the articles to, as the API takes them. */
function dateRange() {
  const range = {};
  for (const name of ["since", "until"]) {
    const value = document.getElementById(name).value;
    if (value) range[name] = value;
  }
  return range;
}
function saveTurns() { localStorage.setItem(STORE, JSON.stringify(state.turns)); }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// --- HTTP -------------------------------------------------------------------------------
function headers(extra = {}) {
  const key = localStorage.getItem(KEY_STORE);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function askForKey() {
  const dialog = $("key-dialog");
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  const key = $("api-key").value.trim();
  if (key) localStorage.setItem(KEY_STORE, key);
}

async function api(path, options = {}, retry = true) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (response.status === 401 && retry) {
    await askForKey();
    return api(path, options, false);
  }
  return response;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body.error ? body.error.message : `HTTP ${response.status}`;
  } catch { return `HTTP ${response.status}`; }
}

// --- conversation -----------------------------------------------------------------------
function history() {
  // What the server needs to resolve follow-ups: earlier questions and the answers given.
  return state.turns.slice(-20).map((t) => ({ role: t.role, content: t.content }));
}

function renderAll() {
  const list = $("messages");
  list.replaceChildren(...state.turns.map(renderTurn));
  $("empty").hidden = state.turns.length > 0;
  list.scrollTop = list.scrollHeight;
}

function renderTurn(turn) {
  if (turn.role === "user") return el("li", { class: "user-msg", text: turn.content });
  if (turn.error) {
    return el("li", { class: "answer failed", role: "alert" },
      el("p", { class: "text error-text", text: turn.error }));
  }
  return renderAnswer(turn.answer);
}

function renderAnswer(answer, streamingText) {
  const item = el("li", { class: answer && !answer.answered ? "answer abstained" : "answer" });
  if (!answer) {
    item.append(el("p", { class: "text", text: streamingText || "…" }));
    item.setAttribute("aria-busy", "true");
    return item;
  }
  if (answer.standalone_question && answer.standalone_question !== answer.question) {
    item.append(el("p", { class: "understood", text: `Understood as: ${answer.standalone_question}` }));
  }
  if (answer.date_range) {
    item.append(el("p", { class: "understood", text: `From articles dated ${answer.date_range.named}` }));
  }
  const text = el("p", { class: "text" });
  if (!answer.answered) text.append(el("span", { class: "verdict", text: "Not in the articles." }));
  // Split on [n] markers; each becomes a chip button, the rest stays plain text.
  for (const part of answer.answer.split(/(\[\d+\])/)) {
    const m = part.match(/^\[(\d+)\]$/);
    const citation = m && answer.citations.find((c) => c.n === Number(m[1]));
    if (citation) text.append(chip(citation));
    else text.append(document.createTextNode(part));
  }
  item.append(text);
  if (answer.answered && answer.short_answer) {
    item.append(el("span", { class: "short", text: `→ ${answer.short_answer}` }));
  }
  if (answer.answered && answer.answerer === "llm") {
    item.append(el("span", { class: "by", text: "Written by the LLM; every claim checked against its source." }));
  }
  if (answer.citations.length) {
    item.append(el("ol", { class: "sources", "aria-label": answer.answered ? "Sources" : "Closest passages" },
      ...answer.citations.map((c) => el("li", {},
        chip(c),
        el("span", {}, el("span", { class: "title", text: c.title }),
          ...(c.date != null ? [el("time", { class: "date", datetime: new Date(c.date * 1000).toISOString().slice(0, 10),
            text: ` (${new Date(c.date * 1000).toLocaleDateString(undefined, { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" })})` })] : []),
          document.createTextNode(" — "),
          quoteNode(c),
          ...(c.also_in && c.also_in.length
            ? [el("span", { class: "also", title: c.also_in.map((o) => `${o.title} (${o.article_id})`).join("\n"),
                text: ` Also in ${c.also_in.length} other article${c.also_in.length > 1 ? "s" : ""}: ${c.also_in.map((o) => o.title).join("; ")}.` })]
            : []))))));
  }
  const pct = Math.round(answer.confidence * 100);
  item.append(el("footer", {},
    el("span", { class: "confidence", title: "How likely this answer is right" },
      document.createTextNode(`Confidence ${pct}%`),
      el("meter", { min: "0", max: "100", value: String(pct), "aria-label": `Confidence ${pct} percent` })),
    el("button", { type: "button", class: "copy", onclick: (e) => copyAnswer(answer, e.currentTarget) }, "Copy"),
    el("span", { class: "timing", text: `${Math.round(answer.timings_ms.total || 0)} ms` })));
  return item;
}

function chip(citation) {
  return el("button", {
    type: "button", class: "chip", "data-citation": String(citation.n),
    "aria-label": `Source ${citation.n}: ${citation.title}`, "aria-pressed": "false",
    onclick: (e) => openSource(citation, e.currentTarget),
  }, String(citation.n));
}

/** A citation's quote, its relative day words ("Tuesday") showing the day they mean on hover. */
function quoteNode(c) {
  const days = (c.days || []).filter((d) => d.end <= 400);
  if (!days.length) return el("span", { class: "quote", text: `“${shorten(c.quote, 160)}”` });
  const node = el("span", { class: "quote" }, "“");
  let at = 0;
  for (const d of days) {
    node.append(c.quote.slice(at, d.start).replace(/\s+/g, " "),
      el("abbr", { class: "day", title: d.label, text: c.quote.slice(d.start, d.end) }));
    at = d.end;
  }
  const tail = c.quote.slice(at).replace(/\s+/g, " ").trimEnd();  // keeps the space after the word
  node.append(`${tail.length > 120 ? `${tail.slice(0, 119)}…` : tail}”`);
  return node;
}

function shorten(text, n) {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > n ? `${flat.slice(0, n - 1)}…` : flat;
}

async function copyAnswer(answer, button) {
  const notes = answer.citations.map((c) => `[${c.n}] ${c.title}: “${c.quote.replace(/\s+/g, " ")}”`);
  await navigator.clipboard.writeText([answer.answer, "", ...notes].join("\n"));
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}

async function ask(question) {
  if (state.busy || !question.trim()) return;
  state.busy = true;
  $("send").disabled = true;
  const prior = history();
  state.turns.push({ role: "user", content: question });
  renderAll();
  const pending = renderAnswer(null);
  $("messages").append(pending);
  try {
    const response = await api("/v1/chat", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, history: prior, stream: true, ...dateRange() }),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    const answer = await readStream(response, (soFar) => {
      pending.querySelector(".text").textContent = soFar;
    });
    state.turns.push({ role: "assistant", content: answer.answer, answer });
  } catch (err) {
    state.turns.push({ role: "assistant", content: "", error: `Could not answer: ${err.message}` });
  } finally {
    state.busy = false;
    $("send").disabled = false;
    saveTurns();
    renderAll();
    $("question").focus();
  }
}

async function readStream(response, onText) {
  // Server-Sent Events: `delta` events carry text, the `answer` event the complete answer.
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", text = "", answer = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message"; const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length) continue;
      const payload = JSON.parse(data.join("\n"));
      if (event === "delta") { text += payload.text; onText(text); }
      if (event === "answer") answer = payload;
    }
  }
  if (!answer) throw new Error("the answer stream ended early");
  return answer;
}

// --- the cited article ------------------------------------------------------------------
async function openSource(citation, button) {
  if (state.activeChip) state.activeChip.setAttribute("aria-pressed", "false");
  state.activeChip = button;
  button.setAttribute("aria-pressed", "true");
  const response = await api(`/v1/articles/${encodeURIComponent(citation.article_id)}`);
  const panel = $("source");
  if (!response.ok) {
    showSide("source");
    $("source-title").textContent = citation.title;
    $("source-meta").textContent = await errorMessage(response);
    $("source-text").replaceChildren();
    return;
  }
  const article = await response.json();
  $("source-title").textContent = article.title;
  const meta = $("source-meta");
  meta.replaceChildren();
  const bits = [article.source, article.date ? formatDate(article.date) : null].filter(Boolean);
  meta.append(document.createTextNode(bits.join(" · ")));
  if (article.url && /^https?:\/\//i.test(article.url)) {
    if (bits.length) meta.append(document.createTextNode(" · "));
    meta.append(el("a", { href: article.url, target: "_blank", rel: "noopener noreferrer", text: "original" }));
  }
  const text = article.text;
  const mark = el("mark", { text: text.slice(citation.start, citation.end) });
  $("source-text").replaceChildren(
    document.createTextNode(text.slice(0, citation.start)), mark,
    document.createTextNode(text.slice(citation.end)));
  showSide("source");
  mark.scrollIntoView({ block: "center", behavior: "smooth" });
  panel.focus?.();
}

function formatDate(seconds) {
  return new Date(seconds * 1000).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

function showSide(which) {
  const other = which === "source" ? "articles" : "source";
  $(other).hidden = true;
  $(which).hidden = false;
  $("toggle-articles").setAttribute("aria-expanded", String(which === "articles"));
  document.querySelector(".layout").classList.add("with-side");
}

function hideSide(which) {
  $(which).hidden = true;
  if (which === "articles") $("toggle-articles").setAttribute("aria-expanded", "false");
  if ($("source").hidden && $("articles").hidden) document.querySelector(".layout").classList.remove("with-side");
}

// --- articles -----------------------------------------------------------------------------
async function loadArticles() {
  const response = await api("/v1/articles");
  if (!response.ok) return;
  state.articles = await response.json();
  $("article-count").textContent = `(${state.articles.length})`;
  renderArticles();
  renderSuggestions();
}

function renderArticles() {
  const needle = $("article-filter").value.trim().toLowerCase();
  const shown = state.articles.filter((a) => !needle || a.title.toLowerCase().includes(needle) || a.id.includes(needle));
  $("article-list").replaceChildren(...shown.map((a) => el("li", {},
    el("div", { class: "info" },
      el("div", { class: "title", text: a.title }),
      el("p", { class: "meta", text: [a.source, a.date ? formatDate(a.date) : null, `${a.chunks} chunk${a.chunks === 1 ? "" : "s"}`].filter(Boolean).join(" · ") })),
    el("button", { type: "button", "aria-label": `Delete ${a.title}`, onclick: () => removeArticle(a) }, "Delete"))));
}

function renderSuggestions() {
  const examples = state.articles.slice(0, 3).map((a) => `What does “${shorten(a.title, 60)}” report?`);
  $("suggestions").replaceChildren(...examples.map((q) => el("li", {},
    el("button", { type: "button", onclick: () => ask(q) }, q))));
}

async function removeArticle(article) {
  if (!confirm(`Delete “${article.title}” from the index? It will no longer be cited.`)) return;
  const response = await api(`/v1/articles/${encodeURIComponent(article.id)}`, { method: "DELETE" });
  if (!response.ok) alert(await errorMessage(response));
  await loadArticles();
}

function upload(file) {
  const progress = el("progress", { max: "100", value: "0" });
  const status = el("span", { text: "uploading…" });
  const row = el("li", {}, el("div", { text: file.name }), progress, status);
  $("uploads").prepend(row);
  const form = new FormData();
  form.append("file", file);
  const xhr = new XMLHttpRequest(); // fetch cannot report upload progress
  xhr.open("POST", "/v1/articles");
  for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
  xhr.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
    if (e.loaded === e.total) status.textContent = "indexing…";
  });
  xhr.addEventListener("load", async () => {
    progress.remove();
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 201) {
      await loadArticles();
      const failed = body.failures && body.failures.length ? `, ${body.failures.length} failed: ${body.failures[0].reason}` : "";
      status.textContent = `indexed ${body.articles.length} article(s)${failed}`;
      status.className = failed ? "error-text" : "ok";
    } else if (xhr.status === 202) {
      await followJob(body, row, status);
    } else if (xhr.status === 401) {
      status.textContent = "needs an API key";
      status.className = "error-text";
      await askForKey();
    } else {
      status.textContent = body.error ? body.error.message : `failed (HTTP ${xhr.status})`;
      status.className = "error-text";
    }
  });
  xhr.addEventListener("error", () => { status.textContent = "network error"; status.className = "error-text"; });
  xhr.send(form);
}

// A long upload runs as a job on the server: show its progress until it ends.
async function followJob(job, row, status) {
  const bar = el("progress", { max: String(job.total), value: "0" });
  row.insertBefore(bar, status);
  while (job.status === "queued" || job.status === "running") {
    status.textContent = `indexing ${job.done} of ${job.total}…`;
    bar.value = job.done;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const response = await api(job.status_url);
    if (!response.ok) break;
    job = await response.json();
  }
  bar.remove();
  await loadArticles();
  if (job.status === "done") {
    const failed = job.report.failed ? `, ${job.report.failed} failed` : "";
    status.textContent = `indexed ${job.report.articles.length} article(s)${failed}`;
    status.className = failed ? "error-text" : "ok";
  } else {
    status.textContent = job.error || `indexing ${job.status || "stopped"}`;
    status.className = "error-text";
  }
}

// --- wiring -------------------------------------------------------------------------------
function autosize(area) {
  area.style.height = "auto";
  area.style.height = `${Math.min(area.scrollHeight, 192)}px`;
}

document.addEventListener("DOMContentLoaded", () => {
  const question = $("question");
  $("ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = question.value.trim();
    question.value = "";
    autosize(question);
    ask(q);
  });
  question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("ask-form").requestSubmit();
    }
  });
  question.addEventListener("input", () => autosize(question));
  $("new-chat").addEventListener("click", () => {
    state.turns = [];
    saveTurns();
    renderAll();
    hideSide("source");
    question.focus();
  });
  $("toggle-articles").addEventListener("click", () => {
    if ($("articles").hidden) { showSide("articles"); loadArticles(); } else hideSide("articles");
  });
  $("close-articles").addEventListener("click", () => hideSide("articles"));
  $("close-source").addEventListener("click", () => hideSide("source"));
  $("article-filter").addEventListener("input", renderArticles);
  $("file-input").addEventListener("change", (e) => { [...e.target.files].forEach(upload); e.target.value = ""; });
  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    [...e.dataTransfer.files].forEach(upload);
  });
  renderAll();
  loadArticles();
  question.focus();
});
