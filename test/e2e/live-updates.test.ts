/**
 * Live updates in a real browser (Debian's Chromium via playwright-core) against the whole stack:
 *   - the fleet page subscribes to GET /api/v1/events and says it is live; a revision applied through the
 *     REST API (a new snapshot the demo Envoy ACKs) shows on the open page — new version, SYNCED — without a
 *     reload; the audit page shows a new entry made through the API the same way;
 *   - with the events endpoint unreachable the page says so, falls back to refreshing, and still shows a
 *     change made through the API;
 *   - the fleet filter works from the keyboard; light and dark screenshots under test-results/e2e/;
 *   - every request the browser made went to a local host.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { signInThroughForm, type BrowserSession } from './browser';
import { eventually, startE2e, stopE2e, type E2eStack } from './stack';

let stack: E2eStack;
let session: BrowserSession;

before(async () => {
  ({ stack, session } = await startE2e('live-updates-stack.log'));
});

after(() => stopE2e({ stack, session }));

/** A JSON API call with the page's session cookie (same origin). */
async function api<T>(page: Page, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  // A first call compiles its route in `next dev`, and an apply with wait:true runs the publish workflow.
  const res = await page.request.fetch(`${stack.web}${path}`, { method, timeout: 240_000, ...(body === undefined ? {} : { data: body }) });
  const text = await res.text();
  assert.ok(res.ok(), `${method} ${path}: ${res.status()} ${text}`);
  return JSON.parse(text) as T;
}

/** Polls until `fn` returns a truthy value (bounded; fails with the last value). */
interface ProxyView {
  nodeId: string;
  latestVersion: string | null;
  types: { type: string; status: string; ackedVersion: string; latestVersion: string | null }[];
}

/**
 * Through the REST API: a new revision of the live graph with one more domain on the first virtual host,
 * applied; resolves with the snapshot version once the demo Envoy ACKed every type of it.
 */
async function applyChangeThroughApi(page: Page, domain: string): Promise<string> {
  const { revisions } = await api<{ revisions: { id: string; live: boolean }[] }>(page, 'GET', '/api/v1/revisions');
  const live = revisions.find((r) => r.live);
  assert.ok(live, 'the demo tenant has a live revision');
  const { revision } = await api<{ revision: { graph: { virtualHosts: { domains: string[] }[] } } }>(page, 'GET', `/api/v1/revisions/${live.id}`);
  const graph = structuredClone(revision.graph);
  graph.virtualHosts[0]!.domains.push(domain);
  const created = await api<{ revision: { id: string } }>(page, 'POST', '/api/v1/revisions', { graph, message: `live e2e: ${domain}` });
  await api(page, 'POST', `/api/v1/revisions/${created.revision.id}/apply`, { wait: true });
  return eventually<string | null>(async () => {
    const { proxies } = await api<{ proxies: ProxyView[] }>(page, 'GET', '/api/v1/proxies');
    const demo = proxies.find((p) => p.nodeId === 'demo-envoy');
    // Each type is synced at the latest snapshot's version of that type (types have their own versions).
    const synced = demo?.latestVersion && demo.types.every((t) => t.status === 'SYNCED' && t.ackedVersion === t.latestVersion);
    return synced ? demo.latestVersion! : null;
  }, 'the demo Envoy ACKed the new snapshot', 120_000) as Promise<string>;
}

/** Marks the document; `assertNotReloaded` fails if the page was reloaded or navigated since. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => ((window as unknown as { __liveMark?: boolean }).__liveMark = true));
}
async function assertNotReloaded(page: Page): Promise<void> {
  assert.equal(await page.evaluate(() => (window as unknown as { __liveMark?: boolean }).__liveMark === true), true, 'the page was not reloaded');
}

const demoRow = (page: Page) => page.locator('tr[data-node-id="demo-envoy"]');

test('fleet: a change applied through the API appears on the open page without a reload', { timeout: 900_000 }, async () => {
  const { page } = session;
  await signInThroughForm(page, stack.web, 'admin', stack.password);
  await page.goto(`${stack.web}/fleet`);
  await page.getByRole('heading', { name: 'Fleet', exact: true }).waitFor();
  await page.locator('[data-live-state="live"]').waitFor();
  await demoRow(page).waitFor();
  assert.ok(
    session.requests.some((u) => new URL(u).pathname === '/api/v1/events'),
    'the page subscribed to /api/v1/events',
  );
  await session.screenshot('live-01-fleet');

  await markDocument(page);
  const version = await applyChangeThroughApi(page, 'live-e2e-1.test');
  // The open page shows the new snapshot version as the group's latest, every type SYNCED to it.
  await demoRow(page).getByText(`latest ${version.slice(0, 12)}`).waitFor();
  await demoRow(page).locator('.badge', { hasText: /^SYNCED$/ }).first().waitFor();
  assert.equal(await demoRow(page).locator('.badge', { hasText: /^(STALE|NACKED)$/ }).count(), 0, 'no type is left stale or NACKed');
  await assertNotReloaded(page);
  await page.locator('[data-live-state="live"]').waitFor();
  await session.screenshot('live-02-fleet-updated');

  // Keyboard: the filter is reachable by Tab from the page and narrows the table.
  const search = page.getByRole('searchbox', { name: 'Node or group' });
  await page.getByRole('heading', { name: 'Fleet', exact: true }).click();
  for (let i = 0; i < 40 && !(await search.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press('Tab');
  assert.equal(await search.evaluate((el) => el === document.activeElement), true, 'the filter took the focus by Tab');
  await page.keyboard.type('no-such-node');
  await page.getByText('No proxy matches the filter').waitFor();
  await search.fill('');
  await demoRow(page).waitFor();

  await page.emulateMedia({ colorScheme: 'dark' });
  await session.screenshot('live-03-fleet-dark');
  await page.emulateMedia({ colorScheme: 'light' });
});

test('audit: an entry made through the API appears on the open audit page without a reload', { timeout: 300_000 }, async () => {
  const { page } = session;
  await page.goto(`${stack.web}/audit`);
  await page.getByRole('heading', { name: 'Audit log', exact: true }).waitFor();
  await page.locator('[data-live-state="live"]').waitFor();
  await markDocument(page);
  const name = `live-e2e-${Date.now()}`;
  await api(page, 'POST', '/api/v1/tokens', { name });
  await page.locator('tr', { hasText: 'token.create' }).filter({ hasText: name }).first().waitFor();
  await assertNotReloaded(page);
  await session.screenshot('live-04-audit-updated');
});

test('without the events endpoint the page says so, refreshes instead, and still shows changes', { timeout: 900_000 }, async () => {
  const { page } = session;
  await page.route('**/api/v1/events**', (route) => route.abort());
  try {
    await page.goto(`${stack.web}/fleet`);
    await demoRow(page).waitFor();
    await page.locator('[data-live-state="unavailable"], [data-live-state="reconnecting"]').first().waitFor();
    await page.getByText(/refreshing every \d+ s/).first().waitFor();
    await session.screenshot('live-05-fleet-fallback');
    await markDocument(page);
    const version = await applyChangeThroughApi(page, 'live-e2e-2.test');
    await demoRow(page).getByText(`latest ${version.slice(0, 12)}`).waitFor();
    await assertNotReloaded(page);
  } finally {
    await page.unroute('**/api/v1/events**');
  }
});

test('no request left the machine and pages had no errors', () => {
  assert.deepEqual(session.foreignRequests(), [], 'every request went to a local host');
  // The fallback test aborts /api/v1/events on purpose; Chromium logs that as a failed load.
  const errors = session.pageErrors.filter((e) => !/net::ERR_FAILED/.test(e));
  assert.deepEqual(errors, [], 'no page errors');
});
