"use strict";
// A minimal Socket.IO v5 client (Engine.IO v4, WebSocket transport): enough for rates:live.
function connectSocketIo(onEvent, onState) {
  let ws, retry = 500;
  const open = () => {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${proto}://${location.host}/socket.io/?EIO=4&transport=websocket`);
    ws.onmessage = (m) => {
      const d = m.data;
      if (d === "2") { ws.send("3"); return; }                 // ping → pong
      if (d[0] === "0") { ws.send("40"); return; }             // engine open → join namespace "/"
      if (d.startsWith("40")) { retry = 500; onState(true); return; }
      if (d.startsWith("44")) { onState(false, "refused"); return; }
      if (d.startsWith("42")) {
        const body = JSON.parse(d.slice(d.indexOf("[")));
        onEvent(body[0], body[1]);
      }
    };
    ws.onclose = () => { onState(false); setTimeout(open, retry); retry = Math.min(retry * 2, 10000); };
  };
  open();
}

const rows = new Map();
const tbody = document.getElementById("rows");
const fmtAge = (ms) => ms < 1000 ? `${ms} ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60000)} min`;
const cmp = (a, b) => { // compare decimal strings without floats
  const [ai, af = ""] = a.split("."), [bi, bf = ""] = b.split(".");
  if (ai.length !== bi.length) return ai.length - bi.length;
  if (ai !== bi) return ai < bi ? -1 : 1;
  const n = Math.max(af.length, bf.length), x = af.padEnd(n, "0"), y = bf.padEnd(n, "0");
  return x === y ? 0 : x < y ? -1 : 1;
};

function cell(tr, cls) { const td = document.createElement("td"); td.className = cls; tr.appendChild(td); return td; }

function upsert(key, r) {
  let row = rows.get(key);
  if (!row) {
    const tr = document.createElement("tr");
    row = { tr, pair: cell(tr, "pair"), bid: cell(tr, "raw"), ask: cell(tr, "raw"), sell: cell(tr, "you"),
            buy: cell(tr, "you"), spread: cell(tr, ""), age: cell(tr, ""), state: cell(tr, "") };
    rows.set(key, row);
    const after = [...rows.keys()].sort().indexOf(key);
    tbody.insertBefore(tr, tbody.children[after] || null);
  }
  const prev = row.data;
  row.data = r;
  row.pair.innerHTML = `${r.pair} <span class="source">${r.source === "kraken" ? "" : r.source}</span>`;
  row.bid.textContent = r.original.sell;
  row.ask.textContent = r.original.buy;
  row.sell.textContent = r.withSpread ? r.withSpread.sell : "—";
  row.buy.textContent = r.withSpread ? r.withSpread.buy : "—";
  row.spread.textContent = r.currentSpread ? `${r.currentSpread.sell} / ${r.currentSpread.buy}` : "unquotable";
  row.tr.classList.toggle("stale", !!r.stale);
  row.state.innerHTML = r.stale ? '<span class="badge stale">STALE</span>' : '<span class="badge live">LIVE</span>';
  if (prev && r.withSpread && prev.withSpread) {
    const c = cmp(r.withSpread.buy, prev.withSpread.buy);
    if (c !== 0) {
      for (const td of [row.buy, row.sell]) {
        td.classList.remove("flash-up", "flash-down"); void td.offsetWidth;
        td.classList.add(c > 0 ? "flash-up" : "flash-down");
      }
    }
  }
  document.getElementById("empty").style.display = "none";
}

setInterval(() => {
  const now = Date.now();
  for (const row of rows.values()) row.age.textContent = fmtAge(Math.max(0, now - Date.parse(row.data.ts)));
}, 250);

connectSocketIo((event, data) => {
  if (event === "rates:live") for (const [k, r] of Object.entries(data)) upsert(k, r);
}, (up) => {
  document.getElementById("conn").classList.toggle("live", up);
  document.getElementById("conn-text").textContent = up ? "live" : "reconnecting…";
  if (!up) for (const row of rows.values()) row.state.innerHTML = '<span class="badge off">OFFLINE</span>';
});
