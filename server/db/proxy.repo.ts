/**
 * Proxies as seen by the xds replicas: who is connected, and per xDS type what was sent, ACKed and NACKed.
 * A NACK is identified by the nonce it answers (plus Envoy's error text), with the version that nonce
 * carried; version_info in a NACK is the client's previous version and is not what was rejected.
 */
import type { Prisma } from './generated/client';
import { sqlOf, type Sql } from './sql';
import type { DbTx } from './tx';
import { isUuid } from './tx';

export interface ProxyConnectInput {
  tenantId: string;
  nodeId: string;
  nodeCluster: string;
  nodeGroup: string;
  metadata: Record<string, unknown>;
  userAgent: string;
  /** Which xds replica holds the stream. */
  replica: string;
}

/** Identifies one connection of a proxy; a reconnect (here or on another replica) supersedes it. */
export interface ProxyConnection {
  proxyId: string;
  connectedAt: Date;
}

export interface ProxyResourceStatus {
  typeUrl: string;
  sentVersion: string;
  sentNonce: string;
  sentAt: Date | null;
  ackedVersion: string;
  ackedAt: Date | null;
  nackVersion: string | null;
  nackNonce: string | null;
  nackError: string | null;
  nackedAt: Date | null;
}

export interface ProxyStatus {
  id: string;
  tenantId: string;
  nodeId: string;
  nodeCluster: string;
  nodeGroup: string;
  metadata: unknown;
  userAgent: string;
  connected: boolean;
  replica: string;
  connectedAt: Date | null;
  lastSeenAt: Date;
  resources: ProxyResourceStatus[];
}

export async function recordProxyConnected(db: DbTx, input: ProxyConnectInput): Promise<ProxyConnection> {
  const now = new Date();
  const fields = {
    nodeCluster: input.nodeCluster,
    nodeGroup: input.nodeGroup,
    metadata: input.metadata as Prisma.InputJsonValue,
    userAgent: input.userAgent,
    connected: true,
    replica: input.replica,
    connectedAt: now,
    lastSeenAt: now,
  };
  const row = await db.proxy.upsert({
    where: { tenantId_nodeId: { tenantId: input.tenantId, nodeId: input.nodeId } },
    update: fields,
    create: { tenantId: input.tenantId, nodeId: input.nodeId, ...fields },
    select: { id: true },
  });
  return { proxyId: row.id, connectedAt: now };
}

/** connected = false, unless the proxy has reconnected since (then that newer connection owns the row). */
export async function recordProxyDisconnected(db: DbTx, conn: ProxyConnection): Promise<void> {
  await db.proxy.updateMany({
    where: { id: conn.proxyId, connectedAt: conn.connectedAt },
    data: { connected: false, lastSeenAt: new Date() },
  });
}

/** After a crash a replica's proxies may still read connected; a (re)started replica clears its own. */
export async function markReplicaProxiesDisconnected(db: DbTx, replica: string): Promise<number> {
  const { count } = await db.proxy.updateMany({
    where: { replica, connected: true },
    data: { connected: false },
  });
  return count;
}

export async function recordResourceSent(
  db: DbTx,
  proxyId: string,
  typeUrl: string,
  sent: { version: string; nonce: string },
): Promise<void> {
  const data = { sentVersion: sent.version, sentNonce: sent.nonce, sentAt: new Date() };
  await db.proxyResourceState.upsert({
    where: { proxyId_typeUrl: { proxyId, typeUrl } },
    update: data,
    create: { proxyId, typeUrl, ...data },
  });
}

export async function recordResourceAck(db: DbTx, proxyId: string, typeUrl: string, version: string): Promise<void> {
  const now = new Date();
  const data = { ackedVersion: version, ackedAt: now };
  await db.proxyResourceState.upsert({
    where: { proxyId_typeUrl: { proxyId, typeUrl } },
    update: data,
    create: { proxyId, typeUrl, ...data },
  });
  await db.proxy.update({ where: { id: proxyId }, data: { lastSeenAt: now } });
}

export async function recordResourceNack(
  db: DbTx,
  proxyId: string,
  typeUrl: string,
  nack: { version: string; nonce: string; error: string },
): Promise<void> {
  const now = new Date();
  const data = { nackVersion: nack.version, nackNonce: nack.nonce, nackError: nack.error, nackedAt: now };
  await db.proxyResourceState.upsert({
    where: { proxyId_typeUrl: { proxyId, typeUrl } },
    update: data,
    create: { proxyId, typeUrl, ...data },
  });
  await db.proxy.update({ where: { id: proxyId }, data: { lastSeenAt: now } });
}

export async function findProxy(db: DbTx, tenantId: string, nodeId: string): Promise<ProxyStatus | null> {
  return db.proxy.findUnique({
    where: { tenantId_nodeId: { tenantId, nodeId } },
    include: { resources: { omit: { proxyId: true }, orderBy: { typeUrl: 'asc' } } },
  });
}

export async function listProxies(db: DbTx, tenantId: string): Promise<ProxyStatus[]> {
  return db.proxy.findMany({
    where: { tenantId },
    orderBy: { nodeId: 'asc' },
    include: { resources: { omit: { proxyId: true }, orderBy: { typeUrl: 'asc' } } },
  });
}

/** A proxy by its row id or its node id. */
export async function findProxyByIdOrNodeId(db: DbTx, tenantId: string, idOrNodeId: string): Promise<ProxyStatus | null> {
  const include = { resources: { omit: { proxyId: true }, orderBy: { typeUrl: 'asc' } } } as const;
  if (isUuid(idOrNodeId)) {
    const byId = await db.proxy.findFirst({ where: { id: idOrNodeId, tenantId }, include });
    if (byId !== null) return byId;
  }
  return findProxy(db, tenantId, idOrNodeId);
}

/**
 * One merged change of a proxy's per-type state: any of the three groups (sent, ACK, NACK) may be set. Events
 * of one (proxy, type) set disjoint columns per group, so merging them group-wise (latest wins) and writing
 * once gives the same row as writing each event in order.
 */
export interface ResourceStateChange {
  proxyId: string;
  typeUrl: string;
  sent?: { version: string; nonce: string; at: Date };
  acked?: { version: string; at: Date };
  nacked?: { version: string; nonce: string; error: string; at: Date };
}

const UPSERT_RESOURCE_STATES = `
  INSERT INTO "ProxyResourceState" AS t
         ("proxyId", "typeUrl", "sentVersion", "sentNonce", "sentAt", "ackedVersion", "ackedAt", "nackVersion", "nackNonce", "nackError", "nackedAt")
  SELECT x."proxyId", x."typeUrl", COALESCE(x."sentVersion", ''), COALESCE(x."sentNonce", ''), to_timestamp(x."sentAt" / 1000.0),
         COALESCE(x."ackedVersion", ''), to_timestamp(x."ackedAt" / 1000.0), x."nackVersion", x."nackNonce", x."nackError",
         to_timestamp(x."nackedAt" / 1000.0)
    FROM jsonb_to_recordset($1::jsonb) AS x(
         "proxyId" uuid, "typeUrl" text, "sentVersion" text, "sentNonce" text, "sentAt" bigint, "ackedVersion" text,
         "ackedAt" bigint, "nackVersion" text, "nackNonce" text, "nackError" text, "nackedAt" bigint)
  ON CONFLICT ("proxyId", "typeUrl") DO UPDATE SET
    "sentVersion"  = CASE WHEN EXCLUDED."sentAt" IS NULL THEN t."sentVersion" ELSE EXCLUDED."sentVersion" END,
    "sentNonce"    = CASE WHEN EXCLUDED."sentAt" IS NULL THEN t."sentNonce" ELSE EXCLUDED."sentNonce" END,
    "sentAt"       = COALESCE(EXCLUDED."sentAt", t."sentAt"),
    "ackedVersion" = CASE WHEN EXCLUDED."ackedAt" IS NULL THEN t."ackedVersion" ELSE EXCLUDED."ackedVersion" END,
    "ackedAt"      = COALESCE(EXCLUDED."ackedAt", t."ackedAt"),
    "nackVersion"  = CASE WHEN EXCLUDED."nackedAt" IS NULL THEN t."nackVersion" ELSE EXCLUDED."nackVersion" END,
    "nackNonce"    = CASE WHEN EXCLUDED."nackedAt" IS NULL THEN t."nackNonce" ELSE EXCLUDED."nackNonce" END,
    "nackError"    = CASE WHEN EXCLUDED."nackedAt" IS NULL THEN t."nackError" ELSE EXCLUDED."nackError" END,
    "nackedAt"     = COALESCE(EXCLUDED."nackedAt", t."nackedAt")`;

/**
 * Writes many merged changes in one statement (the rows travel as one JSON parameter, times as epoch
 * milliseconds, which costs the caller far less than eleven array parameters), plus one lastSeenAt update
 * for the proxies in `seen`. `db` may be a plain Sql runner: the xds process writes these on a pg pool of its
 * own, because Prisma's per-statement work on a 1,000-row JSON parameter cost it about 10 ms of CPU per push
 * to 1,000 proxies.
 */
export async function recordResourceStates(db: DbTx | Sql, changes: readonly ResourceStateChange[], seen: readonly string[]): Promise<void> {
  const exec = sqlOf(db);
  if (changes.length > 0) {
    const rows = JSON.stringify(
      changes.map((c) => ({
        proxyId: c.proxyId,
        typeUrl: c.typeUrl,
        sentVersion: c.sent?.version,
        sentNonce: c.sent?.nonce,
        sentAt: c.sent?.at.getTime(),
        ackedVersion: c.acked?.version,
        ackedAt: c.acked?.at.getTime(),
        nackVersion: c.nacked?.version,
        nackNonce: c.nacked?.nonce,
        nackError: c.nacked?.error,
        nackedAt: c.nacked?.at.getTime(),
      })),
    );
    await exec(UPSERT_RESOURCE_STATES, [rows]);
  }
  if (seen.length > 0) await exec(`UPDATE "Proxy" SET "lastSeenAt" = now() WHERE "id" = ANY($1::uuid[])`, [seen]);
}
