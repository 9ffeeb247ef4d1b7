// The newest rate per pair from `rates:live`, and the header's connection indicator.
import { on, onLiveChange } from "./socket";
import { staleWords } from "./words";
import type { Rate } from "./types";

/** BTC_USD → its newest rate. */
export const rates = new Map<string, Rate>();
let live = false;

export const pairsKnown = (): string[] => [...rates.values()].map((r) => r.pair).sort();
export const keyOf = (pair: string): string => pair.replace("/", "_");

/** What the indicator says, from the connection and the rates' staleness. */
export function connectionState(isLive: boolean, list: Rate[]): { cls: "live" | "stale" | ""; text: string } {
  const stale = list.filter((r) => r.stale);
  if (!isLive) return { cls: "", text: "reconnecting…" };
  if (stale.length) return { cls: "stale", text: `stale: ${[...new Set(stale.map(staleWords))].join(", ")}` };
  return { cls: "live", text: "live" };
}

function paint(): void {
  const el = document.getElementById("conn"), text = document.getElementById("conn-text");
  if (!el || !text) return;
  const s = connectionState(live, [...rates.values()]);
  el.classList.toggle("live", s.cls === "live");
  el.classList.toggle("stale", s.cls === "stale");
  text.textContent = s.text;
}

on("rates:live", (frame) => {
  for (const [k, r] of Object.entries(frame)) rates.set(k, r);
  paint();
});
onLiveChange((isLive) => {
  live = isLive;
  paint();
});
