// Series maths for the charts: min/max downsampling and smoothing by step distance.

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
 * An exponential moving average by step distance, debiased as TensorBoard's is
 * (vz_line_chart2): a point `gap` steps after the one before keeps weight ** (gap / unit) of
 * the average so far. With points `unit` steps apart this is TensorBoard's smoothing exactly;
 * a sparse series beside a dense one (val every 50 steps, train every step, unit 1) is barely
 * pulled towards its old values, so a sudden drop is not bent into a slope. Non-finite values
 * pass through. Fed one value at a time, so live points are smoothed without recomputing.
 */
export class Ema {
  constructor(weight, unit = 1) {
    this.weight = weight;
    this.unit = unit > 0 ? unit : 1;
    this.sum = 0; // the weighted values so far
    this.norm = 0; // the weights so far: dividing by it is the debiasing
    this.step = null;
  }

  next(y, step) {
    if (y === null || !Number.isFinite(y)) return y;
    const gap = this.step === null ? this.unit : Math.max(0, step - this.step);
    const keep = this.weight ** (gap / this.unit);
    this.sum = this.sum * keep + (1 - keep) * y;
    this.norm = this.norm * keep + (1 - keep);
    this.step = step;
    return this.norm > 0 ? this.sum / this.norm : y;
  }
}

/** The step of a point: its own (`s`), else its place in the series. */
const stepOf = (point, index) => point.s ?? index;

/**
 * The usual distance in steps between a series' points: their mean gap, so a downsampled
 * series (two points per bucket of many steps) counts as the sparse series it has become.
 */
export function stepGap(points) {
  const n = points.length;
  if (n < 2) return null;
  const gap = (stepOf(points[n - 1], n - 1) - stepOf(points[0], 0)) / (n - 1);
  return gap > 0 ? gap : null;
}

/**
 * Smooth an array of {x, y, s?} points into a new one, weighing by step distance (see Ema; by
 * default the unit is the series' own usual gap); a constant series stays exactly as is.
 */
export function smooth(points, weight, unit = stepGap(points) ?? 1) {
  const constant = points.every((p) => p.y === points[0].y);
  const ema = new Ema(weight, unit);
  return points.map((p, i) => ({ x: p.x, y: constant ? p.y : ema.next(p.y, stepOf(p, i)) }));
}
