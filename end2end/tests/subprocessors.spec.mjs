// A sub-processor change in Chromium: the platform operator announces a new
// sub-processor, the demo clinic's Privacy Officer objects from the link in
// the emailed notice, the operator resolves the objection, and on the
// change's date the public list shows it. Every page is checked with axe.
import { expect, expectAccessible, linkIn, signIn, signInByEmail, sql, test, waitForMail } from './helpers.mjs';
import { ports } from '../playwright.config.mjs';

const operator = 'operator@meridian-health.example';
const dpo = 'dpo@lindenhof-clinic.example';

test('an announced sub-processor: a clinic objects, the operator resolves, the list changes on its date', async ({ page, browser }) => {
  // The operator announces the proposed sub-processor.
  await signInByEmail(page, operator);
  await page.goto('/admin/platform/subprocessors');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sub-processors');
  await expectAccessible(page);
  await page.getByRole('link', { name: 'Announce a change' }).click();
  await expectAccessible(page);
  await page.getByLabel('Change', { exact: true }).selectOption('add');
  await page.getByLabel(/^Sub-processor/).selectOption({ label: 'OpenAI, L.L.C. (proposed)' });
  await page.getByLabel(/^Why, in plain words/).fill('Clinics asked for AI-assisted summaries; only anonymised data is sent.');
  // Without the confirmation the form comes back with what was typed.
  await page.getByRole('button', { name: 'Announce' }).click();
  await expect(page.getByRole('alert')).toContainText('Tick the box to confirm');
  await expect(page.getByLabel(/^Why, in plain words/)).toHaveValue(/AI-assisted summaries/);
  await expectAccessible(page);
  await page.getByLabel(/Email every clinic/).check();
  await page.getByRole('button', { name: 'Announce' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('OpenAI, L.L.C. is added as a sub-processor');
  await expect(page.getByText('The change is announced')).toBeVisible();
  const changePage = new URL(page.url()).pathname;
  await expectAccessible(page);

  // The Privacy Officer follows the link in the notice and objects.
  const notice = await waitForMail(dpo, /\/admin\/subprocessor-changes\//);
  expect(notice.text).toContain('OpenAI, L.L.C.');
  const clinicContext = await browser.newContext({ baseURL: `http://127.0.0.1:${ports.portal}` });
  const clinic = await clinicContext.newPage();
  await signIn(clinic, dpo);
  await clinic.goto(linkIn(notice.text, '/admin/subprocessor-changes/'));
  await expect(clinic).toHaveURL(/\/admin\/c\/demo\/subprocessors\/changes\//);
  await expect(clinic.getByRole('heading', { name: 'Object to this change' })).toBeVisible();
  await expectAccessible(clinic);
  await clinic.getByLabel('Why your clinic objects').fill('Our patients were promised that no health data leaves the EU.');
  await clinic.getByRole('button', { name: 'Send the objection' }).click();
  await expect(clinic.getByText('Your objection is recorded')).toBeVisible();
  await expect(clinic.locator('.objection-status')).toContainText('Open since');
  await expectAccessible(clinic);

  // The operator sees it and resolves it with a note.
  await page.goto(changePage);
  await expect(page.getByText('no health data leaves the EU')).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel('Resolution note (emailed to the clinic)').fill('Only anonymised text is sent, through the EU data zone; no health record leaves the EU.');
  await page.getByRole('button', { name: 'Resolve' }).click();
  await expect(page.getByText('The objection is resolved')).toBeVisible();
  await expectAccessible(page);
  const answer = await waitForMail(dpo, /no health record leaves the EU/);
  expect(answer.subject).toContain('objection');
  await clinic.reload();
  await expect(clinic.locator('.objection-status')).toContainText('Resolved on');
  await expectAccessible(clinic);

  // Before its date the public list announces the change but does not
  // list the sub-processor.
  await page.goto('/subprocessors');
  const upcoming = page.getByRole('region', { name: 'Upcoming changes' });
  await expect(upcoming.getByText('OpenAI, L.L.C. is added as a sub-processor')).toBeVisible();
  await expect(page.getByRole('table', { name: 'Sub-processors for AI assistance' })).toHaveCount(0);
  await expectAccessible(page);

  // Forty days on, the date has come: the list shows it under its purpose
  // and in the history.
  const id = changePage.split('/').pop();
  sql(`UPDATE subprocessor_changes SET announced_at = announced_at - interval '40 days',
         objection_deadline = objection_deadline - interval '40 days',
         effective_at = effective_at - interval '40 days' WHERE id = '${id}'`);
  await page.reload();
  const table = page.getByRole('table', { name: 'Sub-processors for AI assistance' });
  await expect(table.getByRole('rowheader', { name: 'OpenAI, L.L.C.' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'History of changes' }).getByText('In effect since')).toBeVisible();
  await expect(upcoming.getByText('No change is announced.')).toBeVisible();
  await expectAccessible(page);
  await clinicContext.close();
});
