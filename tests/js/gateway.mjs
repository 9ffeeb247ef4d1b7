// What the browser checks share: the all-in-one gateway on the simulated feed (its own data
// directory and port, ready once it answers /api/rates), and Debian's Chromium.
import { chromium } from "playwright-core";
import { spawn, execSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";

/** The load of the long-task checks: twenty pairs (ticked every 100 ms by SIM_INTERVAL_MS). */
export const TWENTY_PAIRS = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "USDT", "ALGO", "DOT",
  "LINK", "AVAX", "ATOM", "XLM", "UNI", "BCH", "ETC", "FIL", "AAVE", "NEAR"].map((b) => `${b}/USD`);

const freePort = () => new Promise((ok) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); }); });

/** Starts `binary` with `env` on top of the simulated feed; `stop()` ends it and removes its data. */
export async function startGateway(binary, env = {}) {
  const port = await freePort(), base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), "rategate-browser-"));
  const child = spawn(binary, [], {
    env: { ...process.env, FEED: "sim", RATEGATE_DATA_DIR: dataDir, HTTP_ADDR: `127.0.0.1:${port}`, RUST_LOG: "warn", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const stop = () => { child.kill("SIGTERM"); rmSync(dataDir, { recursive: true, force: true }); };
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${base}/api/rates`)).ok) return { base, stop }; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  stop();
  throw new Error(`${binary} did not answer ${base}/api/rates within 20 s`);
}

/** Debian's Chromium, headless, without the background traffic this closed network refuses. */
export function launchChromium() {
  const executablePath = process.env.CHROMIUM || execSync("command -v chromium", { shell: "/bin/sh" }).toString().trim();
  return chromium.launch({ executablePath,
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"] });
}

/** The long tasks (ms) of one page load in a fresh 1200×850 context: `open(page)` loads it, then
 *  until the chart says it is drawn (`#chart[data-candles]`) and 1.5 s more. */
export async function longTasksOfOneLoad(browser, open) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 850 } });
  const page = await context.newPage();
  await page.addInitScript(() => { window.__lt = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__lt.push(Math.round(e.duration)); }).observe({ type: "longtask", buffered: true }); });
  await open(page);
  await page.waitForSelector("#chart[data-candles]", { timeout: 30000 });
  await page.waitForTimeout(1500);
  const tasks = await page.evaluate(() => window.__lt);
  await context.close();
  return tasks;
}
