// The shapes the page reads from the API and the socket (decimals are strings, as sent).

export type Decimal = string;

export interface Side {
  buy: Decimal;
  sell: Decimal;
}

/** One pair in `rates:live` (and `GET /api/rates`). */
export interface Rate {
  pair: string;
  ts: string;
  source: string;
  venues?: string[];
  stale: boolean;
  staleReason?: string;
  unpricedReason?: string;
  original: Side;
  withSpread?: Side | null;
  currentSpread?: Side | null;
}
export type RatesFrame = Record<string, Rate>;

export interface Candle {
  start: string;
  open: Decimal;
  high: Decimal;
  low: Decimal;
  close: Decimal;
}

export interface Me {
  id: string;
  email: string;
  role: "user" | "admin";
  two_factor?: string;
}

export interface Balance {
  asset: string;
  available: Decimal;
}

/** What a quote and the order that fills it both carry. */
interface Trade {
  id: string;
  pair: string;
  side: "buy" | "sell";
  amount: Decimal;
  price: Decimal;
  total: Decimal;
}

export interface Quote extends Trade {
  total_asset: string;
  expires_at: string;
}

export interface Order extends Trade {
  status: string;
  created_at: string;
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  two_factor?: Me["two_factor"];
}

/** The problem body every error carries (RFC 9457 plus our `code`). */
export interface Problem {
  title?: string;
  detail?: string;
  code?: string;
  max_amount?: Decimal;
}

/** The events the socket delivers. */
export interface Events {
  "rates:live": RatesFrame;
  "order:filled": Order;
  "balance:updated": { balances: Balance[] };
}
