// The floor of page-load.mjs: lightweight-charts alone on an empty page (its standalone build
// from web/node_modules, one candlestick series of CANDLES one-minute candles), measured the
// same way. What this costs here, the markets page cannot get under (BENCHMARKS.md, "The web app").
//   node tests/js/page-load-floor.mjs [loads] [candles]
import { readFileSync } from "node:fs";
import { launchChromium, longTasksOfOneLoad } from "./gateway.mjs";

const loads = Number(process.argv[2] || 5);
const candles = Number(process.argv[3] || 1);
const library = readFileSync(new URL("../../web/node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js", import.meta.url));
const html = `<!doctype html><html><head><meta charset="utf-8"><title>floor</title></head>
<body style="margin:0;background:#0d1117"><div id="chart" style="height:420px"></div>
<script src="/chart.js"></script><script src="/draw.js"></script></body></html>`;
// One series, the data, two frames, then the same "drawn" mark the markets screen sets.
const draw = `const el = document.getElementById("chart");
const chart = LightweightCharts.createChart(el, { autoSize: true, layout: { attributionLogo: false } });
const series = chart.addSeries(LightweightCharts.CandlestickSeries, {});
const now = Math.floor(Date.now() / 60000) * 60, bars = [];
for (let i = 0, p = 50000; i < ${candles}; i++) { const o = p; p += Math.sin(i) * 20; bars.push({ time: now - (${candles} - i) * 60, open: o, close: p, high: Math.max(o, p) + 5, low: Math.min(o, p) - 5 }); }
series.setData(bars);
requestAnimationFrame(() => requestAnimationFrame(() => { el.dataset.candles = String(bars.length); }));`;
const files = { "/": [html, "text/html"], "/chart.js": [library, "text/javascript"], "/draw.js": [draw, "text/javascript"] };

const browser = await launchChromium();
let total = 0;
for (let n = 1; n <= loads; n++) {
  const tasks = await longTasksOfOneLoad(browser, async (page) => {
    await page.route("http://floor.test/**", (route) => {
      const [body, contentType] = files[new URL(route.request().url()).pathname] ?? ["", "text/plain"];
      return route.fulfill({ body, contentType });
    });
    await page.goto("http://floor.test/");
  });
  total += tasks.length;
  console.log(`load ${n}: long tasks ${JSON.stringify(tasks)} ms`);
}
console.log(`${total} long tasks in ${loads} loads (${candles} candles)`);
await browser.close();
