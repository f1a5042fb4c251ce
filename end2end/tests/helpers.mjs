// Shared steps of the end-to-end tests.
import AxeBuilder from '@axe-core/playwright';
import { test as base, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ports } from '../playwright.config.mjs';

export { expect };

const smtpApi = `http://127.0.0.1:${ports.smtpApi}`;
const mailApi = `${smtpApi}/messages`;
const portalOrigin = `http://127.0.0.1:${ports.portal}`;

/**
 * Where the HTML of every portal page the tests load is written, one file per
 * method and path (the last answer wins), for scripts/check-html to validate.
 */
const htmlDir = process.env.PORTAL_E2E_HTML_DIR || path.resolve('test-results/html');

/** The file name of a page: its method and path, made safe for the file system. */
function htmlFileName(method, pathname) {
  const name = pathname.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]+/g, '_') || 'index';
  return `${method === 'GET' ? '' : `${method.toLowerCase()}.`}${name}.html`;
}

/** Writes the body of `response` if it is an HTML page of the portal. */
async function saveHtml(response) {
  const url = new URL(response.url());
  const type = response.headers()['content-type'] || '';
  const status = response.status();
  if (url.origin !== portalOrigin || !type.startsWith('text/html') || (status >= 300 && status < 400)) return;
  let body;
  try {
    body = await response.body();
  } catch {
    // The page went on before its body was read (a newer navigation, a
    // closed context): nothing to keep.
    return;
  }
  await mkdir(htmlDir, { recursive: true });
  await writeFile(path.join(htmlDir, htmlFileName(response.request().method(), url.pathname)), body);
}

/**
 * Playwright's `test`, with every HTML response of the portal saved (see
 * `htmlDir`), in the default context and in those the tests open themselves.
 */
export const test = base.extend({
  savedHtml: [async ({ browser }, use) => {
    const writes = new Set();
    const record = (response) => {
      const write = saveHtml(response).finally(() => writes.delete(write));
      writes.add(write);
    };
    const watch = (context) => context.on('response', record);
    browser.contexts().forEach(watch);
    browser.on('context', watch);
    await use(htmlDir);
    browser.off('context', watch);
    await Promise.all(writes);
  }, { scope: 'worker', auto: true }],
});

/** Fails on serious or critical accessibility violations of the current page. */
export async function expectAccessible(page) {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)).toEqual([]);
}

/** How many messages the SMTP listener has received so far. */
export async function mailCount() {
  return (await (await fetch(mailApi)).json()).length;
}

/**
 * The newest email to `to` whose text matches `pattern`, waiting for it;
 * only among the messages after the first `since` (see `mailCount`), so
 * that an older email of the same kind is not taken for the one awaited.
 */
export async function waitForMail(to, pattern, timeout = 20_000, since = 0) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const messages = (await (await fetch(mailApi)).json()).slice(since);
    const found = messages.filter((m) => m.to.includes(to.toLowerCase()) && pattern.test(m.text)).pop();
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`no email to ${to} matching ${pattern}`);
}

/** Makes the SMTP listener hold every message after DATA until `releaseMail`. */
export async function holdMail() {
  expect((await fetch(`${smtpApi}/hold`, { method: 'POST' })).status).toBe(204);
}

/** Accepts the held messages and lets the next ones through. */
export async function releaseMail() {
  expect((await fetch(`${smtpApi}/release`, { method: 'POST' })).status).toBe(204);
}

/** The first URL in `text` that contains `part`. */
export function linkIn(text, part) {
  const link = text.split(/\s+/).find((word) => word.startsWith('http') && word.includes(part));
  if (!link) throw new Error(`no ${part} link in: ${text}`);
  return link;
}

/** Signs in with an emailed one-time link. */
export async function signInByEmail(page, email) {
  await page.goto('/login');
  await expectAccessible(page);
  await page.getByLabel('Work email').fill(email);
  const since = await mailCount();
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('heading', { name: 'Check your email' })).toBeVisible();
  await expectAccessible(page);
  const mail = await waitForMail(email, /\/auth\/link\//, 20_000, since);
  await page.goto(linkIn(mail.text, '/auth/link/'));
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Signs in whichever way the portal asks for the address: through the
 * clinic's identity provider once its domain is connected to SSO (the
 * sign-in tests connect the demo clinic's), else by emailed link.
 */
export async function signIn(page, email) {
  await page.goto('/login');
  await page.getByLabel('Work email').fill(email);
  const since = await mailCount();
  await page.getByRole('button', { name: 'Continue' }).click();
  const provider = new RegExp(`127\\.0\\.0\\.1:${ports.oidc}/interaction/`);
  const checkEmail = page.getByRole('heading', { name: 'Check your email' });
  await expect(checkEmail.or(page.locator('input[name=login]'))).toBeVisible();
  if (provider.test(page.url())) {
    await page.locator('input[name=login]').fill(email);
    await page.locator('input[name=password]').fill('any password');
    await page.locator('button[type=submit]').click();
    await page.waitForURL(/\/admin\//);
    return;
  }
  const mail = await waitForMail(email, /\/auth\/link\//, 20_000, since);
  await page.goto(linkIn(mail.text, '/auth/link/'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/admin\//);
}

/**
 * Runs `statement` as the superuser of the portal's managed cluster (started
 * by the portal in PORTAL_E2E_DATA_DIR) and returns its unaligned output.
 * Tests use it to let time pass and to set what no page of the test covers.
 */
export function sql(statement) {
  const dir = process.env.PORTAL_E2E_DATA_DIR;
  const credentials = JSON.parse(readFileSync(`${dir}/postgres-credentials.json`, 'utf8'));
  const port = readFileSync(`${dir}/postgres/postmaster.pid`, 'utf8').split('\n')[3].trim();
  return execFileSync('/usr/lib/postgresql/15/bin/psql',
    ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-d', 'portal', '-v', 'ON_ERROR_STOP=1', '-Atc', statement],
    { env: { ...process.env, PGPASSWORD: credentials.superuser }, encoding: 'utf8' });
}
