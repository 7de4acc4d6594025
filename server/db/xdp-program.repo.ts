/**
 * The catalog of XDP program objects (prisma/xdp.prisma XdpProgram): registered by the agent channel from
 * its clang builds, read by every process that compiles policies (name → newest sha256) or ships bundles
 * (sha256 → object bytes).
 */
import type { DbTx } from './tx';

export interface XdpProgramRef {
  name: string;
  sha256: string;
  registeredAt: Date;
}

/** Upserts each build and marks it as just registered (so it becomes the newest of its name). */
export async function registerXdpPrograms(db: DbTx, programs: { name: string; sha256: string; bytes: Uint8Array }[]): Promise<void> {
  const now = new Date();
  for (const p of programs) {
    const bytes = Uint8Array.from(p.bytes);
    await db.xdpProgram.upsert({
      where: { sha256: p.sha256 },
      create: { sha256: p.sha256, name: p.name, bytes, registeredAt: now },
      update: { registeredAt: now },
    });
  }
}

/** The newest registered build of `name`, or null when none was ever registered. */
export async function findLatestXdpProgram(db: DbTx, name: string): Promise<XdpProgramRef | null> {
  return db.xdpProgram.findFirst({
    where: { name },
    orderBy: { registeredAt: 'desc' },
    select: { name: true, sha256: true, registeredAt: true },
  });
}

export async function findXdpProgramObject(db: DbTx, sha256: string): Promise<Buffer | null> {
  const row = await db.xdpProgram.findUnique({ where: { sha256 }, select: { bytes: true } });
  return row ? Buffer.from(row.bytes) : null;
}
