// Signing in by emailed link and by SSO through a real OpenID provider, and
// signing out, in Chromium; every page is checked with axe.
import { expect, expectAccessible, signInByEmail, test } from './helpers.mjs';
import { ports } from '../playwright.config.mjs';

const owner = 'owner@lindenhof-clinic.example';
const dpo = 'dpo@lindenhof-clinic.example';

test.describe.serial('signing in', () => {
  test('public pages are accessible', async ({ page }) => {
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'Privacy operations for clinics' })).toBeVisible();
    await expectAccessible(page);
    await page.getByRole('link', { name: "See the demo clinic's privacy page" }).click();
    await expect(page.getByRole('heading', { level: 1 })).toContainText('Lindenhof Family Clinic');
    await expectAccessible(page);
    await page.goto('/no/such/page');
    await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
    await expectAccessible(page);
  });

  test('an emailed link signs the owner in, and signing out ends access', async ({ page }) => {
    await signInByEmail(page, owner);
    await expect(page).toHaveURL(/\/admin\/c\/demo$/);
    await expect(page.getByText('You are Owner of this clinic.')).toBeVisible();
    await expectAccessible(page);
    for (const section of ['Team', 'Clinic settings', 'Single sign-on', 'Audit log']) {
      await page.getByRole('navigation', { name: 'Clinic administration' }).getByRole('link', { name: section }).click();
      await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
      await expectAccessible(page);
    }
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page.getByText('You have signed out.')).toBeVisible();
    await page.goto('/admin/c/demo');
    await expect(page).toHaveURL(/\/login\?next=/);
  });

  test('the owner connects the clinic to its identity provider', async ({ page }) => {
    await signInByEmail(page, owner);
    await page.goto('/admin/c/demo/sso');
    await page.getByLabel('Name (required)', { exact: true }).fill('Lindenhof identity');
    await page.getByLabel('Issuer URL').fill(`http://127.0.0.1:${ports.oidc}`);
    await page.getByLabel('Client ID').fill('portal');
    await page.getByLabel('Client secret').fill('portal-secret');
    await page.getByLabel('Email domains').fill('lindenhof-clinic.example');
    await page.getByRole('button', { name: 'Test connection' }).click();
    await expect(page.getByText('The provider answered.')).toBeVisible();
    await expectAccessible(page);
    await page.getByRole('button', { name: 'Save connection' }).click();
    await expect(page.getByText('Sign-in connection saved.')).toBeVisible();
    await expectAccessible(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
  });

  test('single sign-on in Chromium lands on the clinic dashboard', async ({ page }) => {
    await page.goto('/login');
    await page.getByLabel('Work email').fill(dpo);
    await page.getByRole('button', { name: 'Continue' }).click();
    // The portal hands over to the provider's own sign-in page.
    await page.waitForURL(new RegExp(`127\\.0\\.0\\.1:${ports.oidc}/interaction/`));
    await page.locator('input[name=login]').fill(dpo);
    await page.locator('input[name=password]').fill('any password');
    await page.locator('button[type=submit]').click();
    await page.waitForURL(/\/admin\/c\/demo$/);
    await expect(page.getByText('You are Privacy Officer of this clinic.')).toBeVisible();
    await expectAccessible(page);
  });
});
