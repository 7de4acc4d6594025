/**
 * A minimal gRPC server for unary methods, on its own HTTP/2 framing (h2-frames.ts) over node:net — the
 * ext_authz hot path.
 *
 * Why not @grpc/grpc-js's Server: profiling the ext_authz server under Envoy at 1,000 req/s (bench/
 * extauthz-latency.ts --cpu-prof) showed about half of its CPU per Check in grpc-js's per-call machinery
 * (interceptor chain, metadata objects, channelz, stream wrappers) around a handler that itself needs tens of
 * microseconds. Why not node:http2 either: with grpc-js gone, node:http2's per-stream machinery (a Duplex
 * stream object per call, header objects built and validated both ways, events, nextTicks) was the largest
 * share left: 40–45 % of the server's CPU per Check in the same profile. This server parses the frames of a
 * connection in one pass per socket read, keeps a few fields per call, and writes every response a read
 * produced in one socket write, with the response's frames prebuilt per distinct message.
 *
 *   request   POST <:path>, content-type application/grpc[+proto], one length-prefixed message
 *   response  HEADERS (:status 200) + one length-prefixed message + trailers grpc-status 0,
 *             or a trailers-only response with grpc-status / grpc-message (percent-encoded) on error
 *
 * HTTP/2 as a server must (RFC 9113): connection preface and SETTINGS exchange, HPACK with the dynamic table
 * for what the client sends, flow control both ways (the client may send up to a whole message per stream;
 * responses wait for window when the client's windows are small), CONTINUATION, PING, RST_STREAM, GOAWAY
 * both ways, stream-id rules, a concurrent-stream limit (REFUSED_STREAM beyond it); protocol errors end the
 * connection with GOAWAY and the error code. TCP_NODELAY on every connection (node's http2 server leaves
 * Nagle's algorithm on). Not supported (not needed by Envoy's ext_authz client): compressed messages
 * (answered UNIMPLEMENTED; we never advertise grpc-accept-encoding), streaming methods, TLS (the server
 * listens on loopback or a private network, like the xDS server), HTTP/1.1 upgrade. Deadlines (grpc-timeout)
 * are left to the client: answers are computed synchronously, long before any sensible deadline.
 */
import net from 'node:net';
import {
  CONNECTION_PREFACE,
  createHeaderDecoder,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  encodeHeaderBlock,
  ErrorCode,
  Flag,
  frame,
  FRAME_HEADER_BYTES,
  FrameType,
  goawayFrame,
  headerFrames,
  MAX_WINDOW,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  type HeaderDecoder,
} from './h2-frames';

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

/** grpc-message encoding (gRPC over HTTP/2 spec): printable ASCII except "%" as is, every other UTF-8 byte as %XX. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Concurrent calls per connection; a client opening more gets REFUSED_STREAM for the extra ones. */
const MAX_CONCURRENT_STREAMS = 1000;
/** HPACK dynamic table for the client's header blocks (the protocol's default size). */
const HEADER_TABLE_SIZE = 4096;
/** A header block larger than this ends the connection (ENHANCE_YOUR_CALM). */
const MAX_HEADER_BLOCK_BYTES = 256 * 1024;
/** The connection's receive window is topped up once this much of it was used. */
const CONNECTION_WINDOW_REFILL = 16 * 1024 * 1024;

const RESPONSE_HEADER_BLOCK = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc+proto'],
]);
const OK_TRAILER_BLOCK = encodeHeaderBlock([['grpc-status', '0']]);

/** The whole answer to a call (HEADERS, DATA, trailers) for a message, with stream id 0 to be patched. */
interface ResponseTemplate {
  bytes: Buffer;
  /** Offsets of the three frames' stream-id fields. */
  idOffsets: [number, number, number];
  /** DATA payload length (flow-controlled). */
  dataLength: number;
}

/** Length-prefixed message and prebuilt frames of responses a handler returns again and again, by identity. */
const templates = new WeakMap<Buffer, ResponseTemplate>();

/** A gRPC length-prefixed message: uncompressed flag, 4-byte big-endian length, the message. */
export function lengthPrefixed(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

function templateOf(message: Buffer): ResponseTemplate {
  let t = templates.get(message);
  if (t === undefined) {
    const data = lengthPrefixed(message);
    const headers = frame(FrameType.HEADERS, Flag.END_HEADERS, 0, RESPONSE_HEADER_BLOCK);
    const body = frame(FrameType.DATA, 0, 0, data);
    const trailers = frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 0, OK_TRAILER_BLOCK);
    t = {
      bytes: Buffer.concat([headers, body, trailers]),
      idOffsets: [5, headers.length + 5, headers.length + body.length + 5],
      dataLength: data.length,
    };
    templates.set(message, t);
  }
  return t;
}

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Call {
  id: number;
  path: string;
  method: UnaryMethod<unknown, unknown> | undefined;
  /** Request bytes received so far. */
  chunks: Buffer[];
  size: number;
  /** The client ended its side (END_STREAM received). */
  remoteClosed: boolean;
  /** An answer was chosen (written or waiting for window); later DATA is ignored. */
  answered: boolean;
  /** What the client lets us send on this stream. */
  sendWindow: number;
  /** Response DATA not yet sent for want of window, then the trailers. */
  pendingData?: Buffer;
  pendingTrailers?: Buffer;
}

interface ServerContext {
  methods: Record<string, UnaryMethod<unknown, unknown>>;
  maxMessage: number;
  onInternalError?: (err: unknown, path: string) => void;
}

/** One client connection: frames in, frames out. */
class Connection {
  private input: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  private readonly out: Buffer[] = [];
  private inRead = false;
  private flushQueued = false;
  private readonly decoder: HeaderDecoder = createHeaderDecoder(HEADER_TABLE_SIZE);
  private readonly calls = new Map<number, Call>();
  private lastStreamId = 0;
  /** A header block spread over HEADERS + CONTINUATION frames. */
  private headerBlock: { streamId: number; parts: Buffer[]; size: number; endStream: boolean } | undefined;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private sendWindow = DEFAULT_WINDOW;
  private receivedSinceRefill = 0;
  private goingAway = false;
  private ended = false;

  constructor(
    readonly socket: net.Socket,
    private readonly ctx: ServerContext,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    this.write(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS],
        // A whole request message fits the stream's window: no per-stream WINDOW_UPDATE needed.
        [Setting.INITIAL_WINDOW_SIZE, Math.min(MAX_WINDOW, ctx.maxMessage + 5 + 1024)],
        [Setting.ENABLE_PUSH, 0],
      ]),
    );
    this.write(windowUpdateFrame(0, MAX_WINDOW - DEFAULT_WINDOW));
    this.flush();
  }

  /** Graceful close: no new calls, answer the ones in flight, then end the connection. */
  goAway(): void {
    if (this.goingAway) return;
    this.goingAway = true;
    this.write(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR));
    this.endIfIdle();
    this.scheduleFlush();
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    this.inRead = true;
    try {
      this.readFrames();
    } catch (err) {
      if (err instanceof ConnectionError) this.fail(err.code, err.message);
      else this.fail(ErrorCode.INTERNAL_ERROR, 'internal error');
    } finally {
      this.inRead = false;
    }
    this.flush();
  }

  private readFrames(): void {
    let at = 0;
    const buf = this.input;
    if (!this.prefaceSeen) {
      if (buf.length < CONNECTION_PREFACE.length) {
        if (!CONNECTION_PREFACE.subarray(0, buf.length).equals(buf)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 connection preface');
        return;
      }
      if (!buf.subarray(0, CONNECTION_PREFACE.length).equals(CONNECTION_PREFACE)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 connection preface');
      this.prefaceSeen = true;
      at = CONNECTION_PREFACE.length;
    }
    while (!this.ended && buf.length - at >= FRAME_HEADER_BYTES) {
      const length = buf.readUIntBE(at, 3);
      if (length > DEFAULT_MAX_FRAME_SIZE) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes`);
      if (buf.length - at < FRAME_HEADER_BYTES + length) break;
      const type = buf[at + 3]!;
      const flags = buf[at + 4]!;
      const streamId = buf.readUInt32BE(at + 5) & 0x7fffffff;
      const payload = buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
      at += FRAME_HEADER_BYTES + length;
      this.onFrame(type, flags, streamId, payload);
    }
    this.input = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.headerBlock !== undefined && (type !== FrameType.CONTINUATION || streamId !== this.headerBlock.streamId)) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'header block interrupted');
    }
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, streamId, payload);
      case FrameType.HEADERS: {
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
        let p = unpad(flags, payload);
        if (flags & Flag.PRIORITY) {
          if (p.length < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'short HEADERS priority');
          p = p.subarray(5);
        }
        this.headerBlock = { streamId, parts: [p], size: p.length, endStream: (flags & Flag.END_STREAM) !== 0 };
        if (flags & Flag.END_HEADERS) this.endHeaderBlock();
        return;
      }
      case FrameType.CONTINUATION: {
        if (this.headerBlock === undefined) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
        this.headerBlock.parts.push(payload);
        this.headerBlock.size += payload.length;
        if (this.headerBlock.size > MAX_HEADER_BLOCK_BYTES) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large');
        if (flags & Flag.END_HEADERS) this.endHeaderBlock();
        return;
      }
      case FrameType.PRIORITY:
        if (payload.length !== 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PRIORITY of wrong size');
        return;
      case FrameType.RST_STREAM:
        if (streamId === 0 || payload.length !== 4) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'bad RST_STREAM');
        this.calls.delete(streamId);
        this.endIfIdle();
        return;
      case FrameType.SETTINGS:
        return this.onSettings(flags, streamId, payload);
      case FrameType.PING:
        if (streamId !== 0 || payload.length !== 8) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'bad PING');
        if (!(flags & Flag.ACK)) this.write(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        // The client leaves: answer what is in flight, then end.
        this.goingAway = true;
        this.endIfIdle();
        return;
      case FrameType.WINDOW_UPDATE: {
        if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of wrong size');
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (streamId === 0) {
          if (increment === 0 || this.sendWindow + increment > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'bad connection WINDOW_UPDATE');
          this.sendWindow += increment;
        } else {
          const call = this.calls.get(streamId);
          if (call === undefined) return;
          if (increment === 0 || call.sendWindow + increment > MAX_WINDOW) {
            this.resetCall(call, increment === 0 ? ErrorCode.PROTOCOL_ERROR : ErrorCode.FLOW_CONTROL_ERROR);
            return;
          }
          call.sendWindow += increment;
        }
        this.sendPending();
        return;
      }
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return;
    }
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS of wrong size');
    for (let i = 0; i < payload.length; i += 6) {
      const id = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE too large');
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const call of this.calls.values()) call.sendWindow += delta;
      } else if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > 16_777_215) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'bad MAX_FRAME_SIZE');
        this.peerMaxFrameSize = value;
      } else if (id === Setting.ENABLE_PUSH && value > 1) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'bad ENABLE_PUSH');
      }
      // HEADER_TABLE_SIZE concerns our encoder, which never uses the dynamic table; the rest are advisory.
    }
    this.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
    this.sendPending();
  }

  private onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    // Flow control counts the whole payload, padding included.
    this.receivedSinceRefill += payload.length;
    if (this.receivedSinceRefill >= CONNECTION_WINDOW_REFILL) {
      this.write(windowUpdateFrame(0, this.receivedSinceRefill));
      this.receivedSinceRefill = 0;
    }
    const call = this.calls.get(streamId);
    if (call === undefined || call.remoteClosed) {
      if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on an idle stream');
      // A call already answered and reset, or cancelled: nothing to do.
      if (call !== undefined) this.resetCall(call, ErrorCode.STREAM_CLOSED);
      return;
    }
    const data = unpad(flags, payload);
    if (!call.answered) {
      call.size += data.length;
      if (call.size > this.ctx.maxMessage + 5) {
        this.answerStatus(call, GrpcStatus.RESOURCE_EXHAUSTED, `request larger than ${this.ctx.maxMessage} bytes`);
      } else if (data.length > 0) {
        call.chunks.push(data);
      }
    }
    if (flags & Flag.END_STREAM) this.remoteEnd(call);
  }

  private endHeaderBlock(): void {
    const hb = this.headerBlock!;
    this.headerBlock = undefined;
    let headers: Map<string, string>;
    try {
      headers = this.decoder.decode(hb.parts.length === 1 ? hb.parts[0]! : Buffer.concat(hb.parts, hb.size));
    } catch {
      throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, 'undecodable header block');
    }
    const existing = this.calls.get(hb.streamId);
    if (existing !== undefined) {
      // Trailers: they end the client's side.
      if (!hb.endStream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'trailers without END_STREAM');
      this.remoteEnd(existing);
      return;
    }
    if (hb.streamId <= this.lastStreamId || hb.streamId % 2 === 0) {
      // HEADERS on a stream we already closed (answered early, then reset) or an even (server) id.
      if (hb.streamId % 2 === 1) return;
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${hb.streamId}`);
    }
    this.lastStreamId = hb.streamId;
    if (this.goingAway || this.calls.size >= MAX_CONCURRENT_STREAMS) {
      this.write(rstStreamFrame(hb.streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    const path = headers.get(':path') ?? '';
    const call: Call = {
      id: hb.streamId,
      path,
      method: this.ctx.methods[path],
      chunks: [],
      size: 0,
      remoteClosed: false,
      answered: false,
      sendWindow: this.peerInitialWindow,
    };
    this.calls.set(call.id, call);
    if (headers.get(':method') !== 'POST') this.answerHttp(call, 405);
    else if (!(headers.get('content-type') ?? '').startsWith('application/grpc')) this.answerHttp(call, 415);
    else if (call.method === undefined) this.answerStatus(call, GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
    if (hb.endStream) this.remoteEnd(call);
  }

  /** The client's side of a call ended: run the method on the request, unless answered already. */
  private remoteEnd(call: Call): void {
    call.remoteClosed = true;
    if (call.answered) {
      if (call.pendingData === undefined && call.pendingTrailers === undefined) this.closeCall(call);
      return;
    }
    const method = call.method!;
    const body = call.chunks.length === 1 ? call.chunks[0]! : Buffer.concat(call.chunks, call.size);
    call.chunks = [];
    if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) {
      this.answerStatus(call, GrpcStatus.INTERNAL, 'a unary call carries exactly one length-prefixed message');
      return;
    }
    if (body[0] !== 0) {
      this.answerStatus(call, GrpcStatus.UNIMPLEMENTED, 'compressed messages are not supported');
      return;
    }
    let request: unknown;
    try {
      request = method.deserialize(body.subarray(5));
    } catch (err) {
      this.ctx.onInternalError?.(err, call.path);
      this.answerStatus(call, GrpcStatus.INTERNAL, 'cannot decode the request message');
      return;
    }
    const finish = (result: unknown) => {
      if (result instanceof GrpcStatusError) {
        this.answerStatus(call, result.code, result.details);
        return;
      }
      let bytes: Buffer;
      try {
        bytes = method.serialize(result);
      } catch (err) {
        this.ctx.onInternalError?.(err, call.path);
        this.answerStatus(call, GrpcStatus.INTERNAL, 'cannot encode the response message');
        return;
      }
      this.answerMessage(call, bytes);
    };
    const fail = (err: unknown) => {
      if (err instanceof GrpcStatusError) return finish(err);
      this.ctx.onInternalError?.(err, call.path);
      this.answerStatus(call, GrpcStatus.INTERNAL, err instanceof Error ? err.message : 'internal error');
    };
    try {
      const result = method.handle(request);
      if (result instanceof Promise) {
        call.answered = true; // set again by answer*; guards against DATA arriving meanwhile
        result.then(finish, fail).finally(() => this.scheduleFlush());
      } else {
        finish(result);
      }
    } catch (err) {
      fail(err);
    }
  }

  private answerMessage(call: Call, message: Buffer): void {
    if (!this.calls.has(call.id) || this.ended) return;
    call.answered = true;
    const t = templateOf(message);
    if (t.dataLength <= this.sendWindow && t.dataLength <= call.sendWindow && t.dataLength <= DEFAULT_MAX_FRAME_SIZE) {
      // Fast path: the prebuilt frames with this stream's id.
      const bytes = Buffer.from(t.bytes);
      for (const off of t.idOffsets) bytes.writeUInt32BE(call.id, off);
      this.sendWindow -= t.dataLength;
      call.sendWindow -= t.dataLength;
      this.write(bytes);
      this.closeCall(call);
      return;
    }
    for (const f of headerFrames(call.id, RESPONSE_HEADER_BLOCK, false, this.peerMaxFrameSize)) this.write(f);
    call.pendingData = lengthPrefixed(message);
    call.pendingTrailers = OK_TRAILER_BLOCK;
    this.sendPending();
  }

  /** Trailers-only response: one header block with END_STREAM. */
  private answerStatus(call: Call, code: number, details: string): void {
    if (!this.calls.has(call.id) || this.ended) return;
    call.answered = true;
    const block = encodeHeaderBlock([
      [':status', '200'],
      ['content-type', 'application/grpc+proto'],
      ['grpc-status', String(code)],
      ['grpc-message', encodeGrpcMessage(details)],
    ]);
    for (const f of headerFrames(call.id, block, true, this.peerMaxFrameSize)) this.write(f);
    this.closeCall(call);
  }

  /** Not a gRPC request at all: a bare HTTP status. */
  private answerHttp(call: Call, status: number): void {
    call.answered = true;
    for (const f of headerFrames(call.id, encodeHeaderBlock([[':status', String(status)]]), true, this.peerMaxFrameSize)) this.write(f);
    this.closeCall(call);
  }

  /** Sends what waited for flow-control window, in stream order. */
  private sendPending(): void {
    for (const call of this.calls.values()) {
      while (call.pendingData !== undefined && call.pendingData.length > 0) {
        const n = Math.min(call.pendingData.length, this.sendWindow, call.sendWindow, this.peerMaxFrameSize);
        if (n <= 0) break;
        this.write(frame(FrameType.DATA, 0, call.id, call.pendingData.subarray(0, n)));
        this.sendWindow -= n;
        call.sendWindow -= n;
        call.pendingData = call.pendingData.subarray(n);
      }
      if (call.pendingData !== undefined && call.pendingData.length === 0 && call.pendingTrailers !== undefined) {
        for (const f of headerFrames(call.id, call.pendingTrailers, true, this.peerMaxFrameSize)) this.write(f);
        call.pendingData = undefined;
        call.pendingTrailers = undefined;
        this.closeCall(call);
      }
    }
  }

  /** Our side ended (END_STREAM sent). A client still sending is told to stop (RST_STREAM NO_ERROR). */
  private closeCall(call: Call): void {
    if (!call.remoteClosed) this.write(rstStreamFrame(call.id, ErrorCode.NO_ERROR));
    this.calls.delete(call.id);
    this.endIfIdle();
  }

  private resetCall(call: Call, code: number): void {
    this.write(rstStreamFrame(call.id, code));
    this.calls.delete(call.id);
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goingAway && this.calls.size === 0 && !this.ended) {
      this.ended = true;
      this.flush();
      this.socket.end();
    }
  }

  /** A connection error: GOAWAY with its code, then close. */
  private fail(code: number, message: string): void {
    if (this.ended) return;
    this.write(goawayFrame(this.lastStreamId, code, message));
    this.ended = true;
    this.flush();
    this.socket.end();
  }

  private write(b: Buffer): void {
    this.out.push(b);
  }

  private scheduleFlush(): void {
    if (this.inRead || this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.out.length === 0 || this.socket.destroyed) {
      this.out.length = 0;
      return;
    }
    const bytes = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out.length = 0;
    this.socket.write(bytes);
  }
}

/** The payload of a DATA or HEADERS frame without its padding. */
function unpad(flags: number, payload: Buffer): Buffer {
  if (!(flags & Flag.PADDED)) return payload;
  const pad = payload[0];
  if (pad === undefined || pad >= payload.length) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'bad padding');
  return payload.subarray(1, payload.length - pad);
}

export async function startUnaryGrpcServer(opts: UnaryGrpcServerOptions): Promise<RunningUnaryGrpcServer> {
  const ctx: ServerContext = { methods: opts.methods, maxMessage: opts.maxMessageBytes ?? 4 * 1024 * 1024, onInternalError: opts.onInternalError };
  const connections = new Set<Connection>();
  let closing = false;
  const server = net.createServer((socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    const c = new Connection(socket, ctx);
    connections.add(c);
    socket.on('close', () => connections.delete(c));
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : opts.port);
    });
  });

  let closed: Promise<void> | undefined;
  return {
    port,
    close: (graceMs = 2000) =>
      (closed ??= new Promise<void>((resolve) => {
        closing = true;
        const timer = setTimeout(() => {
          for (const c of connections) c.socket.destroy();
        }, graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        for (const c of connections) c.goAway();
      })),
  };
}
