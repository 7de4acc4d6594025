import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { grpcServiceMethods, startGrpcServer, type RunningGrpcServer } from '../grpc/grpc-h2.server';
import { HealthStatus, healthServiceDefinition, type ServingStatus } from './health.service';

describe('grpc.health.v1.Health', () => {
  let server: RunningGrpcServer;
  let client: grpc.Client;
  const health = new HealthStatus();

  before(async () => {
    health.set('', 'SERVING');
    health.set('xds', 'NOT_SERVING');
    server = await startGrpcServer({ host: '127.0.0.1', port: 0, methods: grpcServiceMethods(healthServiceDefinition, health.implementation()) });
    const port = server.port;
    const Client = grpc.makeGenericClientConstructor(healthServiceDefinition, 'Health');
    client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client.close();
    await server.close(0);
  });

  const check = (service: string) =>
    new Promise<{ status?: ServingStatus; code?: number }>((resolve) => {
      (client as unknown as Record<string, (req: unknown, cb: (err: grpc.ServiceError | null, res?: { status: ServingStatus }) => void) => void>).Check!(
        { service },
        (err, res) => resolve(err ? { code: err.code } : { status: res!.status }),
      );
    });

  it('answers Check per service and NOT_FOUND for unknown ones', async () => {
    assert.deepEqual(await check(''), { status: 'SERVING' });
    assert.deepEqual(await check('xds'), { status: 'NOT_SERVING' });
    assert.deepEqual(await check('nope'), { code: grpc.status.NOT_FOUND });
  });

  it('streams status changes to Watch', async () => {
    const call = (client as unknown as Record<string, (req: unknown) => grpc.ClientReadableStream<{ status: ServingStatus }>>).Watch!({
      service: 'xds',
    });
    call.on('error', () => {}); // CANCELLED after call.cancel() below
    const seen: ServingStatus[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`saw only ${seen.join(', ')}`)), 5_000);
      call.on('data', (m: { status: ServingStatus }) => {
        seen.push(m.status);
        if (seen.length === 1) health.set('xds', 'SERVING');
        if (seen.length === 2) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await done;
    assert.deepEqual(seen, ['NOT_SERVING', 'SERVING']);
    call.cancel();
  });
});
