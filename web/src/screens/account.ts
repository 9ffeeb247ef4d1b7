// Account: change the password; enrol in two-factor sign-in (QR code or key, confirmed with
// a first code, recovery codes shown once) or turn it off with the password and a code.
import { api, replaceTokens, saveSession, session } from "../lib/api";
import { field, h, say } from "../lib/dom";
import { connect } from "../lib/socket";
import type { Me, Tokens } from "../lib/types";
import { go, type Screen } from "../lib/view";
import { explain } from "../lib/words";

/** A code field's text as the API wants it: six digits are a TOTP code, anything else a recovery code. */
export const codeBody = (code: string): { code: string } | { recovery_code: string } =>
  /^\d{6}$/.test(code) ? { code } : { recovery_code: code };

const wrongPassword = (err: unknown, words: string) =>
  (err as { body?: { code?: string } }).body?.code === "invalid_credentials" ? words : explain(err);

async function refreshMe(): Promise<void> {
  if (!session) return;
  session.me = await api<Me>("/api/me");
  saveSession(session);
}

/** A new session replaced ours: keep its tokens and reconnect the socket with them. */
function newSession(t: Tokens): void {
  replaceTokens(t);
  connect();
}

export const account: Screen = async (root) => {
  if (!session) return go("login");
  const msg = h("p", { role: "alert" });
  const form: HTMLFormElement = h("form", { id: "password-form", onsubmit: async (e: Event) => {
    e.preventDefault();
    msg.textContent = "";
    try {
      replaceTokens(await api<Tokens>("/api/auth/password", { method: "POST", body: { current_password: new FormData(form).get("current"), new_password: new FormData(form).get("new") } }));
      form.reset();
      say(msg, "ok", "Password changed. Your other sessions are signed out.");
    } catch (err) {
      say(msg, "error", wrongPassword(err, "Your current password is not right."));
    }
  } },
    h("label", {}, "Current password", h("input", { name: "current", type: "password", required: true, autocomplete: "current-password" })),
    h("label", {}, "New password (at least 12 characters)", h("input", { name: "new", type: "password", required: true, minlength: 12, autocomplete: "new-password" })),
    h("button", { class: "primary", type: "submit" }, "Change password"), msg);
  await refreshMe();
  root.append(h("h2", {}, "Account"), h("div", { class: "grid" },
    h("div", { class: "panel" }, h("p", {}, `Signed in as ${session.me?.email ?? ""} (${session.me?.role ?? ""})`), h("h3", {}, "Change password"), form),
    twoFactorPanel()));
};

function twoFactorPanel(): HTMLElement {
  const panel = h("div", { class: "panel", id: "two-factor" });
  const msg = h("p", { role: "alert" });
  const fail = (err: unknown, words?: string) => say(msg, "error", words ? wrongPassword(err, words) : explain(err));

  function turnedOn(): void {
    const off: HTMLFormElement = h("form", { id: "two-factor-off", onsubmit: async (e: Event) => {
      e.preventDefault();
      try {
        newSession(await api<Tokens>("/api/auth/2fa/disable", { method: "POST", body: { password: new FormData(off).get("password"), ...codeBody(field(off, "code")) } }));
        await refreshMe();
        paint();
        say(msg, "ok", "Two-factor sign-in is off. Your other sessions are signed out.");
      } catch (err) {
        fail(err, "Your password is not right.");
      }
    } },
      h("label", {}, "Password", h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" })),
      h("label", {}, "Code (or a recovery code)", h("input", { name: "code", required: true, autocomplete: "one-time-code" })),
      h("button", { type: "submit" }, "Turn off two-factor sign-in"));
    panel.replaceChildren(h("h3", {}, "Two-factor sign-in"), h("p", { class: "ok" }, "On: signing in asks for a code from your authenticator app."), off, msg);
  }

  async function enrol(): Promise<void> {
    try {
      const e = await api<{ qr_code: string; secret: string; otpauth_uri: string }>("/api/auth/2fa/enrol", { method: "POST", body: {} });
      const confirm: HTMLFormElement = h("form", { id: "two-factor-confirm", onsubmit: async (ev: Event) => {
        ev.preventDefault();
        try {
          const c = await api<{ tokens: Tokens; recovery_codes: string[] }>("/api/auth/2fa/confirm", { method: "POST", body: { code: field(confirm, "code") } });
          newSession(c.tokens);
          await refreshMe();
          panel.replaceChildren(h("h3", {}, "Two-factor sign-in is on"),
            h("p", {}, "Keep these recovery codes somewhere safe. Each works once if you lose your authenticator app; they are not shown again."),
            h("ul", { id: "recovery-codes", class: "codes" }, c.recovery_codes.map((code) => h("li", {}, h("code", {}, code)))),
            h("button", { type: "button", onclick: paint }, "I have saved them"));
        } catch (err) {
          fail(err);
        }
      } },
        h("label", {}, "Code from the app", h("input", { name: "code", required: true, inputmode: "numeric", autocomplete: "one-time-code", pattern: "\\d{6}" })),
        h("button", { class: "primary", type: "submit" }, "Confirm"));
      panel.replaceChildren(h("h3", {}, "Set up two-factor sign-in"),
        h("p", {}, "Scan this with your authenticator app, or enter the key by hand."),
        h("img", { src: e.qr_code, alt: "QR code for your authenticator app", width: 200, height: 200, id: "two-factor-qr" }),
        h("p", {}, "Key: ", h("code", { id: "two-factor-secret" }, e.secret)),
        h("p", { class: "dim" }, h("a", { href: e.otpauth_uri }, "Open in an authenticator app on this device")),
        confirm, msg);
      confirm.querySelector("input")?.focus();
    } catch (err) {
      fail(err);
    }
  }

  function paint(): void {
    const state = session?.me?.two_factor;
    msg.textContent = "";
    if (state === "enabled") return turnedOn();
    const why = state === "enrolment_required" ? h("p", { class: "error" }, "This account must use two-factor sign-in before anything else.")
      : state === "recommended" ? h("p", { class: "error" }, "Admin accounts should use two-factor sign-in.")
      : h("p", { class: "dim" }, "Off. Add a code from an authenticator app to every sign-in.");
    const start = h("button", { class: "primary", type: "button", id: "two-factor-start", onclick: () => void enrol() }, "Turn on two-factor sign-in");
    panel.replaceChildren(h("h3", {}, "Two-factor sign-in"), why, start, msg);
  }
  paint();
  return panel;
}
