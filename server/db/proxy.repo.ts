/**
 * Proxies as seen by the xds replicas: who is connected, and per xDS type what was sent, ACKed and NACKed.
 * A NACK is identified by the nonce it answers (plus Envoy's error text), with the version that nonce
 * carried; version_info in a NACK is the client's previous version and is not what was rejected.
 */
import type { Prisma } from './generated/client';
import type { DbTx } from './tx';

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
