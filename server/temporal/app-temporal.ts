/**
 * The Temporal client of the web process, connected on first use (TEMPORAL_ADDRESS / TEMPORAL_PORT,
 * namespace and task queue from server/env.ts). Tests and scripts install their own with setAppTemporal,
 * the way server/app-db.ts works for the database.
 */
import { getEnv } from '../env';
import { getTemporalClient, type ProxyShardTemporal } from './client';

const holder = globalThis as typeof globalThis & { __proxyshardAppTemporal?: ProxyShardTemporal };

export function getAppTemporal(): Promise<ProxyShardTemporal> {
  if (holder.__proxyshardAppTemporal) return Promise.resolve(holder.__proxyshardAppTemporal);
  return getTemporalClient(getEnv());
}

/** Use `temporal` for everything that calls getAppTemporal() (tests: the harness's dev server and a test task queue). */
export function setAppTemporal(temporal: ProxyShardTemporal | undefined): void {
  holder.__proxyshardAppTemporal = temporal;
}
