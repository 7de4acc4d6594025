/**
 * Private keys at rest: AES-256-GCM envelopes under key-encryption keys (KEKs) from the environment.
 *
 * Envelope text: `v1.<kid>.<iv>.<tag>.<ciphertext>` (base64url parts, 12-byte IV, 16-byte tag). The caller
 * passes additional authenticated data naming the row (`certificate:<id>`), so an envelope copied to another
 * row does not open. KEKs come from `PROXYSHARD_KEYS="kid2:<base64 of 32 bytes>,kid1:<…>"` (first = current,
 * the others still open old envelopes until `rewrapKeys` moved them); without it (development, tests, `npm
 * start`) a key generated once and kept in `<PROXYSHARD_DATA_DIR>/pki/keys` (mode 0600) is used. Production
 * refuses to start without PROXYSHARD_KEYS.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getEnv, parseKeyEncryptionKeys, type Env, type KeyEncryptionKey } from '../env';

export interface KeyBox {
  /** Key id new envelopes are sealed with. */
  readonly currentKid: string;
  /** Every key id this box can open. */
  readonly kids: readonly string[];
  seal(plain: Uint8Array, aad: string): string;
  open(envelope: string, aad: string): Buffer;
  kidOf(envelope: string): string;
}

export class KeyBoxError extends Error {
  override readonly name = 'KeyBoxError';
}

const VERSION = 'v1';

export function createKeyBox(keys: readonly KeyEncryptionKey[]): KeyBox {
  if (keys.length === 0) throw new KeyBoxError('no key-encryption key');
  const byKid = new Map<string, Buffer>();
  for (const k of keys) {
    if (k.key.length !== 32) throw new KeyBoxError(`key ${k.kid}: AES-256 needs 32 bytes, got ${k.key.length}`);
    if (byKid.has(k.kid)) throw new KeyBoxError(`key id ${k.kid} appears twice`);
    byKid.set(k.kid, k.key);
  }
  const current = keys[0]!;
  const kidOf = (envelope: string): string => {
    const parts = envelope.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new KeyBoxError('not a key envelope');
    return parts[1]!;
  };
  return {
    currentKid: current.kid,
    kids: keys.map((k) => k.kid),
    kidOf,
    seal(plain, aad) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, current.kid, iv.toString('base64url'), tag.toString('base64url'), ct.toString('base64url')].join('.');
    },
    open(envelope, aad) {
      const kid = kidOf(envelope);
      const key = byKid.get(kid);
      if (!key) throw new KeyBoxError(`key-encryption key "${kid}" is not configured (PROXYSHARD_KEYS)`);
      const [, , iv, tag, ct] = envelope.split('.') as [string, string, string, string, string];
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      try {
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]);
      } catch {
        throw new KeyBoxError(`key envelope does not open under key "${kid}" (wrong key or tampered data)`);
      }
    },
  };
}

/** The development key file: created on first use, one `kid:base64` line. */
function developmentKey(dataDir: string): KeyEncryptionKey[] {
  const dir = join(dataDir, 'pki');
  const file = join(dir, 'keys');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const line = `dev-${randomBytes(4).toString('hex')}:${randomBytes(32).toString('base64')}\n`;
    try {
      writeFileSync(file, line, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another process won the race: use its key
    }
    chmodSync(file, 0o600);
  }
  return parseKeyEncryptionKeys(readFileSync(file, 'utf8').trim().split('\n').join(','));
}

/** The key box of this process's environment (see the module comment). */
export function loadKeyBox(env: Env): KeyBox {
  if (env.PROXYSHARD_KEYS) return createKeyBox(env.PROXYSHARD_KEYS);
  if (env.NODE_ENV === 'production') throw new KeyBoxError('PROXYSHARD_KEYS must be set in production (key-encryption keys for private keys at rest)');
  return createKeyBox(developmentKey(env.PROXYSHARD_DATA_DIR));
}

const holder = globalThis as typeof globalThis & { __proxyshardKeyBox?: KeyBox };

/** The process-wide key box (loaded from getEnv() on first use; tests install theirs with setAppKeyBox). */
export function getAppKeyBox(): KeyBox {
  holder.__proxyshardKeyBox ??= loadKeyBox(getEnv());
  return holder.__proxyshardKeyBox;
}

export function setAppKeyBox(box: KeyBox | undefined): void {
  holder.__proxyshardKeyBox = box;
}
