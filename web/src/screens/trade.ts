// Trade: the price for the amount being typed (priced by the server from the book and the
// spread), the most that can be quoted now, then a firm quote with its countdown and the
// order at exactly that price.
import { api, session } from "../lib/api";
import { sameNumber } from "../lib/decimal";
import { h, say } from "../lib/dom";
import { pairsKnown } from "../lib/rates";
import type { Order, Quote } from "../lib/types";
import { go, leave, remembered, type Screen } from "../lib/view";
import { explain } from "../lib/words";
import { balancesTable } from "./balances";

interface PriceAtSize {
  pair: string;
  side: string;
  amount: string;
  price: string;
  total: string;
  total_asset: string;
  max_amount?: string | null;
}

/** The line under the amount: what a quote for it would say now. */
export function atSizeLine(p: PriceAtSize): string {
  const most = p.max_amount ? ` · at most ${p.max_amount} ${p.pair.split("/")[0]} can be quoted now` : "";
  return `Now: ${p.side} ${p.amount} at ${p.price} (total ${p.total} ${p.total_asset})${most}`;
}

export const trade: Screen = async (root) => {
  if (!session) return go("login");
  const msg = h("p", { role: "alert" }), quoteBox = h("div");
  const pairSel = h("select", { name: "pair" }, pairsKnown().map((p) => h("option", { value: p, selected: p === remembered.pair }, p)));
  pairSel.addEventListener("change", () => { remembered.pair = pairSel.value; });
  const amount = h("input", { name: "amount", inputmode: "decimal", placeholder: "0.01", required: true, autocomplete: "off" });
  let side: "buy" | "sell" = "buy", timer: ReturnType<typeof setInterval> | undefined;
  const sideBtns = (["buy", "sell"] as const).map((s) => h("button", { type: "button", class: s === side ? s : "", "aria-pressed": String(s === side), "data-side": s,
    onclick: () => {
      side = s;
      sideBtns.forEach((b) => { const now = b.dataset.side === s; b.className = now ? s : ""; b.setAttribute("aria-pressed", String(now)); });
    } }, s === "buy" ? "Buy" : "Sell"));

  // Asked 150 ms after typing stops, and again every second while an amount is there; the
  // newest answer wins.
  const atSize = h("p", { id: "price-at-size", class: "dim", "aria-live": "polite" });
  let atSizeTimer: ReturnType<typeof setTimeout> | undefined, atSizeAsked = 0;
  async function paintAtSize() {
    const asked = ++atSizeAsked, amt = amount.value.trim();
    if (!amt) { atSize.textContent = ""; return; }
    let text: string;
    try {
      text = atSizeLine(await api<PriceAtSize>(`/api/rates/${encodeURIComponent(pairSel.value)}/price?side=${side}&amount=${encodeURIComponent(amt)}`, { auth: false }));
    } catch (err) {
      text = explain(err);
    }
    if (asked === atSizeAsked) atSize.textContent = text;
  }
  const askAtSize = () => { clearTimeout(atSizeTimer); atSizeTimer = setTimeout(paintAtSize, 150); };
  amount.addEventListener("input", askAtSize);
  pairSel.addEventListener("change", askAtSize);
  sideBtns.forEach((b) => b.addEventListener("click", askAtSize));
  const atSizeEvery = setInterval(() => { if (amount.value.trim()) void paintAtSize(); }, 1000);
  leave(() => { clearInterval(atSizeEvery); clearTimeout(atSizeTimer); clearInterval(timer); });

  const form = h("form", { onsubmit: async (e: Event) => {
    e.preventDefault();
    msg.textContent = ""; msg.className = ""; quoteBox.replaceChildren(); clearInterval(timer);
    // The line above the quote speaks of the amount being quoted, not of one typed before.
    clearTimeout(atSizeTimer);
    void paintAtSize();
    try {
      showQuote(await api<Quote>("/api/quotes", { method: "POST", body: { pair: pairSel.value, side, amount: amount.value.trim() } }));
    } catch (err) {
      say(msg, "error", explain(err));
    }
  } },
    h("label", {}, "Pair", pairSel), h("div", { class: "row", role: "group", "aria-label": "side" }, sideBtns),
    h("label", {}, "Amount (base asset)", amount), atSize, h("button", { class: "primary", type: "submit" }, "Get a firm quote"));

  function showQuote(q: Quote) {
    const left = h("span", { class: "countdown" });
    const confirm: HTMLButtonElement = h("button", { class: q.side, type: "button", onclick: async () => {
      confirm.disabled = true;
      try {
        const o = await api<Order>("/api/orders", { method: "POST", body: { quote_id: q.id }, headers: { "idempotency-key": crypto.randomUUID() } });
        clearInterval(timer);
        // The order's figures are the quote's (normalized: 97483 for 97483.0): shown as quoted.
        const price = sameNumber(o.price, q.price) ? q.price : o.price, total = sameNumber(o.total, q.total) ? q.total : o.total;
        quoteBox.replaceChildren(h("div", { class: "quote ok", "data-order": o.id },
          h("p", { class: "big" }, `Filled: ${o.side === "buy" ? "bought" : "sold"} ${o.amount} ${o.pair.split("/")[0]} at ${price}`),
          h("p", {}, `Total ${total} ${o.pair.split("/")[1]} · order ${o.id}`)));
      } catch (err) {
        say(msg, "error", explain(err));
      }
    } }, `Confirm ${q.side}`);
    const tick = () => {
      const ms = Date.parse(q.expires_at) - Date.now();
      left.textContent = ms > 0 ? `${(ms / 1000).toFixed(1)} s left` : "expired";
      if (ms <= 0) { clearInterval(timer); left.classList.add("error"); }
    };
    quoteBox.replaceChildren(h("div", { class: "quote", "data-quote": q.id },
      h("p", { class: "big" }, `${q.side === "buy" ? "Buy" : "Sell"} ${q.amount} ${q.pair.split("/")[0]} at ${q.price}`),
      h("p", {}, "Total ", `${q.total} ${q.total_asset}`, " · firm until confirmed or ", left),
      h("div", { class: "row" }, confirm, h("button", { type: "button", onclick: () => { clearInterval(timer); quoteBox.replaceChildren(); } }, "Cancel"))));
    tick();
    timer = setInterval(tick, 100);
  }

  root.append(h("h2", {}, "Trade at a firm price"), h("div", { class: "grid" },
    h("div", { class: "panel" }, form, msg, quoteBox),
    h("div", { class: "panel" }, h("h3", {}, "Your balances"), await balancesTable())));
};
