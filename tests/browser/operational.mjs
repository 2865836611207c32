// Browser test of the Operational webhooks section of the Manage webhooks page: add an
// operational endpoint (only endpoint.* events), see it listed with its secret, watch it
// receive `endpoint.created` (signed with that secret) when an application endpoint is added,
// and remove it. Run through its launcher: `.venv/bin/python -m pytest
// tests/e2e/test_browser_operational.py`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  BASE, addEndpoint, enableWebhooks, managePath, newReceiver, newUser, rows, shot, signIn,
  submit, withBrowser,
} from './helpers.mjs';

test('operational webhooks: add, receive endpoint.created, remove', { timeout: 120_000 }, async () => {
  const user = await newUser('ops');
  const ops = await newReceiver('ops');
  const app = await newReceiver('app');
  await withBrowser(async ({ page, problems }) => {
    await signIn(page, user);
    await enableWebhooks(page, user.username);

    const section = page.locator('#operational');
    await section.getByRole('heading', { name: 'Operational webhooks' }).waitFor();
    assert.deepEqual(await rows(page, '#op-endpoints'), [['No operational endpoints.']]);

    // A bad URL is refused with a 4xx page saying why, and nothing is added.
    const form = page.locator('#add-op-endpoint');
    await page.evaluate(() => { document.getElementById('add-op-endpoint').noValidate = true; });
    await form.locator('#op-url').fill('not a url');
    const bad = await submit(page, form.getByRole('button', { name: 'Add operational endpoint' }));
    assert.ok(bad.post.status() >= 400 && bad.post.status() < 500, `status ${bad.post.status()}`);
    await page.goto(`${BASE}${managePath(user.username)}`);
    assert.deepEqual(await rows(page, '#op-endpoints'), [['No operational endpoints.']]);

    // Add one for endpoint.created and endpoint.deleted only.
    await form.locator('#op-url').fill(ops.url);
    await form.locator('#op-description').fill('on call');
    await form.getByLabel('endpoint.created').check();
    await form.getByLabel('endpoint.deleted').check();
    const { post } = await submit(page, form.getByRole('button', { name: 'Add operational endpoint' }));
    assert.equal(post.status(), 303);
    assert.equal(new URL(page.url()).pathname, managePath(user.username));
    const [row] = await rows(page, '#op-endpoints');
    assert.equal(row[0], ops.url);
    assert.equal(row[1], 'on call');
    assert.equal(row[2], 'endpoint.created, endpoint.deleted');
    await section.getByText('Show').click();
    const secret = (await section.locator('code.secret').innerText()).trim();
    assert.match(secret, /^whsec_/);
    await shot(page, 'operational-webhooks');

    // Adding an application endpoint tells the operational endpoint, signed with its secret.
    const { id } = await addEndpoint(page, { url: app.url, events: ['sample.created'] });
    assert.ok(id);
    const [d] = await ops.waitFor((ds) => ds.length >= 1, 'endpoint.created', { secret });
    const body = JSON.parse(d.body);
    assert.equal(body.type, 'endpoint.created');
    assert.equal(body.data.endpointId, id);
    assert.equal(d.verified_std, true, JSON.stringify(d.errors));
    assert.equal(d.verified_svix, true, JSON.stringify(d.errors));

    // Remove it.
    await page.goto(`${BASE}${managePath(user.username)}`);
    const removed = await submit(page, section.getByRole('button', { name: `Remove ${ops.url}` }));
    assert.equal(removed.post.status(), 303);
    assert.deepEqual(await rows(page, '#op-endpoints'), [['No operational endpoints.']]);
    assert.deepEqual(problems, []);
  });
});
