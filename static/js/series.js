// Series maths for the charts: min/max downsampling and TensorBoard's smoothing.

/**
 * Reduce points to about `target` by keeping each bucket's lowest and highest value (so spikes
 * and divergences survive), plus the first and last point. Gaps (y null) are kept.
 */
export function downsample(points, target) {
  const n = points.length;
  if (n <= target || target < 4) return points;
  const buckets = Math.max(1, Math.floor((target - 2) / 2));
  const size = (n - 2) / buckets;
  const out = [points[0]];
  for (let b = 0; b < buckets; b++) {
    const start = 1 + Math.floor(b * size);
    const end = Math.min(n - 1, 1 + Math.floor((b + 1) * size));
    let lo = -1;
    let hi = -1;
    let gap = -1;
    for (let i = start; i < end; i++) {
      const y = points[i].y;
      if (y === null || Number.isNaN(y)) {
        if (gap < 0) gap = i;
        continue;
      }
      if (lo < 0 || y < points[lo].y) lo = i;
      if (hi < 0 || y > points[hi].y) hi = i;
    }
    const keep = [lo, hi, gap].filter((i) => i >= 0).sort((a, b2) => a - b2);
    let prev = -1;
    for (const i of keep) {
      if (i !== prev) out.push(points[i]);
      prev = i;
    }
  }
  out.push(points[n - 1]);
  return out;
}

/**
 * TensorBoard's exponential moving average with debiasing (vz_line_chart2): the first values
 * are not pulled towards zero and non-finite values pass through. Fed one value at a time, so
 * live points are smoothed without recomputing the series.
 */
export class Ema {
  constructor(weight) {
    this.weight = weight;
    this.last = 0;
    this.count = 0;
  }

  next(y) {
    if (y === null || !Number.isFinite(y)) return y;
    this.last = this.last * this.weight + (1 - this.weight) * y;
    this.count += 1;
    const debias = this.weight === 1 ? 1 : 1 - this.weight ** this.count;
    return this.last / debias;
  }
}

/** Smooth an array of {x, y} points into a new one; a constant series stays exactly as is. */
export function smooth(points, weight) {
  const constant = points.every((p) => p.y === points[0].y);
  const ema = new Ema(weight);
  return points.map((p) => ({ x: p.x, y: constant ? p.y : ema.next(p.y) }));
}
