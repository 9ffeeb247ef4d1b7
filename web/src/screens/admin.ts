// Admin: spreads (with the server's preview and the audit history), deposits, users,
// revenue, per-pair size limits and ladders, and venue health.
import { api, session } from "../lib/api";
import { field, h, say, toast } from "../lib/dom";
import { pairsKnown } from "../lib/rates";
import { go, leave, type Screen } from "../lib/view";
import { explain } from "../lib/words";

interface Spread { pair: string; kind: string; buy: string; sell: string }
interface HistoryEntry { at: string; actor: { email: string }; action: string; old?: Spread | null; new?: Spread | null; reason?: string | null }
interface Preview { pair: string; unquotable: boolean; ask: string; bid: string; buy: string; sell: string }
interface User { id: string; email: string; role: string; disabled: boolean }
interface Revenue { pair: string; amount: string; asset: string; orders: number }
interface Limits { pair: string; max_amount: string | null; ladder: string[]; ladder_set: boolean }
interface VenueBook { state: string }
interface Venue { venue: string; state: string; pairs: Record<string, VenueBook>; checksum_failures: number; sequence_gaps: number }
interface Venues { feed: string; feed_leader: string; venues: Venue[] }

/** The preview line: what users would pay and get with the spread being typed. */
export function previewLine(p: Preview): string {
  return p.unquotable
    ? `Preview on ${p.pair} now: users could sell at nothing (the pair becomes unquotable; ask ${p.ask}, bid ${p.bid}).`
    : `Preview on ${p.pair} now: users would buy at ${p.buy} (ask ${p.ask}) and sell at ${p.sell} (bid ${p.bid}).`;
}

/** "0.1, 1 ,5," → ["0.1", "1", "5"]. */
export const ladderOf = (text: string): string[] => text.split(",").map((x) => x.trim()).filter(Boolean);

const side = (s?: Spread | null) => (s ? `${s.kind} ${s.buy}/${s.sell}` : "none");

export const admin: Screen = async (root) => {
  if (!session) return go("login");
  const me = session.me;
  if (me?.role !== "admin") { root.append(h("h2", {}, "Admin"), h("p", { class: "error" }, "Only admins can see this page.")); return; }
  if (me.two_factor === "enrolment_required") return go("account");
  if (me.two_factor !== "enabled") root.append(h("p", { class: "notice", id: "two-factor-notice" }, "Two-factor sign-in is off for this admin account. ", h("a", { href: "#/account" }, "Turn it on under Account.")));

  // ---- spreads ----
  const spreadsBody = h("tbody"), history = h("div"), preview = h("p", { class: "dim", "aria-live": "polite" }), msg = h("p", { role: "alert" });
  const pairSel = h("select", { name: "pair" }, h("option", { value: "default" }, "default (pairs without their own)"), pairsKnown().map((p) => h("option", { value: p }, p)));
  const kind = h("select", { name: "kind" }, h("option", { value: "bps" }, "bps (1/100 %)"), h("option", { value: "absolute" }, "absolute (quote currency)"));
  const buy = h("input", { name: "buy", inputmode: "decimal", value: "0" }), sell = h("input", { name: "sell", inputmode: "decimal", value: "0" });
  const reason = h("input", { name: "reason", placeholder: "why (kept in the audit trail)" });
  // Priced by the server (POST /api/spreads/preview) with the rounding quotes use; the newest
  // answer wins, asked at most every 150 ms while typing.
  let previewTimer: ReturnType<typeof setTimeout> | undefined, previewAsked = 0;
  function paintPreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      const asked = ++previewAsked, pair = pairSel.value === "default" ? pairsKnown()[0] : pairSel.value;
      let text = "No live rate to preview against yet.";
      if (pair) {
        try {
          text = previewLine(await api<Preview>("/api/spreads/preview", { method: "POST", body: { pair, kind: kind.value, buy: buy.value.trim(), sell: sell.value.trim() } }));
        } catch (err) {
          if ((err as { status?: number }).status !== 503) text = explain(err);
        }
      }
      if (asked === previewAsked) preview.textContent = text;
    }, 150);
  }
  leave(() => clearTimeout(previewTimer));
  [pairSel, kind, buy, sell].forEach((el) => el.addEventListener("input", () => { paintPreview(); if (el === pairSel) void showHistory(pairSel.value); }));
  async function loadSpreads() {
    const list = await api<{ default: Spread | null; pairs: Record<string, Spread> }>("/api/spreads");
    const rows = [...(list.default ? [list.default] : []), ...Object.values(list.pairs)];
    spreadsBody.replaceChildren(...(rows.length ? rows.map((s) => h("tr", { "data-spread": s.pair }, h("td", {}, s.pair), h("td", {}, s.kind), h("td", {}, s.buy), h("td", {}, s.sell),
      h("td", {}, h("button", { type: "button", onclick: async () => {
        await api(`/api/spreads/${encodeURIComponent(s.pair)}`, { method: "DELETE" });
        toast(`Spread on ${s.pair} removed`);
        void loadSpreads();
      } }, "Remove"))))
      : [h("tr", {}, h("td", { colspan: 5, class: "dim" }, "No spreads set: every pair trades at the raw price."))]));
  }
  async function showHistory(pair: string) {
    const page = await api<{ entries: HistoryEntry[] }>(`/api/spreads/${encodeURIComponent(pair)}/history?limit=20`);
    history.replaceChildren(h("h3", {}, `History of ${pair}`), ...(page.entries.length ? page.entries.map((e) => h("p", {},
      `${new Date(e.at).toLocaleString()} · ${e.actor.email} · ${e.action}: `, side(e.old), " → ", side(e.new), e.reason ? ` · “${e.reason}”` : ""))
      : [h("p", { class: "dim" }, "No changes yet.")]));
  }
  const spreadForm = h("form", { onsubmit: async (e: Event) => {
    e.preventDefault();
    msg.textContent = "";
    try {
      await api(`/api/spreads/${encodeURIComponent(pairSel.value)}`, { method: "PUT", body: { kind: kind.value, buy: buy.value.trim(), sell: sell.value.trim(), reason: reason.value || undefined } });
      say(msg, "ok", `Saved: ${pairSel.value} ${kind.value} buy ${buy.value} / sell ${sell.value}`);
      void loadSpreads();
      void showHistory(pairSel.value);
    } catch (err) {
      say(msg, "error", explain(err));
    }
  } }, h("label", {}, "Pair", pairSel), h("label", {}, "Kind", kind), h("div", { class: "row" }, h("label", {}, "Buy side", buy), h("label", {}, "Sell side", sell)),
    h("label", {}, "Reason", reason), preview, h("button", { class: "primary", type: "submit" }, "Save spread"), msg);

  // ---- deposits, users, revenue ----
  const depMsg = h("p", { role: "alert" });
  const depForm: HTMLFormElement = h("form", { onsubmit: async (e: Event) => {
    e.preventDefault();
    try {
      const d = await api<{ amount: string; asset: string; email: string; balance: string }>("/api/admin/deposits", { method: "POST",
        body: { email: field(depForm, "email"), asset: field(depForm, "asset"), amount: field(depForm, "amount") } });
      say(depMsg, "ok", `Deposited ${d.amount} ${d.asset} to ${d.email}; balance now ${d.balance}.`);
      void loadUsers();
    } catch (err) {
      say(depMsg, "error", explain(err));
    }
  } }, h("label", {}, "Email", h("input", { name: "email", type: "email", required: true })), h("div", { class: "row" },
    h("label", {}, "Asset", h("input", { name: "asset", value: "USD", required: true, size: 6 })), h("label", {}, "Amount", h("input", { name: "amount", inputmode: "decimal", required: true }))),
    h("button", { class: "primary", type: "submit" }, "Deposit"), depMsg);
  const usersBody = h("tbody"), revenueBody = h("tbody");
  async function loadUsers() {
    const { users } = await api<{ users: User[] }>("/api/admin/users");
    const toggle = (u: User) => u.id === session?.me?.id ? "" : h("button", { type: "button", "aria-label": `${u.disabled ? "Enable" : "Disable"} ${u.email}`, onclick: async () => {
      try {
        await api(`/api/admin/users/${u.id}/${u.disabled ? "enable" : "disable"}`, { method: "POST", body: {} });
        void loadUsers();
      } catch (err) {
        toast(explain(err), "error");
      }
    } }, u.disabled ? "Enable" : "Disable");
    usersBody.replaceChildren(...users.map((u) => h("tr", {}, h("td", {}, u.email), h("td", {}, u.disabled ? `${u.role} (disabled)` : u.role), h("td", {}, toggle(u)))));
    const { revenue } = await api<{ revenue: Revenue[] }>("/api/admin/revenue");
    revenueBody.replaceChildren(...(revenue.length ? revenue.map((r) => h("tr", {}, h("td", {}, r.pair), h("td", {}, `${r.amount} ${r.asset}`), h("td", {}, r.orders)))
      : [h("tr", {}, h("td", { colspan: 3, class: "dim" }, "No orders yet."))]));
  }

  // ---- per-pair size limits and ladder sizes: an empty maximum means none beyond the
  // book's depth; an empty ladder means the default ----
  const limitsBody = h("tbody"), limitsMsg = h("p", { role: "alert" });
  const limitPair = h("select", { name: "limit-pair" }, pairsKnown().map((p) => h("option", { value: p }, p)));
  const maxAmount = h("input", { name: "max-amount", inputmode: "decimal", placeholder: "none" });
  const ladderSizes = h("input", { name: "ladder", placeholder: "default, e.g. 0.1, 1, 5" });
  async function loadLimits() {
    const list = await api<{ pairs: Limits[] }>("/api/admin/pairs/limits");
    limitsBody.replaceChildren(...list.pairs.map((l) => h("tr", { "data-limits": l.pair }, h("td", {}, l.pair), h("td", {}, l.max_amount ?? "—"),
      h("td", { class: "wrap" }, `${l.ladder.join(", ")}${l.ladder_set ? "" : " (default)"}`))));
  }
  const limitsForm = h("form", { id: "limits-form", onsubmit: async (e: Event) => {
    e.preventDefault();
    limitsMsg.textContent = "";
    const ladder = ladderOf(ladderSizes.value);
    try {
      const l = await api<Limits>(`/api/admin/pairs/${encodeURIComponent(limitPair.value)}/limits`, { method: "PUT",
        body: { max_amount: maxAmount.value.trim() || null, ladder: ladder.length ? ladder : null } });
      say(limitsMsg, "ok", `Saved: ${l.pair} at most ${l.max_amount ?? "the book's depth"}, ladder ${l.ladder.join(", ")}`);
      void loadLimits();
    } catch (err) {
      say(limitsMsg, "error", explain(err));
    }
  } }, h("label", {}, "Pair", limitPair), h("div", { class: "row" }, h("label", {}, "Largest quote (base asset)", maxAmount), h("label", {}, "Ladder sizes", ladderSizes)),
    h("button", { class: "primary", type: "submit" }, "Save limits"), limitsMsg);

  // ---- venue health, from the feed's newest status (GET /api/admin/venues), every 2 s ----
  const venuesBody = h("tbody"), feedLine = h("p", { class: "dim", id: "feed-line" });
  async function loadVenues() {
    try {
      const v = await api<Venues>("/api/admin/venues");
      feedLine.textContent = v.feed === "silent" ? "Feed: silent (no status heard lately)" : `Feed: ${v.feed} · leader ${v.feed_leader}`;
      venuesBody.replaceChildren(...(v.venues.length ? v.venues.map((x) => {
        const books = Object.values(x.pairs), fresh = books.filter((b) => b.state === "fresh").length;
        return h("tr", { "data-venue": x.venue }, h("td", {}, x.venue), h("td", {}, h("span", { class: `badge ${x.state === "fresh" ? "live" : "stale"}` }, x.state)),
          h("td", {}, `${fresh} of ${books.length}`), h("td", {}, String(x.checksum_failures)), h("td", {}, String(x.sequence_gaps)));
      }) : [h("tr", {}, h("td", { colspan: 5, class: "dim" }, "No venue reported (a single-venue feed, or a silent one)."))]));
    } catch (err) {
      feedLine.textContent = explain(err);
    }
  }
  const venuesEvery = setInterval(loadVenues, 2000);
  leave(() => clearInterval(venuesEvery));

  const table = (id: string, cols: Array<[string, string?]>, body: HTMLElement) =>
    h("table", { id }, h("thead", {}, h("tr", {}, cols.map(([t, title]) => h("th", { scope: "col", title }, t)))), body);
  root.append(h("h2", {}, "Admin"), h("div", { class: "grid" },
    h("div", { class: "panel" }, h("h3", {}, "Set a spread"), spreadForm, history),
    h("div", { class: "panel scroll" }, h("h3", {}, "Spreads in force"), table("spreads", [["Pair"], ["Kind"], ["Buy"], ["Sell"], [""]], spreadsBody)),
    h("div", { class: "panel" }, h("h3", {}, "Deposit for a user"), depForm),
    h("div", { class: "panel scroll" }, h("h3", {}, "Revenue per pair"), table("revenue", [["Pair"], ["Earned"], ["Orders"]], revenueBody),
      h("h3", {}, "Users"), table("users", [["Email"], ["Role"], [""]], usersBody)),
    h("div", { class: "panel scroll" }, h("h3", {}, "Size limits and ladders"), limitsForm, table("limits", [["Pair"], ["Largest"], ["Ladder"]], limitsBody)),
    h("div", { class: "panel scroll" }, h("h3", {}, "Venue health"), feedLine,
      table("venues", [["Venue"], ["State"], ["Fresh", "books fresh of the pairs it carries"], ["Bad sums", "checksum failures"], ["Gaps", "sequence gaps"]], venuesBody))));
  paintPreview();
  await Promise.all([loadSpreads(), loadUsers(), showHistory(pairSel.value), loadVenues(), loadLimits()]);
};
