/**
 * Activities of caRotationWorkflow (issue 8): start a CA rotation (new intermediate, or root + intermediate)
 * and retire the replaced CAs. Publishing and the leaf rotations reuse certificate.activities.ts.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { CaRotationActivities, CaRotationBegun } from '../contracts/ca-rotation.schema';
import { findActiveBuiltinCa, findCa, listCas, listCertificates } from '../server/db/certificate.repo';
import type { Db } from '../server/db/client';
import { getAppKeyBox, type KeyBox } from '../server/pki/key-box';
import { createNewIntermediate, retireCa } from '../server/services/certificate.service';
import { domain } from './certificate.activities';

export interface CaRotationActivityDeps {
  db: Db;
  keyBox?: () => KeyBox;
}

export function createCaRotationActivities(deps: CaRotationActivityDeps): CaRotationActivities {
  const { db } = deps;
  const keyBox = deps.keyBox ?? getAppKeyBox;
  return {
    async beginCaRotation({ tenantId, caId, newRoot, actor }): Promise<CaRotationBegun> {
      const old = await findCa(db, tenantId, caId);
      if (old === null) throw ApplicationFailure.nonRetryable(`certificate authority ${caId} does not exist`, 'CaNotFound');
      if (old.source !== 'builtin') throw ApplicationFailure.nonRetryable(`certificate authority ${old.subject} was imported: import its successor instead`, 'CaImported');
      if (old.status === 'retired') throw ApplicationFailure.nonRetryable(`certificate authority ${old.subject} is retired already`, 'CaRetired');
      // A retiring CA already has its successor (a retried activity, or an operator who created it with an offline root key).
      if (old.status === 'active') await domain(() => createNewIntermediate(db, keyBox(), tenantId, { newRoot: newRoot || old.kind === 'root' }, actor));
      const signing = await findActiveBuiltinCa(db, tenantId, 'intermediate');
      if (signing === null) throw ApplicationFailure.nonRetryable('the tenant has no signing intermediate', 'CaNotFound');
      const retiring = (await listCas(db, tenantId, ['retiring']))
        .filter((c) => c.source === 'builtin')
        .sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'intermediate' ? -1 : 1));
      const now = new Date();
      const leaves = new Set<string>();
      for (const c of retiring) {
        for (const leaf of await listCertificates(db, tenantId, { statuses: ['active'], caId: c.id })) {
          if (leaf.notAfter > now && leaf.source === 'builtin') leaves.add(leaf.name);
        }
      }
      return { newCaId: signing.id, retiringCaIds: retiring.map((c) => c.id), leaves: [...leaves].sort() };
    },

    async retireRotatedCas({ tenantId, caIds, actor }): Promise<string[]> {
      for (const id of caIds) await domain(() => retireCa(db, tenantId, id, actor));
      return caIds;
    },
  };
}
