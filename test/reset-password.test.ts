/**
 * Local recovery: `npm run db -- reset-password admin` gives a new password, the old one stops working,
 * every session of the user ends, and the reset is in the audit log.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { verifyAuditChain } from '../server/audit/audit.service';
import { sessionIdOf } from '../server/auth/secrets';
import { findSessionById } from '../server/db/session.repo';
import { signIn } from '../server/services/auth.service';
import { ensureDemoTenantAndAdmin, resetPasswordLocally } from '../server/services/seed.service';
import { createTestDatabase, type TestDatabase } from './support/db';

let tdb: TestDatabase;
before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await tdb.drop();
});

test('reset-password replaces the password, ends sessions and is audited', async () => {
  const { tenant, admin } = await ensureDemoTenantAndAdmin(tdb.db);
  assert.ok(admin.password);
  const session = await signIn(tdb.db, { username: 'admin', password: admin.password }, { ttlHours: 1 });
  const sessionId = sessionIdOf(session.sessionToken);
  assert.ok(await findSessionById(tdb.db, sessionId));

  const fresh = await resetPasswordLocally(tdb.db, 'admin');
  assert.notEqual(fresh, admin.password);
  assert.equal(await findSessionById(tdb.db, sessionId), null, 'the old session ended');
  await assert.rejects(signIn(tdb.db, { username: 'admin', password: admin.password }, { ttlHours: 1 }), /wrong username or password/);
  assert.ok(await signIn(tdb.db, { username: 'admin', password: fresh }, { ttlHours: 1 }));

  const resets = await tdb.db.auditEntry.findMany({ where: { tenantId: tenant.id, action: 'user.password_reset' } });
  assert.equal(resets.length, 1);
  assert.deepEqual((await verifyAuditChain(tdb.db, tenant.id)).ok, true);
  await assert.rejects(resetPasswordLocally(tdb.db, 'nobody'), /no user named "nobody"/);
});
