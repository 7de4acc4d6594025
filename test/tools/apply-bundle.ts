/**
 * Test helper run inside a node namespace (nsenter --net=…): applies a bundle with the agent's Dataplane,
 * or prints its counters, without a control plane. Used by test/xdp-malformed.test.ts and bench/.
 *   tsx test/tools/apply-bundle.ts apply <pinRoot> <stateDir> <bundle.json>   → ApplyResult JSON
 *   tsx test/tools/apply-bundle.ts counters <pinRoot> <stateDir>              → CounterMsg[] JSON
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { buildAllXdpPrograms } from '../../agents/build';
import { Dataplane } from '../../agents/src/dataplane';

async function main(): Promise<void> {
  const [cmd, pinRoot, stateDir, file] = process.argv.slice(2);
  if (!cmd || !pinRoot || !stateDir) throw new Error('usage: apply-bundle.ts apply|counters <pinRoot> <stateDir> [bundle.json]');
  const programs = buildAllXdpPrograms().map((p) => ({ name: p.name, sha256: p.sha256, path: p.path }));
  const dp = new Dataplane({ pinRoot, stateDir, protectedCidrs: [], localPrograms: programs }, pino({ level: 'warn' }));
  await dp.adopt();
  if (cmd === 'apply') {
    const raw = JSON.parse(readFileSync(file!, 'utf8')) as unknown;
    console.log(JSON.stringify(await dp.apply(raw)));
  } else {
    console.log(JSON.stringify(await dp.readCounters()));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
