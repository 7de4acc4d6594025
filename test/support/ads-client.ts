/**
 * A bare ADS client for tests: one StreamAggregatedResources stream, requests written by hand, responses
 * read one at a time with a timeout. Speaks the real protocol through workers/xds/protos.
 */
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition } from '../../workers/xds/ads.server';
import type { DiscoveryRequestInput, DiscoveryResponse, XdsProtos } from '../../workers/xds/protos';

export interface AdsTestStream {
  send(req: DiscoveryRequestInput): void;
  /** The next response; rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<DiscoveryResponse>;
  /** Resolves when no response arrives within `ms`; rejects with the response otherwise. */
  expectNothing(ms?: number): Promise<void>;
  /** The final status of the stream. */
  status: Promise<grpc.StatusObject>;
  close(): void;
}

export function openAdsStream(address: string, protos: XdsProtos): { stream: AdsTestStream; client: grpc.Client } {
  const def = adsServiceDefinition(protos).StreamAggregatedResources!;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(
    def.path,
    (req: DiscoveryRequestInput) => Buffer.from(protos.encodeDiscoveryRequest(req)),
    (bytes: Buffer) => protos.decodeDiscoveryResponse(bytes),
  );
  const queue: DiscoveryResponse[] = [];
  const waiters: ((r: DiscoveryResponse) => void)[] = [];
  call.on('data', (res: DiscoveryResponse) => {
    const w = waiters.shift();
    if (w) w(res);
    else queue.push(res);
  });
  call.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));

  const next = (timeoutMs = 5_000): Promise<DiscoveryResponse> => {
    const ready = queue.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(`no DiscoveryResponse within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: DiscoveryResponse) => {
        clearTimeout(timer);
        resolve(r);
      };
      waiters.push(waiter);
    });
  };

  return {
    client,
    stream: {
      send: (req) => call.write(req),
      next,
      expectNothing: async (ms = 300) => {
        let res: DiscoveryResponse | undefined;
        try {
          res = await next(ms);
        } catch {
          return;
        }
        throw new Error(`unexpected DiscoveryResponse: ${res.type_url} ${res.version_info}`);
      },
      status,
      close: () => {
        call.end();
        call.cancel();
        client.close();
      },
    },
  };
}
