// A measurement, not a test: long tasks while the markets page loads and first draws, on an
// all-in-one gateway whose simulated feed ticks 20 pairs every 100 ms (BENCHMARKS.md, "The web
// app"). Each load waits for the chart, then 1.5 s, and prints its long tasks in ms.
//   node tests/js/page-load.mjs [path/to/rategate] [loads]
import { launchChromium, longTasksOfOneLoad, startGateway, TWENTY_PAIRS } from "./gateway.mjs";

const binary = process.argv[2] || "target/debug/rategate";
const loads = Number(process.argv[3] || 5);
const gateway = await startGateway(binary, { PAIRS: TWENTY_PAIRS.join(","), SIM_INTERVAL_MS: "100" });
try {
  const browser = await launchChromium();
  let total = 0;
  for (let n = 1; n <= loads; n++) {
    const tasks = await longTasksOfOneLoad(browser, (page) => page.goto(`${gateway.base}/`));
    total += tasks.length;
    console.log(`load ${n}: long tasks ${JSON.stringify(tasks)} ms`);
  }
  console.log(`${total} long tasks in ${loads} loads`);
  await browser.close();
} finally {
  gateway.stop();
}
