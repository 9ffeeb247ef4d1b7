// The live connection: the official Socket.IO client (long-polling first, upgraded to a
// WebSocket where one gets through; reconnects with backoff), carrying the session's token so
// the server also sends this user's private events.
import { io, type Socket } from "socket.io-client";
import { onTokensRefreshed, refreshTokens, session } from "./api";
import type { Events } from "./types";

type Listener<E extends keyof Events> = (data: Events[E]) => void;
const listeners: { [E in keyof Events]: Array<Listener<E>> } = {
  "rates:live": [],
  "order:filled": [],
  "balance:updated": [],
};
const stateListeners: Array<(live: boolean) => void> = [];

/** Adds a listener; returns the function that removes it (safe to call twice). */
export function on<E extends keyof Events>(event: E, fn: Listener<E>): () => void {
  const list = listeners[event] as Array<Listener<E>>;
  list.push(fn);
  return () => {
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
  };
}

/** Called with true when the socket is connected, false when it is not. */
export const onLiveChange = (fn: (live: boolean) => void) => stateListeners.push(fn);
const setLive = (live: boolean) => stateListeners.forEach((fn) => fn(live));

let socket: Socket | null = null;

/** (Re)connects with the session held now: after sign-in, sign-out or a new session. */
export function connect(): void {
  if (socket) {
    socket.disconnect();
    socket.connect();
    return;
  }
  const s = io({
    // Read at every (re)connection, so a reconnect carries the newest token.
    auth: (cb) => cb(session ? { token: session.access } : {}),
    reconnectionDelay: 500,
    reconnectionDelayMax: 10000,
  });
  socket = s;
  for (const event of Object.keys(listeners) as Array<keyof Events>) {
    s.on(event, (data: Events[typeof event]) => (listeners[event] as Array<(d: typeof data) => void>).forEach((fn) => fn(data)));
  }
  s.on("connect", () => setLive(true));
  s.on("disconnect", (reason) => {
    setLive(false);
    // The server ended this socket (its session ended, or another sign-in of ours began a
    // new one): connect again with the session held then. Other reasons reconnect by
    // themselves.
    if (reason === "io server disconnect") setTimeout(() => s.connect(), 300);
  });
  s.on("connect_error", () => {
    setLive(false);
    // Refused by the server (a token it no longer accepts): refresh, then try again. A
    // transport error is retried by the client itself.
    if (!s.active) void refreshTokens().then(() => setTimeout(() => s.connect(), 200));
  });
}

// The socket keeps the user's private events past the old token's expiry only if told.
onTokensRefreshed((access) => {
  if (socket?.connected) socket.emit("auth:refresh", { token: access });
});
