// The polymodal web page: no build step, no framework. It reads /info, builds a form for the chosen run,
// and shows what the run answers: probabilities as bars, search hits as a grid, captions, generated media.
"use strict";

const $ = (sel) => document.querySelector(sel);
let runs = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message || "";
  box.hidden = !message;
}

function fileField(name, role) {
  const input = el("input", { type: "file", name, id: `f-${name}`, accept: role === "video" ? "image/gif" : `${role}/*` });
  const zone = el("div", { class: "drop", "data-field": name }, el("span", { text: `Drop or choose an ${role} file` }));
  const preview = el("div", { class: "preview" });
  zone.append(input, preview);
  const show = () => {
    preview.replaceChildren();
    const file = input.files[0];
    if (!file) return;
    const url = URL.createObjectURL(file);
    preview.append(role === "audio" ? el("audio", { controls: "", src: url }) : el("img", { src: url, alt: file.name }));
  };
  input.addEventListener("change", show);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); }
  });
  return field(name, role, zone);
}

function field(name, role, control) {
  return el("div", { class: "field" }, el("label", { for: `f-${name}`, text: `${name} (${role})` }), control);
}

function valueField(name, role, type = "text", value = "") {
  return field(name, role, el("input", { type, name, id: `f-${name}`, value }));
}

function buildForm(run) {
  const box = $("#fields");
  box.replaceChildren();
  $("#results").replaceChildren();
  showError("");
  $("#kind").textContent = `${run.kind} · ${run.endpoint}`;
  if (run.kind === "predictor") {
    for (const f of run.fields) box.append(f.kind === "file" ? fileField(f.name, f.role) : valueField(f.name, f.role));
  } else if (run.kind === "index") {
    if (run.query_roles.includes("text")) box.append(valueField("text", "text query"));
    for (const role of run.query_roles.filter((r) => r !== "text")) box.append(fileField(role, role));
    box.append(valueField("k", "hits", "number", "12"));
  } else if (run.kind === "captioner") {
    box.append(fileField("file", "image"), valueField("beam_size", "beam", "number", "3"));
  } else if (run.kind === "generator") {
    box.append(valueField("prompt", "text"), valueField("n", "samples", "number", "4"), valueField("seed", "seed", "number", "0"));
  }
}

function formData() {
  const data = new FormData();
  for (const input of $("#fields").querySelectorAll("input")) {
    if (input.type === "file") { for (const f of input.files) data.append(input.name, f); }
    else if (input.value.trim() !== "") data.append(input.name, input.value);
  }
  return data;
}

// A server started with --api-key answers 401 (no key) or 403 (a wrong one): ask once, keep the key for this
// browser session (sessionStorage, and a session cookie so that <img>/<audio> hits from /media load too).
const KEY = "polymodal_key";

function rememberKey(key) {
  sessionStorage.setItem(KEY, key);
  document.cookie = `${KEY}=${encodeURIComponent(key)}; path=/; SameSite=Strict`;
}

async function call(url, options = {}, asked = false) {
  const key = sessionStorage.getItem(KEY);
  const headers = { ...(options.headers || {}), ...(key ? { "X-API-Key": key } : {}) };
  const response = await fetch(url, { ...options, headers });
  if ((response.status === 401 || response.status === 403) && !asked) {
    const given = window.prompt(response.status === 401 ? "This server needs an API key:" : "That API key was refused. API key:");
    if (given && given.trim()) {
      rememberKey(given.trim());
      return call(url, options, true);
    }
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return response;
}

function showPredictions(body) {
  const out = $("#results");
  for (const p of body.predictions) {
    const block = el("div", { class: "label-block prediction" }, el("h3", { text: `${p.label}: ${p.value}` }));
    const ranked = Object.entries(p.probabilities).sort((a, b) => b[1] - a[1]).slice(0, 10);
    ranked.forEach(([name, prob], i) => {
      const bar = el("div", { class: "bar", style: `width: ${(100 * prob).toFixed(1)}%` });
      block.append(el("div", { class: `bar-row${i === 0 ? " top" : ""}` }, el("span", { text: name }),
        el("div", { class: "bar-track" }, bar), el("span", { text: `${(100 * prob).toFixed(1)}%` })));
    });
    out.append(block);
  }
  out.append(el("p", { class: "muted", text: `inputs used: ${body.used.join(", ")} · runtime ${body.runtime}` }));
}

function showHits(body, run) {
  const grid = el("div", { class: "grid" });
  for (const hit of body.hits) {
    const card = el("div", { class: "hit" });
    if (hit.media_url) {
      const role = run.metrics.indexed_role;
      card.append(role === "audio" ? el("audio", { controls: "", src: hit.media_url }) : el("img", { src: hit.media_url, alt: `row ${hit.row}` }));
    }
    const text = Object.entries(hit.fields).filter(([k]) => k !== "table_row").slice(0, 3).map(([k, v]) => `${k}: ${v}`).join("\n");
    card.append(el("div", { text: `#${hit.rank} · ${hit.score.toFixed(3)}` }), el("div", { class: "muted", text }));
    grid.append(card);
  }
  $("#results").append(grid);
}

async function submit(event) {
  event.preventDefault();
  const run = runs[$("#run").selectedIndex];
  const url = `${run.endpoint}?run=${encodeURIComponent(run.name)}`;
  const button = $("#submit");
  button.disabled = true;
  showError("");
  $("#results").replaceChildren();
  try {
    if (run.kind === "generator") {
      const data = formData();
      const body = { prompt: data.get("prompt") || "", n: Number(data.get("n") || 1), seed: Number(data.get("seed") || 0) };
      const response = await call(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const blob = await response.blob();
      const src = URL.createObjectURL(blob);
      $("#results").append(el("div", { class: "generated" },
        blob.type.startsWith("audio/") ? el("audio", { controls: "", src }) : el("img", { src, alt: body.prompt })));
      return;
    }
    const body = await (await call(url, { method: "POST", body: formData() })).json();
    if (run.kind === "predictor") showPredictions(body);
    else if (run.kind === "index") showHits(body, run);
    else if (run.kind === "captioner") for (const c of body.captions) $("#results").append(el("p", { class: "caption", text: c }));
  } catch (err) {
    showError(err.message);
  } finally {
    button.disabled = false;
  }
}

async function main() {
  try {
    runs = (await (await call("/info")).json()).runs;
  } catch (err) {
    showError(`cannot read /info: ${err.message}`);
    return;
  }
  const select = $("#run");
  for (const run of runs) select.append(el("option", { value: run.name, text: `${run.name} (${run.kind})` }));
  select.addEventListener("change", () => buildForm(runs[select.selectedIndex]));
  $("#form").addEventListener("submit", submit);
  if (runs.length) buildForm(runs[0]);
  document.body.dataset.ready = "1";
}

main();
