import { describe, expect, it } from "vitest";
import { codeBody } from "../src/screens/account";
import { ladderOf, previewLine } from "../src/screens/admin";
import { sortValue } from "../src/screens/markets";
import { atSizeLine } from "../src/screens/trade";
import type { Rate } from "../src/lib/types";

describe("trade", () => {
  it("says the price at size and the most quotable", () => {
    const p = { pair: "BTC/USD", side: "buy", amount: "0.5", price: "97000.1", total: "48500.05", total_asset: "USD" };
    expect(atSizeLine(p)).toBe("Now: buy 0.5 at 97000.1 (total 48500.05 USD)");
    expect(atSizeLine({ ...p, max_amount: "12.3" })).toBe("Now: buy 0.5 at 97000.1 (total 48500.05 USD) · at most 12.3 BTC can be quoted now");
  });
});

describe("admin", () => {
  it("shows the server's preview, and says when a spread makes the pair unquotable", () => {
    const p = { pair: "BTC/USD", unquotable: false, ask: "100", bid: "99", buy: "100.5", sell: "98.5" };
    expect(previewLine(p)).toBe("Preview on BTC/USD now: users would buy at 100.5 (ask 100) and sell at 98.5 (bid 99).");
    expect(previewLine({ ...p, unquotable: true })).toContain("becomes unquotable");
  });
  it("reads ladder sizes from a comma list", () => {
    expect(ladderOf(" 0.1, 1 ,,5, ")).toEqual(["0.1", "1", "5"]);
    expect(ladderOf("")).toEqual([]);
  });
});

describe("account", () => {
  it("tells a TOTP code from a recovery code", () => {
    expect(codeBody("123456")).toEqual({ code: "123456" });
    expect(codeBody("abcd-efgh")).toEqual({ recovery_code: "abcd-efgh" });
    expect(codeBody("12345")).toEqual({ recovery_code: "12345" });
  });
});

describe("markets", () => {
  it("sorts by the figure of each column", () => {
    const r: Rate = { pair: "ETH/USD", ts: "2026-12-05T10:00:00Z", source: "kraken", stale: true, venues: ["kraken", "coinbase"],
      original: { sell: "3000.5", buy: "3001" }, withSpread: { sell: "2990", buy: "3011" } };
    expect(sortValue(r, "pair", {})).toBe("ETH/USD");
    expect(sortValue(r, "bid", {})).toBe(3000.5);
    expect(sortValue(r, "buy", {})).toBe(3011);
    expect(sortValue(r, "venues", {})).toBe(2);
    expect(sortValue(r, "change", { "ETH/USD": -1.5 })).toBe(-1.5);
    expect(sortValue(r, "state", {})).toBe(1);
  });
});
