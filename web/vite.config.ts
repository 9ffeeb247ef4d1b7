// Two pages: the app (index.html → src/main.ts) and the API docs (docs.html → src/docs.ts).
// user-api-svc's build.rs sets RATEGATE_WEB_OUT to a directory in Cargo's build output and
// embeds what lands there; `npm run build` alone writes to dist/.
import { defineConfig } from "vitest/config";
import { budget } from "./scripts/budget.ts";

export default defineConfig({
  build: {
    outDir: process.env.RATEGATE_WEB_OUT ?? "dist",
    emptyOutDir: true,
    // Our CSP allows scripts from our origin only: no inline polyfill.
    modulePreload: { polyfill: false },
    rollupOptions: { input: { index: "index.html", docs: "docs.html" } },
    chunkSizeWarningLimit: 2000,
  },
  plugins: [budget({ page: "index.html", maxGzipBytes: 200 * 1024 })],
  test: { environment: "node" },
});
