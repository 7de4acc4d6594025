/**
 * A proxyless gRPC client in its own process (`@grpc/grpc-js-xds` keeps its xDS channel for the life of
 * the process, so tests run it as a child and let it exit). It resolves `xds:///<target>` through the given
 * xds server, calls the test service `/proxyshard.test.Who/Name` and prints one JSON line:
 *   { "counts": { "<variant or ->": { "<server name>": n } } }
 * Usage: tsx test/support/grpc-xds-client.ts '<GrpcXdsClientJob as JSON>'
 */
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';

export interface GrpcXdsClientJob {
  xdsPort: number;
  nodeId: string;
  tenant: string;
  nodeGroup: string;
  target: string;
  /** Batches of calls, each with an optional x-variant metadata value. */
  calls: { variant?: string; count: number }[];
  /** Before counting: retry batches of 20 calls until all answers name this server (bounded by waitMs). */
  until?: string;
  /** How long to wait for the first answer (and for `until`). */
  waitMs: number;
}

export const WHO_PATH = '/proxyshard.test.Who/Name';
const ident = (b: Buffer) => b;

async function main(job: GrpcXdsClientJob): Promise<void> {
  grpcXds.register();
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${job.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    // grpc-js-xds requires node.locality, even empty.
    node: { id: job.nodeId, cluster: 'test', locality: {}, metadata: { tenant: job.tenant, node_group: job.nodeGroup } },
  };
  const ch = new grpc.Client(`xds:///${job.target}`, grpc.credentials.createInsecure(), {
    'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap),
  });
  const call = (variant?: string) =>
    new Promise<string>((resolve, reject) => {
      const md = new grpc.Metadata();
      if (variant !== undefined) md.set('x-variant', variant);
      ch.makeUnaryRequest(WHO_PATH, ident, ident, Buffer.alloc(0), md, { deadline: Date.now() + 5_000 }, (err, res) =>
        err ? reject(err) : resolve(res!.toString()),
      );
    });
  const deadline = Date.now() + job.waitMs;
  for (;;) {
    try {
      await call();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  if (job.until !== undefined) {
    for (;;) {
      const answers = await Promise.all(Array.from({ length: 20 }, () => call()));
      if (answers.every((a) => a === job.until)) break;
      if (Date.now() > deadline) throw new Error(`answers never all ${job.until}: ${answers.join(',')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const counts: Record<string, Record<string, number>> = {};
  for (const batch of job.calls) {
    const key = batch.variant ?? '-';
    counts[key] ??= {};
    for (let i = 0; i < batch.count; i++) {
      const who = await call(batch.variant);
      counts[key][who] = (counts[key][who] ?? 0) + 1;
    }
  }
  process.stdout.write(`${JSON.stringify({ counts })}\n`);
  ch.close();
}

main(JSON.parse(process.argv[2] ?? '{}') as GrpcXdsClientJob).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
