/**
 * Password hashing: argon2id with the library defaults (19 MiB, 2 passes, 1 lane — the OWASP minimum),
 * encoded as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) that carries its own parameters.
 */
import { hash, verify, type Algorithm } from '@node-rs/argon2';

/** `Algorithm.Argon2id` (an ambient const enum, which isolatedModules cannot read). */
const ARGON2ID = 2 as Algorithm;

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

export function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: ARGON2ID });
}

/** False for a wrong password and for a malformed stored hash. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/**
 * Spends about as long as a real verification, so that an unknown username answers no faster than a known
 * one with a wrong password.
 */
export async function burnPasswordCheck(password: string): Promise<void> {
  dummy ??= hashPassword('proxyshard-timing-equaliser');
  await verifyPassword(await dummy, password);
}
