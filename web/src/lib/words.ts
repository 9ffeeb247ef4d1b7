// Words a trader understands: for each problem's stable code, and for why a pair is stale or
// cannot be priced.
import type { Problem, Rate } from "./types";

export function explain(e: unknown): string {
  const b: Problem = (e as { body?: Problem } | null)?.body || {};
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
    default: return b.detail || (e instanceof Error ? e.message : "") || "Something went wrong.";
  }
}

const STALE: Record<string, string> = {
  feed_silent: "feed down", feed_down: "feed down", feed_connecting: "feed connecting",
  feed_maintenance: "exchange maintenance", feed_cancel_only: "exchange cancel-only", feed_post_only: "exchange post-only",
  pair_silent: "pair silent", pair_rejected: "pair not offered", no_metadata: "waiting for pair details",
};
export const staleWords = (r: Rate): string => (r.staleReason && STALE[r.staleReason]) || "stale";

const UNPRICED: Record<string, string> = { spread_too_wide: "spread too wide", no_metadata: "waiting for pair details" };
export const unpricedWords = (r: Rate): string => (r.unpricedReason && UNPRICED[r.unpricedReason]) || "not priced";

/** How old a price is, as people read it. */
export const age = (ms: number): string =>
  ms < 1000 ? `${ms} ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60000)} min`;

/** A time: the clock alone for today, the date too otherwise. */
export function when(iso: string, now = new Date()): string {
  const t = new Date(iso);
  return t.toDateString() === now.toDateString() ? t.toLocaleTimeString() : `${t.toLocaleDateString()} ${t.toLocaleTimeString()}`;
}
