// The user's balances, live from `balance:updated` (on the trade and portfolio screens).
import { api } from "../lib/api";
import { h } from "../lib/dom";
import { on } from "../lib/socket";
import type { Balance } from "../lib/types";
import { leave } from "../lib/view";

export async function balancesTable(): Promise<HTMLTableElement> {
  const tbody = h("tbody");
  const paint = (list: Balance[]) => tbody.replaceChildren(...(list.length
    ? list.map((b) => h("tr", { "data-asset": b.asset }, h("td", {}, b.asset), h("td", {}, b.available)))
    : [h("tr", {}, h("td", { colspan: 2, class: "dim" }, "No funds yet: an admin can deposit for you."))]));
  paint((await api<{ balances: Balance[] }>("/api/balances")).balances);
  leave(on("balance:updated", (d) => paint(d.balances)));
  return h("table", { id: "balances" }, h("thead", {}, h("tr", {}, h("th", {}, "Asset"), h("th", {}, "Available"))), tbody);
}
