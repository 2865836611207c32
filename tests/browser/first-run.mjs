// Browser test of the first five minutes, on a server started with no users: the sign-in
// hint points to the console, the one-time setup link creates the first user and shows its
// key once, the key signs in, webhooks get enabled, and the link is refused afterwards.
// Run through its launcher: `.venv/bin/python -m pytest tests/e2e/test_browser_first_run.py`
// (which sets DATAHOOKS_SETUP_URL to the link the server printed). Not a `*.test.mjs`: the
// main browser suite runs against a server that already has users.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BASE, enableWebhooks, noValidate, shot, signIn, submit, withBrowser } from './helpers.mjs';

const SETUP_URL = process.env.DATAHOOKS_SETUP_URL;

test('first run: setup link, first user, sign in, enable webhooks', { timeout: 120_000 }, async () => {
  assert.ok(SETUP_URL, 'DATAHOOKS_SETUP_URL is not set: run through tests/e2e/test_browser_first_run.py');
  await withBrowser(async ({ page, problems }) => {
    // Nobody can sign in yet, and the page says why and where to look.
    await page.goto(`${BASE}/ui/`);
    assert.match(page.url(), /\/ui\/login$/);
    const hint = await page.locator('#login-hint').innerText();
    assert.match(hint, /no users yet/);
    assert.match(hint, /setup link/);
    assert.doesNotMatch(hint, /apikey create/);
    await shot(page, 'first-run-sign-in-hint');

    // The setup link: a form for the first user.
    const res = await page.goto(SETUP_URL);
    assert.equal(res.status(), 200);
    assert.equal(res.headers()['cache-control'], 'no-store');
    await page.getByRole('heading', { name: 'Create the first user' }).waitFor();

    // A name the server refuses: the form again, with the reason, nothing created.
    await noValidate(page);
    await page.fill('#name', 'not a name');
    const bad = await submit(page, page.getByRole('button', { name: 'Create user' }));
    assert.equal(bad.post.status(), 400);
    assert.match(await page.locator('#setup-error').innerText(), /name/i);

    await page.fill('#name', 'jane');
    await page.fill('#email', 'jane@example.com');
    const made = await submit(page, page.getByRole('button', { name: 'Create user' }));
    assert.equal(made.post.status(), 200);
    await page.getByRole('heading', { name: 'User jane created' }).waitFor();
    const key = (await page.locator('#api-key').innerText()).trim();
    assert.match(key, /^dh_[0-9a-f]+_[0-9a-f]{64}$/);
    await shot(page, 'first-run-key-shown-once');

    // Sign in with it, from the link on that page.
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Sign in' }).click()]);
    assert.match(page.url(), /\/ui\/login$/);
    assert.match(await page.locator('#login-hint').innerText(), /datahooks apikey create USER/);
    await signIn(page, { username: 'jane', api_key: key });
    assert.ok(!(await page.content()).includes(key), 'the key is not shown again');
    await enableWebhooks(page, 'jane');
    await page.getByText('No endpoints yet').waitFor();
    await shot(page, 'first-run-webhooks-enabled');

    // The link is spent: a clear page, not the form, and not the key.
    const again = await page.goto(SETUP_URL);
    assert.equal(again.status(), 409);
    await page.getByRole('heading', { name: 'Setup link refused' }).waitFor();
    assert.match(await page.locator('#setup-refused').innerText(), /already has users/);
    assert.ok(!(await page.content()).includes(key));
    assert.equal(await page.locator('#name').count(), 0);
    assert.deepEqual(problems, []);
  });
});
