const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

/**
 * What a nearest-rank quantile of ascending values answers (load/bench and load/report each
 * have one): always a measured value, never interpolated.
 */
export const nearestRankCases: readonly [sorted: number[], q: number, expected: number][] = [
  [oneToHundred, 0, 1],
  [oneToHundred, 0.5, 50],
  [oneToHundred, 0.95, 95],
  [oneToHundred, 0.99, 99],
  [oneToHundred, 1, 100],
  [[7], 0.99, 7],
];
