/**
 * TypeScript descriptors of the maps in agents/bpf/proxyshard.h (same names, same sizes, same field
 * offsets), encoders to the hex bytes bpftool takes, and decoders of bpftool's JSON dumps.
 * Integers are little-endian (host order on x86_64/arm64); addresses are network order.
 */
import type { Cidr } from '../../core/xdp/cidr';

export const PS_ABI_VERSION = 1;
export const PS_RULE_COUNT_ONLY = 1;
export const PS_CFG_COUNT_ONLY = 1;
export const PS_MAX_COUNTERS = 1024;

export interface MapDescriptor {
  name: string;
  type: string; // as bpftool prints it
  keySize: number;
  valueSize: number;
}

export const MAPS = {
  protV4: { name: 'ps_prot_v4', type: 'lpm_trie', keySize: 8, valueSize: 8 },
  protV6: { name: 'ps_prot_v6', type: 'lpm_trie', keySize: 20, valueSize: 8 },
  denyV4: { name: 'ps_deny_v4', type: 'lpm_trie', keySize: 8, valueSize: 8 },
  denyV6: { name: 'ps_deny_v6', type: 'lpm_trie', keySize: 20, valueSize: 8 },
  rlRules: { name: 'ps_rl_rules', type: 'hash', keySize: 4, valueSize: 32 },
  rlState: { name: 'ps_rl_state', type: 'lru_hash', keySize: 24, valueSize: 16 },
  counters: { name: 'ps_counters', type: 'percpu_array', keySize: 4, valueSize: 32 },
  config: { name: 'ps_config', type: 'array', keySize: 4, valueSize: 8 },
  meta: { name: 'ps_meta', type: 'array', keySize: 4, valueSize: 88 },
} as const satisfies Record<string, MapDescriptor>;

export type MapKey = keyof typeof MAPS;

export class MapLayoutError extends Error {
  override readonly name = 'MapLayoutError';
}

/** Throws when bpftool's view of a pinned map does not match the descriptor. */
export function checkMapLayout(desc: MapDescriptor, shown: { type?: string; bytes_key?: number; bytes_value?: number; name?: string }): void {
  if (shown.bytes_key !== desc.keySize || shown.bytes_value !== desc.valueSize || (shown.type && shown.type !== desc.type)) {
    throw new MapLayoutError(
      `map ${desc.name}: pinned map has type ${shown.type} key ${shown.bytes_key} B value ${shown.bytes_value} B, ` +
        `the agent expects ${desc.type} key ${desc.keySize} B value ${desc.valueSize} B (ABI ${PS_ABI_VERSION})`,
    );
  }
}

// ---------------------------------------------------------------- encoding

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** struct ps_lpm_v4_key / ps_lpm_v6_key */
export function encodeLpmKey(c: Cidr): Buffer {
  return Buffer.concat([u32(c.prefixLen), Buffer.from(c.addr)]);
}

/** struct ps_rule */
export function encodeRule(counter: number, flags: number): Buffer {
  return Buffer.concat([u32(counter), u32(flags)]);
}

/** struct ps_rl_key */
export function encodeRlKey(protocol: number, port: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(protocol, 0);
  b.writeUInt16LE(port, 2);
  return b;
}

/** struct ps_rl_rule */
export function encodeRlRule(r: { counter: number; flags: number; ratePps: number; burst: number }): Buffer {
  const fillNs = (BigInt(r.burst) * 1_000_000_000n) / BigInt(r.ratePps);
  return Buffer.concat([u32(r.counter), u32(r.flags), u64(r.ratePps), u64(r.burst), u64(fillNs)]);
}

/** struct ps_config */
export function encodeConfig(flags: number): Buffer {
  return Buffer.concat([u32(flags), u32(PS_ABI_VERSION)]);
}

/** struct ps_meta */
export function encodeMeta(version: string, appliedMs: number): Buffer {
  const v = Buffer.alloc(80);
  v.write(version.slice(0, 79), 'utf8');
  return Buffer.concat([v, u64(appliedMs)]);
}

export function decodeMeta(value: Buffer): { version: string; appliedMs: number } {
  const end = value.indexOf(0);
  return {
    version: value.subarray(0, end >= 0 && end < 80 ? end : 80).toString('utf8'),
    appliedMs: Number(value.readBigUInt64LE(80)),
  };
}

export interface CounterValue {
  matchPackets: bigint;
  matchBytes: bigint;
  dropPackets: bigint;
  dropBytes: bigint;
}

export function decodeCounter(value: Buffer): CounterValue {
  return {
    matchPackets: value.readBigUInt64LE(0),
    matchBytes: value.readBigUInt64LE(8),
    dropPackets: value.readBigUInt64LE(16),
    dropBytes: value.readBigUInt64LE(24),
  };
}

/** bpftool's hex argument list: "0x01 0x02 …". */
export function hexArgs(b: Buffer): string[] {
  return Array.from(b, (x) => `0x${x.toString(16).padStart(2, '0')}`);
}

/** bpftool -j dumps print bytes as ["0x01", …]. */
export function bytesFromJson(arr: unknown): Buffer {
  if (!Array.isArray(arr)) throw new Error('bpftool dump: expected a byte array');
  return Buffer.from(arr.map((x) => parseInt(String(x), 16)));
}
