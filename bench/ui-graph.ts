/**
 * Console benchmark in Debian's Chromium (playwright-core, headless, --disable-gpu):
 *   ui_graph_1000_first_render_ms — graph editor: from "Load JSON" of a 1,000-node / 2,000-edge graph to the
 *                                   first painted frame showing its nodes (median of 3 page loads);
 *   ui_graph_1000_p95_frame_ms    — p95 of requestAnimationFrame intervals while panning the canvas and
 *                                   dragging a node, zoomed to fit (all 1,000 nodes and 2,000 edges visible:
 *                                   the worst case for onlyRenderVisibleElements);
 *   ui_editor_initial_js_gzip_kb  — the Rego editor page (/policies): the <script> chunks its HTML references,
 *                                   gzipped (Monaco is a lazy chunk, not among them);
 *   ui_graph_editor_initial_js_gzip_kb — the same for the graph editor page (/graph).
 * Serves the app with `next start` when a production build exists (.next/BUILD_ID), else `next dev` (then
 * the figures are not representative: the result records the mode). Prints name=value lines and writes
 * bench/results/ui.json (+ machine, date).
 *   npx tsx bench/ui-graph.ts
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem, tmpdir, release } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { repoRoot } from '../server/env';
import { ensureDemoTenantAndAdmin } from '../server/services/seed.service';
import { freePort, waitForPort } from '../scripts/lib/ports';
import { createTestDatabase } from '../test/support/db';
import { openBrowser, signInThroughForm } from '../test/e2e/browser';
import { syntheticGraph } from './ui-graph-fixture';

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const median = (xs: number[]) => percentile(xs, 50);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function initialJsGzipKb(web: string, path: string, cookie: string): Promise<{ kb: number; scripts: number }> {
  const html = await (await fetch(`${web}${path}`, { headers: { cookie } })).text();
  const srcs = [...new Set([...html.matchAll(/<script[^>]+src="([^"]+)"/g)].map((m) => m[1]!))];
  let bytes = 0;
  for (const src of srcs) {
    const body = Buffer.from(await (await fetch(new URL(src, web))).arrayBuffer());
    bytes += gzipSync(body).length;
  }
  return { kb: round(bytes / 1024), scripts: srcs.length };
}

async function main(): Promise<void> {
  const production = existsSync(join(repoRoot, '.next/BUILD_ID'));
  const database = await createTestDatabase();
  const { admin } = await ensureDemoTenantAndAdmin(database.db);
  const port = await freePort();
  const web = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'ps-bench-ui-'));
  const nextBin = join(repoRoot, 'node_modules/next/dist/bin/next');
  const server = spawn(process.execPath, [nextBin, production ? 'start' : 'dev', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: repoRoot,
    env: { ...process.env, DATABASE_URL: database.url, PROXYSHARD_DATA_DIR: dataDir, NODE_ENV: production ? 'production' : 'development', NEXT_TELEMETRY_DISABLED: '1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const session = await openBrowser({ viewport: { width: 1600, height: 1000 } });
  try {
    await waitForPort(port, '127.0.0.1', 120_000);
    const { page } = session;
    page.setDefaultTimeout(120_000);
    page.setDefaultNavigationTimeout(300_000);
    await signInThroughForm(page, web, 'admin', admin.password!);
    const cookie = (await session.context.cookies(web)).map((c) => `${c.name}=${c.value}`).join('; ');
    const json = JSON.stringify(syntheticGraph(1000));

    // ---- time to first render (3 runs)
    const firstRender: number[] = [];
    for (let run = 0; run < 3; run++) {
      await page.goto(`${web}/graph`);
      await page.getByText('Import / export JSON').click();
      await page.getByLabel('Route graph JSON').fill(json);
      // In-page code as a string: tsx would wrap named functions in a `__name` helper the page lacks.
      const ms = await page.evaluate<number>(`(async () => {
        const button = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Load JSON');
        const t0 = performance.now();
        button.click();
        await new Promise((resolve) => {
          const tick = () => (document.querySelectorAll('.react-flow__node').length >= 50 ? resolve() : requestAnimationFrame(tick));
          requestAnimationFrame(tick);
        });
        // the frame that shows them has been produced once the next frame starts
        await new Promise((r) => requestAnimationFrame(() => r(null)));
        return performance.now() - t0;
      })()`);
      firstRender.push(ms);
    }

    // ---- frame times while panning and dragging (zoomed to fit: everything visible)
    await page.locator('.react-flow__controls-fitview').click();
    await page.waitForTimeout(500);
    const visible = await page.locator('.react-flow__node').count();
    const visibleEdges = await page.locator('.react-flow__edge').count();
    await page.evaluate(`(() => {
      window.__frames = [];
      window.__stop = false;
      let last = performance.now();
      const loop = (t) => {
        window.__frames.push(t - last);
        last = t;
        if (!window.__stop) requestAnimationFrame(loop);
      };
      requestAnimationFrame((t) => {
        last = t;
        requestAnimationFrame(loop);
      });
    })()`);
    const pane = await page.locator('.react-flow__pane').boundingBox();
    if (!pane) throw new Error('no canvas');
    // pan: drag the pane up and back down (the column layout is tall: moving up reveals more nodes)
    const sx = pane.x + pane.width - 12;
    const sy = pane.y + pane.height - 12;
    for (const dir of [1, -1]) {
      await page.mouse.move(sx - (dir === 1 ? 0 : 270), sy - (dir === 1 ? 0 : 360));
      await page.mouse.down();
      for (let i = 0; i < 90; i++) await page.mouse.move(sx - (dir === 1 ? i * 3 : 270 - i * 3), sy - (dir === 1 ? i * 4 : 360 - i * 4));
      await page.mouse.up();
    }
    // drag a node
    const nowVisible = await page.locator('.react-flow__node').count();
    const n = page.locator('.react-flow__node').nth(Math.floor(nowVisible / 2));
    const box = await n.boundingBox();
    if (box) {
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.down();
      for (let i = 0; i < 90; i++) await page.mouse.move(box.x + box.width / 2 + i * 2, box.y + box.height / 2 + Math.sin(i / 10) * 40);
      await page.mouse.up();
    }
    const frames = await page.evaluate<number[]>(`(() => {
      window.__stop = true;
      return window.__frames;
    })()`);

    const graphJs = await initialJsGzipKb(web, '/graph', cookie);
    const editorJs = await initialJsGzipKb(web, '/policies', cookie);

    const metrics = {
      ui_graph_1000_p95_frame_ms: round(percentile(frames, 95)),
      ui_graph_1000_first_render_ms: Math.round(median(firstRender)),
      ui_editor_initial_js_gzip_kb: editorJs.kb,
      ui_graph_editor_initial_js_gzip_kb: graphJs.kb,
    };
    for (const [k, v] of Object.entries(metrics)) console.log(`${k}=${v}`);
    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memGiB: round(totalmem() / 2 ** 30), kernel: release(), node: process.version },
      browser: 'Debian chromium, headless, --disable-gpu (software rendering)',
      server: production ? 'next start (production build)' : 'next dev (NOT representative)',
      metrics,
      detail: {
        firstRenderRunsMs: firstRender.map((x) => Math.round(x)),
        frames: frames.length,
        frameMedianMs: round(median(frames)),
        frameMaxMs: round(Math.max(...frames)),
        renderedNodesAtFit: visible,
        renderedEdgesAtFit: visibleEdges,
        editorPageScripts: editorJs.scripts,
        graphPageScripts: graphJs.scripts,
      },
      goals: { ui_graph_1000_p95_frame_ms: 16.7, ui_graph_1000_first_render_ms: 1000, ui_editor_initial_js_gzip_kb: 250 },
    };
    await writeFile(join(repoRoot, 'bench/results/ui.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await session.close();
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
