/**
 * Reading a JSON request body safely: the media type is checked first (415), the size is capped while
 * reading (413, before anything is parsed), then the text is decoded as UTF-8 and parsed (400 naming the
 * problem).
 */
import { AppError } from '../errors';

export function tooLarge(maxBytes: number): AppError {
  return new AppError('payload_too_large', `the request body is larger than ${maxBytes} bytes (MAX_BODY_BYTES)`);
}

/** Throws `unsupported_media_type` unless the Content-Type is application/json (charset utf-8 if given). */
export function requireJsonContentType(headers: Headers): void {
  const header = headers.get('content-type');
  const [mime, ...params] = (header ?? '').split(';').map((s) => s.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (mime !== 'application/json' || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
    throw new AppError('unsupported_media_type', `send the request body as application/json (Content-Type was ${header ? `"${header}"` : 'missing'})`);
  }
}

/** The raw body bytes, at most `maxBytes`; stops reading and throws `payload_too_large` beyond that. */
export async function readBodyBytes(req: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Content type, size and syntax checks, in that order; returns the parsed (not yet validated) value. */
export async function readJsonBody(req: Request, maxBytes: number): Promise<unknown> {
  requireJsonContentType(req.headers);
  const bytes = await readBodyBytes(req, maxBytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new AppError('bad_request', 'the request body is not valid UTF-8');
  }
  if (text.trim() === '') throw new AppError('bad_request', 'the request body is empty; send a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AppError('bad_request', `malformed JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}
