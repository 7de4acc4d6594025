/**
 * The process logger (pino, JSON lines on stdout). Level from LOG_LEVEL.
 */
import pino, { type Logger } from 'pino';
import { getEnv } from './env';

const globalForLog = globalThis as typeof globalThis & { __proxyshardLogger?: Logger };

export function getLogger(): Logger {
  globalForLog.__proxyshardLogger ??= pino({ level: getEnv().LOG_LEVEL, base: { service: 'web' } });
  return globalForLog.__proxyshardLogger;
}
