// Browser test of an app portal link (svix `authentication.app_portal_access`): Chromium opens
// the link and lands on the Manage webhooks page of that one account (not on the others its
// user manages); after `expire-all` the page and the link are refused.
// Run through its launcher: `.venv/bin/python -m pytest tests/e2e/test_browser_portal.py`,
// which makes the link with the real `svix` client and sets DATAHOOKS_PORTAL_* below.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BASE, api, shot, withBrowser } from './helpers.mjs';

const LINK = process.env.DATAHOOKS_PORTAL_URL;
const ACCOUNT = process.env.DATAHOOKS_PORTAL_ACCOUNT;
const OTHER = process.env.DATAHOOKS_PORTAL_OTHER;
const KEY = process.env.DATAHOOKS_PORTAL_KEY;
const APP = process.env.DATAHOOKS_PORTAL_APP;

test('app portal link: one account, then refused after expire-all', { timeout: 120_000 }, async () => {
  assert.ok(LINK && ACCOUNT && OTHER && KEY && APP, 'run through tests/e2e/test_browser_portal.py');
  await withBrowser(async ({ page, problems }) => {
    // The link signs in and moves on to the account's page by itself.
    const opened = await page.goto(LINK);
    assert.equal(opened.status(), 200);
    await page.waitForURL(`${BASE}/ui/accounts/${ACCOUNT}/webhooks`);
    await page.getByRole('heading', { name: `Manage webhooks for ${ACCOUNT}` }).waitFor();
    await shot(page, 'portal-signed-in');

    // The start page is that account's page; the user's other account is not there.
    await page.goto(`${BASE}/ui/`);
    assert.equal(page.url(), `${BASE}/ui/accounts/${ACCOUNT}/webhooks`);
    const other = await page.goto(`${BASE}/ui/accounts/${OTHER}/webhooks`);
    assert.equal(other.status(), 404);

    // The platform ends every portal session of the application.
    await api(KEY, 'POST', `/api/v1/auth/app/${APP}/expire-all`, {});
    await page.goto(`${BASE}/ui/accounts/${ACCOUNT}/webhooks`);
    assert.match(page.url(), /\/ui\/login$/);
    const again = await page.goto(LINK);
    assert.equal(again.status(), 410);
    assert.match(await page.locator('main').innerText(), /expired or was ended/);
    await shot(page, 'portal-link-refused');
    assert.deepEqual(problems, []);
  });
});
