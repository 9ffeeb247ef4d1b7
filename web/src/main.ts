// rategate web app. Screens (one module each under screens/): markets, trade, portfolio,
// admin, account, sign in. Prices are shown exactly as the server sends them (decimal
// strings); numbers only place pixels on the chart and give the 24 h change.
import "./app.css";
import { api, onSessionChange, saveSession, session } from "./lib/api";
import { $, h, toast } from "./lib/dom";
import "./lib/rates";
import { connect, on } from "./lib/socket";
import type { Me } from "./lib/types";
import { go, leaveAll, type Screen } from "./lib/view";
import { explain } from "./lib/words";
import { account } from "./screens/account";
import { admin } from "./screens/admin";
import { login } from "./screens/login";
import { markets } from "./screens/markets";
import { portfolio } from "./screens/portfolio";
import { trade } from "./screens/trade";

const screens: Record<string, Screen> = { markets, trade, portfolio, admin, account, login };

async function route(): Promise<void> {
  leaveAll();
  const name = location.hash.replace(/^#\//, "") || "markets";
  const screen = screens[name] || markets;
  const root = $("#view");
  root.replaceChildren();
  document.querySelectorAll<HTMLElement>("nav a").forEach((a) => a.classList.toggle("on", a.dataset.nav === name));
  try {
    await screen(root);
  } catch (err) {
    root.append(h("p", { class: "error", role: "alert" }, explain(err)));
  }
  root.focus();
}

/** Shows what the session allows: links for signed-out, signed-in and admin users. */
function chrome(): void {
  const role = session?.me?.role;
  document.querySelectorAll<HTMLElement>("[data-auth]").forEach((el) => {
    const need = el.dataset.auth;
    el.hidden = need === "anon" ? !!session : need === "admin" ? role !== "admin" : !session;
  });
  $("#me").textContent = session?.me ? session.me.email : "";
}

onSessionChange(chrome);
$("#signout").addEventListener("click", async () => {
  if (session) await api("/api/auth/logout", { method: "POST", body: { refresh_token: session.refresh } }).catch(() => {});
  saveSession(null);
  connect();
  go("markets");
});
on("order:filled", (o) => toast(`Order filled: ${o.side} ${o.amount} ${o.pair} at ${o.price}`, "ok"));
window.addEventListener("hashchange", () => void route());

(async () => {
  if (session) {
    try {
      const me = await api<Me>("/api/me");
      saveSession({ ...session, me });
    } catch {
      saveSession(null);
    }
  }
  chrome();
  connect();
  await route();
})();
