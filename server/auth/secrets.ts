/**
 * Bearer secrets. Only their SHA-256 is stored, so a database dump does not let anyone sign in.
 *   session cookie: 32 random bytes, base64url (43 chars); Session.id = sha256hex(cookie value)
 *   API token:      `ps_<prefix>_<secret>`; prefix = 8 lowercase hex chars (not secret, shown in listings),
 *                   secret = 32 random bytes as 64 lowercase hex chars; ApiToken.tokenHash = sha256hex(whole token)
 */
import { createHash, randomBytes } from 'node:crypto';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function newSessionToken(): { token: string; id: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, id: sha256Hex(token) };
}

/** The Session.id for a cookie value. */
export function sessionIdOf(token: string): string {
  return sha256Hex(token);
}

const API_TOKEN = /^ps_([0-9a-f]{8})_([0-9a-f]{64})$/;

export function newApiToken(): { token: string; prefix: string; tokenHash: string } {
  const prefix = randomBytes(4).toString('hex');
  const token = `ps_${prefix}_${randomBytes(32).toString('hex')}`;
  return { token, prefix, tokenHash: sha256Hex(token) };
}

/** The tokenHash to look up, or null when `text` is not shaped like an API token. */
export function apiTokenHashOf(text: string): string | null {
  return API_TOKEN.test(text) ? sha256Hex(text) : null;
}
