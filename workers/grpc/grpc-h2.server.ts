/**
 * A gRPC server on its own HTTP/2 framing (h2-frames.ts) over node:net or node:tls: unary methods (the
 * ext_authz hot path) and streaming methods (the xds process' ADS streams, its health Watch, the agent
 * channel).
 *
 * Why not @grpc/grpc-js's Server: profiling the ext_authz server under Envoy at 1,000 req/s (bench/
 * extauthz-latency.ts --cpu-prof) showed about half of its CPU per Check in grpc-js's per-call machinery
 * (interceptor chain, metadata objects, channelz, stream wrappers) around a handler that itself needs tens of
 * microseconds. Why not node:http2 either: with grpc-js gone, node:http2's per-stream machinery (a Duplex
 * stream object per call, header objects built and validated both ways, events, nextTicks) was the largest
 * share left: 40–45 % of the server's CPU per Check in the same profile. The xds process pays the same per
 * message on its long-lived ADS streams: a push to 1,000 proxies is 1,000 response writes and 1,000 ACKs
 * read (bench/xds-commit-to-ack.ts). This server parses the frames of a connection in one pass per socket
 * read, keeps a few fields per stream, writes a message as one prebuilt DATA frame, and writes everything a
 * read (or a push) produced on a connection in one socket write.
 *
 *   request   POST <:path>, content-type application/grpc[+proto], length-prefixed messages
 *   unary     HEADERS (:status 200) + one length-prefixed message + trailers grpc-status 0, or a
 *             trailers-only response with grpc-status / grpc-message (percent-encoded) on error
 *   streaming HEADERS when the first message goes out, the messages, then trailers with the call's status
 *
 * Streaming calls are ServerStreamCall objects with the part of @grpc/grpc-js's server call API that
 * ProxyShard's services use, so the same implementation runs on either server (grpcServiceMethods):
 * events 'data' (a request message), 'end' (the client half-closed), 'cancelled' (RST_STREAM from the client
 * or the connection lost), 'close' (the call is over, whichever way); `request` (server-streaming), `write`,
 * `end`, `cancelled`, `getPeer`, and grpc-js's convention that emitting 'error' with `{ code, details }`
 * ends the call with that status.
 *
 * HTTP/2 as a server must (RFC 9113): connection preface and SETTINGS exchange, HPACK with the dynamic table
 * for what the client sends, flow control both ways (stream and connection windows are topped up as request
 * bytes are consumed; responses wait for window when the client's windows are small), CONTINUATION, PING,
 * RST_STREAM, GOAWAY both ways, stream-id rules, a concurrent-stream limit (REFUSED_STREAM beyond it);
 * protocol errors end the connection with GOAWAY and the error code. TCP_NODELAY on every connection. TLS
 * (with ALPN h2 and, optionally, client certificates checked against a CA) when `tls` is given. Not
 * supported: compressed messages (answered UNIMPLEMENTED; we never advertise grpc-accept-encoding), HTTP/1.1
 * upgrade, metadata for handlers. Deadlines (grpc-timeout) are left to the client.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
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
  UNKNOWN: 2,
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

export interface StreamingMethod<Req, Res> {
  /** true: the client streams too (bidi); false: one request message, then the server streams. */
  requestStream: boolean;
  deserialize(bytes: Buffer): Req;
  serialize(response: Res): Buffer;
  /** Called when the call starts (bidi) or when its request message arrived (server-streaming). */
  start(call: ServerStreamCall<Req, Res>): void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type GrpcMethod = UnaryMethod<any, any> | StreamingMethod<any, any>;

export interface GrpcServerTls {
  certChainPem: string;
  privateKeyPem: string;
  /** When set, clients must present a certificate this CA bundle verifies (mTLS). */
  clientCaPem?: string;
}

export interface GrpcServerOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Full method paths (`/package.Service/Method`) → implementation. */
  methods: Record<string, GrpcMethod>;
  /** Largest request message accepted, bytes; default 4 MiB (gRPC's default). */
  maxMessageBytes?: number;
  tls?: GrpcServerTls;
  /** Called for failures that end a call with INTERNAL (handler exceptions, undecodable messages). */
  onInternalError?: (err: unknown, path: string) => void;
}

export interface RunningGrpcServer {
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

/** A DATA frame carrying one whole gRPC message (frame header, length prefix, message) in one allocation. */
export function grpcMessageFrame(streamId: number, message: Uint8Array): Buffer {
  const length = 5 + message.length;
  const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  f.writeUIntBE(length, 0, 3);
  f[3] = FrameType.DATA;
  f[4] = 0;
  f.writeUInt32BE(streamId & 0x7fffffff, 5);
  f[9] = 0;
  f.writeUInt32BE(message.length, 10);
  f.set(message, 14);
  return f;
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

/** Trailers (or a trailers-only response) carrying a status. */
function statusBlock(code: number, details: string, trailersOnly: boolean): Buffer {
  if (code === GrpcStatus.OK && details === '' && !trailersOnly) return OK_TRAILER_BLOCK;
  const fields: [string, string][] = trailersOnly
    ? [
        [':status', '200'],
        ['content-type', 'application/grpc+proto'],
      ]
    : [];
  fields.push(['grpc-status', String(code)]);
  if (details !== '') fields.push(['grpc-message', encodeGrpcMessage(details)]);
  return encodeHeaderBlock(fields);
}

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Stream {
  id: number;
  path: string;
  method: GrpcMethod | undefined;
  /** Request bytes received and not yet consumed (unary: the whole request; streaming: a partial message). */
  chunks: Buffer[];
  size: number;
  /** The client ended its side (END_STREAM received). */
  remoteClosed: boolean;
  /** Our side is finished (unary: an answer was chosen; streaming: the status is written or queued); later request DATA is ignored. */
  answered: boolean;
  /** What the client lets us send on this stream. */
  sendWindow: number;
  /** Response HEADERS written (streaming). */
  headersSent: boolean;
  /** Response DATA not yet sent for want of window (length-prefixed messages, or what is left of one), then the trailers. */
  pending: Buffer[];
  pendingTrailers?: Buffer;
  /** Request bytes consumed since the stream's receive window was last topped up. */
  consumed: number;
  /** The call object of a streaming method. */
  call?: ServerStreamCall<unknown, unknown>;
}

interface ServerContext {
  methods: Record<string, GrpcMethod>;
  maxMessage: number;
  /** The receive window we give each stream (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindow: number;
  onInternalError?: (err: unknown, path: string) => void;
}

const isStreaming = (m: GrpcMethod | undefined): m is StreamingMethod<unknown, unknown> => m !== undefined && 'start' in m;

/**
 * A streaming call (see the header for the API). Requests arrive as 'data' events; `write` sends a response
 * message; `end` (or emitting 'error' with a status) ends the call.
 */
export class ServerStreamCall<Req, Res> extends EventEmitter {
  /** The request message of a server-streaming call. */
  request: Req = undefined as Req;
  cancelled = false;

  constructor(
    private readonly conn: Connection,
    /** @internal */ readonly stream: Stream,
    private readonly serialize: (response: Res) => Buffer,
  ) {
    super();
    // grpc-js's convention: `call.emit('error', { code, details })` ends the call with that status.
    this.on('error', (err: { code?: number; details?: string; message?: string }) => {
      this.conn.finishStream(this.stream, err.code ?? GrpcStatus.UNKNOWN, err.details ?? err.message ?? '');
    });
  }

  getPeer(): string {
    return this.conn.peer;
  }

  /** Sends a response message (queued when the client's flow-control window is full). */
  write(message: Res): boolean {
    this.conn.sendMessage(this.stream, this.serialize(message));
    return true;
  }

  /** Ends the call with grpc-status OK, after the messages written before. */
  end(): void {
    this.conn.finishStream(this.stream, GrpcStatus.OK, '');
  }
}

/** One client connection: frames in, frames out. */
class Connection {
  private input: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  private readonly out: Buffer[] = [];
  private inRead = false;
  private flushQueued = false;
  private readonly decoder: HeaderDecoder = createHeaderDecoder(HEADER_TABLE_SIZE);
  private readonly calls = new Map<number, Stream>();
  private lastStreamId = 0;
  /** A header block spread over HEADERS + CONTINUATION frames. */
  private headerBlock: { streamId: number; parts: Buffer[]; size: number; endStream: boolean } | undefined;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private sendWindow = DEFAULT_WINDOW;
  private receivedSinceRefill = 0;
  private goingAway = false;
  private ended = false;
  readonly peer: string;

  constructor(
    readonly socket: net.Socket,
    private readonly ctx: ServerContext,
  ) {
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
    this.write(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS],
        // A whole request message fits the stream's window; streams get it topped up as they consume it.
        [Setting.INITIAL_WINDOW_SIZE, ctx.streamWindow],
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

  /** The socket is gone: every call still open is cancelled. */
  private onClose(): void {
    this.ended = true;
    const open = [...this.calls.values()];
    this.calls.clear();
    for (const s of open) this.cancelStream(s);
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
      case FrameType.RST_STREAM: {
        if (streamId === 0 || payload.length !== 4) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'bad RST_STREAM');
        const s = this.calls.get(streamId);
        if (s !== undefined) {
          this.calls.delete(streamId);
          this.cancelStream(s);
        }
        this.endIfIdle();
        return;
      }
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
    if (call.call !== undefined) {
      // A long-lived stream: give back the window as its bytes are consumed.
      call.consumed += payload.length;
      if (call.consumed >= this.ctx.streamWindow / 2 && !(flags & Flag.END_STREAM)) {
        this.write(windowUpdateFrame(call.id, call.consumed));
        call.consumed = 0;
      }
      if (!call.answered && data.length > 0) this.onStreamData(call, data);
    } else if (!call.answered) {
      call.size += data.length;
      if (call.size > this.ctx.maxMessage + 5) {
        this.answerStatus(call, GrpcStatus.RESOURCE_EXHAUSTED, `request larger than ${this.ctx.maxMessage} bytes`);
      } else if (data.length > 0) {
        call.chunks.push(data);
      }
    }
    if (flags & Flag.END_STREAM && this.calls.get(streamId) === call) this.remoteEnd(call);
  }

  /** Request bytes of a streaming call: every complete message goes to the call. */
  private onStreamData(s: Stream, data: Buffer): void {
    s.chunks.push(data);
    s.size += data.length;
    if (s.size < 5) return;
    let buf = s.chunks.length === 1 ? s.chunks[0]! : Buffer.concat(s.chunks, s.size);
    s.chunks = [];
    s.size = 0;
    const method = s.method as StreamingMethod<unknown, unknown>;
    while (buf.length >= 5 && !s.answered) {
      const length = buf.readUInt32BE(1);
      if (length > this.ctx.maxMessage) {
        this.finishStream(s, GrpcStatus.RESOURCE_EXHAUSTED, `request message larger than ${this.ctx.maxMessage} bytes`);
        return;
      }
      if (buf.length < 5 + length) break;
      const decoded = this.decodeRequest(s.path, method, buf.subarray(0, 5 + length));
      buf = buf.subarray(5 + length);
      if (decoded instanceof GrpcStatusError) {
        this.finishStream(s, decoded.code, decoded.details);
        return;
      }
      const message = decoded.message;
      const call = s.call!;
      if (method.requestStream) {
        call.emit('data', message);
      } else if (call.request === undefined) {
        call.request = message;
        this.startCall(s, method, call);
      } else {
        this.finishStream(s, GrpcStatus.INTERNAL, 'a server-streaming call carries exactly one request message');
        return;
      }
    }
    if (buf.length > 0 && !s.answered) {
      s.chunks.push(buf);
      s.size = buf.length;
    }
  }

  /** One length-prefixed request message decoded, or the status that ends its call (unary and streaming alike). */
  private decodeRequest(path: string, method: GrpcMethod, prefixed: Buffer): { message: unknown } | GrpcStatusError {
    if (prefixed[0] !== 0) return new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, 'compressed messages are not supported');
    try {
      return { message: method.deserialize(prefixed.subarray(5)) };
    } catch (err) {
      this.ctx.onInternalError?.(err, path);
      return new GrpcStatusError(GrpcStatus.INTERNAL, 'cannot decode the request message');
    }
  }

  private startCall(s: Stream, method: StreamingMethod<unknown, unknown>, call: ServerStreamCall<unknown, unknown>): void {
    try {
      method.start(call);
    } catch (err) {
      this.ctx.onInternalError?.(err, s.path);
      this.finishStream(s, GrpcStatus.INTERNAL, err instanceof Error ? err.message : 'internal error');
    }
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
    const method = this.ctx.methods[path];
    const call: Stream = {
      id: hb.streamId,
      path,
      method,
      chunks: [],
      size: 0,
      remoteClosed: false,
      answered: false,
      sendWindow: this.peerInitialWindow,
      headersSent: false,
      pending: [],
      consumed: 0,
    };
    this.calls.set(call.id, call);
    if (headers.get(':method') !== 'POST') this.answerHttp(call, 405);
    else if (!(headers.get('content-type') ?? '').startsWith('application/grpc')) this.answerHttp(call, 415);
    else if (method === undefined) this.answerStatus(call, GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
    else if (isStreaming(method)) {
      call.call = new ServerStreamCall(this, call, method.serialize);
      if (method.requestStream) this.startCall(call, method, call.call);
    }
    if (hb.endStream && this.calls.get(call.id) === call) this.remoteEnd(call);
  }

  /** The client's side of a call ended: unary calls run the method on the request, unless answered already. */
  private remoteEnd(call: Stream): void {
    call.remoteClosed = true;
    if (call.call !== undefined) return this.remoteEndStream(call, call.call);
    if (call.answered) {
      if (call.pending.length === 0 && call.pendingTrailers === undefined) this.closeCall(call);
      return;
    }
    const method = call.method as UnaryMethod<unknown, unknown>;
    const body = call.chunks.length === 1 ? call.chunks[0]! : Buffer.concat(call.chunks, call.size);
    call.chunks = [];
    if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) {
      this.answerStatus(call, GrpcStatus.INTERNAL, 'a unary call carries exactly one length-prefixed message');
      return;
    }
    const decoded = this.decodeRequest(call.path, method, body);
    if (decoded instanceof GrpcStatusError) {
      this.answerStatus(call, decoded.code, decoded.details);
      return;
    }
    const request = decoded.message;
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

  private remoteEndStream(s: Stream, call: ServerStreamCall<unknown, unknown>): void {
    if (s.answered) {
      if (s.pending.length === 0 && s.pendingTrailers === undefined) this.closeCall(s);
      return;
    }
    if (s.size > 0) {
      this.finishStream(s, GrpcStatus.INTERNAL, 'the request ended inside a message');
      return;
    }
    if ((s.method as StreamingMethod<unknown, unknown>).requestStream) call.emit('end');
    else if (call.request === undefined) this.finishStream(s, GrpcStatus.INTERNAL, 'a server-streaming call carries exactly one request message');
  }

  private answerMessage(call: Stream, message: Buffer): void {
    if (!this.calls.has(call.id) || this.ended) return;
    call.answered = true;
    const t = templateOf(message);
    if (t.dataLength <= this.sendWindow && t.dataLength <= call.sendWindow && t.dataLength <= this.peerMaxFrameSize) {
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
    call.pending.push(lengthPrefixed(message));
    call.pendingTrailers = OK_TRAILER_BLOCK;
    this.sendPending();
  }

  /** Trailers-only response: one header block with END_STREAM. */
  private answerStatus(call: Stream, code: number, details: string): void {
    if (!this.calls.has(call.id) || this.ended) return;
    call.answered = true;
    for (const f of headerFrames(call.id, statusBlock(code, details, true), true, this.peerMaxFrameSize)) this.write(f);
    this.closeCall(call);
  }

  /** Not a gRPC request at all: a bare HTTP status. */
  private answerHttp(call: Stream, status: number): void {
    call.answered = true;
    for (const f of headerFrames(call.id, encodeHeaderBlock([[':status', String(status)]]), true, this.peerMaxFrameSize)) this.write(f);
    this.closeCall(call);
  }

  /** One response message of a streaming call, as a DATA frame (or queued for window). */
  sendMessage(s: Stream, message: Buffer): void {
    if (s.answered || this.ended || this.calls.get(s.id) !== s) return;
    if (!s.headersSent) {
      for (const f of headerFrames(s.id, RESPONSE_HEADER_BLOCK, false, this.peerMaxFrameSize)) this.write(f);
      s.headersSent = true;
    }
    const length = 5 + message.length;
    if (s.pending.length === 0 && length <= this.sendWindow && length <= s.sendWindow && length <= this.peerMaxFrameSize) {
      const f = grpcMessageFrame(s.id, message);
      this.sendWindow -= length;
      s.sendWindow -= length;
      this.write(f);
    } else {
      s.pending.push(lengthPrefixed(message));
      this.sendPending();
    }
    this.scheduleFlush();
  }

  /** Ends a streaming call with a status, after what it wrote. */
  finishStream(s: Stream, code: number, details: string): void {
    if (s.answered || this.ended || this.calls.get(s.id) !== s) return;
    s.answered = true;
    s.chunks = [];
    s.size = 0;
    const block = statusBlock(code, details, !s.headersSent);
    if (s.pending.length > 0) s.pendingTrailers = block;
    else {
      for (const f of headerFrames(s.id, block, true, this.peerMaxFrameSize)) this.write(f);
      this.closeCall(s);
    }
    this.scheduleFlush();
  }

  /** Sends what waited for flow-control window, in stream order. */
  private sendPending(): void {
    for (const call of this.calls.values()) {
      while (call.pending.length > 0) {
        const head = call.pending[0]!;
        const n = Math.min(head.length, this.sendWindow, call.sendWindow, this.peerMaxFrameSize);
        if (n <= 0) break;
        this.write(frame(FrameType.DATA, 0, call.id, head.subarray(0, n)));
        this.sendWindow -= n;
        call.sendWindow -= n;
        if (n === head.length) call.pending.shift();
        else call.pending[0] = head.subarray(n);
      }
      if (call.pending.length === 0 && call.pendingTrailers !== undefined) {
        for (const f of headerFrames(call.id, call.pendingTrailers, true, this.peerMaxFrameSize)) this.write(f);
        call.pendingTrailers = undefined;
        this.closeCall(call);
      }
    }
  }

  /** Our side ended (END_STREAM sent). A client still sending is told to stop (RST_STREAM NO_ERROR). */
  private closeCall(call: Stream): void {
    if (!call.remoteClosed) this.write(rstStreamFrame(call.id, ErrorCode.NO_ERROR));
    this.calls.delete(call.id);
    call.call?.emit('close');
    this.endIfIdle();
  }

  private resetCall(call: Stream, code: number): void {
    this.write(rstStreamFrame(call.id, code));
    this.calls.delete(call.id);
    this.cancelStream(call);
    this.endIfIdle();
  }

  /** A streaming call ended without its status (reset, or the connection lost): 'cancelled', then 'close'. */
  private cancelStream(s: Stream): void {
    s.answered = true;
    s.pending = [];
    const call = s.call;
    if (call === undefined || call.cancelled) return;
    call.cancelled = true;
    call.emit('cancelled');
    call.emit('close');
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

/**
 * The methods of a service written for @grpc/grpc-js (definition + implementation), for this server. Unary
 * handlers get `{ request, getPeer }` and a callback; streaming handlers get a ServerStreamCall (the subset
 * of grpc-js's call API described in the header).
 */
export function grpcServiceMethods(definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): Record<string, GrpcMethod> {
  const methods: Record<string, GrpcMethod> = {};
  for (const [name, def] of Object.entries(definition)) {
    const handler = implementation[name] as ((...args: unknown[]) => void) | undefined;
    if (handler === undefined) continue;
    const deserialize = (b: Buffer) => def.requestDeserialize(b) as unknown;
    const serialize = (r: unknown) => def.responseSerialize(r);
    if (def.requestStream && !def.responseStream) throw new Error(`${def.path}: client-streaming methods are not supported`);
    methods[def.path] = !def.responseStream
      ? {
          deserialize,
          serialize,
          handle: (request: unknown) =>
            new Promise((resolve) => {
              handler({ request, getPeer: () => '', cancelled: false }, (err: { code?: number; details?: string; message?: string } | null, value: unknown) => {
                resolve(err ? new GrpcStatusError(err.code ?? GrpcStatus.UNKNOWN, err.details ?? err.message ?? '') : value);
              });
            }),
        }
      : { requestStream: def.requestStream, deserialize, serialize, start: (call) => handler(call) };
  }
  return methods;
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<RunningGrpcServer> {
  const maxMessage = opts.maxMessageBytes ?? 4 * 1024 * 1024;
  const ctx: ServerContext = {
    methods: opts.methods,
    maxMessage,
    streamWindow: Math.min(MAX_WINDOW, maxMessage + 5 + 1024),
    onInternalError: opts.onInternalError,
  };
  const connections = new Set<Connection>();
  let closing = false;
  const onSocket = (socket: net.Socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    const c = new Connection(socket, ctx);
    connections.add(c);
    socket.on('close', () => connections.delete(c));
  };
  const server: net.Server =
    opts.tls === undefined
      ? net.createServer(onSocket)
      : tls
          .createServer(
            {
              cert: opts.tls.certChainPem,
              key: opts.tls.privateKeyPem,
              ALPNProtocols: ['h2'],
              ...(opts.tls.clientCaPem !== undefined ? { ca: opts.tls.clientCaPem, requestCert: true, rejectUnauthorized: true } : {}),
            },
            onSocket,
          )
          .on('tlsClientError', () => {});

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
