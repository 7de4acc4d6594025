/**
 * A minimal gRPC server for unary methods, straight on node:http2 — the ext_authz hot path.
 *
 * Why not @grpc/grpc-js's Server: profiling the ext_authz server under Envoy at 1,000 req/s (bench/
 * extauthz-latency.ts --cpu-prof) showed about half of its CPU per Check in grpc-js's per-call machinery
 * (interceptor chain, metadata objects, channelz, stream wrappers) around a handler that itself needs tens of
 * microseconds; and Node's http2 server leaves Nagle's algorithm on for accepted sockets (grpc-js only sets
 * TCP_NODELAY on client connections), so a response written in more than one segment can wait for a delayed
 * ACK. This server does what a unary call needs and no more:
 *
 *   request   POST <:path>, content-type application/grpc[+proto], one length-prefixed message
 *   response  HEADERS (:status 200) + one length-prefixed message + trailers grpc-status 0,
 *             or a trailers-only response with grpc-status / grpc-message (percent-encoded) on error
 *
 * Not supported (not needed by Envoy's ext_authz client): compressed messages (answered UNIMPLEMENTED; we
 * never advertise grpc-accept-encoding), streaming methods, TLS (the server listens on loopback or a
 * private network, like the xDS server). Deadlines (grpc-timeout) are left to the client: answers are
 * computed synchronously, long before any sensible deadline.
 */
import http2 from 'node:http2';
import type { Socket } from 'node:net';

/** gRPC status codes used here (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** Thrown (or returned) by a handler: the call ends with this status and message. */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(details);
  }
}

export interface UnaryMethod<Req, Res> {
  deserialize(bytes: Buffer): Req;
  serialize(response: Res): Buffer;
  /** The response (synchronously when possible: that is the fast path) or a GrpcStatusError. */
  handle(request: Req): Res | GrpcStatusError | Promise<Res | GrpcStatusError>;
}

export interface UnaryGrpcServerOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Full method paths (`/package.Service/Method`) → implementation. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  methods: Record<string, UnaryMethod<any, any>>;
  /** Largest request message accepted, bytes; default 4 MiB (gRPC's default). */
  maxMessageBytes?: number;
  /** Called for failures that end a call with INTERNAL (handler exceptions, undecodable messages). */
  onInternalError?: (err: unknown, path: string) => void;
}

export interface RunningUnaryGrpcServer {
  port: number;
  /** Stops accepting, lets running calls finish (GOAWAY), and destroys what is left after `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto' } as const;
const OK_TRAILERS = { 'grpc-status': '0' } as const;

/** grpc-message encoding (gRPC over HTTP/2 spec): printable ASCII except "%" as is, every other UTF-8 byte as %XX. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function endWithStatus(stream: http2.ServerHttp2Stream, code: number, details: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    // Headers already went out: the status goes in trailers (not reached by the unary flow below).
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  // Trailers-only response: one HEADERS frame with END_STREAM.
  stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(details) }, { endStream: true });
}

/** Length-prefixed frames of messages a handler returns again and again (cached responses), by identity. */
const frames = new WeakMap<Buffer, Buffer>();

function frameOf(message: Buffer): Buffer {
  let frame = frames.get(message);
  if (frame === undefined) {
    frame = Buffer.allocUnsafeSlow(5 + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    frames.set(message, frame);
  }
  return frame;
}

function sendMessage(stream: http2.ServerHttp2Stream, message: Buffer): void {
  if (stream.destroyed || stream.closed) return;
  const frame = frameOf(message);
  stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
  stream.end(frame);
}

export async function startUnaryGrpcServer(opts: UnaryGrpcServerOptions): Promise<RunningUnaryGrpcServer> {
  const maxMessage = opts.maxMessageBytes ?? 4 * 1024 * 1024;
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer({
    // Node's default (10 MB of outstanding session data) degrades badly when one busy Envoy connection
    // carries every call; grpc-js lifts it for the same reason.
    maxSessionMemory: 256,
  });
  // Responses leave at once, never behind Nagle's algorithm.
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
  });

  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const path = String(headers[':path'] ?? '');
    const method = opts.methods[path];
    if (headers[':method'] !== 'POST') {
      stream.respond({ ':status': 405 }, { endStream: true });
      return;
    }
    const contentType = String(headers['content-type'] ?? '');
    if (!contentType.startsWith('application/grpc')) {
      stream.respond({ ':status': 415 }, { endStream: true });
      return;
    }
    if (method === undefined) {
      endWithStatus(stream, GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    stream.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxMessage + 5) {
        refused = true;
        endWithStatus(stream, GrpcStatus.RESOURCE_EXHAUSTED, `request larger than ${maxMessage} bytes`);
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (refused) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) {
        endWithStatus(stream, GrpcStatus.INTERNAL, 'a unary call carries exactly one length-prefixed message');
        return;
      }
      if (body[0] !== 0) {
        endWithStatus(stream, GrpcStatus.UNIMPLEMENTED, 'compressed messages are not supported');
        return;
      }
      let request: unknown;
      try {
        request = method.deserialize(body.subarray(5));
      } catch (err) {
        opts.onInternalError?.(err, path);
        endWithStatus(stream, GrpcStatus.INTERNAL, 'cannot decode the request message');
        return;
      }
      const finish = (result: unknown) => {
        if (result instanceof GrpcStatusError) {
          endWithStatus(stream, result.code, result.details);
          return;
        }
        let bytes: Buffer;
        try {
          bytes = method.serialize(result);
        } catch (err) {
          opts.onInternalError?.(err, path);
          endWithStatus(stream, GrpcStatus.INTERNAL, 'cannot encode the response message');
          return;
        }
        sendMessage(stream, bytes);
      };
      const fail = (err: unknown) => {
        if (err instanceof GrpcStatusError) return finish(err);
        opts.onInternalError?.(err, path);
        endWithStatus(stream, GrpcStatus.INTERNAL, err instanceof Error ? err.message : 'internal error');
      };
      try {
        const result = method.handle(request);
        if (result instanceof Promise) result.then(finish, fail);
        else finish(result);
      } catch (err) {
        fail(err);
      }
    });
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : opts.port);
    });
  });

  let closing: Promise<void> | undefined;
  return {
    port,
    close: (graceMs = 2000) =>
      (closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const s of sessions) s.destroy();
        }, graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        for (const s of sessions) s.close();
      })),
  };
}
