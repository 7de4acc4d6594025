/**
 * Applies bundles to the kernel and reads counters back. One instance per agent; calls are serialised.
 *
 * Layout in bpffs (pinRoot defaults to /sys/fs/bpf/proxyshard):
 *   <pinRoot>/<iface>/<gen>/prog        the XDP program attached to <iface>
 *   <pinRoot>/<iface>/<gen>/maps/ps_*   its maps (proxyshard.h)
 * A generation is created whenever the program (sha256) or attach mode changes: the new program and maps
 * are loaded, checked against the descriptors, filled with the full desired entries, and only then attached
 * with one `ip -force link set … pinned` (the kernel swaps programs atomically); the old generation is
 * unpinned afterwards. A verifier rejection or any failure before the attach leaves the old program
 * running. When only map entries change, the current maps are diffed against the bundle (bpftool dump)
 * and updated in place with one `bpftool batch`, without re-attaching; each entry update is atomic, the
 * set of updates is not (a packet may see some of the new entries and not yet others for a few µs).
 * That in-place update is the latency-critical path of a rule change, so it spawns one process: interfaces
 * are looked up in /proc/net/dev, and the check that our programs are still attached (`net show`) rides at
 * the end of the same batch; an interface found detached is re-attached through the full path.
 * ps_meta holds the applied version in the kernel, so a restarted agent can tell what is enforced.
 * <stateDir>/state.json remembers the last applied bundle (counter names, program hash).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { XdpBundleSchema, type XdpBundle } from '../../contracts/xdp.schema';
import { parseCidr, type Cidr } from '../../core/xdp/cidr';
import { checkProtectedOverlap, RESERVED_COUNTERS } from '../../core/xdp/compile';
import {
  attachPinned,
  bpftoolBatch,
  bpftoolBatchJson,
  checkPinnedMaps,
  detach,
  dumpMap,
  hex,
  listInterfaceNames,
  listLinks,
  loadPinned,
  lookup,
  lookupPerCpu,
  pinnedProgId,
  unpinDir,
  xdpAttachmentsFromNetShow,
  type LinkInfo,
} from './kernel';
import {
  decodeCounter,
  decodeMeta,
  encodeConfig,
  encodeLpmKey,
  encodeMeta,
  encodeRlKey,
  encodeRlRule,
  encodeRule,
  MAPS,
  PS_CFG_COUNT_ONLY,
  PS_RULE_COUNT_ONLY,
} from './maps';
import type { ApplyResultMsg, CounterMsg, InterfaceResultMsg } from './proto';

export interface LocalProgram {
  name: string;
  sha256: string;
  path: string;
}

export interface DataplaneConfig {
  pinRoot: string;
  stateDir: string;
  /** The agent's own management CIDRs: never denied nor rate limited, whatever a bundle says. */
  protectedCidrs: string[];
  /** Programs built on this node (agents/build.ts). */
  localPrograms: LocalProgram[];
}

interface IfaceState {
  gen: string;
  programSha256: string;
  attachMode: 'generic' | 'native';
}

interface AgentState {
  version: string;
  bundle: XdpBundle | null;
  interfaces: Record<string, IfaceState>;
}

export class BundleRejected extends Error {
  override readonly name = 'BundleRejected';
}

const PROTECTED_COUNTER = 3;

export class Dataplane {
  private state: AgentState = { version: '', bundle: null, interfaces: {} };
  private queue: Promise<unknown> = Promise.resolve();
  /** Per interface: map contents as last written (hex key → value), trusted until an error; else dumped. */
  private written = new Map<string, Map<string, Map<string, Buffer>>>();
  private readonly protectedCidrs: Cidr[];
  /**
   * Program id of each generation this process pinned or adopted (a pinned program keeps its id until it is
   * unpinned, which only this agent does), so an in-place update spawns no `bpftool prog show`.
   */
  private progIds = new Map<string, number>();

  constructor(
    private readonly cfg: DataplaneConfig,
    private readonly log: Logger,
  ) {
    this.protectedCidrs = cfg.protectedCidrs.map((t) => {
      const c = parseCidr(t);
      if (typeof c === 'string') throw new Error(`protected CIDR ${t}: ${c}`);
      return c;
    });
    mkdirSync(cfg.stateDir, { recursive: true });
    mkdirSync(join(cfg.stateDir, 'objects'), { recursive: true });
  }

  get appliedVersion(): string {
    return this.state.version;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async progIdOf(dir: string): Promise<number | undefined> {
    const cached = this.progIds.get(dir);
    if (cached !== undefined) return cached;
    const id = await pinnedProgId(join(dir, 'prog'));
    if (id !== undefined) this.progIds.set(dir, id);
    return id;
  }

  private unpin(dir: string): void {
    this.progIds.delete(dir);
    unpinDir(dir);
  }

  private statePath(): string {
    return join(this.cfg.stateDir, 'state.json');
  }

  private saveState(): void {
    const tmp = `${this.statePath()}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.statePath());
  }

  /**
   * After a (re)start: take over what the kernel runs. An interface counts as adopted when its attached
   * program is the pinned program of the remembered generation; the applied version is the one in its
   * ps_meta map. Returns '' when the kernel state does not match one consistent version (the control plane
   * then resends the desired bundle). Stray generations (an apply cut short by a crash) are unpinned.
   */
  adopt(): Promise<string> {
    return this.serial(async () => {
      let saved: AgentState | undefined;
      try {
        saved = JSON.parse(readFileSync(this.statePath(), 'utf8')) as AgentState;
      } catch {
        saved = undefined;
      }
      const links = new Map((await listLinks()).map((l) => [l.name, l]));
      const adopted: Record<string, IfaceState> = {};
      const versions = new Set<string>();
      for (const [iface, st] of Object.entries(saved?.interfaces ?? {})) {
        const dir = join(this.cfg.pinRoot, iface, st.gen);
        const link = links.get(iface);
        const id = await this.progIdOf(dir);
        if (!link || !id || link.xdpProgId !== id) {
          this.log.warn({ iface, gen: st.gen }, 'pinned program is not attached any more; not adopting');
          continue;
        }
        const meta = await lookup(join(dir, 'maps', MAPS.meta.name), Buffer.alloc(4));
        versions.add(meta ? decodeMeta(meta).version : '');
        adopted[iface] = st;
      }
      for (const iface of existsSync(this.cfg.pinRoot) ? readdirSync(this.cfg.pinRoot) : []) {
        for (const gen of readdirSync(join(this.cfg.pinRoot, iface))) {
          if (adopted[iface]?.gen !== gen) {
            this.log.info({ iface, gen }, 'unpinning stray generation');
            this.unpin(join(this.cfg.pinRoot, iface, gen));
          }
        }
      }
      const consistent = versions.size === 1 && saved && [...versions][0] === saved.version && Object.keys(adopted).length > 0;
      this.state = {
        version: consistent ? saved!.version : '',
        bundle: consistent ? saved!.bundle : null,
        interfaces: adopted,
      };
      this.saveState();
      this.log.info({ version: this.state.version, interfaces: Object.keys(adopted) }, 'adopted pinned XDP state');
      return this.state.version;
    });
  }

  /** Validates and applies one bundle; never throws: problems come back in the result. */
  apply(raw: unknown, object?: Buffer): Promise<ApplyResultMsg> {
    return this.serial(async () => {
      const t0 = performance.now();
      const version = typeof (raw as { version?: unknown })?.version === 'string' ? (raw as { version: string }).version : '';
      const done = (ok: boolean, error: string, interfaces: InterfaceResultMsg[]): ApplyResultMsg => ({
        version,
        ok,
        error,
        interfaces,
        durationMs: Math.round(performance.now() - t0),
      });
      let bundle: XdpBundle;
      let objectPath: string;
      try {
        bundle = this.validate(raw);
        const present = new Set(listInterfaceNames());
        const missing = bundle.interfaces.filter((i) => !present.has(i));
        if (missing.length) throw new BundleRejected(`unknown interface(s) on this node: ${missing.join(', ')}`);
        objectPath = this.resolveProgram(bundle, object);
      } catch (err) {
        return done(false, err instanceof Error ? err.message : String(err), []);
      }

      const inPlace = await this.applyInPlace(bundle);
      if (inPlace && inPlace.every((r) => r.ok)) {
        this.state.version = bundle.version;
        this.state.bundle = bundle;
        this.saveState();
        return done(true, '', inPlace);
      }
      if (inPlace) return done(false, inPlace.map((f) => `${f.name}: ${f.error}`).join('\n'), inPlace);

      let links: Map<string, LinkInfo>;
      try {
        links = new Map((await listLinks()).map((l) => [l.name, l]));
        const missing = bundle.interfaces.filter((i) => !links.has(i));
        if (missing.length) throw new BundleRejected(`unknown interface(s) on this node: ${missing.join(', ')}`);
      } catch (err) {
        return done(false, err instanceof Error ? err.message : String(err), []);
      }
      const results: InterfaceResultMsg[] = [];
      for (const iface of bundle.interfaces) {
        try {
          results.push(await this.applyInterface(iface, bundle, objectPath, links.get(iface)!));
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          this.log.error({ iface, version: bundle.version, err: msg.slice(0, 2000) }, 'bundle not applied to interface');
          results.push({ name: iface, ok: false, error: msg, progId: 0, reattached: false });
        }
      }
      const failed = results.filter((r) => !r.ok);
      if (failed.length) {
        this.saveState();
        return done(false, failed.map((f) => `${f.name}: ${f.error}`).join('\n'), results);
      }
      // interfaces dropped from the bundle: detach and unpin
      for (const [iface, st] of Object.entries(this.state.interfaces)) {
        if (bundle.interfaces.includes(iface)) continue;
        const link = links.get(iface);
        if (link?.xdpMode && link.xdpMode !== 'offload') await detach(iface, link.xdpMode).catch(() => undefined);
        this.unpin(join(this.cfg.pinRoot, iface, st.gen));
        delete this.state.interfaces[iface];
        this.written.delete(iface);
      }
      this.state.version = bundle.version;
      this.state.bundle = bundle;
      this.saveState();
      return done(true, '', results);
    });
  }

  private validate(raw: unknown): XdpBundle {
    const parsed = XdpBundleSchema.safeParse(raw);
    if (!parsed.success) {
      throw new BundleRejected(`invalid bundle: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const b = parsed.data;
    const problems: string[] = [];
    const deny: { cidr: Cidr; path: string }[] = [];
    b.deny.forEach((d, i) => {
      const c = parseCidr(d.cidr);
      if (typeof c === 'string') problems.push(`deny[${i}]: ${c}`);
      else deny.push({ cidr: c, path: `deny[${i}]` });
    });
    const prot = this.protectedCidrs.map((c) => ({ cidr: c, label: 'agent-configured' }));
    b.protectedCidrs.forEach((t, i) => {
      const c = parseCidr(t);
      if (typeof c === 'string') problems.push(`protectedCidrs[${i}]: ${c}`);
      else prot.push({ cidr: c, label: `bundle protectedCidrs[${i}]` });
    });
    for (const issue of checkProtectedOverlap(deny, prot)) problems.push(`${issue.path}: ${issue.message}`);
    if (problems.length) throw new BundleRejected(`bundle refused: ${problems.join('; ')}`);
    return b;
  }

  private resolveProgram(bundle: XdpBundle, object: Buffer | undefined): string {
    const { name, sha256 } = bundle.program;
    const cached = join(this.cfg.stateDir, 'objects', `${sha256}.o`);
    if (object) {
      const actual = createHash('sha256').update(object).digest('hex');
      if (actual !== sha256) throw new BundleRejected(`program ${name}: object sha256 ${actual} does not match the bundle's ${sha256}`);
      if (!existsSync(cached)) {
        writeFileSync(`${cached}.tmp`, object);
        renameSync(`${cached}.tmp`, cached);
      }
      return cached;
    }
    const local = this.cfg.localPrograms.find((p) => p.sha256 === sha256);
    if (local) return local.path;
    if (existsSync(cached)) return cached;
    throw new BundleRejected(`program ${name} with sha256 ${sha256} is not available on this node and the bundle carries no object`);
  }

  private async applyInterface(iface: string, bundle: XdpBundle, objectPath: string, link: LinkInfo): Promise<InterfaceResultMsg> {
    const cur = this.state.interfaces[iface];
    const curDir = cur ? join(this.cfg.pinRoot, iface, cur.gen) : undefined;
    const curId = curDir ? await this.progIdOf(curDir) : undefined;
    const attached = curId !== undefined && link.xdpProgId === curId && link.xdpMode === bundle.attachMode;
    if (attached && cur && curDir && cur.programSha256 === bundle.program.sha256) {
      await this.syncMaps(iface, curDir, bundle, this.changedCounterSlots(bundle));
      return { name: iface, ok: true, error: '', progId: curId, reattached: false };
    }
    const gen = `g${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const dir = join(this.cfg.pinRoot, iface, gen);
    await loadPinned(objectPath, dir);
    try {
      await checkPinnedMaps(dir);
      this.written.delete(iface);
      await this.syncMaps(iface, dir, bundle, []);
      if (link.xdpMode && link.xdpMode !== bundle.attachMode) {
        // the kernel refuses two modes at once: switching modes detaches first (a short gap)
        await detach(iface, link.xdpMode);
      }
      await attachPinned(iface, bundle.attachMode, join(dir, 'prog'));
    } catch (err) {
      this.unpin(dir);
      throw err;
    }
    if (curDir) this.unpin(curDir);
    this.state.interfaces[iface] = { gen, programSha256: bundle.program.sha256, attachMode: bundle.attachMode };
    this.saveState();
    return { name: iface, ok: true, error: '', progId: (await this.progIdOf(dir)) ?? 0, reattached: true };
  }

  /**
   * The fast path: the bundle changes only map entries of programs this agent attached to exactly the
   * bundle's interfaces. One `bpftool batch` writes the entries of every interface and ends with
   * `net show`; returns null (take the full path) when it does not apply or an interface turned out to
   * run another program (the entries written to the detached program's maps do nothing).
   */
  private async applyInPlace(bundle: XdpBundle): Promise<InterfaceResultMsg[] | null> {
    const ifaces = [...bundle.interfaces].sort();
    if (Object.keys(this.state.interfaces).sort().join('\n') !== ifaces.join('\n')) return null;
    const plans: { iface: string; id: number; sync: { lines: string[]; commit(): void } }[] = [];
    const resetSlots = this.changedCounterSlots(bundle);
    for (const iface of ifaces) {
      const st = this.state.interfaces[iface]!;
      const dir = join(this.cfg.pinRoot, iface, st.gen);
      const id = this.progIds.get(dir);
      if (st.programSha256 !== bundle.program.sha256 || st.attachMode !== bundle.attachMode || id === undefined) return null;
      plans.push({ iface, id, sync: await this.mapSyncPlan(iface, dir, bundle, resetSlots) });
    }
    let attached: ReturnType<typeof xdpAttachmentsFromNetShow>;
    try {
      const out = await bpftoolBatchJson([...plans.flatMap((p) => p.sync.lines), 'net show']);
      attached = xdpAttachmentsFromNetShow(out.at(-1)?.output);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      this.log.error({ version: bundle.version, err: msg.slice(0, 2000) }, 'in-place map update failed');
      return plans.map((p) => ({ name: p.iface, ok: false, error: msg, progId: p.id, reattached: false }));
    }
    for (const p of plans) p.sync.commit();
    const lost = plans.filter((p) => attached.get(p.iface)?.id !== p.id || attached.get(p.iface)?.mode !== bundle.attachMode);
    if (lost.length) {
      this.log.warn({ interfaces: lost.map((p) => p.iface) }, 'our XDP program is not attached any more; re-attaching');
      return null;
    }
    return plans.map((p) => ({ name: p.iface, ok: true, error: '', progId: p.id, reattached: false }));
  }

  /**
   * Counter slots whose rule changed since the applied bundle (slots are rule positions, so they are reused
   * across versions): zeroed on an in-place update, so a rule's counter counts only its own matches.
   */
  private changedCounterSlots(bundle: XdpBundle): number[] {
    const before = new Map((this.state.bundle?.counters ?? []).map((c) => [c.slot, c.rule]));
    if (!this.state.bundle) return bundle.counters.map((c) => c.slot);
    return bundle.counters.filter((c) => before.get(c.slot) !== c.rule).map((c) => c.slot);
  }

  /**
   * Brings the maps under `dir` to exactly the bundle's entries with one bpftool batch. The diff is taken
   * against what this process last wrote; after a restart or an error the maps are dumped instead.
   */
  private async syncMaps(iface: string, dir: string, bundle: XdpBundle, resetSlots: number[]): Promise<void> {
    const plan = await this.mapSyncPlan(iface, dir, bundle, resetSlots);
    await bpftoolBatch(plan.lines);
    plan.commit();
  }

  /** The bpftool lines that bring the maps under `dir` to the bundle's entries; commit() once they ran. */
  private async mapSyncPlan(iface: string, dir: string, bundle: XdpBundle, resetSlots: number[]): Promise<{ lines: string[]; commit(): void }> {
    const want = {
      protV4: new Map<string, Buffer>(),
      protV6: new Map<string, Buffer>(),
      denyV4: new Map<string, Buffer>(),
      denyV6: new Map<string, Buffer>(),
      rlRules: new Map<string, Buffer>(),
    };
    const protValue = encodeRule(PROTECTED_COUNTER, 0);
    const protAll = [...this.protectedCidrs, ...bundle.protectedCidrs.map((t) => parseCidr(t) as Cidr)];
    for (const c of protAll) (c.family === 4 ? want.protV4 : want.protV6).set(hex(encodeLpmKey(c)), protValue);
    for (const d of bundle.deny) {
      const c = parseCidr(d.cidr) as Cidr;
      (c.family === 4 ? want.denyV4 : want.denyV6).set(hex(encodeLpmKey(c)), encodeRule(d.counter, d.countOnly ? PS_RULE_COUNT_ONLY : 0));
    }
    for (const r of bundle.rateLimits) {
      want.rlRules.set(
        hex(encodeRlKey(r.protocol, r.port)),
        encodeRlRule({ counter: r.counter, flags: r.countOnly ? PS_RULE_COUNT_ONLY : 0, ratePps: r.ratePps, burst: r.burst }),
      );
    }
    const updates: string[] = [];
    const deletes: string[] = [];
    const keys = ['protV4', 'protV6', 'denyV4', 'denyV6', 'rlRules'] as const;
    let written = this.written.get(iface);
    if (!written) {
      const dumps = await Promise.all(keys.map((k) => dumpMap(join(dir, 'maps', MAPS[k].name))));
      written = new Map(keys.map((k, i) => [k, new Map(dumps[i]!.map((e) => [hex(e.key), e.value]))]));
    }
    // protected entries first and removed last, so a management address is never unprotected in between
    for (const key of keys) {
      const path = join(dir, 'maps', MAPS[key].name);
      const have = written.get(key) ?? new Map<string, Buffer>();
      for (const [k, v] of want[key]) {
        if (!have.get(k)?.equals(v)) updates.push(`map update pinned ${path} key hex ${k} value hex ${hex(v)}`);
      }
      for (const k of have.keys()) if (!want[key].has(k)) deletes.push(`map delete pinned ${path} key hex ${k}`);
    }
    const protDeletes = deletes.filter((l) => l.includes(MAPS.protV4.name) || l.includes(MAPS.protV6.name));
    const otherDeletes = deletes.filter((l) => !protDeletes.includes(l));
    const zero = hex(Buffer.alloc(4));
    const counterPath = join(dir, 'maps', MAPS.counters.name);
    const zeroCounter = hex(Buffer.alloc(MAPS.counters.valueSize));
    const lines = [
      ...resetSlots.map((slot) => {
        const k = Buffer.alloc(4);
        k.writeUInt32LE(slot);
        return `map update pinned ${counterPath} key hex ${hex(k)} value hex ${zeroCounter}`;
      }),
      ...updates,
      `map update pinned ${join(dir, 'maps', MAPS.config.name)} key hex ${zero} value hex ${hex(encodeConfig(bundle.countOnly ? PS_CFG_COUNT_ONLY : 0))}`,
      ...otherDeletes,
      ...protDeletes,
      `map update pinned ${join(dir, 'maps', MAPS.meta.name)} key hex ${zero} value hex ${hex(encodeMeta(bundle.version, Date.now()))}`,
    ];
    this.written.delete(iface);
    return { lines, commit: () => this.written.set(iface, new Map(keys.map((k) => [k, new Map(want[k])]))) };
  }

  /** Summed per-CPU counters of the reserved slots and every rule of the applied bundle, per interface. */
  readCounters(): Promise<CounterMsg[]> {
    return this.serial(async () => {
      const names = new Map<number, string>(Object.entries(RESERVED_COUNTERS).map(([k, v]) => [Number(k), v]));
      for (const c of this.state.bundle?.counters ?? []) names.set(c.slot, c.rule);
      const out: CounterMsg[] = [];
      for (const [iface, st] of Object.entries(this.state.interfaces)) {
        const path = join(this.cfg.pinRoot, iface, st.gen, 'maps', MAPS.counters.name);
        const keys = [...names.keys()].map((slot) => {
          const b = Buffer.alloc(4);
          b.writeUInt32LE(slot);
          return b;
        });
        const values = await lookupPerCpu(path, keys).catch(() => new Map<string, Buffer[]>());
        for (const [slot, name] of names) {
          const k = Buffer.alloc(4);
          k.writeUInt32LE(slot);
          const perCpu = values.get(k.toString('hex')) ?? [];
          const sum = { matchPackets: 0n, matchBytes: 0n, dropPackets: 0n, dropBytes: 0n };
          for (const v of perCpu) {
            const c = decodeCounter(v);
            sum.matchPackets += c.matchPackets;
            sum.matchBytes += c.matchBytes;
            sum.dropPackets += c.dropPackets;
            sum.dropBytes += c.dropBytes;
          }
          out.push({
            interface: iface,
            slot,
            name,
            matchPackets: Number(sum.matchPackets),
            matchBytes: Number(sum.matchBytes),
            dropPackets: Number(sum.dropPackets),
            dropBytes: Number(sum.dropBytes),
          });
        }
      }
      return out;
    });
  }
}
