// End-to-end tests in Debian's Chromium against the portal binary, a real
// OpenID provider and a real SMTP listener. Started by scripts/e2e, which
// sets PORTAL_E2E_DATA_DIR to a fresh folder and PORTAL_BIN to the binary
// it built (the debug build unless told otherwise).
import { defineConfig } from '@playwright/test';

export const ports = {
  portal: Number(process.env.PORTAL_E2E_PORT || 28080),
  oidc: Number(process.env.OIDC_E2E_PORT || 28455),
  smtp: Number(process.env.SMTP_E2E_PORT || 28025),
  smtpApi: Number(process.env.SMTP_E2E_API_PORT || 28026),
};
const base = `http://127.0.0.1:${ports.portal}`;

export default defineConfig({
  testDir: './tests',
  workers: 1,
  fullyParallel: false,
  timeout: 60_000,
  reporter: [['list']],
  use: {
    baseURL: base,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--no-first-run'],
    },
  },
  webServer: [
    {
      command: 'node support/smtp-listener.mjs',
      url: `http://127.0.0.1:${ports.smtpApi}/messages`,
      env: { SMTP_PORT: String(ports.smtp), SMTP_API_PORT: String(ports.smtpApi) },
      gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
      reuseExistingServer: false,
    },
    {
      command: 'node support/oidc-provider.mjs',
      url: `http://127.0.0.1:${ports.oidc}/.well-known/openid-configuration`,
      env: { OIDC_PORT: String(ports.oidc), OIDC_REDIRECT_URIS: `${base}/auth/oidc/callback` },
      gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
      reuseExistingServer: false,
    },
    {
      // The portal on its own managed Postgres, seeded with the demo clinic.
      command: `${process.env.PORTAL_BIN || '../target/debug/privacy-portal'} serve`,
      url: `${base}/readyz`,
      timeout: 180_000,
      env: {
        PORTAL_DATA_DIR: process.env.PORTAL_E2E_DATA_DIR || '/tmp/privacy-portal-e2e',
        PORTAL_BIND: `127.0.0.1:${ports.portal}`,
        PORTAL_BASE_URL: base,
        SMTP_URL: `smtp://127.0.0.1:${ports.smtp}`,
        // Everything the portal logs is scanned for secrets afterwards
        // (scripts/scan-logs).
        PORTAL_LOG: 'info',
        PORTAL_LOG_FORMAT: 'json',
      },
      stdout: 'pipe',
      stderr: 'pipe',
      gracefulShutdown: { signal: 'SIGTERM', timeout: 30_000 },
      reuseExistingServer: false,
    },
  ],
});
