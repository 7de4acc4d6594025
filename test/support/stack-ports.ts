/**
 * Ports for a whole stack started by scripts/start.ts in a test: every *_PORT variable it reads, each a
 * distinct port that was free a moment ago, and TEMPORAL_PORT chosen so that the ports the Temporal dev server
 * derives from it (+10 HTTP API, +20 metrics) are free and not handed to anything else. (Picking each port
 * with freePort() alone could give the same port twice, or a port equal to TEMPORAL_PORT+20, and start.ts
 * then refuses to start.)
 */
import { assertPortFree, freePort } from '../../scripts/lib/ports';

const NAMES = ['WEB_PORT', 'XDS_PORT', 'XDS_HTTP_PORT', 'WORKER_HTTP_PORT', 'EXTAUTHZ_PORT', 'EXTAUTHZ_HTTP_PORT', 'ENVOY_LISTENER_PORT', 'ENVOY_ADMIN_PORT', 'TEMPORAL_UI_PORT', 'PG_PORT'] as const;

const isFree = (port: number) => assertPortFree(port, 'probe').then(() => true, () => false);

export async function stackPorts(): Promise<Record<string, string>> {
  const used = new Set<number>();
  const take = async (): Promise<number> => {
    for (;;) {
      const p = await freePort();
      if (!used.has(p)) {
        used.add(p);
        return p;
      }
    }
  };
  const out: Record<string, string> = {};
  for (;;) {
    const p = await take();
    if (p + 20 <= 65_535 && !used.has(p + 10) && !used.has(p + 20) && (await isFree(p + 10)) && (await isFree(p + 20))) {
      used.add(p + 10);
      used.add(p + 20);
      out.TEMPORAL_PORT = String(p);
      break;
    }
  }
  for (const n of NAMES) out[n] = String(await take());
  out.DEMO_UPSTREAM_PORTS = `${await take()},${await take()}`;
  return out;
}
