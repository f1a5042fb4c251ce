// Shared steps of the end-to-end tests.
import AxeBuilder from '@axe-core/playwright';
import { expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ports } from '../playwright.config.mjs';

const smtpApi = `http://127.0.0.1:${ports.smtpApi}`;
const mailApi = `${smtpApi}/messages`;

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
