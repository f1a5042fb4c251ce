// Consent in Chromium: a clinic website embedding the banner (served from
// its own origin), where "Reject all" keeps a gated analytics script from
// running and "Accept all" runs it; a browser sending Global Privacy Control
// is recorded as opting out without being asked; and the portal's settings
// page works with JavaScript switched off; a patient manages their consents
// from an emailed link. The banner and the pages pass axe.
import http from 'node:http';
import { expect, expectAccessible, linkIn, sql, test, waitForMail } from './helpers.mjs';
import { ports } from '../playwright.config.mjs';

const sitePort = Number(process.env.SITE_E2E_PORT || 28090);
const site = `http://127.0.0.1:${sitePort}`;
const portal = `http://127.0.0.1:${ports.portal}`;
const websitePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lindenhof Family Clinic</title></head>
<body><main><h1>Lindenhof Family Clinic</h1><p>Book an appointment online.</p></main>
<script type="text/plain" data-consent-purpose="analytics">window.analyticsRan = true;</script>
<script src="${portal}/c/demo/consent.js" defer></script>
</body></html>`;

let server;

test.beforeAll(async () => {
  // The clinic lists the test website among its origins (Clinic settings).
  sql(`UPDATE clinics SET allowed_origins = array_append(allowed_origins, '${site}')
       WHERE slug = 'demo' AND NOT ('${site}' = ANY (allowed_origins))`);
  server = http.createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(websitePage);
  });
  await new Promise((resolve) => server.listen(sitePort, '127.0.0.1', resolve));
  // The portal caches a clinic's consent configuration for two seconds.
  await new Promise((resolve) => setTimeout(resolve, 2_100));
});

test.afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const latest = () => sql(`SELECT source || '|' || gpc || '|' || (choices->>'analytics')
                          FROM consent_records ORDER BY recorded_at DESC LIMIT 1`).trim();
const analyticsRan = (page) => page.evaluate(() => window.analyticsRan === true);

test('the banner: "Reject all" keeps the analytics script off, "Accept all" runs it', async ({ browser }) => {
  const rejecting = await browser.newContext();
  const page = await rejecting.newPage();
  await page.goto(site);
  const banner = page.getByRole('region', { name: 'Your privacy choices' });
  await expect(banner).toBeVisible();
  await expectAccessible(page);
  // Keyboard first: the banner takes focus on its first button.
  await expect(page.getByRole('button', { name: 'Reject all' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(banner).toBeHidden();
  expect(latest()).toBe('banner|false|false');
  expect(await analyticsRan(page)).toBe(false);
  // The choice is remembered: no banner, still nothing gated runs.
  await page.reload();
  await page.waitForFunction(() => window.ClinicConsent && window.ClinicConsent.choices() !== null);
  await expect(banner).toBeHidden();
  expect(await analyticsRan(page)).toBe(false);
  await rejecting.close();

  const accepting = await browser.newContext();
  const second = await accepting.newPage();
  await second.goto(site);
  await expect(second.getByRole('button', { name: 'Accept all' })).toBeVisible();
  await second.getByRole('button', { name: 'Accept all' }).click();
  await second.waitForFunction(() => window.analyticsRan === true);
  expect(latest()).toBe('banner|false|true');
  // Choosing one by one works too, and the checkboxes are labelled.
  await second.evaluate(() => window.ClinicConsent.open());
  await expect(second.getByLabel('Visit statistics')).toBeChecked();
  await expectAccessible(second);
  await second.getByLabel('Visit statistics').uncheck();
  await second.getByRole('button', { name: 'Save my choices' }).click();
  await expect(second.getByRole('region', { name: 'Your privacy choices' })).toBeHidden();
  expect(latest()).toBe('banner|false|false');
  await accepting.close();
});

test('Global Privacy Control is recorded as an opt-out without asking', async ({ browser }) => {
  const context = await browser.newContext({ extraHTTPHeaders: { 'Sec-GPC': '1' } });
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });
  });
  const page = await context.newPage();
  const before = Number(sql('SELECT count(*) FROM consent_records WHERE gpc').trim());
  await page.goto(site);
  await page.waitForFunction(() => window.ClinicConsent && window.ClinicConsent.choices() !== null);
  await expect(page.getByRole('region', { name: 'Your privacy choices' })).toHaveCount(0);
  expect(Number(sql('SELECT count(*) FROM consent_records WHERE gpc').trim())).toBe(before + 1);
  expect(latest()).toBe('banner|true|false');
  expect(await analyticsRan(page)).toBe(false);
  await context.close();
});

test('the settings page works with JavaScript switched off', async ({ browser }) => {
  const noScript = await browser.newContext({ javaScriptEnabled: false });
  const page = await noScript.newPage();
  await page.goto(`${portal}/c/demo/cookies?lang=en`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Cookie settings: Lindenhof Family Clinic');
  await page.getByLabel('Embedded videos').check();
  await page.getByRole('button', { name: 'Save my choices' }).click();
  await expect(page.getByText('Your choice is saved')).toBeVisible();
  await expect(page.getByLabel('Embedded videos')).toBeChecked();
  await expect(page.getByLabel('Visit statistics')).not.toBeChecked();
  expect(sql(`SELECT source || '|' || (choices->>'video') FROM consent_records
              ORDER BY recorded_at DESC LIMIT 1`).trim()).toBe('settings_page|true');
  await page.getByRole('button', { name: 'Reject all' }).click();
  await expect(page.getByLabel('Embedded videos')).not.toBeChecked();
  await noScript.close();

  const withScript = await browser.newContext();
  const checked = await withScript.newPage();
  await checked.goto(`${portal}/c/demo/cookies?lang=en`);
  await expectAccessible(checked);
  await checked.goto(`${portal}/c/demo/cookies?lang=uk`);
  await expect(checked.getByRole('button', { name: 'Відхилити всі' })).toBeVisible();
  await expectAccessible(checked);
  await withScript.close();
});

test('a patient gives and withdraws consent from an emailed link', async ({ browser }) => {
  const patient = 'iryna.kovalenko@example.org';
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${portal}/c/demo/privacy?lang=en`);
  await page.getByRole('link', { name: /consents you gave as a patient/ }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Your consents: Lindenhof Family Clinic');
  await expectAccessible(page);
  await page.getByLabel(/^Your email address/).fill(patient);
  await page.getByRole('button', { name: 'Email me the link' }).click();
  await expect(page.getByRole('heading', { name: 'Check your email' })).toBeVisible();

  const mail = await waitForMail(patient, /\/consents\/manage\?t=/);
  await page.goto(linkIn(mail.text, '/consents/manage?t='));
  await expect(page.getByText('You have not made any choices yet')).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel('Appointment reminders by messenger').check();
  await page.getByRole('button', { name: 'Save my choices' }).click();
  await expect(page.getByText('Your choice is saved')).toBeVisible();
  await expect(page.getByLabel('Appointment reminders by messenger')).toBeChecked();
  await expectAccessible(page);

  await page.getByRole('button', { name: 'Withdraw all consents' }).click();
  await expect(page.getByLabel('Appointment reminders by messenger')).not.toBeChecked();
  await expect(page.getByRole('row')).toHaveCount(3);
  expect(sql(`SELECT string_agg(source || ':' || (choices->>'messenger_reminders'), ',' ORDER BY recorded_at)
              FROM consent_records WHERE subject_id LIKE 'patient-%'`).trim()).toBe('patient:true,patient:false');
  await context.close();
});
