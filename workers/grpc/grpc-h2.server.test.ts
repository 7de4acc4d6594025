/**
 * ProxyShard's gRPC server against a real gRPC client (@grpc/grpc-js): responses, status errors
 * (handler-chosen, thrown, undecodable), unknown methods, async handlers; and its HTTP/2 against node's own
 * HTTP/2 client: flow control with small windows, many calls in flight, CONTINUATION, PING, per-call
 * refusals, size limit, a client that is not HTTP/2, graceful close with GOAWAY; streaming calls (bidi and
 * server-streaming: message framing across DATA frames, windows both ways, status, cancellation) and a
 * grpc-js service definition served through grpcServiceMethods.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CHECK_PATH, loadExtAuthzProtos } from '../extauthz/extauthz.server';
import { grpcServiceMethods, GrpcStatus, GrpcStatusError, lengthPrefixed, startGrpcServer, type RunningGrpcServer, type ServerStreamCall } from './grpc-h2.server';

type Json = Record<string, unknown>;
const def = loadExtAuthzProtos() as unknown as { envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } } };
const Authorization = def.envoy.service.auth.v3.Authorization;
const Check = Authorization.service.Check!;

let server: RunningGrpcServer;
let client: grpc.Client;
let behaviour: (req: Json) => Json | GrpcStatusError | Promise<Json | GrpcStatusError> = () => ({});

before(async () => {
  server = await startGrpcServer({
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

// ---- HTTP/2 behaviour with node's own HTTP/2 client (a second, independent implementation)

function h2Call(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer,
): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers }, { endStream: false });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => (head = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ headers: head, trailers, data: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end(body);
  });
}

test('flow control: a 100 KiB denied body reaches a client whose windows are 1 KiB, intact and in order', async () => {
  const body = 'x'.repeat(100 * 1024) + 'end';
  behaviour = () => ({ status: { code: 7 }, denied_response: { status: { code: 403 }, body } });
  const session = http2.connect(`http://127.0.0.1:${server.port}`, { settings: { initialWindowSize: 1024 } });
  try {
    const r = await h2Call(session, { ':path': CHECK_PATH }, lengthPrefixed(Check.requestSerialize(request)));
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.trailers['grpc-status'], '0');
    assert.equal(r.data.readUInt32BE(1), r.data.length - 5);
    const decoded = Check.responseDeserialize(r.data.subarray(5)) as { denied_response: { body: string } };
    assert.equal(decoded.denied_response.body, body);
  } finally {
    session.close();
  }
});

test('many calls in flight on one connection, headers in CONTINUATION frames, ping, and bad requests answered per call', async () => {
  behaviour = (req) => ({ status: { code: 0 }, ok_response: { headers: [{ header: { key: 'x-path', value: String(((req.attributes as Json).request as { http: { path: string } }).http.path) } }] } });
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  try {
    const calls = Array.from({ length: 200 }, (_, i) =>
      h2Call(session, { ':path': CHECK_PATH, 'x-big': 'y'.repeat(i === 7 ? 40_000 : 10) }, lengthPrefixed(Check.requestSerialize({ attributes: { request: { http: { path: `/p${i}` } } } }))),
    );
    const results = await Promise.all(calls);
    results.forEach((r, i) => {
      assert.equal(r.trailers['grpc-status'], '0', `call ${i}`);
      const res = Check.responseDeserialize(r.data.subarray(5)) as { ok_response: { headers: { header: Json }[] } };
      assert.equal(res.ok_response.headers[0]!.header.value, `/p${i}`);
    });
    const rtt = await new Promise<number>((resolve, reject) => session.ping((err, ms) => (err ? reject(err) : resolve(ms))));
    assert.ok(rtt >= 0);
    const get = await h2Call(session, { ':path': CHECK_PATH, ':method': 'GET' }, Buffer.alloc(0));
    assert.equal(get.headers[':status'], 405);
    const text = await h2Call(session, { ':path': CHECK_PATH, 'content-type': 'text/plain' }, Buffer.from('hi'));
    assert.equal(text.headers[':status'], 415);
    const twoMessages = await h2Call(session, { ':path': CHECK_PATH }, Buffer.concat([lengthPrefixed(Buffer.alloc(1)), lengthPrefixed(Buffer.alloc(1))]));
    assert.equal(twoMessages.headers['grpc-status'], String(GrpcStatus.INTERNAL));
    const compressed = lengthPrefixed(Buffer.alloc(3));
    compressed[0] = 1;
    assert.equal((await h2Call(session, { ':path': CHECK_PATH }, compressed)).headers['grpc-status'], String(GrpcStatus.UNIMPLEMENTED));
    // The connection is still good after all that.
    assert.equal((await h2Call(session, { ':path': CHECK_PATH }, lengthPrefixed(Check.requestSerialize(request)))).trailers['grpc-status'], '0');
  } finally {
    session.close();
  }
});

test('a request larger than the limit is RESOURCE_EXHAUSTED; a connection that does not speak HTTP/2 is closed', async () => {
  const small = await startGrpcServer({
    host: '127.0.0.1',
    port: 0,
    maxMessageBytes: 1000,
    methods: { [CHECK_PATH]: { deserialize: (b: Buffer) => b, serialize: (b: Buffer) => b, handle: (b: Buffer) => b } },
  });
  const session = http2.connect(`http://127.0.0.1:${small.port}`);
  try {
    const big = await h2Call(session, { ':path': CHECK_PATH }, lengthPrefixed(Buffer.alloc(5000)));
    assert.equal(big.headers['grpc-status'], String(GrpcStatus.RESOURCE_EXHAUSTED));
    const echo = await h2Call(session, { ':path': CHECK_PATH }, lengthPrefixed(Buffer.from('hello')));
    assert.equal(echo.data.subarray(5).toString(), 'hello');

    const sock = net.connect(small.port, '127.0.0.1');
    const received: Buffer[] = [];
    sock.on('data', (b: Buffer) => received.push(b));
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => sock.once('close', () => resolve()));
    const all = Buffer.concat(received);
    // SETTINGS + WINDOW_UPDATE first, then a GOAWAY (type 7) with PROTOCOL_ERROR (1).
    let at = 0;
    const types: number[] = [];
    let lastError = -1;
    while (at + 9 <= all.length) {
      const len = all.readUIntBE(at, 3);
      types.push(all[at + 3]!);
      if (all[at + 3] === 7) lastError = all.readUInt32BE(at + 9 + 4);
      at += 9 + len;
    }
    assert.deepEqual(types, [4, 8, 7]);
    assert.equal(lastError, 1);
  } finally {
    session.close();
    await small.close(500);
  }
});

test('close: calls in flight are answered, the client gets GOAWAY, new connections are refused', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const s = await startGrpcServer({
    host: '127.0.0.1',
    port: 0,
    methods: { [CHECK_PATH]: { deserialize: (b: Buffer) => b, serialize: (b: Buffer) => b, handle: async (b: Buffer) => (await gate, b) } },
  });
  const session = http2.connect(`http://127.0.0.1:${s.port}`);
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
  const inFlight = h2Call(session, { ':path': CHECK_PATH }, lengthPrefixed(Buffer.from('late')));
  await new Promise((r) => setTimeout(r, 100));
  const closed = s.close(5000);
  assert.equal(await goaway, 0);
  release();
  const r = await inFlight;
  assert.equal(r.data.subarray(5).toString(), 'late');
  await closed;
  await assert.rejects(
    () => new Promise<void>((resolve, reject) => net.connect(s.port, '127.0.0.1').once('connect', () => resolve()).once('error', reject)),
  );
  session.destroy();
});

// ---- streaming calls (the xds process' ADS streams, health Watch, agent channel)

/** Messages as UTF-8 text, for the test services below. */
const text = { deserialize: (b: Buffer) => b.toString(), serialize: (m: string) => Buffer.from(m) };
const textDefinition = {
  requestSerialize: text.serialize,
  requestDeserialize: text.deserialize,
  responseSerialize: text.serialize,
  responseDeserialize: text.deserialize,
};

/** Length-prefixed messages of a response body, as strings. */
function messagesOf(data: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 5 <= data.length; ) {
    const len = data.readUInt32BE(at + 1);
    out.push(data.subarray(at + 5, at + 5 + len).toString());
    at += 5 + len;
  }
  return out;
}

test('bidi: messages split across and packed into DATA frames arrive whole and in order; small client windows; windows given back; status in trailers', async () => {
  const events: string[] = [];
  const s = await startGrpcServer({
    host: '127.0.0.1',
    port: 0,
    // A 1 KB limit makes the stream's receive window about 2 KB: 30 messages of 300 bytes need it topped up.
    maxMessageBytes: 1024,
    methods: {
      '/t.Echo/Bidi': {
        requestStream: true,
        ...text,
        start: (call: ServerStreamCall<string, string>) => {
          call.on('data', (m: string) => {
            events.push(`data:${m.length}`);
            // Every request is answered; the last one also with a 100 KiB message.
            call.write(`echo:${m.slice(0, 8)}`);
            if (m.startsWith('last')) call.write('z'.repeat(100 * 1024));
          });
          call.on('end', () => {
            events.push('end');
            call.end();
          });
          call.on('close', () => events.push('close'));
        },
      },
    },
  });
  const session = http2.connect(`http://127.0.0.1:${s.port}`, { settings: { initialWindowSize: 1024 } });
  try {
    const req = session.request({ ':method': 'POST', ':path': '/t.Echo/Bidi', 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
    const chunks: Buffer[] = [];
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (t) => (trailers = t));
    const ended = new Promise<void>((resolve, reject) => req.on('end', resolve).on('error', reject));
    const bodies = Array.from({ length: 30 }, (_, i) => `${String(i).padStart(2, '0')}-${'m'.repeat(297)}`);
    bodies.push(`last-${'m'.repeat(100)}`);
    const wire = Buffer.concat(bodies.map((b) => lengthPrefixed(Buffer.from(b))));
    // Written in odd pieces: messages cross frame boundaries and several share one frame.
    for (let at = 0; at < wire.length; at += 777) req.write(wire.subarray(at, at + 777));
    req.end();
    await ended;
    const got = messagesOf(Buffer.concat(chunks));
    assert.deepEqual(got.slice(0, 31), bodies.map((b) => `echo:${b.slice(0, 8)}`));
    assert.equal(got[31], 'z'.repeat(100 * 1024));
    assert.equal(trailers['grpc-status'], '0');
    assert.deepEqual(events.slice(-2), ['end', 'close']);
    assert.equal(events.filter((e) => e.startsWith('data:')).length, 31);
  } finally {
    session.close();
    await s.close(500);
  }
});

test('streaming: emitting a status ends the call with it; a client reset cancels the call; server-streaming gets its request first', async () => {
  const seen: string[] = [];
  const s = await startGrpcServer({
    host: '127.0.0.1',
    port: 0,
    methods: {
      '/t.S/Refuse': {
        requestStream: true,
        ...text,
        start: (call: ServerStreamCall<string, string>) => {
          call.on('data', (m: string) => call.emit('error', { code: 5, details: `no ${m} here: é` }));
        },
      },
      '/t.S/Hold': {
        requestStream: true,
        ...text,
        start: (call: ServerStreamCall<string, string>) => {
          call.on('data', () => call.write('held'));
          call.on('cancelled', () => seen.push(`cancelled:${call.cancelled}`));
          call.on('close', () => seen.push('close'));
        },
      },
      '/t.S/Watch': {
        requestStream: false,
        ...text,
        start: (call: ServerStreamCall<string, string>) => {
          for (let i = 0; i < 3; i++) call.write(`${call.request}-${i}`);
          call.end();
        },
      },
    },
  });
  const session = http2.connect(`http://127.0.0.1:${s.port}`);
  try {
    const refused = await h2Call(session, { ':path': '/t.S/Refuse' }, lengthPrefixed(Buffer.from('x')));
    assert.equal(refused.headers['grpc-status'], '5');
    assert.equal(decodeURIComponent(String(refused.headers['grpc-message'])), 'no x here: é');

    const watch = await h2Call(session, { ':path': '/t.S/Watch' }, lengthPrefixed(Buffer.from('svc')));
    assert.deepEqual(messagesOf(watch.data), ['svc-0', 'svc-1', 'svc-2']);
    assert.equal(watch.trailers['grpc-status'], '0');

    const req = session.request({ ':method': 'POST', ':path': '/t.S/Hold', 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
    req.write(lengthPrefixed(Buffer.from('hi')));
    await new Promise<void>((resolve) => req.once('data', () => resolve()));
    req.close(http2.constants.NGHTTP2_CANCEL);
    for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen, ['cancelled:true', 'close']);
  } finally {
    session.close();
    await s.close(500);
  }
});

test('grpcServiceMethods serves a grpc-js service definition (unary and bidi) to a grpc-js client', async () => {
  const def: grpc.ServiceDefinition = {
    Upper: {
      path: '/t.Text/Upper',
      requestStream: false,
      responseStream: false,
      ...textDefinition,
    },
    Chat: {
      path: '/t.Text/Chat',
      requestStream: true,
      responseStream: true,
      ...textDefinition,
    },
  };
  const impl: grpc.UntypedServiceImplementation = {
    Upper: ((call: { request: string }, cb: grpc.sendUnaryData<string>) =>
      call.request === 'bad' ? cb({ code: grpc.status.INVALID_ARGUMENT, details: 'bad input' }) : cb(null, call.request.toUpperCase())) as grpc.UntypedHandleCall,
    Chat: ((call: grpc.ServerDuplexStream<string, string>) => {
      call.on('data', (m: string) => call.write(`<${m}>`));
      call.on('end', () => call.end());
    }) as grpc.UntypedHandleCall,
  };
  const s = await startGrpcServer({ host: '127.0.0.1', port: 0, methods: grpcServiceMethods(def, impl) });
  const Client = grpc.makeGenericClientConstructor(def, 'Text');
  const c = new Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure()) as unknown as {
    Upper(req: string, cb: (err: grpc.ServiceError | null, res?: string) => void): void;
    Chat(): grpc.ClientDuplexStream<string, string>;
    close(): void;
  };
  try {
    assert.equal(await new Promise((resolve, reject) => c.Upper('abc', (err, res) => (err ? reject(err) : resolve(res)))), 'ABC');
    const err = await new Promise<grpc.ServiceError | null>((resolve) => c.Upper('bad', (e) => resolve(e)));
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(err?.details, 'bad input');
    const chat = c.Chat();
    const got: string[] = [];
    chat.on('data', (m: string) => got.push(m));
    const status = new Promise<grpc.StatusObject>((resolve) => chat.on('status', resolve));
    for (const m of ['a', 'b', 'c']) chat.write(m);
    chat.end();
    assert.equal((await status).code, grpc.status.OK);
    assert.deepEqual(got, ['<a>', '<b>', '<c>']);
  } finally {
    c.close();
    await s.close(500);
  }
});
