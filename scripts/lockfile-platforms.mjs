// Completes package-lock.json with the optional, platform-specific packages of other platforms
// (e.g. @next/swc-darwin-arm64) that this machine's registry does not carry. npm records them on machines
// that can see them; without them `npm ci` refuses the lockfile ("Missing: X@ from lock file", npm/cli#9846).
// Each added entry names the exact version its parent pins and the os/cpu that npm uses to skip it here,
// so nothing new is ever downloaded. Run after `npm install`: `node scripts/lockfile-platforms.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;

const OS = ['darwin', 'win32', 'linux', 'freebsd', 'android', 'openharmony', 'sunos', 'aix', 'netbsd', 'openbsd'];
const CPU = { arm64: 'arm64', x64: 'x64', ia32: 'ia32', arm: 'arm', ppc64: 'ppc64', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips64el: 'mips64el', wasm32: 'wasm32' };

function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.map((p) => CPU[p]).find(Boolean);
  const libc = parts.find((p) => p === 'musl' || p === 'musleabihf') ? 'musl' : parts.some((p) => p.startsWith('gnu')) ? 'glibc' : undefined;
  return { os, cpu, libc };
}

let added = 0;
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    // Resolution as npm does it: next to the parent, then up the tree.
    const segments = path ? path.split('node_modules/').length - 1 : 0;
    let base = path;
    let found = false;
    for (let i = 0; i <= segments && !found; i++) {
      found = `${base ? `${base}/` : ''}node_modules/${dep}` in pkgs;
      base = base.includes('/node_modules/') ? base.slice(0, base.lastIndexOf('/node_modules/')) : '';
    }
    if (found) continue;
    const { os, cpu, libc } = platformOf(dep);
    if (!os && !cpu) continue; // not a platform package: leave real problems visible
    if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(version)) continue;
    const entry = { version, optional: true };
    if (cpu) entry.cpu = [cpu];
    if (os) entry.os = [os];
    if (libc && os === 'linux') entry.libc = [libc];
    pkgs[`node_modules/${dep}`] = entry;
    added += 1;
  }
}
lock.packages = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lockfile-platforms: added ${added} platform entries`);
