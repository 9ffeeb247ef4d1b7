// Sign in (asking for a two-factor code when the account has one) and register.
import { api, saveSession, session } from "../lib/api";
import { h, say, toast } from "../lib/dom";
import { connect } from "../lib/socket";
import type { Me, Tokens } from "../lib/types";
import { go, type Screen } from "../lib/view";
import { explain } from "../lib/words";

export const login: Screen = async (root) => {
  const msg = h("p", { role: "alert" });
  const submit = (register: boolean) => async (e: Event) => {
    e.preventDefault();
    msg.textContent = "";
    const form = e.target as HTMLFormElement, f = new FormData(form);
    const body: Record<string, unknown> = { email: f.get("email"), password: f.get("password") };
    const code = String(f.get("code") ?? "").trim();
    if (code) {
      if (/^\d{6}$/.test(code)) body.totp_code = code;
      else body.recovery_code = code;
    }
    try {
      if (register) await api("/api/auth/register", { method: "POST", body: { email: body.email, password: body.password }, auth: false });
      const t = await api<Tokens>("/api/auth/login", { method: "POST", body, auth: false });
      saveSession({ access: t.access_token, refresh: t.refresh_token });
      const me = await api<Me>("/api/me");
      if (session) saveSession({ ...session, me });
      connect(); // again, with the token: this user's private events
      if (t.two_factor === "enrolment_required") { toast("This account must use two-factor sign-in: set it up now.", "error"); return go("account"); }
      if (t.two_factor === "recommended") toast("Two-factor sign-in is off for this admin account: turn it on under Account.", "error");
      go(me.role === "admin" ? "admin" : "trade");
    } catch (err) {
      // The password was right and the account has two-factor sign-in: ask for the code.
      if ((err as { body?: { code?: string } }).body?.code === "two_factor_required" && !form.querySelector("[name=code]")) {
        const input = h("input", { name: "code", required: true, autocomplete: "one-time-code", inputmode: "text", "aria-describedby": "code-help" });
        form.querySelector("button")?.before(h("label", {}, "Code from your authenticator app", input,
          h("span", { id: "code-help", class: "dim" }, "Six digits, or one of your recovery codes")));
        input.focus();
      }
      say(msg, "error", explain(err));
    }
  };
  const form = (id: string, register: boolean) => h("form", { id, onsubmit: submit(register) },
    h("label", {}, "Email", h("input", { name: "email", type: "email", required: true, autocomplete: "username" })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", required: true, minlength: register ? 12 : 1, autocomplete: register ? "new-password" : "current-password" })),
    h("button", { class: "primary", type: "submit" }, register ? "Create account" : "Sign in"));
  root.append(h("div", { class: "grid" },
    h("div", { class: "panel" }, h("h2", {}, "Sign in"), form("signin-form", false)),
    h("div", { class: "panel" }, h("h2", {}, "New here? Register"), h("p", { class: "dim" }, "At least 12 characters; a passphrase works well."), form("register-form", true))), msg);
};
