/**
 * Health conditions of playbooks (wait-until, verify, automatic triggers) judged over one measurement window
 * of Envoy's statistics, with the rollout analysis math (core/rollout/analysis.ts). Pure.
 */
import type { HealthCondition } from '../../contracts/playbook.schema';
import type { ClusterCounters } from '../../contracts/rollout.schema';
import { addCounters, emptyCounters, latencyQuantile, requestCount, successRate } from '../rollout/analysis';

export interface HealthMeasurement {
  verdict: 'holds' | 'fails' | 'inconclusive';
  requests: number;
  successRate: number | null;
  latencyP99Ms: number | null;
  ejectionsActive: number;
  /** Why it fails or is inconclusive (empty when it holds). */
  reasons: string[];
}

/** Judges `condition` on one window: `window` = per-cluster counter differences, `ejections` = active now. */
export function evaluateHealth(condition: HealthCondition, window: Record<string, ClusterCounters>, ejections: Record<string, number> = {}): HealthMeasurement {
  const sum = condition.clusters.reduce((acc, c) => addCounters(acc, window[c] ?? emptyCounters()), emptyCounters());
  const requests = requestCount(sum);
  const sr = successRate(sum);
  const p99 = latencyQuantile(sum, 0.99);
  const ejected = condition.clusters.reduce((n, c) => n + (ejections[c] ?? 0), 0);
  const fails: string[] = [];
  const unsure: string[] = [];
  const needsTraffic = condition.successRate !== undefined || condition.latencyP99Ms !== undefined;
  if (needsTraffic && requests < condition.minRequests) {
    unsure.push(`${requests} requests in the window, fewer than ${condition.minRequests}`);
  } else {
    if (condition.successRate?.min !== undefined && sr !== null && sr < condition.successRate.min) fails.push(`success rate ${fmt(sr)} < ${condition.successRate.min}`);
    if (condition.successRate?.max !== undefined && sr !== null && sr > condition.successRate.max) fails.push(`success rate ${fmt(sr)} > ${condition.successRate.max}`);
    if (condition.latencyP99Ms !== undefined) {
      if (p99 === null) unsure.push('no latency histogram yet');
      else if (p99 > condition.latencyP99Ms.max) fails.push(`p99 ${p99.toFixed(1)} ms > ${condition.latencyP99Ms.max} ms`);
    }
  }
  if (condition.ejectionsActive?.min !== undefined && ejected < condition.ejectionsActive.min) fails.push(`${ejected} endpoints ejected < ${condition.ejectionsActive.min}`);
  if (condition.ejectionsActive?.max !== undefined && ejected > condition.ejectionsActive.max) fails.push(`${ejected} endpoints ejected > ${condition.ejectionsActive.max}`);
  return {
    verdict: fails.length > 0 ? 'fails' : unsure.length > 0 ? 'inconclusive' : 'holds',
    requests,
    successRate: sr,
    latencyP99Ms: p99,
    ejectionsActive: ejected,
    reasons: [...fails, ...unsure],
  };
}

function fmt(x: number): string {
  return x.toFixed(4);
}

/** Parses `cluster.<name>.outlier_detection.ejections_active: N` lines of Envoy's /stats text. */
export function parseEjectionsActive(text: string, clusters: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of clusters) out[c] = 0;
  for (const line of text.split('\n')) {
    const m = /^cluster\.(.+)\.outlier_detection\.ejections_active:\s*(\d+)/.exec(line.trim());
    if (m && m[1]! in out) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}
