// The session (tokens kept in localStorage) and calls to the API, refreshing the access token
// once on a 401 and quietly a minute before it expires.
import type { Me, Problem, Tokens } from "./types";

const KEY = "rategate.session";

export interface Session {
  access: string;
  refresh: string;
  me?: Me;
}

function load(): Session | null {
  try {
    return JSON.parse(localStorage.getItem(KEY) || "null") as Session | null;
  } catch {
    return null;
  }
}

export let session: Session | null = load();
const sessionListeners: Array<() => void> = [];
const refreshListeners: Array<(access: string) => void> = [];

/** Called after every change of session (sign in, sign out, new tokens). */
export const onSessionChange = (fn: () => void) => sessionListeners.push(fn);
/** Called with the new access token after a refresh (the socket passes it on). */
export const onTokensRefreshed = (fn: (access: string) => void) => refreshListeners.push(fn);

export function saveSession(s: Session | null): void {
  session = s;
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
  sessionListeners.forEach((fn) => fn());
}

/** Keeps the session but with the tokens of a new one (a password or two-factor change). */
export function replaceTokens(t: Tokens): void {
  if (session) saveSession({ ...session, access: t.access_token, refresh: t.refresh_token });
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly body: Problem) {
    super(body.detail || body.title || `HTTP ${status}`);
  }
}

let refreshing: Promise<boolean> | null = null;

export function refreshTokens(): Promise<boolean> {
  if (!session) return Promise.resolve(false);
  const sent = session.refresh;
  refreshing ||= fetch("/api/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: sent }),
  })
    .then(async (r) => {
      // Refused: signed out, unless a new session (a password or two-factor change) replaced
      // the one this refresh was for meanwhile.
      if (!r.ok) {
        if (session?.refresh === sent) saveSession(null);
        return !!session;
      }
      const t = (await r.json()) as Tokens;
      if (!session) return false;
      session = { ...session, access: t.access_token, refresh: t.refresh_token };
      localStorage.setItem(KEY, JSON.stringify(session));
      refreshListeners.forEach((fn) => fn(t.access_token));
      return true;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export interface CallOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  auth?: boolean;
}

export async function api<T>(path: string, options: CallOptions = {}, retried = false): Promise<T> {
  const { method = "GET", body, headers = {}, auth = true } = options;
  const h: Record<string, string> = { ...headers };
  if (body !== undefined) h["content-type"] = "application/json";
  if (auth && session) h.authorization = `Bearer ${session.access}`;
  const r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401 && auth && session && !retried && (await refreshTokens())) return api<T>(path, options, true);
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new ApiError(r.status, (data || {}) as Problem);
  return data as T;
}

/** Seconds since the epoch at which a JWT expires, or null if it cannot be read. */
export function expiresAt(jwt: string): number | null {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const exp = (JSON.parse(atob(part)) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp : null;
  } catch {
    return null;
  }
}

// Refresh quietly a minute before the access token expires (a token we cannot read is
// refreshed on its first 401).
setInterval(() => {
  const exp = session && expiresAt(session.access);
  if (exp && exp * 1000 - Date.now() < 60000) void refreshTokens();
}, 15000);
