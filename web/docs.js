"use strict";
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
fetch("/openapi.json").then((r) => r.json()).then((spec) => {
  document.getElementById("title").textContent = spec.info.title + " " + (spec.info.version || "");
  document.getElementById("desc").textContent = spec.info.description || "";
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths))
    for (const [method, op] of Object.entries(item)) (byTag[(op.tags || ["other"])[0]] ||= []).push({ path, method, op });
  let html = "";
  for (const [tag, ops] of Object.entries(byTag)) {
    html += `<h2>${esc(tag)}</h2>`;
    for (const { path, method, op } of ops) {
      const body = op.requestBody?.content?.["application/json"]?.schema;
      const responses = Object.entries(op.responses || {}).map(([code, r]) => `${code} ${esc(r.description || "")}`).join(" · ");
      html += `<details class="op"><summary><span class="m ${method}">${method.toUpperCase()}</span><code>${esc(path)}</code>
        <span>${esc(op.summary || "")}</span>${op.security ? '<span class="lock">requires bearer token</span>' : ""}</summary>
        <div class="body">${esc(op.description || "")}</div>
        ${body ? `<pre>${esc(JSON.stringify(body, null, 2))}</pre>` : ""}
        <div class="body">Responses: ${responses}</div></details>`;
    }
  }
  document.getElementById("ops").innerHTML = html;
});
