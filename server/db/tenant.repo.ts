import type { DbTx } from './tx';
import { isUuid } from './tx';

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  createdAt: Date;
  /** The revision currently live for the tenant, if any. */
  liveRevisionId: string | null;
}

const select = { id: true, slug: true, name: true, createdAt: true, liveRevisionId: true } as const;

export async function findTenantBySlug(db: DbTx, slug: string): Promise<Tenant | null> {
  return db.tenant.findUnique({ where: { slug }, select });
}

export async function findTenantById(db: DbTx, id: string): Promise<Tenant | null> {
  if (!isUuid(id)) return null;
  return db.tenant.findUnique({ where: { id }, select });
}

export async function createTenant(db: DbTx, input: { slug: string; name: string }): Promise<Tenant> {
  return db.tenant.create({ data: input, select });
}
