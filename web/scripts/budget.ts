// The size budget, checked in every build: all the JavaScript a page can load (its entry chunk
// and every chunk it imports, statically or on demand), gzipped, must stay under a limit. The
// build prints the figure and fails over it.
import { gzipSync } from "node:zlib";
import type { Plugin } from "vite";

interface Chunk {
  type: "chunk";
  fileName: string;
  code: string;
  imports: string[];
  dynamicImports: string[];
  facadeModuleId: string | null;
}

export function budget({ page, maxGzipBytes }: { page: string; maxGzipBytes: number }): Plugin {
  return {
    name: "rategate-budget",
    apply: "build",
    generateBundle(_options, bundle) {
      const chunks = Object.values(bundle).filter((o): o is Chunk & typeof o => o.type === "chunk");
      const entry = chunks.find((c) => c.facadeModuleId?.endsWith(`/${page}`));
      if (!entry) return this.error(`budget: no entry chunk for ${page}`);
      const seen = new Set<string>();
      const visit = (name: string) => {
        if (seen.has(name)) return;
        seen.add(name);
        const chunk = chunks.find((c) => c.fileName === name);
        chunk?.imports.forEach(visit);
        chunk?.dynamicImports.forEach(visit);
      };
      visit(entry.fileName);
      const gz = [...seen].reduce((n, name) => {
        const c = chunks.find((x) => x.fileName === name);
        return n + (c ? gzipSync(c.code, { level: 9 }).length : 0);
      }, 0);
      const kb = (gz / 1024).toFixed(1);
      const line = `budget: ${page} loads ${seen.size} script(s), ${kb} KB gzipped (limit ${maxGzipBytes / 1024} KB)`;
      if (gz > maxGzipBytes) return this.error(line);
      console.log(line);
    },
  };
}
