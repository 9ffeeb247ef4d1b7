"use strict";
// The API docs page: renders /openapi.json with every $ref resolved — parameters (path, query,
// headers such as Idempotency-Key), request fields, each response's status, meaning and fields,
// examples — and lets a reader send a request from the page (same origin; the bearer token is
// taken from the web app's session when there is one, or typed in).
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
let spec;

function resolve(schema, seen = new Set()) {
  if (!schema) return schema;
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    if (seen.has(name)) return { type: "object", title: name };
    // A field's own words (its description) beside a shared schema win over the schema's.
    const { $ref: _, ...own } = schema;
    return { title: name, ...resolve(spec.components.schemas[name], new Set([...seen, name])), ...own };
  }
  if (schema.allOf) return schema.allOf.map((s) => resolve(s, seen)).reduce((a, b) => ({ ...a, ...b, properties: { ...a.properties, ...b.properties }, required: [...(a.required || []), ...(b.required || [])] }), {});
  if (schema.oneOf || schema.anyOf) {
    const alts = (schema.oneOf || schema.anyOf).map((s) => resolve(s, seen)).filter((s) => s.type !== "null");
    return alts.length === 1 ? { ...alts[0], nullable: true } : { ...schema, alts };
  }
  const out = { ...schema };
  if (schema.properties) out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, resolve(v, seen)]));
  if (schema.items) out.items = resolve(schema.items, seen);
  if (schema.additionalProperties && typeof schema.additionalProperties === "object") out.additionalProperties = resolve(schema.additionalProperties, seen);
  return out;
}

const typeOf = (s) => {
  if (!s) return "";
  let t = Array.isArray(s.type) ? s.type.filter((x) => x !== "null").join(" | ") : s.type || (s.properties ? "object" : s.alts ? "one of" : "");
  if (t === "array") t = `array of ${typeOf(s.items)}`;
  if (s.additionalProperties && typeof s.additionalProperties === "object") t = `map of ${typeOf(s.additionalProperties)}`;
  if (s.enum) t += ` (${s.enum.join(" | ")})`;
  if (s.title && (t === "object" || !t)) t = s.title;
  if (s.nullable || (Array.isArray(s.type) && s.type.includes("null"))) t += ", may be null";
  return t;
};

// OpenAPI 3.1 lists `examples`; older schemas have one `example`.
const exampleOf = (s) => (s.example !== undefined ? s.example : Array.isArray(s.examples) ? s.examples[0] : undefined);

function fields(schema, depth = 0) {
  const s = resolve(schema);
  const obj = s?.type === "array" ? s.items : s;
  if (!obj || !obj.properties) return "";
  const required = new Set(obj.required || []);
  return Object.entries(obj.properties).map(([name, p]) => {
    const inner = depth < 2 && (p.properties || p.items?.properties) ? fields(p, depth + 1) : "";
    return `<tr><td><code>${"· ".repeat(depth)}${esc(name)}</code>${required.has(name) ? ' <span class="req">required</span>' : ""}</td>
      <td>${esc(typeOf(p))}</td><td>${esc(p.description || "")}${exampleOf(p) !== undefined ? ` <span class="ex">e.g. <code>${esc(JSON.stringify(exampleOf(p)))}</code></span>` : ""}</td></tr>${inner}`;
  }).join("");
}
const fieldTable = (schema) => { const rows = fields(schema); return rows ? `<table class="fields"><tr><th>field</th><th>type</th><th>meaning</th></tr>${rows}</table>` : ""; };

function example(schema, depth = 0) {
  const s = resolve(schema);
  if (!s || depth > 4) return null;
  if (exampleOf(s) !== undefined) return exampleOf(s);
  if (s.properties) return Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, example(v, depth + 1)]));
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  if (t === "array") return [example(s.items, depth + 1)];
  if (s.enum) return s.enum[0];
  return t === "string" ? (s.format === "date-time" ? new Date().toISOString() : "string") : t === "integer" || t === "number" ? 0 : t === "boolean" ? false : null;
}

function token() {
  const typed = document.getElementById("token").value.trim();
  if (typed) return typed;
  try { return JSON.parse(localStorage.getItem("rategate.session")).access; } catch { return ""; }
}

function operation(path, method, op, id) {
  const params = (op.parameters || []).map((p) => `<tr><td><code>${esc(p.name)}</code>${p.required ? ' <span class="req">required</span>' : ""}</td>
    <td>${esc(p.in)} · ${esc(typeOf(resolve(p.schema)))}</td><td>${esc(p.description || "")}</td></tr>`).join("");
  const body = op.requestBody?.content?.["application/json"]?.schema;
  const responses = Object.entries(op.responses || {}).map(([code, r]) => {
    const [type, content] = Object.entries(r.content || {})[0] || [];
    return `<div class="resp"><b class="code c${code[0]}">${esc(code)}</b> ${esc(r.description || "")}${type ? ` <span class="dim">${esc(type)}</span>` : ""}
      ${content?.schema && resolve(content.schema).title !== "Problem" ? fieldTable(content.schema) : ""}</div>`;
  }).join("");
  const inputs = (op.parameters || []).map((p) => `<label>${esc(p.name)} <span class="dim">(${esc(p.in)})</span>
    <input data-param="${esc(p.name)}" data-in="${esc(p.in)}" value="${p.name === "Idempotency-Key" ? crypto.randomUUID() : ""}"></label>`).join("");
  return `<details class="op" id="${id}"><summary><span class="m ${method}">${method.toUpperCase()}</span><code>${esc(path)}</code>
      <span>${esc(op.summary || "")}</span>${op.security ? '<span class="lock">bearer token</span>' : ""}</summary>
    <div class="body">${esc(op.description || "")}</div>
    ${params ? `<h4>Parameters</h4><table class="fields"><tr><th>name</th><th>where · type</th><th>meaning</th></tr>${params}</table>` : ""}
    ${body ? `<h4>Request body <span class="dim">application/json</span></h4>${fieldTable(body)}<pre>${esc(JSON.stringify(example(body), null, 2))}</pre>` : ""}
    <h4>Responses</h4>${responses}
    <h4>Try it</h4><form class="try" data-path="${esc(path)}" data-method="${method}">${inputs}
      ${body ? `<label>body<textarea rows="6">${esc(JSON.stringify(example(body), null, 2))}</textarea></label>` : ""}
      <button type="submit">Send ${method.toUpperCase()} ${esc(path)}</button><pre class="out" hidden></pre></form></details>`;
}

async function send(form) {
  let path = form.dataset.path;
  const query = new URLSearchParams(), headers = {};
  for (const input of form.querySelectorAll("input[data-param]")) {
    const v = input.value.trim();
    if (!v) continue;
    if (input.dataset.in === "path") path = path.replace(`{${input.dataset.param}}`, encodeURIComponent(v));
    else if (input.dataset.in === "query") query.set(input.dataset.param, v);
    else if (input.dataset.in === "header") headers[input.dataset.param] = v;
  }
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  const textarea = form.querySelector("textarea");
  if (textarea) headers["content-type"] = "application/json";
  const out = form.querySelector(".out");
  out.hidden = false;
  try {
    const r = await fetch(path + (query.size ? `?${query}` : ""), { method: form.dataset.method.toUpperCase(), headers, body: textarea ? textarea.value : undefined });
    const text = await r.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON */ }
    out.textContent = `${r.status} ${r.statusText} · ${r.headers.get("content-type") || ""}\n\n${shown}`;
  } catch (e) { out.textContent = `request failed: ${e.message}`; }
}

fetch("/openapi.json").then((r) => r.json()).then((s) => {
  spec = s;
  document.getElementById("title").textContent = `${spec.info.title} ${spec.info.version || ""}`;
  document.getElementById("desc").textContent = spec.info.description || "";
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths))
    for (const [method, op] of Object.entries(item)) (byTag[(op.tags || ["other"])[0]] ||= []).push({ path, method, op });
  let html = "", n = 0;
  for (const [tag, ops] of Object.entries(byTag)) {
    const info = (spec.tags || []).find((t) => t.name === tag);
    html += `<h2>${esc(tag)}</h2>${info?.description ? `<p class="dim">${esc(info.description)}</p>` : ""}`;
    for (const { path, method, op } of ops) html += operation(path, method, op, `op-${n++}`);
  }
  document.getElementById("ops").innerHTML = html;
  document.getElementById("ops").addEventListener("submit", (e) => { e.preventDefault(); send(e.target); });
});
