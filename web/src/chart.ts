// The candle chart (lightweight-charts): 1 m / 5 m / 1 h candles of the mid with crosshair,
// zoom and pan, the open candle live from `rates:live`, and the spread-adjusted buy and sell
// prices as lines over it.
import {
  CandlestickSeries,
  ColorType,
  createChart,
  LineStyle,
  type AutoscaleInfo,
  type IChartApi,
  type IPriceLine,
  type ISeriesApi,
  type UTCTimestamp,
} from "lightweight-charts";
import { decimalsOf, midOf, toBar, withMid, type Bar } from "./lib/candles";
import type { Candle, Rate } from "./lib/types";

const COLORS = { text: "#8b949e", line: "#30363d", up: "#3fb950", down: "#f85149", buy: "#58a6ff", sell: "#d29922" };

export class CandleChart {
  private chart: IChartApi;
  private series: ISeriesApi<"Candlestick">;
  private last: Bar | undefined;
  private seconds = 60;
  private lines: { buy?: IPriceLine; sell?: IPriceLine } = {};
  private places = -1;
  /** Removed with its screen: a candle page or a tick still on its way then changes nothing. */
  private removed = false;

  constructor(container: HTMLElement) {
    this.chart = createChart(container, {
      autoSize: true,
      // The library's own logo injects a <style> element, which our CSP refuses: the
      // attribution is a plain link under the chart instead (markets.ts).
      layout: { background: { type: ColorType.Solid, color: "transparent" }, textColor: COLORS.text, attributionLogo: false },
      grid: { vertLines: { color: COLORS.line }, horzLines: { color: COLORS.line } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: COLORS.line },
      rightPriceScale: { borderColor: COLORS.line },
    });
    this.series = this.chart.addSeries(CandlestickSeries, {
      upColor: COLORS.up, downColor: COLORS.down, wickUpColor: COLORS.up, wickDownColor: COLORS.down, borderVisible: false,
      // The price scale spans the buy and sell lines too, so the spread is always in view.
      autoscaleInfoProvider: (original: () => AutoscaleInfo | null) => {
        const info = original(), range = info?.priceRange;
        const prices = [this.lines.buy, this.lines.sell].flatMap((l) => (l ? [l.options().price] : []));
        if (!info || !range || !prices.length) return info;
        return { ...info, priceRange: { minValue: Math.min(range.minValue, ...prices), maxValue: Math.max(range.maxValue, ...prices) } };
      },
    });
  }

  /** Shows a pair's history at an interval of `seconds`. */
  show(candles: Candle[], seconds: number): void {
    if (this.removed) return;
    this.seconds = seconds;
    const bars = candles.map(toBar);
    this.series.setData(bars.map((b) => ({ ...b, time: b.time as UTCTimestamp })));
    this.last = bars[bars.length - 1];
    const prices = candles.flatMap((c) => [c.open, c.close]);
    if (prices.length) this.precision(decimalsOf(...prices));
    this.chart.timeScale().fitContent();
  }

  /** A live rate of the pair shown: the open candle and the buy and sell lines follow it. */
  tick(r: Rate): void {
    if (this.removed) return;
    const bar = withMid(this.last, midOf(r), Date.parse(r.ts), this.seconds);
    this.last = bar;
    this.series.update({ ...bar, time: bar.time as UTCTimestamp });
    this.precision(decimalsOf(r.original.buy, r.original.sell));
    this.line("buy", r.withSpread?.buy, COLORS.buy, "you buy");
    this.line("sell", r.withSpread?.sell, COLORS.sell, "you sell");
  }

  destroy(): void {
    this.removed = true;
    this.chart.remove();
  }

  private precision(places: number): void {
    if (places === this.places) return;
    this.places = places;
    this.series.applyOptions({ priceFormat: { type: "price", precision: places, minMove: 10 ** -places } });
  }

  private line(side: "buy" | "sell", price: string | undefined, color: string, title: string): void {
    const existing = this.lines[side];
    if (price === undefined) {
      if (existing) this.series.removePriceLine(existing);
      this.lines[side] = undefined;
    } else if (existing) {
      if (existing.options().price !== +price) existing.applyOptions({ price: +price });
    } else {
      this.lines[side] = this.series.createPriceLine({ price: +price, color, lineWidth: 1, lineStyle: LineStyle.Dashed, axisLabelVisible: true, title });
    }
  }
}
