import { describe, expect, it } from "vitest";
import { decimalsOf, midOf, toBar, withMid } from "../src/lib/candles";
import type { Rate } from "../src/lib/types";

const rate = (sell: string, buy: string): Rate => ({ pair: "BTC/USD", ts: "2026-12-05T10:00:30Z", source: "kraken", stale: false, original: { sell, buy } });

describe("candles", () => {
  it("places a candle at its start in seconds", () => {
    expect(toBar({ start: "2026-12-05T10:00:00Z", open: "1", high: "3", low: "0.5", close: "2" }))
      .toEqual({ time: Date.parse("2026-12-05T10:00:00Z") / 1000, open: 1, high: 3, low: 0.5, close: 2 });
  });

  it("takes the mid of bid and ask", () => {
    expect(midOf(rate("100", "102"))).toBe(101);
  });

  it("grows the open bar within its interval and starts a new one after", () => {
    const t0 = Date.parse("2026-12-05T10:00:00Z");
    const first = withMid(undefined, 100, t0 + 5_000, 60);
    expect(first).toEqual({ time: t0 / 1000, open: 100, high: 100, low: 100, close: 100 });
    const grown = withMid(withMid(first, 105, t0 + 20_000, 60), 98, t0 + 59_999, 60);
    expect(grown).toEqual({ time: t0 / 1000, open: 100, high: 105, low: 98, close: 98 });
    const next = withMid(grown, 99, t0 + 60_000, 60);
    expect(next).toEqual({ time: t0 / 1000 + 60, open: 99, high: 99, low: 99, close: 99 });
  });

  it("aligns 5 minute and hourly bars to their interval", () => {
    const t = Date.parse("2026-12-05T10:17:42Z");
    expect(withMid(undefined, 1, t, 300).time).toBe(Date.parse("2026-12-05T10:15:00Z") / 1000);
    expect(withMid(undefined, 1, t, 3600).time).toBe(Date.parse("2026-12-05T10:00:00Z") / 1000);
  });

  it("shows as many decimals as the prices carry", () => {
    expect(decimalsOf("97000.1", "97000.25")).toBe(2);
    expect(decimalsOf("97000")).toBe(0);
    expect(decimalsOf("0.000012345")).toBe(9);
  });
});
