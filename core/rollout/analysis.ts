/**
 * Analysis math on Envoy's own statistics: parse the per-cluster counters and upstream_rq_time histogram
 * from the admin API's Prometheus text (`/stats/prometheus`), take the difference of two samples (the
 * measurement window), compute success rate and p95/p99 from the histogram buckets, and judge them
 * against the step's thresholds and against the stable cluster. Pure.
 */
import type {
  AnalysisMeasurement,
  AnalysisMetric,
  AnalysisStep,
  ClusterCounters,
  ClusterStatsSample,
  MetricMeasurement,
} from '../../contracts/rollout.schema';

export function emptyCounters(): ClusterCounters {
  return { rq2xx: 0, rq3xx: 0, rq4xx: 0, rq5xx: 0, latencyBounds: [], latencyCumulative: [], latencyCount: 0 };
}

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
  return out;
}

/**
 * Per-cluster counters of `clusters` from Envoy's Prometheus exposition (`/stats/prometheus`). Clusters that
 * Envoy does not report yet get zero counters.
 */
export function parseEnvoyClusterStats(text: string, clusters: readonly string[]): Record<string, ClusterCounters> {
  const wanted = new Set(clusters);
  const out: Record<string, ClusterCounters> = {};
  for (const c of clusters) out[c] = emptyCounters();
  const buckets: Record<string, { le: number; count: number }[]> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, labelText, valueText] = m;
    if (!name!.startsWith('envoy_cluster_upstream_rq')) continue;
    const labels = parseLabels(labelText ?? '');
    const cluster = labels.envoy_cluster_name;
    if (cluster === undefined || !wanted.has(cluster)) continue;
    const value = Number(valueText);
    if (!Number.isFinite(value)) continue;
    const c = out[cluster]!;
    if (name === 'envoy_cluster_upstream_rq_xx') {
      switch (labels.envoy_response_code_class) {
        case '2':
          c.rq2xx = value;
          break;
        case '3':
          c.rq3xx = value;
          break;
        case '4':
          c.rq4xx = value;
          break;
        case '5':
          c.rq5xx = value;
          break;
        default:
          break;
      }
    } else if (name === 'envoy_cluster_upstream_rq_time_bucket') {
      const le = labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le);
      if (!Number.isNaN(le)) (buckets[cluster] ??= []).push({ le, count: value });
    } else if (name === 'envoy_cluster_upstream_rq_time_count') {
      c.latencyCount = value;
    }
  }
  for (const [cluster, list] of Object.entries(buckets)) {
    list.sort((a, b) => a.le - b.le);
    const finite = list.filter((b) => Number.isFinite(b.le));
    out[cluster]!.latencyBounds = finite.map((b) => b.le);
    out[cluster]!.latencyCumulative = finite.map((b) => b.count);
    const inf = list.find((b) => !Number.isFinite(b.le));
    if (inf && out[cluster]!.latencyCount === 0) out[cluster]!.latencyCount = inf.count;
  }
  return out;
}

/** Sum of counters (several proxies). Histograms with different bounds cannot be added: the first wins. */
export function addCounters(a: ClusterCounters, b: ClusterCounters): ClusterCounters {
  const sameBounds = a.latencyBounds.length === 0 || b.latencyBounds.length === 0 || a.latencyBounds.join() === b.latencyBounds.join();
  const bounds = a.latencyBounds.length > 0 ? a.latencyBounds : b.latencyBounds;
  return {
    rq2xx: a.rq2xx + b.rq2xx,
    rq3xx: a.rq3xx + b.rq3xx,
    rq4xx: a.rq4xx + b.rq4xx,
    rq5xx: a.rq5xx + b.rq5xx,
    latencyBounds: [...bounds],
    latencyCumulative: sameBounds
      ? bounds.map((_, i) => (a.latencyCumulative[i] ?? 0) + (b.latencyCumulative[i] ?? 0))
      : [...a.latencyCumulative],
    latencyCount: a.latencyCount + b.latencyCount,
  };
}

/** after − before (counters are cumulative; a proxy restart can make one negative: clamped at 0). */
export function diffCounters(after: ClusterCounters, before: ClusterCounters): ClusterCounters {
  const d = (x: number, y: number) => Math.max(0, x - y);
  const sameBounds = before.latencyBounds.length === 0 || after.latencyBounds.join() === before.latencyBounds.join();
  return {
    rq2xx: d(after.rq2xx, before.rq2xx),
    rq3xx: d(after.rq3xx, before.rq3xx),
    rq4xx: d(after.rq4xx, before.rq4xx),
    rq5xx: d(after.rq5xx, before.rq5xx),
    latencyBounds: [...after.latencyBounds],
    latencyCumulative: after.latencyCumulative.map((v, i) => d(v, sameBounds ? (before.latencyCumulative[i] ?? 0) : 0)),
    latencyCount: d(after.latencyCount, before.latencyCount),
  };
}

export function diffSamples(after: ClusterStatsSample, before: ClusterStatsSample): Record<string, ClusterCounters> {
  const out: Record<string, ClusterCounters> = {};
  for (const [name, a] of Object.entries(after.clusters)) out[name] = diffCounters(a, before.clusters[name] ?? emptyCounters());
  return out;
}

export function requestCount(c: ClusterCounters): number {
  return c.rq2xx + c.rq3xx + c.rq4xx + c.rq5xx;
}

/** Non-5xx responses over all responses; null without requests. */
export function successRate(c: ClusterCounters): number | null {
  const total = requestCount(c);
  return total === 0 ? null : (total - c.rq5xx) / total;
}

/**
 * The q-quantile (0 < q ≤ 1) of a cumulative histogram, interpolating linearly inside the bucket where the
 * rank falls (lower edge of the first bucket: 0). Ranks beyond the last finite bound give that bound.
 * Null when the histogram is empty.
 */
export function histogramQuantile(bounds: readonly number[], cumulative: readonly number[], total: number, q: number): number | null {
  if (total <= 0 || bounds.length === 0) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (let i = 0; i < bounds.length; i++) {
    const bound = bounds[i]!;
    const count = cumulative[i] ?? 0;
    if (count >= rank) {
      const inBucket = count - prevCount;
      if (inBucket <= 0) return bound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / inBucket;
    }
    prevBound = bound;
    prevCount = count;
  }
  return bounds[bounds.length - 1]!;
}

export function latencyQuantile(c: ClusterCounters, q: number): number | null {
  return histogramQuantile(c.latencyBounds, c.latencyCumulative, c.latencyCount, q);
}

function metricValue(metric: AnalysisMetric['name'], c: ClusterCounters): number | null {
  if (metric === 'successRate') return successRate(c);
  return latencyQuantile(c, metric === 'latencyP95' ? 0.95 : 0.99);
}

const fmt = (metric: string, v: number) => (metric === 'successRate' ? `${(v * 100).toFixed(2)}%` : `${v.toFixed(1)} ms`);

function judgeMetric(
  m: AnalysisMetric,
  canary: ClusterCounters,
  stable: ClusterCounters | null,
  minRequests: number,
): MetricMeasurement {
  const c = metricValue(m.name, canary);
  const stableEnough = stable !== null && requestCount(stable) >= minRequests;
  const s = stableEnough ? metricValue(m.name, stable) : null;
  const base: MetricMeasurement = {
    metric: m.name,
    canary: c,
    stable: s,
    ...(m.min !== undefined ? { min: m.min } : {}),
    ...(m.max !== undefined ? { max: m.max } : {}),
    ...(m.maxDegradationVsStable !== undefined ? { maxDegradationVsStable: m.maxDegradationVsStable } : {}),
    verdict: 'pass',
    reason: '',
  };
  if (c === null) return { ...base, verdict: 'inconclusive', reason: `no ${m.name} data for the canary in this window` };
  const failures: string[] = [];
  if (m.min !== undefined && c < m.min) failures.push(`canary ${m.name} ${fmt(m.name, c)} is below the minimum ${fmt(m.name, m.min)}`);
  if (m.max !== undefined && c > m.max) failures.push(`canary ${m.name} ${fmt(m.name, c)} is above the maximum ${fmt(m.name, m.max)}`);
  let compared = false;
  if (m.maxDegradationVsStable !== undefined && s !== null) {
    compared = true;
    if (m.name === 'successRate') {
      if (s - c > m.maxDegradationVsStable) {
        failures.push(`canary successRate ${fmt(m.name, c)} is ${((s - c) * 100).toFixed(2)} points below stable's ${fmt(m.name, s)} (allowed ${(m.maxDegradationVsStable * 100).toFixed(2)})`);
      }
    } else {
      // Sub-millisecond stable latencies make ratios meaningless: compare against at least 1 ms.
      const limit = Math.max(s, 1) * (1 + m.maxDegradationVsStable);
      if (c > limit) failures.push(`canary ${m.name} ${fmt(m.name, c)} exceeds stable's ${fmt(m.name, s)} by more than ${(m.maxDegradationVsStable * 100).toFixed(0)}%`);
    }
  }
  if (failures.length > 0) return { ...base, verdict: 'fail', reason: failures.join('; ') };
  if (m.min === undefined && m.max === undefined && !compared) {
    return { ...base, verdict: 'inconclusive', reason: `stable had fewer than ${minRequests} requests: nothing to compare ${m.name} with` };
  }
  return { ...base, verdict: 'pass', reason: `canary ${m.name} ${fmt(m.name, c)}${s !== null ? ` (stable ${fmt(m.name, s)})` : ''} within limits` };
}

/**
 * One measurement of an analysis step over a window (counters already differenced). Fewer than
 * minRequests canary requests: inconclusive. Otherwise each metric passes, fails, or is inconclusive (no
 * data); the window fails when any metric fails, is inconclusive when any is, and passes otherwise.
 */
export function evaluateAnalysisWindow(
  step: Pick<AnalysisStep, 'metrics' | 'minRequests'>,
  window: { canary: ClusterCounters; stable: ClusterCounters | null },
  ids: { stepIndex: number; run: number },
): AnalysisMeasurement {
  const canaryRequests = requestCount(window.canary);
  const stableRequests = window.stable ? requestCount(window.stable) : 0;
  if (canaryRequests < step.minRequests) {
    return {
      ...ids,
      verdict: 'inconclusive',
      canaryRequests,
      stableRequests,
      metrics: step.metrics.map((m) => ({
        metric: m.name,
        canary: null,
        stable: null,
        verdict: 'inconclusive',
        reason: `canary served ${canaryRequests} requests in the window, fewer than minRequests ${step.minRequests}`,
      })),
    };
  }
  const metrics = step.metrics.map((m) => judgeMetric(m, window.canary, window.stable, step.minRequests));
  const verdict = metrics.some((m) => m.verdict === 'fail') ? 'fail' : metrics.some((m) => m.verdict === 'inconclusive') ? 'inconclusive' : 'pass';
  return { ...ids, verdict, canaryRequests, stableRequests, metrics };
}

/** Whether an analysis step is decided after its measurements so far. */
export function analysisOutcome(
  step: Pick<AnalysisStep, 'count' | 'failureLimit' | 'inconclusiveLimit'>,
  measurements: readonly Pick<AnalysisMeasurement, 'verdict'>[],
): 'pass' | 'fail' | 'inconclusive' | 'continue' {
  const failed = measurements.filter((m) => m.verdict === 'fail').length;
  const inconclusive = measurements.filter((m) => m.verdict === 'inconclusive').length;
  if (failed > step.failureLimit) return 'fail';
  if (inconclusive > step.inconclusiveLimit) return 'inconclusive';
  if (measurements.length >= step.count) return 'pass';
  return 'continue';
}
