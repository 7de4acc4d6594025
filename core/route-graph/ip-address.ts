/** IP literal checks matching what Envoy's address parsing (inet_pton) accepts. */

export function isIpv4(s: string): boolean {
  const parts = s.split('.');
  return (
    parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)
  );
}

export function isIpv6(s: string): boolean {
  if (s.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(s)) return false;
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const groups = (part: string): string[] | undefined => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return false;
  const all = [...head, ...tail];
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    const g = all[i]!;
    if (i === all.length - 1 && g.includes('.')) {
      if (!isIpv4(g)) return false;
      count += 2;
    } else if (/^[0-9A-Fa-f]{1,4}$/.test(g)) {
      count += 1;
    } else {
      return false;
    }
  }
  return halves.length === 2 ? count <= 7 : count === 8;
}

export function isIpAddress(s: string): boolean {
  return isIpv4(s) || isIpv6(s);
}

/** 0.0.0.0 or :: (any spelling): a listener bound there overlaps every address of its family. */
export function isWildcardAddress(s: string): boolean {
  if (s === '0.0.0.0') return true;
  return isIpv6(s) && /^[0:]+$/.test(s);
}
