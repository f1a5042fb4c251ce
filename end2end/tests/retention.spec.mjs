// Retention and export in Chromium: the demo clinic's owner changes a rule
// (a refused value comes back with what was typed), previews the next purge,
// and downloads a full export built by the worker; the operator's offboarding
// form refuses to start without the clinic's address typed out. Every page is
// checked with axe.
import { readFile } from 'node:fs/promises';
import { expect, expectAccessible, signInByEmail, test } from './helpers.mjs';

const owner = 'owner@lindenhof-clinic.example';
const operator = 'operator@meridian-health.example';

test('an owner sets retention, previews the purge and downloads the clinic export', async ({ page }) => {
  await signInByEmail(page, owner);
  const nav = page.getByRole('navigation', { name: 'Clinic administration' });
  await nav.getByRole('link', { name: 'Retention' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Retention');
  await expectAccessible(page);

  const auditDays = page.getByLabel('Audit log: days kept');
  await auditDays.fill('30');
  await page.getByRole('button', { name: 'Save rules' }).click();
  await expect(page.getByRole('alert')).toContainText('keep it at least 365 days');
  await expect(auditDays).toHaveValue('30');
  await expectAccessible(page);
  await auditDays.fill('3650');
  await page.getByRole('button', { name: 'Save rules' }).click();
  await expect(page.getByText('Retention rules saved (1 changed)')).toBeVisible();
  await expect(auditDays).toHaveValue('3650');

  await page.getByRole('button', { name: 'Preview the next run' }).click();
  await expect(page.getByText(/^Preview: /)).toBeVisible();
  await expect(page.getByRole('cell', { name: 'Preview', exact: true })).toBeVisible();
  await expectAccessible(page);

  await nav.getByRole('link', { name: 'Export' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText("Export the clinic's data");
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Prepare an export' }).click();
  await expect(page.getByText('The export is being prepared.')).toBeVisible();
  const link = page.getByRole('link', { name: /^Download ZIP/ });
  await expect(async () => {
    await page.reload();
    await expect(link).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
  await expectAccessible(page);
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  expect(download.suggestedFilename()).toMatch(/^demo-export-\d{4}-\d{2}-\d{2}\.zip$/);
  const zip = await readFile(await download.path());
  expect(zip.subarray(0, 2).toString('latin1')).toBe('PK');
  expect(zip.includes(Buffer.from('audit_log.jsonl'))).toBe(true);
});

test('offboarding asks for the clinic address before anything happens', async ({ page }) => {
  await signInByEmail(page, operator);
  await page.goto('/admin/platform/clinics');
  await page.getByRole('link', { name: 'Offboard…' }).first().click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Offboard clinic');
  await expectAccessible(page);
  await page.getByLabel(/^Type the clinic's web address/).fill('not-this-one');
  await page.getByRole('button', { name: 'Offboard clinic' }).click();
  await expect(page.getByRole('alert')).toContainText('to confirm');
  await expect(page.getByLabel(/^Type the clinic's web address/)).toHaveValue('not-this-one');
  await expectAccessible(page);
  await page.goto('/admin/platform/clinics');
  await expect(page.getByText('offboarding', { exact: true })).toHaveCount(0);
});
