/**
 * Bare ADS clients for tests: one StreamAggregatedResources (state of the world) or DeltaAggregatedResources
 * stream, requests written by hand, responses read one at a time with a timeout. Speaks the real protocol
 * through workers/xds/protos.
 */
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition } from '../../workers/xds/ads.server';
import type {
  DeltaDiscoveryRequestInput,
  DeltaDiscoveryResponse,
  DiscoveryRequestInput,
  DiscoveryResponse,
  XdsProtos,
} from '../../workers/xds/protos';

export interface TestStream<Req, Res> {
  send(req: Req): void;
  /** The next response; rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<Res>;
  /** Resolves when no response arrives within `ms`; rejects with the response otherwise. */
  expectNothing(ms?: number): Promise<void>;
  /** The final status of the stream. */
  status: Promise<grpc.StatusObject>;
  close(): void;
}

export type AdsTestStream = TestStream<DiscoveryRequestInput, DiscoveryResponse>;
export type DeltaAdsTestStream = TestStream<DeltaDiscoveryRequestInput, DeltaDiscoveryResponse>;

function openStream<Req, Res>(
  address: string,
  path: string,
  serialize: (req: Req) => Buffer,
  deserialize: (bytes: Buffer) => Res,
  describe: (res: Res) => string,
): { stream: TestStream<Req, Res>; client: grpc.Client } {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(path, serialize, deserialize);
  const queue: Res[] = [];
  const waiters: ((r: Res) => void)[] = [];
  call.on('data', (res: Res) => {
    const w = waiters.shift();
    if (w) w(res);
    else queue.push(res);
  });
  call.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));

  const next = (timeoutMs = 5_000): Promise<Res> => {
    if (queue.length > 0) return Promise.resolve(queue.shift()!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(`no response within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: Res) => {
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
        let res: Res | undefined;
        try {
          res = await next(ms);
        } catch {
          return;
        }
        throw new Error(`unexpected response: ${describe(res)}`);
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

export function openAdsStream(address: string, protos: XdsProtos): { stream: AdsTestStream; client: grpc.Client } {
  const def = adsServiceDefinition(protos).StreamAggregatedResources!;
  return openStream(
    address,
    def.path,
    (req: DiscoveryRequestInput) => Buffer.from(protos.encodeDiscoveryRequest(req)),
    (bytes: Buffer) => protos.decodeDiscoveryResponse(bytes),
    (res) => `${res.type_url} ${res.version_info}`,
  );
}

export function openDeltaAdsStream(address: string, protos: XdsProtos): { stream: DeltaAdsTestStream; client: grpc.Client } {
  const def = adsServiceDefinition(protos).DeltaAggregatedResources!;
  return openStream(
    address,
    def.path,
    (req: DeltaDiscoveryRequestInput) => Buffer.from(protos.encodeDeltaDiscoveryRequest(req)),
    (bytes: Buffer) => protos.decodeDeltaDiscoveryResponse(bytes),
    (res) => `${res.type_url} ${res.system_version_info} +${res.resources.map((r) => r.name).join(',')} -${res.removed_resources.join(',')}`,
  );
}
