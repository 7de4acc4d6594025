/**
 * Browser helpers for the e2e tests and the UI benchmark: Debian's Chromium driven by playwright-core (never
 * `playwright install`), a fresh profile per run, every request recorded, screenshots under test-results/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { repoRoot } from '../../server/env';

export const CHROMIUM = process.env.PS_CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOT_DIR = join(repoRoot, 'test-results', 'e2e');

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Every request URL the pages made (http, https, ws). */
  requests: string[];
  /** Requests to a host other than the local ones. */
  foreignRequests(): string[];
  /** console.error and uncaught page errors. */
  pageErrors: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export function isLocalUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === 'data:' || u.protocol === 'blob:' || u.protocol === 'about:') return true;
  return LOCAL_HOSTS.has(u.hostname);
}

export async function openBrowser(opts: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {}): Promise<BrowserSession> {
  const profile = mkdtempSync(join(tmpdir(), 'ps-chromium-'));
  // A fresh user-data-dir per run (persistent context = Chromium's own profile directory).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--headless'],
    viewport: opts.viewport ?? { width: 1400, height: 900 },
    colorScheme: opts.colorScheme ?? 'light',
  });
  const requests: string[] = [];
  const pageErrors: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  context.on('page', (p) => {
    p.on('websocket', (ws) => requests.push(ws.url()));
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('websocket', (ws) => requests.push(ws.url()));
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
  });
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    context,
    page,
    requests,
    pageErrors,
    foreignRequests: () => requests.filter((u) => !isLocalUrl(u)),
    screenshot: async (name: string) => {
      const file = join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path: file, fullPage: false, caret: 'initial' });
      return file;
    },
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in through the sign-in form and waits for the console. */
export async function signInThroughForm(page: Page, web: string, username: string, password: string): Promise<void> {
  await page.goto(`${web}/sign-in`);
  await page.getByLabel(/user ?name/i).fill(username);
  await page.getByLabel(/password/i).fill(password);
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/sign-in'), { timeout: 60_000 });
}
