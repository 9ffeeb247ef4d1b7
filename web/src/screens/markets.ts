// Markets: the live board (sortable, filterable, the user's watchlist), the chosen pair's
// candle chart and the consolidated book behind its price, each level with its venue.
import { api, session } from "../lib/api";
import { INTERVALS, midOf, type Interval } from "../lib/candles";
import { h } from "../lib/dom";
import { keyOf, pairsKnown, rates } from "../lib/rates";
import { on } from "../lib/socket";
import type { Candle, Rate } from "../lib/types";
import { leave, remembered, type Screen } from "../lib/view";
import { age, explain, staleWords, unpricedWords } from "../lib/words";

interface Level {
  price: string;
  qty: string;
  venue: string;
}
interface Book {
  pair: string;
  venues: string[];
  bids: Level[];
  asks: Level[];
}

type Column = "pair" | "bid" | "ask" | "sell" | "buy" | "spread" | "change" | "age" | "venues" | "state";
const COLUMNS: Array<[Column, string, string?]> = [
  ["pair", "Pair"], ["bid", "Bid", "hide-sm"], ["ask", "Ask", "hide-sm"], ["sell", "You sell"], ["buy", "You buy"],
  ["spread", "Spread", "hide-sm"], ["change", "24 h"], ["age", "Age", "hide-sm"], ["venues", "Venues", "hide-sm"], ["state", "State"],
];

/** The value a column sorts by (numbers only to order rows). */
export function sortValue(r: Rate, k: Column, change: Record<string, number>): number | string {
  switch (k) {
    case "pair": return r.pair;
    case "bid": return +r.original.sell;
    case "ask": return +r.original.buy;
    case "sell": return +(r.withSpread?.sell ?? 0);
    case "buy": return +(r.withSpread?.buy ?? 0);
    case "change": return change[r.pair] ?? 0;
    case "age": return Date.parse(r.ts);
    case "venues": return (r.venues || []).length;
    case "state": return +r.stale;
    default: return 0;
  }
}

export const markets: Screen = async (root) => {
  let sortBy: Column = "pair", dir = 1, filter = "", chosen: string | null = null, onlyWatched = false;
  let interval: Interval = "1m";
  const change: Record<string, number> = {};
  // The signed-in user's favourite pairs, kept on the server (they follow the user).
  const watched = new Set<string>(session ? await api<{ pairs: string[] }>("/api/watchlist").then((w) => w.pairs).catch(() => []) : []);
  async function toggleWatch(pair: string) {
    const list = await api<{ pairs: string[] }>(`/api/watchlist/${encodeURIComponent(pair)}`, { method: watched.has(pair) ? "DELETE" : "PUT" });
    watched.clear();
    list.pairs.forEach((p) => watched.add(p));
    paint();
  }
  const tbody = h("tbody");
  const head = h("tr", {}, COLUMNS.map(([k, label, cls]) => h("th", { class: cls, scope: "col" },
    h("button", { type: "button", onclick: () => { dir = sortBy === k ? -dir : 1; sortBy = k; paint(); } }, label))));

  const chartTitle = h("h3", {}, "Pick a pair to see its chart");
  const chartBox = h("div", { class: "chart", id: "chart", role: "img", "aria-label": "candle chart of the chosen pair" });
  const intervalBtns = (Object.keys(INTERVALS) as Interval[]).map((i) => h("button", { type: "button", "data-interval": i, "aria-pressed": String(i === interval),
    onclick: () => { interval = i; intervalBtns.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.interval === i))); if (chosen) void choose(chosen); } }, i));
  // The chart's code (lightweight-charts) is its own chunk, evaluated after the page's first
  // task rather than inside it.
  const { CandleChart } = await import("../chart");
  const chart = new CandleChart(chartBox);
  leave(() => chart.destroy());

  // The consolidated book behind the chosen pair's price (GET /api/book/{pair}), refreshed
  // every second.
  const depthTitle = h("h3", {}, "Depth"), depthTable = h("table", { class: "depth" });
  async function paintDepth() {
    if (!chosen) return;
    try {
      const b = await api<Book>(`/api/book/${encodeURIComponent(chosen)}`, { auth: false });
      depthTitle.textContent = `${b.pair} · consolidated book over ${b.venues.join(", ")}`;
      const rows = Math.max(b.bids.length, b.asks.length);
      const cell = (l?: Level) => l ? [h("td", {}, l.qty), h("td", {}, l.price), h("td", { class: "dim" }, l.venue)] : [h("td"), h("td"), h("td")];
      depthTable.replaceChildren(
        h("thead", {}, h("tr", {}, ["Bid size", "Bid", "Venue", "Ask size", "Ask", "Venue"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, Array.from({ length: Math.min(rows, 10) }, (_, i) => h("tr", { "data-level": i }, cell(b.bids[i]), cell(b.asks[i])))));
    } catch (err) {
      depthTitle.textContent = `Depth: ${explain(err)}`;
      depthTable.replaceChildren();
    }
  }
  const depthEvery = setInterval(paintDepth, 1000);
  leave(() => clearInterval(depthEvery));

  root.append(h("h2", {}, "Markets"),
    h("div", { class: "row" },
      h("label", {}, "Filter", h("input", { type: "search", placeholder: "BTC, USD…", oninput: (e: Event) => { filter = (e.target as HTMLInputElement).value.toUpperCase(); paint(); } })),
      session ? h("label", { class: "check" }, h("input", { type: "checkbox", id: "only-watched", onchange: (e: Event) => { onlyWatched = (e.target as HTMLInputElement).checked; paint(); } }), " My watchlist only") : null),
    h("p", { class: "dim" }, "You buy at the ask plus the spread (rounded up to the pair's tick) and sell at the bid minus the spread (rounded down)."),
    h("div", { class: "panel scroll" }, h("table", {}, h("thead", {}, head), tbody)),
    h("div", { class: "panel" }, h("div", { class: "row between" }, chartTitle, h("div", { class: "row", role: "group", "aria-label": "candle interval" }, intervalBtns)), chartBox,
      h("p", { class: "dim small" }, "Chart by ", h("a", { href: "https://www.tradingview.com/", rel: "noopener" }, "TradingView Lightweight Charts"))),
    h("div", { class: "panel scroll", id: "depth", tabindex: 0, role: "region", "aria-label": "order book depth" }, depthTitle, depthTable));

  function badge(r: Rate) {
    if (r.stale) return h("span", { class: "badge stale", title: staleWords(r) }, `STALE · ${staleWords(r)}`);
    if (r.unpricedReason) return h("span", { class: "badge stale", title: unpricedWords(r) }, `NOT QUOTABLE · ${unpricedWords(r)}`);
    return h("span", { class: "badge live" }, "LIVE");
  }
  function row(key: string, r: Rate) {
    const ch = change[r.pair], star = watched.has(r.pair);
    return h("tr", { class: `pick${r.stale ? " stale" : ""}`, tabindex: 0, "data-pair": key,
      onclick: () => void choose(r.pair), onkeydown: (e: KeyboardEvent) => { if (e.key === "Enter") void choose(r.pair); } },
      h("td", {}, session ? h("button", { type: "button", class: `star${star ? " on" : ""}`, "aria-pressed": String(star), "aria-label": `watch ${r.pair}`,
        onclick: (e: Event) => { e.stopPropagation(); void toggleWatch(r.pair); } }, star ? "★" : "☆") : null,
        r.pair, r.source === "kraken" ? "" : h("span", { class: "dim" }, ` ${r.source}`)),
      h("td", { class: "hide-sm" }, r.original.sell), h("td", { class: "hide-sm" }, r.original.buy),
      h("td", {}, r.withSpread?.sell ?? "—"), h("td", {}, r.withSpread?.buy ?? "—"),
      h("td", { class: "hide-sm" }, r.currentSpread ? `${r.currentSpread.sell} / ${r.currentSpread.buy}` : "unquotable"),
      h("td", { class: ch == null ? "dim" : ch >= 0 ? "up" : "down" }, ch == null ? "—" : `${ch >= 0 ? "+" : ""}${ch.toFixed(2)} %`),
      h("td", { class: "hide-sm age", "data-ts": r.ts }, age(Math.max(0, Date.now() - Date.parse(r.ts)))),
      h("td", { class: "hide-sm venues" }, (r.venues || []).join(", ") || r.source),
      h("td", {}, badge(r)));
  }
  function paint() {
    const list = [...rates.entries()]
      .filter(([k, r]) => k.includes(filter.replace("/", "_")) && (!onlyWatched || watched.has(r.pair)))
      .sort(([, a], [, b]) => { const x = sortValue(a, sortBy, change), y = sortValue(b, sortBy, change); return (x < y ? -1 : x > y ? 1 : 0) * dir; });
    tbody.replaceChildren(...list.map(([key, r]) => row(key, r)));
  }
  async function loadChange() {
    const day = new Date(Date.now() - 24 * 3600e3).toISOString();
    for (const pair of pairsKnown()) {
      try {
        const page = await api<{ candles: Candle[] }>(`/api/candles?pair=${encodeURIComponent(pair)}&interval=1h&from=${day}`, { auth: false });
        const r = rates.get(keyOf(pair));
        if (page.candles.length && r) change[pair] = (midOf(r) / +page.candles[0].open - 1) * 100;
      } catch { /* no history: no change shown */ }
    }
    paint();
  }
  let shown = 0;
  async function choose(pair: string) {
    chosen = pair;
    const asked = ++shown, spec = INTERVALS[interval];
    chartTitle.textContent = `${pair} · ${spec.label} candles of the mid (${spec.span})`;
    chartBox.setAttribute("aria-label", `${spec.label} candles of ${pair}`);
    const page = await api<{ candles: Candle[] }>(`/api/candles?pair=${encodeURIComponent(pair)}&interval=${interval}`, { auth: false });
    if (asked !== shown) return;
    chart.show(page.candles, spec.seconds);
    chartBox.dataset.pair = pair;
    chartBox.dataset.candles = String(page.candles.length);
    const r = rates.get(keyOf(pair));
    if (r) chart.tick(r);
    void paintDepth();
  }
  paint();
  leave(on("rates:live", (frame) => {
    paint();
    const r = chosen && frame[keyOf(chosen)];
    if (r) chart.tick(r);
  }));
  const ager = setInterval(() => root.querySelectorAll<HTMLElement>("td.age").forEach((td) => {
    td.textContent = age(Math.max(0, Date.now() - Date.parse(td.dataset.ts ?? "")));
  }), 250);
  leave(() => clearInterval(ager));
  const first = () => (rates.has(keyOf(remembered.pair)) ? remembered.pair : pairsKnown()[0]);
  if (rates.size) {
    void choose(first());
    void loadChange();
  } else {
    const off = on("rates:live", () => { off(); void choose(first()); void loadChange(); });
    leave(off);
  }
};
