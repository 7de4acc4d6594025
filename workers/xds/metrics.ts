/**
 * Prometheus metrics of an xds replica, on its own registry (several replicas can live in one test process).
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { resourceKindOfTypeUrl } from '../../core/xds/snapshot';

export class XdsMetrics {
  readonly registry = new Registry();
  readonly connectedProxies = new Gauge({
    name: 'proxyshard_xds_connected_proxies',
    help: 'ADS streams with an identified proxy on this replica',
    registers: [this.registry],
  });
  readonly pushes = new Counter({
    name: 'proxyshard_xds_pushes_total',
    help: 'DiscoveryResponses sent, by resource type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly acks = new Counter({
    name: 'proxyshard_xds_acks_total',
    help: 'ACKs received, by resource type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly nacks = new Counter({
    name: 'proxyshard_xds_nacks_total',
    help: 'NACKs received, by resource type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly snapshots = new Gauge({
    name: 'proxyshard_xds_snapshots',
    help: 'Snapshots (tenant × node group) held in memory',
    registers: [this.registry],
  });
  readonly snapshotErrors = new Counter({
    name: 'proxyshard_xds_snapshot_errors_total',
    help: 'Snapshots that could not be loaded or encoded (the previous one stays in use)',
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  private readonly byType = new Map<string, { pushes: { inc(): void }; acks: { inc(): void }; nacks: { inc(): void } }>();

  /** The per-type counters of `typeUrl`, bound once (counting is on the push path of every stream). */
  forType(typeUrl: string): { pushes: { inc(): void }; acks: { inc(): void }; nacks: { inc(): void } } {
    let bound = this.byType.get(typeUrl);
    if (bound === undefined) {
      const type = XdsMetrics.typeLabel(typeUrl);
      bound = { pushes: this.pushes.labels({ type }), acks: this.acks.labels({ type }), nacks: this.nacks.labels({ type }) };
      if (type !== 'other') this.byType.set(typeUrl, bound); // bounded: only the types this server serves
    }
    return bound;
  }

  /** "listeners", "routes", "clusters", "endpoints" or "other". */
  static typeLabel(typeUrl: string): string {
    return resourceKindOfTypeUrl(typeUrl) ?? 'other';
  }
}
