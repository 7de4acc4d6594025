/**
 * The minimal unary gRPC server against a real gRPC client (@grpc/grpc-js): responses, status errors
 * (handler-chosen, thrown, undecodable), unknown methods, async handlers, graceful close.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CHECK_PATH, loadExtAuthzProtos } from './extauthz.server';
import { GrpcStatus, GrpcStatusError, startUnaryGrpcServer, type RunningUnaryGrpcServer } from './grpc-unary';

type Json = Record<string, unknown>;
const def = loadExtAuthzProtos() as unknown as { envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } };
const Authorization = def.envoy.service.auth.v3.Authorization;
const Check = Authorization.service.Check!;

let server: RunningUnaryGrpcServer;
let client: grpc.Client;
let behaviour: (req: Json) => Json | GrpcStatusError | Promise<Json | GrpcStatusError> = () => ({});

before(async () => {
  server = await startUnaryGrpcServer({
    host: '127.0.0.1',
    port: 0,
    methods: {
      [CHECK_PATH]: {
        deserialize: (b: Buffer) => Check.requestDeserialize(b) as Json,
        serialize: (r: Json) => Check.responseSerialize(r),
        handle: (req: Json) => behaviour(req),
      },
    },
  });
  client = new Authorization(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
});

after(async () => {
  client.close();
  await server.close(500);
});

function call(path: string, req: Json): Promise<{ response?: Json; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (r: Json) => Check.requestSerialize(r), (b: Buffer) => Check.responseDeserialize(b) as Json, req, (error, response) =>
      resolve(error ? { error } : { response: response! }),
    );
  });
}

const request = { attributes: { request: { http: { method: 'GET', path: '/x', headers: { 'x-a': '1' } } }, context_extensions: { policy: 'p' } } };

test('answers with the handler’s response, decoded from and encoded to the real protos', async () => {
  let seen: Json | undefined;
  behaviour = (req) => {
    seen = req;
    return { status: { code: 0 }, ok_response: { headers: [{ header: { key: 'x-policy', value: 'yes' } }] } };
  };
  const r = await call(CHECK_PATH, request);
  assert.equal(r.error, undefined);
  assert.deepEqual((seen!.attributes as Json).context_extensions, { policy: 'p' });
  assert.deepEqual(r.response!.status, { code: 0 });
  assert.deepEqual((r.response!.ok_response as { headers: { header: Json }[] }).headers[0]!.header, { key: 'x-policy', value: 'yes' });
});

test('async handlers work too', async () => {
  behaviour = async () => ({ status: { code: 7 }, denied_response: { status: { code: 418 }, body: 'teapot' } });
  const r = await call(CHECK_PATH, request);
  assert.equal((r.response!.denied_response as { body: string }).body, 'teapot');
});

test('status errors reach the client with their code and (percent-encoded) message', async () => {
  behaviour = () => new GrpcStatusError(GrpcStatus.INTERNAL, 'policy p failed: 100% broken, ünïcode');
  const chosen = await call(CHECK_PATH, request);
  assert.equal(chosen.error?.code, grpc.status.INTERNAL);
  assert.equal(chosen.error?.details, 'policy p failed: 100% broken, ünïcode');

  behaviour = () => {
    throw new Error('boom');
  };
  const thrown = await call(CHECK_PATH, request);
  assert.equal(thrown.error?.code, grpc.status.INTERNAL);

  const unknown = await call('/envoy.service.auth.v3.Authorization/Nope', request);
  assert.equal(unknown.error?.code, grpc.status.UNIMPLEMENTED);
  assert.match(unknown.error?.details ?? '', /unknown method/);
});

test('a message that does not decode is INTERNAL, and the server keeps serving', async () => {
  behaviour = () => ({ status: { code: 0 } });
  const garbage = await new Promise<grpc.ServiceError | null>((resolve) =>
    client.makeUnaryRequest(CHECK_PATH, () => Buffer.from([0x0a, 0xff, 0xff, 0xff]), (b: Buffer) => b, {}, (err) => resolve(err)),
  );
  assert.equal(garbage?.code, grpc.status.INTERNAL);
  assert.equal((await call(CHECK_PATH, request)).error, undefined);
});
