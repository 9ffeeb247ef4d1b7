// Candles as the chart draws them: numbers only to place pixels (prices stay strings
// everywhere else). The open candle follows the live mid.
import type { Candle, Rate } from "./types";

export type Interval = "1m" | "5m" | "1h";
export const INTERVALS: Record<Interval, { seconds: number; label: string; span: string }> = {
  "1m": { seconds: 60, label: "1 minute", span: "last 2 hours" },
  "5m": { seconds: 300, label: "5 minute", span: "last 10 hours" },
  "1h": { seconds: 3600, label: "1 hour", span: "last 5 days" },
};

/** A bar at a time in seconds since the epoch (lightweight-charts' UTCTimestamp). */
export interface Bar {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
}

export const toBar = (c: Candle): Bar => ({
  time: Math.floor(Date.parse(c.start) / 1000),
  open: +c.open,
  high: +c.high,
  low: +c.low,
  close: +c.close,
});

/** The raw mid of a rate (bid and ask before the spread). */
export const midOf = (r: Rate): number => (+r.original.sell + +r.original.buy) / 2;

/** The bar after a mid heard at `tsMs`: the open bar grown, or a new one if its time is up. */
export function withMid(last: Bar | undefined, mid: number, tsMs: number, seconds: number): Bar {
  const time = Math.floor(tsMs / 1000 / seconds) * seconds;
  if (last && last.time === time) {
    return { time, open: last.open, high: Math.max(last.high, mid), low: Math.min(last.low, mid), close: mid };
  }
  return { time, open: mid, high: mid, low: mid, close: mid };
}

/** Digits after the point in the server's price strings, for the price axis. */
export function decimalsOf(...prices: string[]): number {
  return Math.min(10, Math.max(0, ...prices.map((p) => (p.split(".")[1] ?? "").length)));
}
