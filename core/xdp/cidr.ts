/**
 * CIDR parsing and containment for XDP rules (pure; used by the control plane and the agent).
 * A CIDR must have its host bits zero ("198.18.0.1/16" is refused: it would silently mean 198.18.0.0/16).
 * A bare address means a host route (/32 or /128).
 */
import { isIpv4, isIpv6 } from '../route-graph/ip-address';

export interface Cidr {
  family: 4 | 6;
  /** Network address, network order, 4 or 16 bytes. */
  addr: Uint8Array;
  prefixLen: number;
}

function parseV4(s: string): Uint8Array {
  return Uint8Array.from(s.split('.').map(Number));
}

function parseV6(s: string): Uint8Array {
  const out = new Uint8Array(16);
  let text = s;
  let tail4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail4 = parseV4(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [headText = '', tailText] = text.split('::');
  const groups = (t: string) => (t === '' ? [] : t.split(':').map((g) => parseInt(g, 16)));
  const head = groups(headText);
  const tail = tailText === undefined ? [] : groups(tailText);
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail4) out.set(tail4, 12);
  return out;
}

/** Parses "a.b.c.d/n", "x::y/n" or a bare address; returns an error message instead of throwing. */
export function parseCidr(text: string): Cidr | string {
  const [addrText = '', lenText, extra] = text.trim().split('/');
  if (extra !== undefined) return `"${text}" is not a CIDR`;
  let family: 4 | 6;
  let addr: Uint8Array;
  if (isIpv4(addrText)) {
    family = 4;
    addr = parseV4(addrText);
  } else if (isIpv6(addrText)) {
    family = 6;
    addr = parseV6(addrText);
  } else {
    return `"${addrText}" is not an IPv4 or IPv6 address`;
  }
  const max = family === 4 ? 32 : 128;
  let prefixLen = max;
  if (lenText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) return `prefix length must be 0..${max}`;
    prefixLen = Number(lenText);
  }
  for (let bit = prefixLen; bit < max; bit++) {
    if (addr[bit >> 3]! & (0x80 >> (bit & 7))) return `host bits are set (did you mean ${formatCidr(maskCidr({ family, addr, prefixLen }))}?)`;
  }
  return { family, addr, prefixLen };
}

function maskCidr(c: Cidr): Cidr {
  const addr = Uint8Array.from(c.addr);
  for (let bit = c.prefixLen; bit < addr.length * 8; bit++) addr[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { ...c, addr };
}

export function formatAddress(family: 4 | 6, addr: Uint8Array): string {
  if (family === 4) return Array.from(addr.subarray(0, 4)).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((addr[i]! << 8) | addr[i + 1]!);
  // longest run of zero groups (length ≥ 2) becomes "::"
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Canonical text: lowercase, compressed IPv6, always with a prefix length. */
export function formatCidr(c: Cidr): string {
  return `${formatAddress(c.family, c.addr)}/${c.prefixLen}`;
}

/** Whether the two CIDRs share at least one address (one contains the other). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const len = Math.min(a.prefixLen, b.prefixLen);
  for (let bit = 0; bit < len; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((a.addr[bit >> 3]! & m) !== (b.addr[bit >> 3]! & m)) return false;
  }
  return true;
}
