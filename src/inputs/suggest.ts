// "Did you mean ...?" for misspelt setting names, in slipway.yml and on the command line.

/** Edit distance counting a swap of two neighbours as one edit (`hots` → `host`). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/**
 * The candidate closest to `word`, when it is close enough to be a typo: a third of
 * its length, at least one edit. `_` and case are ignored, since `known_hosts` and
 * `Private-Key` are what people type.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase().replace(/_/g, '-')
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const distance = editDistance(w, c.toLowerCase())
    if (distance < bestDistance) {
      best = c
      bestDistance = distance
    }
  }
  return bestDistance <= Math.max(1, Math.floor(w.length / 3)) ? best : undefined
}
