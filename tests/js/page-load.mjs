// A measurement, not a test: long tasks while the markets page loads and first draws, on an
// all-in-one gateway whose simulated feed ticks 20 pairs every 100 ms (BENCHMARKS.md, "The web
// app"). Each load waits for the chart, then 1.5 s, and prints its long tasks in ms.
//   node tests/js/page-load.mjs [path/to/rategate] [loads]
import { chromium } from "playwright-core";
import { spawn, execSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";

const binary = process.argv[2] || "target/debug/rategate";
const loads = Number(process.argv[3] || 5);
const port = await new Promise((ok) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); }); });
const base = `http://127.0.0.1:${port}`, dataDir = mkdtempSync(join(tmpdir(), "rategate-load-"));
const pairs = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "USDT", "ALGO", "DOT", "LINK", "AVAX", "ATOM", "XLM", "UNI", "BCH", "ETC", "FIL", "AAVE", "NEAR"].map((b) => `${b}/USD`);
const server = spawn(binary, [], { env: { ...process.env, FEED: "sim", PAIRS: pairs.join(","), SIM_INTERVAL_MS: "100", RATEGATE_DATA_DIR: dataDir, HTTP_ADDR: `127.0.0.1:${port}`, RUST_LOG: "warn" }, stdio: "ignore" });
const chromiumPath = process.env.CHROMIUM || execSync("command -v chromium", { shell: "/bin/sh" }).toString().trim();
try {
  for (let i = 0; i < 200; i++) { try { if ((await fetch(`${base}/api/rates`)).ok) break; } catch { /* not yet */ } await new Promise((r) => setTimeout(r, 100)); }
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"] });
  let total = 0;
  for (let n = 1; n <= loads; n++) {
    const page = await (await browser.newContext({ viewport: { width: 1200, height: 850 } })).newPage();
    await page.addInitScript(() => { window.__lt = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__lt.push(Math.round(e.duration)); }).observe({ type: "longtask", buffered: true }); });
    await page.goto(`${base}/`);
    await page.waitForSelector("#chart[data-candles]", { timeout: 30000 });
    await page.waitForTimeout(1500);
    const tasks = await page.evaluate(() => window.__lt);
    total += tasks.length;
    console.log(`load ${n}: long tasks ${JSON.stringify(tasks)} ms`);
    await page.context().close();
  }
  console.log(`${total} long tasks in ${loads} loads`);
  await browser.close();
} finally {
  server.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
}
