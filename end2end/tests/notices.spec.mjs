// A material change to the demo clinic's privacy notice in Chromium: a
// patient subscribes (double opt-in), the Privacy Officer drafts, previews
// and schedules version 2, the change notice reaches the subscriber with
// working diff and unsubscribe links. Every page is checked with axe.
import { expect, expectAccessible, holdMail, linkIn, releaseMail, signInByEmail, test, waitForMail } from './helpers.mjs';
import { ports } from '../playwright.config.mjs';

const subscriber = 'olena.kovalenko@example.org';
const dpo = 'dpo@lindenhof-clinic.example';

test('a Privacy Officer schedules a material change and the subscriber is told', async ({ page, browser }) => {
  // The patient subscribes and confirms from the email.
  await page.goto('/c/demo/privacy');
  await expectAccessible(page);
  await page.getByRole('link', { name: 'Get an email when this changes' }).click();
  await expectAccessible(page);
  await page.getByLabel(/^Your email address/).fill(subscriber);
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(page.getByText('Check your email')).toBeVisible();
  await expectAccessible(page);
  const confirm = await waitForMail(subscriber, /\/subscribe\/confirm/);
  await page.goto(linkIn(confirm.text, '/subscribe/confirm'));
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Confirm my subscription' }).click();
  await expect(page.getByText('You are subscribed')).toBeVisible();
  await expectAccessible(page);

  // The Privacy Officer drafts version 2 and previews it.
  const staffContext = await browser.newContext({ baseURL: `http://127.0.0.1:${ports.portal}` });
  const staff = await staffContext.newPage();
  await signInByEmail(staff, dpo);
  await staff.goto('/admin/c/demo/notices');
  await expectAccessible(staff);
  await staff.goto('/admin/c/demo/notices/privacy-notice/edit');
  await expectAccessible(staff);
  const text = staff.getByLabel('Text (Markdown)');
  const current = await text.inputValue();
  await text.fill(current.replace('kept for 2 years', 'kept for 3 years') + '\n# Reminders by messenger\n\nWe may remind you of visits by messenger if you agree.\n');
  await staff.getByLabel('This is a material change').check();
  await staff.getByLabel(/^Summary of changes/).fill('Appointment details are kept for 3 years, and reminders may come by messenger.');
  await staff.getByRole('button', { name: 'Preview' }).click();
  await expect(staff.getByRole('heading', { name: 'Preview' })).toBeVisible();
  await expect(staff.getByRole('heading', { name: 'Reminders by messenger' })).toBeVisible();
  await expectAccessible(staff);

  // Saving leads to the review; scheduling starts the change notice, whose
  // page follows the sending live: the listener holds the message in
  // flight until the page has shown it pending, and the page then turns to
  // finished by itself, without a reload.
  await staff.getByRole('button', { name: 'Save draft' }).click();
  await expect(staff.getByRole('heading', { level: 1 })).toContainText('publish');
  await expectAccessible(staff);
  await staff.getByLabel(/I have reviewed this version/).check();
  await holdMail();
  try {
    await staff.getByRole('button', { name: 'Schedule and notify' }).click();
    await expect(staff.getByRole('heading', { level: 1 })).toContainText('Change notice');
    await expect(staff.locator('#campaign-status')).toHaveText(/preparing|sending/);
    await expect(staff.locator('#campaign-pending')).toHaveText('1', { timeout: 15_000 });
    await expectAccessible(staff);
  } finally {
    await releaseMail();
  }
  await expect(staff.locator('#campaign-status')).toHaveText('finished', { timeout: 20_000 });
  await expect(staff.locator('#campaign-sent')).toHaveText('1');
  await expect(staff.locator('#campaign-summary')).toHaveText('1 of 1 sent, 0 failed, 0 pending.');
  await expect(staff.getByRole('link', { name: 'Refresh the counts' })).toBeHidden();

  // The public page announces the change.
  await page.goto('/c/demo/privacy');
  await expect(page.getByText(/This notice changes on/)).toBeVisible();
  await expectAccessible(page);

  // The subscriber's email: the diff link shows the change, the unsubscribe
  // link works.
  const notice = await waitForMail(subscriber, /\/versions\/2\/diff/);
  await page.goto(linkIn(notice.text, '/versions/2/diff'));
  await expect(page.locator('ins').filter({ hasText: '3' }).first()).toBeVisible();
  await expect(page.locator('del').filter({ hasText: '2' }).first()).toBeVisible();
  await expectAccessible(page);
  await page.goto(linkIn(notice.text, '/email/unsubscribe/'));
  await expectAccessible(page);
  await page.getByRole('button', { name: 'Unsubscribe' }).click();
  await expect(page.getByText('You are unsubscribed')).toBeVisible();
  await expectAccessible(page);
  await staffContext.close();
});
