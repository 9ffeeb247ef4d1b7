"use strict";
// rategate web app: markets (live board + candle chart), trade (firm quote → confirm → fill),
// portfolio (balances and orders, live), admin (spreads with preview and history, deposits,
// users, revenue), sign in / register. Plain JS against the public API and Socket.IO; no
// framework, no build step. Prices are shown exactly as the server sends them (decimal
// strings); numbers are used only to place pixels on the chart and for the 24 h change.

// ---------- exact decimals (comparing the server's decimal strings; no pricing here) ----------
const Dec = {
  parse(s) { const [i, f = ""] = String(s).split("."); return { m: BigInt(i + f), e: f.length }; },
  scale(d, e) { return e >= d.e ? { m: d.m * 10n ** BigInt(e - d.e), e } : d; },
  cmp(a, b) { const e = Math.max(a.e, b.e), x = Dec.scale(a, e).m, y = Dec.scale(b, e).m; return x < y ? -1 : x > y ? 1 : 0; },
};

// ---------- session and API ----------
const KEY = "rategate.session";
let session = JSON.parse(localStorage.getItem(KEY) || "null"); // {access, refresh, me}
const saveSession = (s) => { session = s; s ? localStorage.setItem(KEY, JSON.stringify(s)) : localStorage.removeItem(KEY); onSession(); };
let refreshing = null;

async function refreshTokens() {
  if (!session) return false;
  const sent = session.refresh;
  refreshing ||= fetch("/api/auth/refresh", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: sent }) })
    .then(async (r) => {
      // Refused: signed out, unless a new session (a password or two-factor change) replaced
      // the one this refresh was for meanwhile.
      if (!r.ok) { if (session?.refresh === sent) saveSession(null); return !!session; }
      const t = await r.json();
      session = { ...session, access: t.access_token, refresh: t.refresh_token };
      localStorage.setItem(KEY, JSON.stringify(session));
      // The socket keeps its private events past the old token's expiry only if told.
      if (ws && ws.readyState === WebSocket.OPEN && live) ws.send("42" + JSON.stringify(["auth:refresh", { token: t.access_token }]));
      return true;
    }).finally(() => { refreshing = null; });
  return refreshing;
}

class ApiError extends Error { constructor(status, body) { super(body.detail || body.title || `HTTP ${status}`); this.status = status; this.body = body; } }

async function api(path, { method = "GET", body, headers = {}, auth = true, retried = false } = {}) {
  const h = { ...headers };
  if (body !== undefined) h["content-type"] = "application/json";
  if (auth && session) h.authorization = `Bearer ${session.access}`;
  const r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401 && auth && session && !retried && await refreshTokens()) return api(path, { method, body, headers, auth, retried: true });
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new ApiError(r.status, data || {});
  return data;
}

// Refresh quietly a minute before the access token expires.
setInterval(() => {
  if (!session) return;
  try {
    const exp = JSON.parse(atob(session.access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).exp * 1000;
    if (exp - Date.now() < 60000) refreshTokens();
  } catch { /* not a JWT we can read: the 401 path refreshes */ }
}, 15000);

// Words a trader understands, by the problem's stable code.
function explain(e) {
  const b = (e && e.body) || {};
  switch (b.code) {
    case "insufficient_funds": return `Not enough funds for this trade (${b.detail || "balance too low"}). Deposit more or lower the amount.`;
    case "insufficient_liquidity": return `The market can't fill that much right now: at most ${b.max_amount ?? "a smaller amount"} can be quoted. Lower the amount.`;
    case "rates_stale": return "Prices are not live right now, so we can't give a firm price. Try again in a moment.";
    case "unquotable": return "This pair can't be priced right now (its spread is wider than the price). An admin has to change the spread.";
    case "unquotable_spread": return `That spread would make the pair unquotable: ${b.detail || "the sell price would be zero or less"}.`;
    case "too_many_requests": return "You're sending requests faster than we accept. Wait a moment and try again.";
    case "self_deposit": return "Admins can't fund their own account.";
    case "two_factor_enrolment_required": return "Turn on two-factor sign-in under Account first.";
    case "invalid_two_factor_code": return "That code is wrong, expired or already used. Use the current code from your authenticator app.";
    case "two_factor_required": return "Enter the code from your authenticator app (or a recovery code).";
    case "account_disabled": return "This account has been disabled by an administrator.";
    case "quote_expired": return "This quote expired before you confirmed it. Get a new quote.";
    case "quote_used": return "This quote has already been used.";
    case "quote_not_found": return "This quote doesn't exist or isn't yours.";
    case "too_many_attempts": return "Too many attempts. Please wait a minute and try again.";
    case "unauthorized": return "Wrong email or password, or your session ended. Please sign in.";
    case "forbidden": return "You don't have access to that.";
    case "email_taken": return "An account with this email already exists. Sign in instead.";
    case "unknown_pair": return "We don't trade that pair.";
    default: return b.detail || e.message || "Something went wrong.";
  }
}

// ---------- Socket.IO (v5 over WebSocket), with the session's token ----------
const listeners = { "rates:live": [], "order:filled": [], "balance:updated": [] };
// Returns the unsubscribe function (safe to call twice).
const on = (event, fn) => {
  listeners[event].push(fn);
  return () => { const i = listeners[event].indexOf(fn); if (i >= 0) listeners[event].splice(i, 1); };
};
let ws, retry = 500, live = false;
function connect() {
  if (ws) { ws.onclose = null; ws.onmessage = null; ws.close(); }
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const sock = new WebSocket(`${proto}://${location.host}/socket.io/?EIO=4&transport=websocket`);
  ws = sock;
  // Reconnects only if this is still the page's socket (a sign-in may have replaced it).
  const again = (ms) => setTimeout(() => { if (ws === sock) connect(); }, ms);
  sock.onmessage = (m) => {
    const d = m.data;
    if (d === "2") { sock.send("3"); return; }
    if (d[0] === "0") { sock.send("40" + (session ? JSON.stringify({ token: session.access }) : "")); return; }
    if (d.startsWith("40")) { retry = 500; live = true; paintConn(); return; }
    // 41: the server ended this socket (its session ended, or another sign-in of ours began
    // a new one and the answer carrying it may still be on its way): connect again with the
    // session we hold then; a refused token (44) is refreshed first.
    if (d.startsWith("41")) { live = false; paintConn(); sock.onclose = null; again(300); return; }
    if (d.startsWith("44")) {
      live = false; paintConn(); sock.onclose = null;
      refreshTokens().then(() => again(200));
      return;
    }
    if (d.startsWith("42")) {
      const [event, data] = JSON.parse(d.slice(d.indexOf("[")));
      (listeners[event] || []).forEach((fn) => fn(data));
    }
  };
  sock.onclose = () => { live = false; paintConn(); again(retry); retry = Math.min(retry * 2, 10000); };
}

// ---------- live rates ----------
const rates = new Map(); // BTC_USD → rate object as in rates:live
on("rates:live", (data) => { for (const [k, r] of Object.entries(data)) rates.set(k, r); paintConn(); });
const STALE_WORDS = { feed_silent: "feed down", feed_down: "feed down", feed_connecting: "feed connecting",
  feed_maintenance: "exchange maintenance", feed_cancel_only: "exchange cancel-only", feed_post_only: "exchange post-only",
  pair_silent: "pair silent", pair_rejected: "pair not offered", no_metadata: "waiting for pair details" };
const staleWords = (r) => STALE_WORDS[r.staleReason] || "stale";
const UNPRICED_WORDS = { spread_too_wide: "spread too wide", no_metadata: "waiting for pair details" };
const unpricedWords = (r) => UNPRICED_WORDS[r.unpricedReason] || "not priced";

function paintConn() {
  const el = document.getElementById("conn"), text = document.getElementById("conn-text");
  const anyStale = [...rates.values()].some((r) => r.stale);
  el.classList.toggle("live", live && !anyStale);
  el.classList.toggle("stale", live && anyStale);
  const reasons = [...new Set([...rates.values()].filter((r) => r.stale).map(staleWords))];
  text.textContent = !live ? "reconnecting…" : anyStale ? `stale: ${reasons.join(", ")}` : "live";
}

// ---------- small DOM helpers ----------
const $ = (sel, root = document) => root.querySelector(sel);
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v != null) el.setAttribute(k, v);
  }
  for (const kid of kids.flat()) if (kid != null) el.append(kid.nodeType ? kid : String(kid));
  return el;
}
// A time as people read it: the clock alone for today, the date too otherwise.
const fmtTime = (iso) => {
  const t = new Date(iso), today = t.toDateString() === new Date().toDateString();
  return today ? t.toLocaleTimeString() : `${t.toLocaleDateString()} ${t.toLocaleTimeString()}`;
};
const fmtAge = (ms) => ms < 1000 ? `${ms} ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60000)} min`;
function toast(msg, cls = "") { const t = h("div", { class: cls }, msg); $("#toast").append(t); setTimeout(() => t.remove(), 5000); }
const pairsKnown = () => [...rates.values()].map((r) => r.pair).sort();
let lastPair = "BTC/USD"; // the trade form's pair, kept while the page lives

// ---------- chart (SVG candles) ----------
function drawChart(svg, candles) {
  svg.replaceChildren();
  const W = 600, H = 220, pad = 34;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  if (!candles.length) { svg.append(svgEl("text", { x: W / 2, y: H / 2, class: "axis", "text-anchor": "middle" }, "No history yet")); return; }
  const lo = Math.min(...candles.map((c) => +c.low)), hi = Math.max(...candles.map((c) => +c.high));
  const span = hi - lo || Math.abs(hi) * 0.001 || 1, y = (v) => pad / 2 + (H - pad) * (1 - (v - lo) / span);
  const step = (W - pad) / Math.max(candles.length, 30), bw = Math.max(1, step * 0.6);
  // Enough decimals to tell the three grid lines apart (display only).
  const places = Math.min(8, Math.max(0, Math.ceil(-Math.log10(span / 2)) + 1));
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.append(svgEl("line", { x1: 0, x2: W - pad, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(svgEl("text", { x: W - pad + 2, y: y(v) + 3, class: "axis" }, v.toFixed(places)));
  }
  const hhmm = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  svg.append(svgEl("text", { x: 2, y: H - 2, class: "axis" }, hhmm(candles[0].start)));
  if (candles.length > 1) svg.append(svgEl("text", { x: (candles.length - 1) * step + step / 2, y: H - 2, class: "axis", "text-anchor": "middle" }, hhmm(candles[candles.length - 1].start)));
  candles.forEach((c, i) => {
    const x = i * step + step / 2, cls = +c.close >= +c.open ? "upc" : "downc";
    svg.append(svgEl("line", { x1: x, x2: x, y1: y(+c.high), y2: y(+c.low), class: `wick ${cls}` }));
    const top = y(Math.max(+c.open, +c.close)), bot = y(Math.min(+c.open, +c.close));
    svg.append(svgEl("rect", { x: x - bw / 2, y: top, width: bw, height: Math.max(1, bot - top), class: cls }));
  });
}
function svgEl(tag, attrs, text) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text != null) el.textContent = text;
  return el;
}

// ---------- views ----------
let cleanup = [];
const views = {};

views.markets = async (root) => {
  let sortBy = "pair", dir = 1, filter = "", chosen = null, candles = [], change = {}, onlyWatched = false;
  // The signed-in user's favourite pairs, kept on the server (they follow the user).
  const watched = new Set(session ? await api("/api/watchlist").then((w) => w.pairs).catch(() => []) : []);
  async function toggleWatch(pair) {
    const list = await api(`/api/watchlist/${encodeURIComponent(pair)}`, { method: watched.has(pair) ? "DELETE" : "PUT" });
    watched.clear(); list.pairs.forEach((p) => watched.add(p)); paint();
  }
  const cols = [["pair", "Pair"], ["bid", "Bid", "hide-sm"], ["ask", "Ask", "hide-sm"], ["sell", "You sell"], ["buy", "You buy"],
    ["spread", "Spread", "hide-sm"], ["change", "24 h"], ["age", "Age", "hide-sm"], ["venues", "Venues", "hide-sm"], ["state", "State"]];
  const tbody = h("tbody");
  const head = h("tr", {}, cols.map(([k, label, cls]) => h("th", { class: cls, scope: "col" },
    h("button", { type: "button", onclick: () => { dir = sortBy === k ? -dir : 1; sortBy = k; paint(); } }, label))));
  const svg = svgEl("svg", { class: "chart", role: "img", "aria-label": "price chart" });
  const chartTitle = h("h3", {}, "Pick a pair to see its chart");
  // The consolidated book behind the chosen pair's price (GET /api/book/{pair}), each level
  // with its venue; refreshed every second.
  const depthTitle = h("h3", {}, "Depth"), depthTable = h("table", { class: "depth" });
  async function paintDepth() {
    if (!chosen) return;
    try {
      const b = await api(`/api/book/${encodeURIComponent(chosen)}`, { auth: false });
      depthTitle.textContent = `${b.pair} · consolidated book over ${b.venues.join(", ")}`;
      const rows = Math.max(b.bids.length, b.asks.length), cell = (l) => l ? [h("td", {}, l.qty), h("td", {}, l.price), h("td", { class: "dim" }, l.venue)] : [h("td"), h("td"), h("td")];
      depthTable.replaceChildren(h("thead", {}, h("tr", {}, ["Bid size", "Bid", "Venue", "Ask size", "Ask", "Venue"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, Array.from({ length: Math.min(rows, 10) }, (_, i) => h("tr", { "data-level": i }, cell(b.bids[i]), cell(b.asks[i])))));
    } catch (err) { depthTitle.textContent = `Depth: ${explain(err)}`; depthTable.replaceChildren(); }
  }
  const depthEvery = setInterval(paintDepth, 1000);
  cleanup.push(() => clearInterval(depthEvery));
  root.append(h("h2", {}, "Markets"),
    h("div", { class: "row" }, h("label", {}, "Filter", h("input", { type: "search", placeholder: "BTC, USD…", oninput: (e) => { filter = e.target.value.toUpperCase(); paint(); } })),
      session ? h("label", { class: "check" }, h("input", { type: "checkbox", id: "only-watched", onchange: (e) => { onlyWatched = e.target.checked; paint(); } }), " My watchlist only") : null),
    h("p", { class: "dim" }, "You buy at the ask plus the spread (rounded up to the pair's tick) and sell at the bid minus the spread (rounded down)."),
    h("div", { class: "panel scroll" }, h("table", {}, h("thead", {}, head), tbody)),
    h("div", { class: "panel" }, chartTitle, svg),
    h("div", { class: "panel scroll", id: "depth", tabindex: 0, role: "region", "aria-label": "order book depth" }, depthTitle, depthTable));
  const value = (r, k) => k === "pair" ? r.pair : k === "bid" ? +r.original.sell : k === "ask" ? +r.original.buy
    : k === "sell" ? +(r.withSpread?.sell ?? 0) : k === "buy" ? +(r.withSpread?.buy ?? 0) : k === "change" ? (change[r.pair] ?? 0)
    : k === "age" ? Date.parse(r.ts) : k === "venues" ? (r.venues || []).length : k === "state" ? +r.stale : 0;
  function paint() {
    const list = [...rates.entries()].filter(([k, r]) => k.includes(filter.replace("/", "_")) && (!onlyWatched || watched.has(r.pair)))
      .sort(([, a], [, b]) => { const x = value(a, sortBy), y = value(b, sortBy); return (x < y ? -1 : x > y ? 1 : 0) * dir; });
    tbody.replaceChildren(...list.map(([key, r]) => {
      const ch = change[r.pair];
      return h("tr", { class: `pick${r.stale ? " stale" : ""}`, tabindex: 0, "data-pair": key,
        onclick: () => choose(r.pair), onkeydown: (e) => { if (e.key === "Enter") choose(r.pair); } },
        h("td", {}, session ? h("button", { type: "button", class: `star${watched.has(r.pair) ? " on" : ""}`, "aria-pressed": String(watched.has(r.pair)),
          "aria-label": `watch ${r.pair}`, onclick: (e) => { e.stopPropagation(); toggleWatch(r.pair); } }, watched.has(r.pair) ? "★" : "☆") : null,
          r.pair, r.source === "kraken" ? "" : h("span", { class: "dim" }, ` ${r.source}`)),
        h("td", { class: "hide-sm" }, r.original.sell), h("td", { class: "hide-sm" }, r.original.buy),
        h("td", {}, r.withSpread?.sell ?? "—"), h("td", {}, r.withSpread?.buy ?? "—"),
        h("td", { class: "hide-sm" }, r.currentSpread ? `${r.currentSpread.sell} / ${r.currentSpread.buy}` : "unquotable"),
        h("td", { class: ch == null ? "dim" : ch >= 0 ? "up" : "down" }, ch == null ? "—" : `${ch >= 0 ? "+" : ""}${ch.toFixed(2)} %`),
        h("td", { class: "hide-sm age", "data-ts": r.ts }, fmtAge(Math.max(0, Date.now() - Date.parse(r.ts)))),
        h("td", { class: "hide-sm venues" }, (r.venues || []).join(", ") || r.source),
        h("td", {}, r.stale ? h("span", { class: "badge stale", title: staleWords(r) }, `STALE · ${staleWords(r)}`)
          : r.unpricedReason ? h("span", { class: "badge stale", title: unpricedWords(r) }, `NOT QUOTABLE · ${unpricedWords(r)}`)
          : h("span", { class: "badge live" }, "LIVE")));
    }));
  }
  async function loadChange() {
    const day = new Date(Date.now() - 24 * 3600e3).toISOString();
    for (const pair of pairsKnown()) {
      try {
        const page = await api(`/api/candles?pair=${encodeURIComponent(pair)}&interval=1h&from=${day}`, { auth: false });
        const r = rates.get(pair.replace("/", "_"));
        if (page.candles.length && r) change[pair] = ((+r.original.sell + +r.original.buy) / 2 / +page.candles[0].open - 1) * 100;
      } catch { /* no history: no change shown */ }
    }
    paint();
  }
  async function choose(pair) {
    chosen = pair;
    chartTitle.textContent = `${pair} · 1 minute candles of the mid (last 2 hours)`;
    const page = await api(`/api/candles?pair=${encodeURIComponent(pair)}&interval=1m`, { auth: false });
    candles = page.candles;
    drawChart(svg, candles);
    paintDepth();
  }
  paint();
  cleanup.push(on("rates:live", (data) => {
    paint();
    // The open minute, drawn live from the mid.
    const r = chosen && data[chosen.replace("/", "_")];
    if (r) {
      const mid = (+r.original.sell + +r.original.buy) / 2, start = new Date(Math.floor(Date.parse(r.ts) / 60000) * 60000).toISOString();
      const last = candles[candles.length - 1];
      if (last && last.start === start) Object.assign(last, { high: Math.max(+last.high, mid), low: Math.min(+last.low, mid), close: mid });
      else candles.push({ start, open: mid, high: mid, low: mid, close: mid });
      drawChart(svg, candles.slice(-120));
    }
  }));
  const ager = setInterval(() => root.querySelectorAll("td.age").forEach((td) => { td.textContent = fmtAge(Math.max(0, Date.now() - Date.parse(td.dataset.ts))); }), 250);
  cleanup.push(() => clearInterval(ager));
  const first = () => (rates.has(lastPair.replace("/", "_")) ? lastPair : pairsKnown()[0]);
  if (rates.size) { choose(first()); loadChange(); }
  else { const off = on("rates:live", () => { off(); choose(first()); loadChange(); }); cleanup.push(off); }
};

views.trade = async (root) => {
  if (!session) return go("login");
  const msg = h("p", { role: "alert" }), quoteBox = h("div");
  const pairSel = h("select", { name: "pair" }, pairsKnown().map((p) => h("option", { value: p, selected: p === lastPair }, p)));
  pairSel.addEventListener("change", () => { lastPair = pairSel.value; });
  const amount = h("input", { name: "amount", inputmode: "decimal", placeholder: "0.01", required: true, autocomplete: "off" });
  let side = "buy", timer = null;
  const sideBtns = ["buy", "sell"].map((s) => h("button", { type: "button", class: s === side ? s : "", "aria-pressed": String(s === side), "data-side": s,
    onclick: () => { side = s; sideBtns.forEach((b) => { const onNow = b.dataset.side === s; b.className = onNow ? s : ""; b.setAttribute("aria-pressed", String(onNow)); }); } }, s === "buy" ? "Buy" : "Sell"));
  // The price at size before any quote: what a quote for the typed amount would say now
  // (GET /api/rates/{pair}/price, priced by the server), and the most that can be quoted;
  // asked 150 ms after typing stops, and again every second while an amount is there.
  const atSize = h("p", { id: "price-at-size", class: "dim", "aria-live": "polite" });
  let atSizeTimer = null, atSizeAsked = 0;
  async function paintAtSize() {
    const asked = ++atSizeAsked, amt = amount.value.trim();
    if (!amt) { atSize.textContent = ""; return; }
    let text;
    try {
      const p = await api(`/api/rates/${encodeURIComponent(pairSel.value)}/price?side=${side}&amount=${encodeURIComponent(amt)}`, { auth: false });
      const most = p.max_amount ? ` · at most ${p.max_amount} ${p.pair.split("/")[0]} can be quoted now` : "";
      text = `Now: ${p.side} ${p.amount} at ${p.price} (total ${p.total} ${p.total_asset})${most}`;
    } catch (err) { text = explain(err); }
    if (asked === atSizeAsked) atSize.textContent = text;
  }
  const askAtSize = () => { clearTimeout(atSizeTimer); atSizeTimer = setTimeout(paintAtSize, 150); };
  amount.addEventListener("input", askAtSize);
  pairSel.addEventListener("change", askAtSize);
  sideBtns.forEach((b) => b.addEventListener("click", askAtSize));
  const atSizeEvery = setInterval(() => { if (amount.value.trim()) paintAtSize(); }, 1000);
  cleanup.push(() => { clearInterval(atSizeEvery); clearTimeout(atSizeTimer); });
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault(); msg.textContent = ""; msg.className = ""; quoteBox.replaceChildren(); clearInterval(timer);
    try {
      const q = await api("/api/quotes", { method: "POST", body: { pair: pairSel.value, side, amount: amount.value.trim() } });
      showQuote(q);
    } catch (err) { msg.className = "error"; msg.textContent = explain(err); }
  } },
    h("label", {}, "Pair", pairSel), h("div", { class: "row", role: "group", "aria-label": "side" }, sideBtns),
    h("label", {}, "Amount (base asset)", amount), atSize, h("button", { class: "primary", type: "submit" }, "Get a firm quote"));
  function showQuote(q) {
    const left = h("span", { class: "countdown" });
    const confirm = h("button", { class: q.side, type: "button", onclick: async () => {
      confirm.disabled = true;
      try {
        const o = await api("/api/orders", { method: "POST", body: { quote_id: q.id }, headers: { "idempotency-key": crypto.randomUUID() } });
        clearInterval(timer);
        // The order's figures are the quote's (normalized: 97483 for 97483.0): shown as quoted.
        const same = (a, b) => Dec.cmp(Dec.parse(a), Dec.parse(b)) === 0;
        const price = same(o.price, q.price) ? q.price : o.price, total = same(o.total, q.total) ? q.total : o.total;
        quoteBox.replaceChildren(h("div", { class: "quote ok", "data-order": o.id },
          h("p", { class: "big" }, `Filled: ${o.side === "buy" ? "bought" : "sold"} ${o.amount} ${o.pair.split("/")[0]} at ${price}`),
          h("p", {}, `Total ${total} ${o.pair.split("/")[1]} · order ${o.id}`)));
      } catch (err) { msg.className = "error"; msg.textContent = explain(err); confirm.disabled = true; }
    } }, `Confirm ${q.side}`);
    const tick = () => {
      const ms = Date.parse(q.expires_at) - Date.now();
      left.textContent = ms > 0 ? `${(ms / 1000).toFixed(1)} s left` : "expired";
      if (ms <= 0) { clearInterval(timer); left.classList.add("error"); }
    };
    quoteBox.replaceChildren(h("div", { class: "quote", "data-quote": q.id },
      h("p", { class: "big" }, `${q.side === "buy" ? "Buy" : "Sell"} ${q.amount} ${q.pair.split("/")[0]} at ${q.price}`),
      h("p", {}, `Total ${q.total} ${q.total_asset} · firm until confirmed or `, left),
      h("div", { class: "row" }, confirm, h("button", { type: "button", onclick: () => { clearInterval(timer); quoteBox.replaceChildren(); } }, "Cancel"))));
    tick(); timer = setInterval(tick, 100);
  }
  cleanup.push(() => clearInterval(timer));
  root.append(h("h2", {}, "Trade at a firm price"), h("div", { class: "grid" },
    h("div", { class: "panel" }, form, msg, quoteBox),
    h("div", { class: "panel" }, h("h3", {}, "Your balances"), await balancesTable())));
};

async function balancesTable() {
  const tbody = h("tbody");
  const paint = (list) => tbody.replaceChildren(...(list.length ? list.map((b) => h("tr", { "data-asset": b.asset }, h("td", {}, b.asset), h("td", {}, b.available)))
    : [h("tr", {}, h("td", { colspan: 2, class: "dim" }, "No funds yet: an admin can deposit for you."))]));
  paint((await api("/api/balances")).balances);
  cleanup.push(on("balance:updated", (d) => paint(d.balances)));
  return h("table", { id: "balances" }, h("thead", {}, h("tr", {}, h("th", {}, "Asset"), h("th", {}, "Available"))), tbody);
}

views.portfolio = async (root) => {
  if (!session) return go("login");
  const tbody = h("tbody"), more = h("button", { type: "button" }, "Older orders");
  let cursor = null;
  const row = (o) => h("tr", { "data-order": o.id }, h("td", {}, fmtTime(o.created_at)), h("td", {}, o.pair),
    h("td", { class: o.side === "buy" ? "up" : "down" }, o.side), h("td", {}, o.amount), h("td", {}, o.price), h("td", { class: "hide-sm" }, o.total), h("td", { class: "hide-sm" }, o.status));
  async function load() {
    const page = await api(`/api/orders?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    tbody.append(...page.orders.map(row));
    cursor = page.next_cursor; more.hidden = !cursor;
    if (!tbody.children.length) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "dim" }, "No orders yet.")));
  }
  more.addEventListener("click", load);
  // The ledger: every deposit and trade leg with the balance right after it.
  const ledgerBody = h("tbody"), older = h("button", { type: "button" }, "Older lines");
  let before = null;
  const line = (e) => h("tr", { "data-entry": e.id }, h("td", {}, fmtTime(e.at)), h("td", { class: "hide-sm" }, e.kind),
    h("td", {}, e.asset), h("td", { class: e.amount.startsWith("-") ? "down" : "up" }, e.amount), h("td", {}, e.balance));
  async function loadLedger(fresh) {
    if (fresh) { before = null; ledgerBody.replaceChildren(); }
    const page = await api(`/api/ledger?limit=20${before ? `&before=${before}` : ""}`);
    ledgerBody.append(...page.entries.map(line));
    before = page.next_before; older.hidden = !before;
    if (!ledgerBody.children.length) ledgerBody.append(h("tr", {}, h("td", { colspan: 5, class: "dim" }, "Nothing yet.")));
  }
  older.addEventListener("click", () => loadLedger(false));
  cleanup.push(on("order:filled", (o) => { tbody.querySelector("td[colspan]")?.parentElement.remove(); tbody.prepend(row(o)); }));
  cleanup.push(on("balance:updated", () => loadLedger(true)));
  root.append(h("h2", {}, "Portfolio"), h("div", {},
    h("div", { class: "panel" }, h("h3", {}, "Balances"), await balancesTable()),
    h("div", { class: "panel scroll" }, h("h3", {}, "Orders"), h("table", { id: "orders" }, h("thead", {}, h("tr", {},
      ["Time", "Pair", "Side", "Amount", "Price"].map((t) => h("th", {}, t)), h("th", { class: "hide-sm" }, "Total"), h("th", { class: "hide-sm" }, "Status"))), tbody), more),
    h("div", { class: "panel scroll" }, h("h3", {}, "Ledger (deposits and trades, with the running balance)"), h("table", { id: "ledger" }, h("thead", {}, h("tr", {},
      h("th", {}, "Time"), h("th", { class: "hide-sm" }, "Kind"), ["Asset", "Amount", "Balance"].map((t) => h("th", {}, t)))), ledgerBody), older)));
  await Promise.all([load(), loadLedger(true)]);
};

views.admin = async (root) => {
  if (!session) return go("login");
  if (session.me?.role !== "admin") { root.append(h("h2", {}, "Admin"), h("p", { class: "error" }, "Only admins can see this page.")); return; }
  if (session.me?.two_factor === "enrolment_required") return go("account");
  if (session.me?.two_factor !== "enabled") root.append(h("p", { class: "notice", id: "two-factor-notice" }, "Two-factor sign-in is off for this admin account. ", h("a", { href: "#/account" }, "Turn it on under Account.")));
  const spreadsBody = h("tbody"), history = h("div"), preview = h("p", { class: "dim", "aria-live": "polite" }), msg = h("p", { role: "alert" });
  const pairSel = h("select", { name: "pair" }, h("option", { value: "default" }, "default (pairs without their own)"), pairsKnown().map((p) => h("option", { value: p }, p)));
  const kind = h("select", { name: "kind" }, h("option", { value: "bps" }, "bps (1/100 %)"), h("option", { value: "absolute" }, "absolute (quote currency)"));
  const buy = h("input", { name: "buy", inputmode: "decimal", value: "0" }), sell = h("input", { name: "sell", inputmode: "decimal", value: "0" });
  const reason = h("input", { name: "reason", placeholder: "why (kept in the audit trail)" });
  // The preview is priced by the server (POST /api/spreads/preview), with the rounding quotes
  // use; the newest answer wins, asked at most every 150 ms while typing.
  let previewTimer, previewAsked = 0;
  function paintPreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      const asked = ++previewAsked, pair = pairSel.value === "default" ? pairsKnown()[0] : pairSel.value;
      let text = "No live rate to preview against yet.";
      if (pair) {
        try {
          const p = await api("/api/spreads/preview", { method: "POST", body: { pair, kind: kind.value, buy: buy.value.trim(), sell: sell.value.trim() } });
          text = p.unquotable
            ? `Preview on ${p.pair} now: users could sell at nothing (the pair becomes unquotable; ask ${p.ask}, bid ${p.bid}).`
            : `Preview on ${p.pair} now: users would buy at ${p.buy} (ask ${p.ask}) and sell at ${p.sell} (bid ${p.bid}).`;
        } catch (err) { if (err.status !== 503) text = explain(err); }
      }
      if (asked === previewAsked) preview.textContent = text;
    }, 150);
  }
  [pairSel, kind, buy, sell].forEach((el) => el.addEventListener("input", () => { paintPreview(); if (el === pairSel) showHistory(pairSel.value); }));
  async function loadSpreads() {
    const list = await api("/api/spreads");
    const rows = [...(list.default ? [list.default] : []), ...Object.values(list.pairs)];
    spreadsBody.replaceChildren(...(rows.length ? rows.map((s) => h("tr", { "data-spread": s.pair }, h("td", {}, s.pair), h("td", {}, s.kind), h("td", {}, s.buy), h("td", {}, s.sell),
      h("td", {}, h("button", { type: "button", onclick: async () => { await api(`/api/spreads/${encodeURIComponent(s.pair)}`, { method: "DELETE" }); toast(`Spread on ${s.pair} removed`); loadSpreads(); } }, "Remove"))))
      : [h("tr", {}, h("td", { colspan: 5, class: "dim" }, "No spreads set: every pair trades at the raw price."))]));
  }
  async function showHistory(pair) {
    const page = await api(`/api/spreads/${encodeURIComponent(pair)}/history?limit=20`);
    history.replaceChildren(h("h3", {}, `History of ${pair}`), ...(page.entries.length ? page.entries.map((e) => h("p", {},
      `${new Date(e.at).toLocaleString()} · ${e.actor.email} · ${e.action}: `,
      e.old ? `${e.old.kind} ${e.old.buy}/${e.old.sell}` : "none", " → ", e.new ? `${e.new.kind} ${e.new.buy}/${e.new.sell}` : "none",
      e.reason ? ` · “${e.reason}”` : "")) : [h("p", { class: "dim" }, "No changes yet.")]));
  }
  const spreadForm = h("form", { onsubmit: async (e) => {
    e.preventDefault(); msg.textContent = "";
    try {
      await api(`/api/spreads/${encodeURIComponent(pairSel.value)}`, { method: "PUT", body: { kind: kind.value, buy: buy.value.trim(), sell: sell.value.trim(), reason: reason.value || undefined } });
      msg.className = "ok"; msg.textContent = `Saved: ${pairSel.value} ${kind.value} buy ${buy.value} / sell ${sell.value}`;
      loadSpreads(); showHistory(pairSel.value);
    } catch (err) { msg.className = "error"; msg.textContent = explain(err); }
  } }, h("label", {}, "Pair", pairSel), h("label", {}, "Kind", kind), h("div", { class: "row" }, h("label", {}, "Buy side", buy), h("label", {}, "Sell side", sell)),
    h("label", {}, "Reason", reason), preview, h("button", { class: "primary", type: "submit" }, "Save spread"), msg);
  const depMsg = h("p", { role: "alert" });
  const depForm = h("form", { onsubmit: async (e) => {
    e.preventDefault(); const f = new FormData(depForm);
    try {
      const d = await api("/api/admin/deposits", { method: "POST", body: { email: f.get("email"), asset: f.get("asset"), amount: String(f.get("amount")).trim() } });
      depMsg.className = "ok"; depMsg.textContent = `Deposited ${d.amount} ${d.asset} to ${d.email}; balance now ${d.balance}.`; loadUsers();
    } catch (err) { depMsg.className = "error"; depMsg.textContent = explain(err); }
  } }, h("label", {}, "Email", h("input", { name: "email", type: "email", required: true })), h("div", { class: "row" },
    h("label", {}, "Asset", h("input", { name: "asset", value: "USD", required: true, size: 6 })), h("label", {}, "Amount", h("input", { name: "amount", inputmode: "decimal", required: true }))),
    h("button", { class: "primary", type: "submit" }, "Deposit"), depMsg);
  const usersBody = h("tbody"), revenueBody = h("tbody");
  async function loadUsers() {
    const { users } = await api("/api/admin/users");
    const toggle = (u) => u.id === session.me?.id ? "" : h("button", { type: "button", "aria-label": `${u.disabled ? "Enable" : "Disable"} ${u.email}`, onclick: async () => {
      try { await api(`/api/admin/users/${u.id}/${u.disabled ? "enable" : "disable"}`, { method: "POST", body: {} }); loadUsers(); }
      catch (err) { toast(explain(err), "error"); }
    } }, u.disabled ? "Enable" : "Disable");
    usersBody.replaceChildren(...users.map((u) => h("tr", {}, h("td", {}, u.email), h("td", {}, u.disabled ? `${u.role} (disabled)` : u.role), h("td", {}, toggle(u)))));
    const { revenue } = await api("/api/admin/revenue");
    revenueBody.replaceChildren(...(revenue.length ? revenue.map((r) => h("tr", {}, h("td", {}, r.pair), h("td", {}, `${r.amount} ${r.asset}`), h("td", {}, r.orders)))
      : [h("tr", {}, h("td", { colspan: 3, class: "dim" }, "No orders yet."))]));
  }
  // Per-pair size limits and ladder sizes (GET/PUT /api/admin/pairs/…/limits): an empty
  // maximum means none beyond the book's depth; an empty ladder means the default.
  const limitsBody = h("tbody"), limitsMsg = h("p", { role: "alert" });
  const limitPair = h("select", { name: "limit-pair" }, pairsKnown().map((p) => h("option", { value: p }, p)));
  const maxAmount = h("input", { name: "max-amount", inputmode: "decimal", placeholder: "none" });
  const ladderSizes = h("input", { name: "ladder", placeholder: "default, e.g. 0.1, 1, 5" });
  async function loadLimits() {
    const list = await api("/api/admin/pairs/limits");
    limitsBody.replaceChildren(...list.pairs.map((l) => h("tr", { "data-limits": l.pair }, h("td", {}, l.pair), h("td", {}, l.max_amount ?? "—"),
      h("td", { class: "wrap" }, `${l.ladder.join(", ")}${l.ladder_set ? "" : " (default)"}`))));
  }
  const limitsForm = h("form", { id: "limits-form", onsubmit: async (e) => {
    e.preventDefault(); limitsMsg.textContent = "";
    const ladder = ladderSizes.value.split(",").map((x) => x.trim()).filter(Boolean);
    try {
      const l = await api(`/api/admin/pairs/${encodeURIComponent(limitPair.value)}/limits`, { method: "PUT",
        body: { max_amount: maxAmount.value.trim() || null, ladder: ladder.length ? ladder : null } });
      limitsMsg.className = "ok"; limitsMsg.textContent = `Saved: ${l.pair} at most ${l.max_amount ?? "the book's depth"}, ladder ${l.ladder.join(", ")}`;
      loadLimits();
    } catch (err) { limitsMsg.className = "error"; limitsMsg.textContent = explain(err); }
  } }, h("label", {}, "Pair", limitPair), h("div", { class: "row" }, h("label", {}, "Largest quote (base asset)", maxAmount), h("label", {}, "Ladder sizes", ladderSizes)),
    h("button", { class: "primary", type: "submit" }, "Save limits"), limitsMsg);
  // Venue health, from the feed's newest status (GET /api/admin/venues), every 2 s.
  const venuesBody = h("tbody"), feedLine = h("p", { class: "dim", id: "feed-line" });
  async function loadVenues() {
    try {
      const v = await api("/api/admin/venues");
      feedLine.textContent = v.feed === "silent" ? "Feed: silent (no status heard lately)" : `Feed: ${v.feed} · leader ${v.feed_leader}`;
      venuesBody.replaceChildren(...(v.venues.length ? v.venues.map((x) => {
        const books = Object.entries(x.pairs), fresh = books.filter(([, b]) => b.state === "fresh").length;
        return h("tr", { "data-venue": x.venue }, h("td", {}, x.venue), h("td", {}, h("span", { class: `badge ${x.state === "fresh" ? "live" : "stale"}` }, x.state)),
          h("td", {}, `${fresh} of ${books.length}`), h("td", {}, String(x.checksum_failures)), h("td", {}, String(x.sequence_gaps)));
      }) : [h("tr", {}, h("td", { colspan: 5, class: "dim" }, "No venue reported (a single-venue feed, or a silent one)."))]));
    } catch (err) { feedLine.textContent = explain(err); }
  }
  const venuesEvery = setInterval(loadVenues, 2000);
  cleanup.push(() => clearInterval(venuesEvery));
  root.append(h("h2", {}, "Admin"), h("div", { class: "grid" },
    h("div", { class: "panel" }, h("h3", {}, "Set a spread"), spreadForm, history),
    h("div", { class: "panel scroll" }, h("h3", {}, "Spreads in force"), h("table", { id: "spreads" }, h("thead", {}, h("tr", {}, ["Pair", "Kind", "Buy", "Sell", ""].map((t) => h("th", {}, t)))), spreadsBody)),
    h("div", { class: "panel" }, h("h3", {}, "Deposit for a user"), depForm),
    h("div", { class: "panel scroll" }, h("h3", {}, "Revenue per pair"), h("table", { id: "revenue" }, h("thead", {}, h("tr", {}, ["Pair", "Earned", "Orders"].map((t) => h("th", {}, t)))), revenueBody),
      h("h3", {}, "Users"), h("table", { id: "users" }, h("thead", {}, h("tr", {}, ["Email", "Role", ""].map((t) => h("th", {}, t)))), usersBody)),
    h("div", { class: "panel scroll" }, h("h3", {}, "Size limits and ladders"), limitsForm, h("table", { id: "limits" },
      h("thead", {}, h("tr", {}, ["Pair", "Largest", "Ladder"].map((t) => h("th", { scope: "col" }, t)))), limitsBody)),
    h("div", { class: "panel scroll" }, h("h3", {}, "Venue health"), feedLine, h("table", { id: "venues" },
      h("thead", {}, h("tr", {}, [["Venue"], ["State"], ["Fresh", "books fresh of the pairs it carries"], ["Bad sums", "checksum failures"], ["Gaps", "sequence gaps"]].map(([t, title]) => h("th", { scope: "col", title }, t)))), venuesBody))));
  paintPreview(); await Promise.all([loadSpreads(), loadUsers(), showHistory(pairSel.value), loadVenues(), loadLimits()]);
};

views.account = async (root) => {
  if (!session) return go("login");
  const msg = h("p", { role: "alert" });
  const form = h("form", { id: "password-form", onsubmit: async (e) => {
    e.preventDefault(); msg.textContent = "";
    const f = new FormData(form);
    try {
      const t = await api("/api/auth/password", { method: "POST", body: { current_password: f.get("current"), new_password: f.get("new") } });
      saveSession({ ...session, access: t.access_token, refresh: t.refresh_token });
      form.reset(); msg.className = "ok"; msg.textContent = "Password changed. Your other sessions are signed out.";
    } catch (err) {
      msg.className = "error";
      msg.textContent = err.body?.code === "invalid_credentials" ? "Your current password is not right." : explain(err);
    }
  } },
    h("label", {}, "Current password", h("input", { name: "current", type: "password", required: true, autocomplete: "current-password" })),
    h("label", {}, "New password (at least 12 characters)", h("input", { name: "new", type: "password", required: true, minlength: 12, autocomplete: "new-password" })),
    h("button", { class: "primary", type: "submit" }, "Change password"), msg);
  session.me = await api("/api/me"); saveSession(session);
  root.append(h("h2", {}, "Account"), h("div", { class: "grid" },
    h("div", { class: "panel" }, h("p", {}, `Signed in as ${session.me?.email ?? ""} (${session.me?.role ?? ""})`), h("h3", {}, "Change password"), form),
    twoFactorPanel()));
};

// Two-factor sign-in: enrol (QR code or secret), confirm with a first code, recovery codes
// shown once; or turn it off with the password and a code.
function twoFactorPanel() {
  const panel = h("div", { class: "panel", id: "two-factor" });
  const msg = h("p", { role: "alert" });
  const newSession = (t) => { saveSession({ ...session, access: t.access_token, refresh: t.refresh_token }); connect(); };
  const paint = () => {
    const state = session.me?.two_factor;
    msg.textContent = "";
    if (state === "enabled") {
      const off = h("form", { id: "two-factor-off", onsubmit: async (e) => {
        e.preventDefault();
        const f = new FormData(off), code = (f.get("code") || "").trim();
        const body = { password: f.get("password"), ...(/^\d{6}$/.test(code) ? { code } : { recovery_code: code }) };
        try {
          newSession(await api("/api/auth/2fa/disable", { method: "POST", body }));
          session.me = await api("/api/me"); saveSession(session); paint();
          msg.className = "ok"; msg.textContent = "Two-factor sign-in is off. Your other sessions are signed out.";
        } catch (err) { msg.className = "error"; msg.textContent = err.body?.code === "invalid_credentials" ? "Your password is not right." : explain(err); }
      } },
        h("label", {}, "Password", h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" })),
        h("label", {}, "Code (or a recovery code)", h("input", { name: "code", required: true, autocomplete: "one-time-code" })),
        h("button", { type: "submit" }, "Turn off two-factor sign-in"));
      panel.replaceChildren(h("h3", {}, "Two-factor sign-in"), h("p", { class: "ok" }, "On: signing in asks for a code from your authenticator app."), off, msg);
      return;
    }
    const why = state === "enrolment_required" ? h("p", { class: "error" }, "This account must use two-factor sign-in before anything else.")
      : state === "recommended" ? h("p", { class: "error" }, "Admin accounts should use two-factor sign-in.") : h("p", { class: "dim" }, "Off. Add a code from an authenticator app to every sign-in.");
    const start = h("button", { class: "primary", type: "button", id: "two-factor-start", onclick: async () => {
      try {
        const e = await api("/api/auth/2fa/enrol", { method: "POST", body: {} });
        const confirm = h("form", { id: "two-factor-confirm", onsubmit: async (ev) => {
          ev.preventDefault();
          try {
            const c = await api("/api/auth/2fa/confirm", { method: "POST", body: { code: new FormData(confirm).get("code").trim() } });
            newSession(c.tokens);
            session.me = await api("/api/me"); saveSession(session);
            panel.replaceChildren(h("h3", {}, "Two-factor sign-in is on"),
              h("p", {}, "Keep these recovery codes somewhere safe. Each works once if you lose your authenticator app; they are not shown again."),
              h("ul", { id: "recovery-codes", class: "codes" }, c.recovery_codes.map((code) => h("li", {}, h("code", {}, code)))),
              h("button", { type: "button", onclick: paint }, "I have saved them"));
          } catch (err) { msg.className = "error"; msg.textContent = explain(err); }
        } },
          h("label", {}, "Code from the app", h("input", { name: "code", required: true, inputmode: "numeric", autocomplete: "one-time-code", pattern: "\\d{6}" })),
          h("button", { class: "primary", type: "submit" }, "Confirm"));
        panel.replaceChildren(h("h3", {}, "Set up two-factor sign-in"),
          h("p", {}, "Scan this with your authenticator app, or enter the key by hand."),
          h("img", { src: e.qr_code, alt: "QR code for your authenticator app", width: 200, height: 200, id: "two-factor-qr" }),
          h("p", {}, "Key: ", h("code", { id: "two-factor-secret" }, e.secret)),
          h("p", { class: "dim" }, h("a", { href: e.otpauth_uri }, "Open in an authenticator app on this device")),
          confirm, msg);
        confirm.querySelector("input").focus();
      } catch (err) { msg.className = "error"; msg.textContent = explain(err); }
    } }, "Turn on two-factor sign-in");
    panel.replaceChildren(h("h3", {}, "Two-factor sign-in"), why, start, msg);
  };
  paint();
  return panel;
}

views.login = async (root) => {
  const msg = h("p", { role: "alert" });
  // Shown once the password was right and the account has two-factor sign-in.
  const codeField = (form) => form.querySelector("[name=code]");
  const submit = (register) => async (e) => {
    e.preventDefault(); msg.textContent = "";
    const f = new FormData(e.target), body = { email: f.get("email"), password: f.get("password") };
    const code = (f.get("code") || "").trim();
    if (code) { if (/^\d{6}$/.test(code)) body.totp_code = code; else body.recovery_code = code; }
    try {
      if (register) await api("/api/auth/register", { method: "POST", body: { email: body.email, password: body.password }, auth: false });
      const t = await api("/api/auth/login", { method: "POST", body, auth: false });
      saveSession({ access: t.access_token, refresh: t.refresh_token });
      session.me = await api("/api/me"); saveSession(session);
      connect(); // again, with the token: this user's private events
      if (t.two_factor === "enrolment_required") { toast("This account must use two-factor sign-in: set it up now.", "error"); return go("account"); }
      if (t.two_factor === "recommended") toast("Two-factor sign-in is off for this admin account: turn it on under Account.", "error");
      go(session.me.role === "admin" ? "admin" : "trade");
    } catch (err) {
      if (err.body?.code === "two_factor_required" && !codeField(e.target)) {
        const input = h("input", { name: "code", required: true, autocomplete: "one-time-code", inputmode: "text", "aria-describedby": "code-help" });
        e.target.querySelector("button").before(h("label", {}, "Code from your authenticator app", input,
          h("span", { id: "code-help", class: "dim" }, "Six digits, or one of your recovery codes")));
        input.focus();
      }
      msg.className = "error"; msg.textContent = explain(err);
    }
  };
  const form = (id, register) => h("form", { id, onsubmit: submit(register) },
    h("label", {}, "Email", h("input", { name: "email", type: "email", required: true, autocomplete: "username" })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", required: true, minlength: register ? 12 : 1, autocomplete: register ? "new-password" : "current-password" })),
    h("button", { class: "primary", type: "submit" }, register ? "Create account" : "Sign in"));
  root.append(h("div", { class: "grid" },
    h("div", { class: "panel" }, h("h2", {}, "Sign in"), form("signin-form", false)),
    h("div", { class: "panel" }, h("h2", {}, "New here? Register"), h("p", { class: "dim" }, "At least 12 characters; a passphrase works well."), form("register-form", true))), msg);
};

// ---------- router and chrome ----------
function go(name) { location.hash = `#/${name}`; }
async function route() {
  cleanup.forEach((fn) => fn()); cleanup = [];
  const name = location.hash.replace(/^#\//, "") || "markets", view = views[name] || views.markets;
  const root = $("#view"); root.replaceChildren();
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("on", a.dataset.nav === name));
  try { await view(root); } catch (err) { root.append(h("p", { class: "error", role: "alert" }, explain(err))); }
  root.focus();
}
function onSession() {
  const role = session?.me?.role;
  document.querySelectorAll("[data-auth]").forEach((el) => {
    const need = el.dataset.auth;
    el.hidden = need === "anon" ? !!session : need === "admin" ? role !== "admin" : !session;
  });
  $("#me").textContent = session?.me ? session.me.email : "";
}
$("#signout").addEventListener("click", async () => {
  if (session) await api("/api/auth/logout", { method: "POST", body: { refresh_token: session.refresh } }).catch(() => {});
  saveSession(null); connect(); go("markets");
});
on("order:filled", (o) => toast(`Order filled: ${o.side} ${o.amount} ${o.pair} at ${o.price}`, "ok"));
window.addEventListener("hashchange", route);
(async () => {
  if (session) { try { session.me = await api("/api/me"); saveSession(session); } catch { saveSession(null); } }
  onSession(); connect(); route();
})();
