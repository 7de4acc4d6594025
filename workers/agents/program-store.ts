/**
 * Program objects the control plane can ship in bundles, by sha256. The default store builds agents/bpf
 * with clang (agents/build.ts, cached by source hash); tests can add their own objects.
 */
import { buildXdpProgram, XDP_PROGRAM_NAMES, type BuiltProgram } from '../../agents/build';

export interface ProgramStore {
  /** sha256 of the current build of `name` (throws when it cannot be built). */
  programSha256(name: string): string;
  /** The object with this sha256, or undefined (the agent then needs a local build with that hash). */
  objectBySha256(sha256: string): Buffer | undefined;
}

export function createProgramStore(extra: { name: string; bytes: Buffer; sha256: string }[] = []): ProgramStore & {
  add(p: { name: string; bytes: Buffer; sha256: string }): void;
} {
  const bySha = new Map<string, Buffer>(extra.map((p) => [p.sha256, p.bytes]));
  const built = new Map<string, BuiltProgram>();
  const build = (name: string) => {
    let p = built.get(name);
    if (!p) {
      p = buildXdpProgram(name);
      built.set(name, p);
      bySha.set(p.sha256, p.bytes);
    }
    return p;
  };
  return {
    programSha256: (name) => build(name).sha256,
    objectBySha256: (sha) => {
      if (!bySha.has(sha)) for (const n of XDP_PROGRAM_NAMES) { try { build(n); } catch { /* reported on use */ } }
      return bySha.get(sha);
    },
    add: (p) => bySha.set(p.sha256, p.bytes),
  };
}
