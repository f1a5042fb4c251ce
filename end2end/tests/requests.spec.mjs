// A patient's privacy request in Chromium: the public form, confirmation from
// the captured email, the Privacy Officer's reply with a file, and the
// patient's download. Every page is checked with axe.
import { readFile } from 'node:fs/promises';
import { expect, expectAccessible, linkIn, signInByEmail, test, waitForMail } from './helpers.mjs';
import { ports } from '../playwright.config.mjs';

const patient = 'taras.bondarenko@example.org';
const dpo = 'dpo@lindenhof-clinic.example';
const reply = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n');

test('a patient asks, the Privacy Officer answers with a file, the patient downloads it', async ({ page, browser }) => {
  // The form explains mistakes and keeps what was typed.
  await page.goto('/c/demo/requests/new');
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Lindenhof Family Clinic');
  await expectAccessible(page);
  await page.getByLabel('What would you like to do?').selectOption('access');
  await page.getByLabel(/^Your full name/).fill('Taras Bondarenko');
  await page.getByLabel(/^Your email address/).fill('taras@');
  await page.getByLabel('Details').fill('A copy of my vaccination records, please.');
  await page.getByRole('button', { name: 'Send request' }).click();
  await expect(page.getByText('Please correct the following:')).toBeVisible();
  await expect(page.getByLabel(/^Your full name/)).toHaveValue('Taras Bondarenko');
  await expect(page.getByLabel('Details')).toHaveValue('A copy of my vaccination records, please.');
  await expectAccessible(page);

  await page.getByLabel(/^Your email address/).fill(patient);
  await page.getByLabel(/I understand that the clinic uses/).check();
  await page.getByRole('button', { name: 'Send request' }).click();
  await expect(page.getByRole('heading', { name: 'Check your email' })).toBeVisible();
  await expectAccessible(page);

  // Confirming from the emailed link starts the clock.
  const confirm = await waitForMail(patient, /\/requests\/verify\//);
  await page.goto(linkIn(confirm.text, '/requests/verify/'));
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Confirm my request' }).click();
  await expect(page).toHaveURL(/\/c\/demo\/requests\/PR-[A-Z0-9]{4}-[A-Z0-9]{4}\?t=/);
  const reference = page.url().match(/PR-[A-Z0-9]{4}-[A-Z0-9]{4}/)[0];
  const statusUrl = page.url();
  await expect(page.getByRole('heading', { level: 1 })).toContainText(reference);
  await expect(page.getByText('Answer due by')).toBeVisible();
  await expectAccessible(page);

  // The Privacy Officer, in another browser, finds it and answers.
  const staffContext = await browser.newContext({ baseURL: `http://127.0.0.1:${ports.portal}` });
  const staff = await staffContext.newPage();
  await signInByEmail(staff, dpo);
  await staff.goto(`/admin/c/demo/requests?q=${reference}`);
  await expectAccessible(staff);
  await staff.getByRole('link', { name: reference }).click();
  await expect(staff.getByRole('heading', { level: 1 })).toContainText(reference);
  await expectAccessible(staff);
  await staff.getByLabel(/^Attach a file/).setInputFiles({
    name: 'vaccination-records.pdf',
    mimeType: 'application/pdf',
    buffer: reply,
  });
  await staff.getByRole('button', { name: 'Attach', exact: true }).click();
  await expect(staff.getByText('The file is attached; the requester can download it.')).toBeVisible();
  await staff.getByLabel('Outcome').selectOption('fulfilled');
  await staff.getByRole('button', { name: 'Complete the request' }).click();
  await expect(staff.getByText('The request is completed and the requester was told.')).toBeVisible();
  await expectAccessible(staff);
  await staffContext.close();

  // The patient is told, confirms their address again and downloads.
  await waitForMail(patient, /It was fulfilled\./);
  await page.goto(statusUrl);
  await expect(page.getByText(/^vaccination-records\.pdf · /)).toBeVisible();
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Email me a download link' }).click();
  await expect(page.getByText('We have emailed you a download link.')).toBeVisible();
  const downloads = await waitForMail(patient, /\/requests\/downloads\//);
  await page.goto(linkIn(downloads.text, '/requests/downloads/'));
  await expectAccessible(page);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: /vaccination-records\.pdf/ }).click(),
  ]);
  expect(download.suggestedFilename()).toBe('vaccination-records.pdf');
  expect(Buffer.compare(await readFile(await download.path()), reply)).toBe(0);
});
