// Portfolio: balances, orders (newest first, paged), and the ledger with the running
// balance; all live.
import { api, session } from "../lib/api";
import { h } from "../lib/dom";
import { on } from "../lib/socket";
import type { Order } from "../lib/types";
import { go, leave, type Screen } from "../lib/view";
import { when } from "../lib/words";
import { balancesTable } from "./balances";

interface Entry {
  id: string;
  at: string;
  kind: string;
  asset: string;
  amount: string;
  balance: string;
}

export const portfolio: Screen = async (root) => {
  if (!session) return go("login");
  const tbody = h("tbody"), more = h("button", { type: "button" }, "Older orders");
  let cursor: string | null = null;
  const row = (o: Order) => h("tr", { "data-order": o.id }, h("td", {}, when(o.created_at)), h("td", {}, o.pair),
    h("td", { class: o.side === "buy" ? "up" : "down" }, o.side), h("td", {}, o.amount), h("td", {}, o.price),
    h("td", { class: "hide-sm" }, o.total), h("td", { class: "hide-sm" }, o.status));
  async function load() {
    const page = await api<{ orders: Order[]; next_cursor: string | null }>(`/api/orders?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    tbody.append(...page.orders.map(row));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    if (!tbody.children.length) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "dim" }, "No orders yet.")));
  }
  more.addEventListener("click", () => void load());

  // The ledger: every deposit and trade leg with the balance right after it.
  const ledgerBody = h("tbody"), older = h("button", { type: "button" }, "Older lines");
  let before: string | null = null;
  const line = (e: Entry) => h("tr", { "data-entry": e.id }, h("td", {}, when(e.at)), h("td", { class: "hide-sm" }, e.kind),
    h("td", {}, e.asset), h("td", { class: e.amount.startsWith("-") ? "down" : "up" }, e.amount), h("td", {}, e.balance));
  async function loadLedger(fresh: boolean) {
    if (fresh) { before = null; ledgerBody.replaceChildren(); }
    const page = await api<{ entries: Entry[]; next_before: string | null }>(`/api/ledger?limit=20${before ? `&before=${before}` : ""}`);
    ledgerBody.append(...page.entries.map(line));
    before = page.next_before;
    older.hidden = !before;
    if (!ledgerBody.children.length) ledgerBody.append(h("tr", {}, h("td", { colspan: 5, class: "dim" }, "Nothing yet.")));
  }
  older.addEventListener("click", () => void loadLedger(false));
  leave(on("order:filled", (o) => { tbody.querySelector("td[colspan]")?.parentElement?.remove(); tbody.prepend(row(o)); }));
  leave(on("balance:updated", () => void loadLedger(true)));

  root.append(h("h2", {}, "Portfolio"), h("div", {},
    h("div", { class: "panel" }, h("h3", {}, "Balances"), await balancesTable()),
    h("div", { class: "panel scroll" }, h("h3", {}, "Orders"), h("table", { id: "orders" }, h("thead", {}, h("tr", {},
      ["Time", "Pair", "Side", "Amount", "Price"].map((t) => h("th", {}, t)), h("th", { class: "hide-sm" }, "Total"), h("th", { class: "hide-sm" }, "Status"))), tbody), more),
    h("div", { class: "panel scroll" }, h("h3", {}, "Ledger (deposits and trades, with the running balance)"), h("table", { id: "ledger" }, h("thead", {}, h("tr", {},
      h("th", {}, "Time"), h("th", { class: "hide-sm" }, "Kind"), ["Asset", "Amount", "Balance"].map((t) => h("th", {}, t)))), ledgerBody), older)));
  await Promise.all([load(), loadLedger(true)]);
};
