import { describe, expect, it } from "vitest";
import { ApiError } from "../src/lib/api";
import { compare, sameNumber } from "../src/lib/decimal";
import { connectionState } from "../src/lib/rates";
import type { Rate } from "../src/lib/types";
import { age, explain, staleWords, unpricedWords } from "../src/lib/words";

const rate = (extra: Partial<Rate>): Rate => ({ pair: "BTC/USD", ts: "", source: "kraken", stale: false, original: { sell: "1", buy: "2" }, ...extra });

describe("explain", () => {
  it("says what the market can fill when liquidity runs out", () => {
    expect(explain(new ApiError(422, { code: "insufficient_liquidity", max_amount: "3.5" })))
      .toBe("The market can't fill that much right now: at most 3.5 can be quoted. Lower the amount.");
  });
  it("falls back to the problem's detail, then the error's message", () => {
    expect(explain(new ApiError(400, { code: "something_new", detail: "amount must be positive" }))).toBe("amount must be positive");
    expect(explain(new Error("network down"))).toBe("network down");
    expect(explain(null)).toBe("Something went wrong.");
  });
});

describe("stale and unpriced pairs", () => {
  it("names the reason in words", () => {
    expect(staleWords(rate({ stale: true, staleReason: "feed_maintenance" }))).toBe("exchange maintenance");
    expect(staleWords(rate({ stale: true, staleReason: "a_reason_from_the_future" }))).toBe("stale");
    expect(unpricedWords(rate({ unpricedReason: "spread_too_wide" }))).toBe("spread too wide");
  });
  it("the indicator says live, stale with its reasons once, or reconnecting", () => {
    expect(connectionState(true, [rate({})])).toEqual({ cls: "live", text: "live" });
    const down = rate({ stale: true, staleReason: "feed_down" });
    expect(connectionState(true, [down, { ...down, pair: "ETH/USD" }])).toEqual({ cls: "stale", text: "stale: feed down" });
    expect(connectionState(false, [down])).toEqual({ cls: "", text: "reconnecting…" });
  });
});

describe("figures", () => {
  it("compares decimal strings exactly", () => {
    expect(sameNumber("97483", "97483.0")).toBe(true);
    expect(sameNumber("0.1", "0.10000000000000000001")).toBe(false);
    expect(compare("-1.5", "-1.25")).toBe(-1);
    expect(compare("10", "9.999")).toBe(1);
  });
  it("says how old a price is", () => {
    expect(age(250)).toBe("250 ms");
    expect(age(1500)).toBe("1.5 s");
    expect(age(125000)).toBe("2 min");
  });
});
