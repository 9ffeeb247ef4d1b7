// Exact comparison of the server's decimal strings. The page never prices anything: it only
// tells whether two figures are the same number ("97483" and "97483.0" are).

interface Exact {
  m: bigint;
  e: number;
}

function parse(s: string): Exact {
  const [i, f = ""] = s.split(".");
  return { m: BigInt(i + f), e: f.length };
}

function scale(d: Exact, e: number): bigint {
  return e >= d.e ? d.m * 10n ** BigInt(e - d.e) : d.m;
}

/** -1, 0 or 1, exactly. */
export function compare(a: string, b: string): number {
  const x = parse(a), y = parse(b), e = Math.max(x.e, y.e);
  const l = scale(x, e), r = scale(y, e);
  return l < r ? -1 : l > r ? 1 : 0;
}

export const sameNumber = (a: string, b: string): boolean => compare(a, b) === 0;
