// Browser end-to-end tests of "Manage webhooks" (/ui/): headless Chromium through
// playwright-core, against the real server on a loopback port and loopback receivers.
// Run through the launcher: `.venv/bin/python -m pytest tests/e2e/test_browser.py`.
// Each test saves a full-page screenshot in artifacts/screenshots/<test>.png.

import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { test } from 'node:test';

import {
  BASE, DOCS, accountRow, addEndpoint, chooseEvents, createDataset, createSample, endpointCount,
  enableWebhooks, follow, managePath, newReceiver, newUser, noValidate, openBrowser, reloadUntil, rows,
  shot, signIn, sleep, submit, unique, withBrowser,
} from './helpers.mjs';

const T = { timeout: 120_000 };

/** Opens the message log, waits for a `type` message of `dataset` and opens it. */
async function openMessage(page, account, type, dataset, { status } = {}) {
  await page.goto(`${BASE}/ui/accounts/${account}/messages`);
  const row = page.locator('#messages tbody tr')
    .filter({ has: page.getByRole('link', { name: type, exact: true }) })
    .filter({ hasText: dataset });
  await reloadUntil(page, async () => (await row.count()) > 0, `a ${type} message for ${dataset} in the log`);
  if (status) await row.first().filter({ hasText: status }).waitFor({ timeout: 20_000 });
  await follow(page, row.first().getByRole('link', { name: type }));
  assert.match(new URL(page.url()).pathname, new RegExp(`^/ui/accounts/${account}/messages/[^/]+$`));
  return new URL(page.url()).pathname.split('/').pop();
}

test('sign in, enable webhooks, add an endpoint, see a delivery and its payload in the log', T, async () => {
  const user = await newUser('alice');
  const rcv = await newReceiver('log');
  await withBrowser(async ({ context, page, problems }) => {
    await signIn(page, user);

    // The session cookie: HttpOnly, SameSite=Strict, scoped to /ui, and no key in the URL.
    const cookies = await context.cookies(`${BASE}/ui/`);
    const session = cookies.find((c) => c.name === 'dh_session');
    assert.ok(session, `no session cookie: ${JSON.stringify(cookies)}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(session.path, '/ui');
    assert.ok(session.expires > Date.now() / 1000, 'the session expires');
    assert.ok(!session.value.includes(user.api_key) && !page.url().includes(user.api_key));
    assert.ok(!(await page.content()).includes(user.api_key), 'the key is not shown back');

    // Account page: webhooks off; Enable leads to Manage webhooks.
    const row = accountRow(page, user.username);
    await row.getByText('disabled', { exact: true }).waitFor();
    await enableWebhooks(page, user.username);
    await page.getByText('No endpoints yet').waitFor();

    // Back on the account page: enabled, with a Manage webhooks link.
    await page.getByRole('link', { name: 'Accounts' }).click();
    await accountRow(page, user.username).getByText('enabled', { exact: true }).waitFor();
    await follow(page, accountRow(page, user.username).getByRole('link', { name: 'Manage webhooks' }));
    assert.equal(new URL(page.url()).pathname, managePath(user.username));

    // Add endpoint: the loopback receiver, two event types.
    const { post, id } = await addEndpoint(page, {
      url: rcv.url, events: ['sample.created', 'sample.deleted'], description: 'browser test',
    });
    assert.equal(post.status(), 303, 'Add endpoint redirects to the endpoint page');
    assert.ok(id, `landed on ${page.url()}`);
    assert.equal(await page.locator('h1').innerText(), rcv.url);
    await follow(page, page.getByRole('link', { name: user.username, exact: true }));
    const eps = await rows(page, '#endpoints');
    assert.equal(eps.length, 1, JSON.stringify(eps));
    assert.equal(eps[0][0], rcv.url);
    assert.equal(eps[0][1], 'browser test');
    assert.equal(eps[0][2], '1');
    assert.equal(eps[0][3], 'sample.created, sample.deleted');
    assert.equal(eps[0][4], 'enabled');

    // The message log, left open while the API creates a dataset and a sample.
    await follow(page, page.getByRole('link', { name: 'Message log' }));
    await page.getByRole('heading', { name: 'Message log' }).waitFor();
    await page.getByText('No messages match.').waitFor();
    const ds = unique('flowers');
    await createDataset(user, ds);
    await createSample(user, ds, 'rose.png');

    // The live refresh shows it without a reload, delivered.
    const msgRow = page.locator('#messages tbody tr')
      .filter({ has: page.getByRole('link', { name: 'sample.created', exact: true }) });
    await msgRow.filter({ hasText: '1 success' }).waitFor({ timeout: 20_000 });
    assert.match(await msgRow.innerText(), new RegExp(`${user.username}/${ds}`));
    // dataset.created is logged but no endpoint takes it.
    await page.locator('#messages tbody tr')
      .filter({ has: page.getByRole('link', { name: 'dataset.created', exact: true }) })
      .filter({ hasText: 'no endpoint' }).waitFor();

    await shot(page, 'message-log');

    // The filters: by event type and by status.
    await page.locator('#filters select[name=event_type]').selectOption('dataset.created');
    await follow(page, page.locator('#filters').getByRole('button', { name: 'Filter' }));
    let shown = await rows(page, '#messages');
    assert.equal(shown.length, 1, JSON.stringify(shown));
    assert.equal(shown[0][1], 'dataset.created');
    await page.locator('#filters select[name=event_type]').selectOption('');
    await page.locator('#filters select[name=status]').selectOption('0');
    await follow(page, page.locator('#filters').getByRole('button', { name: 'Filter' }));
    shown = await rows(page, '#messages');
    assert.deepEqual(shown.map((r) => r[1]), ['sample.created'], 'only the delivered message succeeded');
    await page.goto(`${BASE}/ui/accounts/${user.username}/messages`);

    // The receiver got exactly the subscribed event.
    const got = await rcv.waitFor((d) => d.length >= 1, 'the sample.created delivery');
    await sleep(500);
    const all = await rcv.deliveries();
    assert.deepEqual(all.map((d) => d.event_type), ['sample.created'], 'only subscribed types arrive');
    assert.equal(JSON.parse(got[0].body).dataset, `${user.username}/${ds}`);

    // The message page: the pretty-printed payload and the attempt.
    await follow(page, msgRow.getByRole('link', { name: 'sample.created' }));
    const msgId = new URL(page.url()).pathname.split('/').pop();
    assert.equal(msgId, got[0].msg_id, 'the page is the delivered message');
    const payload = await page.locator('#payload').innerText();
    assert.match(payload, /"event_type": "sample.created"/);
    assert.ok(payload.includes(`"dataset": "${user.username}/${ds}"`), payload);
    assert.ok(payload.includes('rose.png'), payload);
    assert.ok(payload.includes('\n  "'), 'the payload is pretty-printed');
    assert.deepEqual(JSON.parse(payload), JSON.parse(got[0].body), 'the page shows what was delivered');
    const atts = await rows(page, '#attempts');
    assert.equal(atts.length, 1, JSON.stringify(atts));
    assert.equal(atts[0][1], id, 'the attempt names the endpoint');
    assert.equal(atts[0][2], '200');
    assert.equal(atts[0][3], 'succeeded');
    assert.equal(atts[0][5], 'scheduled');
    const targets = await rows(page, '#targets');
    assert.equal(targets[0][0], rcv.url);
    assert.equal(targets[0][1], 'success');

    await shot(page, 'delivery-in-log');
    assert.deepEqual(problems, []);
  });
});

test('a failed attempt shows its status code; Resend after the receiver recovers succeeds', T, async () => {
  const user = await newUser('bob');
  const rcv = await newReceiver('flaky');
  await withBrowser(async ({ page, problems }) => {
    await signIn(page, user);
    await enableWebhooks(page, user.username);
    const { id } = await addEndpoint(page, { url: rcv.url, events: ['sample.created', 'sample.updated'] });
    assert.ok(id);

    await rcv.reply(500, 'boom');
    const ds = unique('tulips');
    await createDataset(user, ds);
    await createSample(user, ds, 'tulip.png');

    await openMessage(page, user.username, 'sample.created', ds);
    // The failed attempt appears (live refresh of #attempts) with its status code and body.
    await page.locator('#attempts tbody tr').filter({ hasText: '500' }).first().waitFor({ timeout: 20_000 });
    const first = (await rows(page, '#attempts'))[0];
    assert.equal(first[2], '500');
    assert.equal(first[3], 'failed');
    assert.equal(first[6], 'boom', 'the response body is shown');

    // Wait until the retries (1s, 1s, 2s) are spent: the message failed at the endpoint.
    await reloadUntil(page, async () => (await rows(page, '#targets'))[0]?.[1] === 'fail',
      'the message failing at the endpoint after its retries', { timeout: 30_000 });
    let atts = await rows(page, '#attempts');
    assert.equal(atts.length, 4, `1 attempt + 3 retries: ${JSON.stringify(atts)}`);
    assert.ok(atts.every((a) => a[2] === '500' && a[3] === 'failed' && a[5] === 'scheduled'), JSON.stringify(atts));
    await shot(page, 'failed-attempts');

    // The receiver recovers; Resend.
    await rcv.reply(200, 'ok');
    const { post } = await submit(page, page.locator('#targets').getByRole('button', { name: 'Resend' }));
    assert.equal(post.status(), 303);
    assert.match(await page.locator('#notice').innerText(), /Resend queued/);
    await page.locator('#attempts tbody tr').filter({ hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
    atts = await rows(page, '#attempts');
    const ok = atts.filter((a) => a[3] === 'succeeded');
    assert.equal(ok.length, 1, JSON.stringify(atts));
    assert.equal(ok[0][2], '200');
    assert.equal(ok[0][5], 'manual');
    assert.equal(atts.length, 5, JSON.stringify(atts));
    await reloadUntil(page, async () => (await rows(page, '#targets'))[0]?.[1] === 'success', 'the message succeeding');

    const ds5 = await rcv.deliveries();
    assert.equal(ds5.length, 5);
    assert.deepEqual(ds5.map((d) => d.status), [500, 500, 500, 500, 200]);
    assert.equal(new Set(ds5.map((d) => d.msg_id)).size, 1, 'all five are the same message');

    // The endpoint page lists the same attempts.
    await follow(page, page.locator('#targets a').first());
    const deliveries = await rows(page, '#deliveries');
    assert.equal(deliveries.length, 5, JSON.stringify(deliveries));
    assert.ok(deliveries.some((d) => d[2] === '200' && d[3] === 'succeeded' && d[5] === 'manual'), JSON.stringify(deliveries));
    assert.match(await page.locator('body').innerText(), /success 20% of last 5/);

    await page.goBack();
    await shot(page, 'resend-succeeds');
    assert.deepEqual(problems, []);
  });
});

test('reveal and rotate the secret: the next delivery verifies with the new one', T, async () => {
  const user = await newUser('carol');
  const rcv = await newReceiver('rotate');
  await withBrowser(async ({ page, problems }) => {
    await signIn(page, user);
    await enableWebhooks(page, user.username);
    const { id } = await addEndpoint(page, { url: rcv.url, events: ['sample.created', 'label.updated'] });
    assert.ok(id);
    const endpointUrl = page.url();

    // No secret on the page until Reveal.
    assert.equal(await page.locator('#secret').count(), 0);
    await submit(page, page.locator('#reveal'));
    const old = (await page.locator('#secret').innerText()).trim();
    assert.match(old, /^whsec_[A-Za-z0-9+/=]{20,}$/);

    const ds = unique('orchids');
    await createDataset(user, ds);
    await createSample(user, ds, 'before.png');
    let got = await rcv.waitFor((d) => d.length >= 1, 'the delivery before rotation', { secret: old });
    assert.equal(got[0].verified_std, true, got[0].errors.join('; '));
    assert.equal(got[0].verified_svix, true, got[0].errors.join('; '));

    // Rotate (confirmed in the dialog): the new secret is shown with a notice.
    await page.goto(endpointUrl);
    const { post } = await submit(page, page.locator('#rotate'), { confirm: true });
    assert.equal(post.status(), 200);
    const fresh = (await page.locator('#secret').innerText()).trim();
    assert.match(fresh, /^whsec_/);
    assert.notEqual(fresh, old);
    assert.match(await page.locator('#notice').innerText(), /rotated/i);
    await shot(page, 'secret-rotated');

    // Reveal now shows the new one.
    await page.goto(endpointUrl);
    await submit(page, page.locator('#reveal'));
    assert.equal((await page.locator('#secret').innerText()).trim(), fresh);

    // The next delivery verifies with the NEW secret, with both libraries.
    await createSample(user, ds, 'after.png');
    got = await rcv.waitFor(
      (d) => d.some((x) => x.body.includes('after.png')), 'the delivery after rotation', { secret: fresh });
    const after = got.find((x) => x.body.includes('after.png'));
    assert.equal(after.verified_std, true, `standardwebhooks: ${after.errors.join('; ')}`);
    assert.equal(after.verified_svix, true, `svix: ${after.errors.join('; ')}`);
    const before = got.find((x) => x.body.includes('before.png'));
    assert.equal(before.verified_std, false, 'the check means something: the old delivery fails with the new secret');

    // Send test event (from the page) also verifies with the new secret.
    await page.goto(endpointUrl);
    await page.selectOption('#event_type', 'label.updated');
    const test = await submit(page, page.locator('#test-form').getByRole('button', { name: 'Send test event' }));
    assert.equal(test.post.status(), 200);
    assert.match(await page.locator('#notice').innerText(), /test label.updated event was queued/);
    got = await rcv.waitFor((d) => d.some((x) => x.event_type === 'label.updated'), 'the test event', { secret: fresh });
    const t = got.find((x) => x.event_type === 'label.updated');
    assert.ok(t.verified_std && t.verified_svix, t.errors.join('; '));
    assert.match(JSON.parse(t.body).text, /^\[test\]/);

    await page.goto(endpointUrl);
    await page.locator('#deliveries tbody tr').nth(2).waitFor({ timeout: 20_000 });
    await shot(page, 'rotate-secret');
    assert.deepEqual(problems, []);
  });
});

test('Add endpoint: bad inputs show an inline error and add nothing', T, async () => {
  const user = await newUser('dave');
  const rcv = await newReceiver('bad-add');
  await withBrowser(async ({ page, problems }) => {
    // Sign-in with a wrong key.
    await page.goto(`${BASE}/ui/login`);
    await page.fill('#api_key', 'not-a-key');
    const login = await submit(page, page.getByRole('button', { name: 'Sign in' }));
    assert.equal(login.post.status(), 401);
    assert.match(await page.locator('#login-error').innerText(), /not valid/);
    await signIn(page, user);
    await enableWebhooks(page, user.username);

    const tries = [
      // [what, fields, expected message]
      ['a forbidden destination', { url: 'http://10.0.0.1/', events: ['sample.created', 'sample.deleted'] }, /.+/],
      ['the metadata address', { url: 'http://169.254.169.254/latest', events: null }, /.+/],
      ['not http(s)', { url: 'ftp://127.0.0.1/hook', events: null }, /.+/],
      ['no event chosen', { url: rcv.url, events: [] }, /Choose at least one event type/],
      ['a version that is not a number', { url: rcv.url, events: null, version: 'x' }, /whole number/],
      ['version 0', { url: rcv.url, events: null, version: '0' }, /.+/],
      ['a dataset name that cannot exist', { url: rcv.url, events: null, datasets: 'a/b/c' }, /.+/],
    ];
    const errors = [];
    for (const [what, f, expect] of tries) {
      await page.goto(`${BASE}${managePath(user.username)}`);
      await noValidate(page);
      const form = page.locator('#add-endpoint');
      await form.locator('#url').fill(f.url);
      if (f.version !== undefined) {
        // A number input does not take letters: send what a script or an old browser could.
        await form.locator('#version').evaluate((el, v) => { el.type = 'text'; el.value = v; }, f.version);
      }
      if (f.datasets !== undefined) await form.locator('#datasets').fill(f.datasets);
      await chooseEvents(page, f.events);
      const { post } = await submit(page, form.getByRole('button', { name: 'Add endpoint' }));
      const err = page.locator('#add-endpoint #form-error');
      const shown = (await err.count()) ? await err.innerText() : null;
      errors.push([what, post.status(), shown]);
      assert.equal(post.status(), 400, `${what}: status ${post.status()} (${page.url()})`);
      assert.ok(shown, `${what}: no #form-error`);
      assert.match(shown, expect, what);
      assert.equal(await err.getAttribute('role'), 'alert');
      // The form keeps what was typed.
      assert.equal(await form.locator('#url').inputValue(), f.url, `${what}: the URL is kept`);
      const checked = await form.locator('input[name=event_types]:checked').evaluateAll((xs) => xs.map((x) => x.value));
      assert.equal(checked.length, f.events === null ? 11 : f.events.length, `${what}: the boxes are kept`);
      if (what === 'a forbidden destination') await shot(page, 'add-endpoint-errors');
      assert.equal(await page.locator('#endpoints tbody tr a').count(), 0, `${what}: an endpoint was added`);
    }
    // The message log's filter form: a time that is not a time, a status that does not exist.
    for (const [what, set, expect] of [
      ['since', async () => page.locator('#filters input[name=since]').evaluate((el) => { el.type = 'text'; el.value = 'yesterday'; }), /'since' must be a date and time/],
      ['status', async () => page.locator('#filters select[name=status] option').first().evaluate((el) => { el.value = '9'; }), /Unknown status/],
    ]) {
      await page.goto(`${BASE}/ui/accounts/${user.username}/messages`);
      await set();
      await follow(page, page.locator('#filters').getByRole('button', { name: 'Filter' }));
      const err = page.locator('.error[role=alert]');
      assert.equal(await err.count(), 1, `log filter ${what}: no error`);
      assert.match(await err.innerText(), expect);
      errors.push([`log filter: ${what}`, 200, await err.innerText()]);
    }
    console.log('Add endpoint errors:', JSON.stringify(errors, null, 1));
    assert.equal(await endpointCount(page, user.username), 0);
    assert.deepEqual(problems, []);
  });
});

test('endpoint page forms: bad inputs show an error and change nothing', T, async () => {
  const user = await newUser('erin');
  const rcv = await newReceiver('bad-edit');
  await withBrowser(async ({ page, problems }) => {
    await signIn(page, user);
    await enableWebhooks(page, user.username);
    const { id } = await addEndpoint(page, {
      url: rcv.url, events: ['sample.created', 'sample.deleted'], description: 'keep me',
    });
    assert.ok(id);
    const endpointUrl = page.url();
    const state = async () => {
      await page.goto(endpointUrl);
      return {
        h1: await page.locator('h1').innerText(),
        url: await page.locator('#edit-endpoint #url').inputValue(),
        description: await page.locator('#edit-endpoint #description').inputValue(),
        version: await page.locator('#edit-endpoint #version').inputValue(),
        events: await page.locator('#edit-endpoint input[name=event_types]:checked').evaluateAll((xs) => xs.map((x) => x.value)),
        headers: await page.locator('#headers').inputValue(),
        status: await page.locator('#status').innerText(),
      };
    };
    const before = await state();
    assert.deepEqual(before, {
      h1: rcv.url, url: rcv.url, description: 'keep me', version: '1',
      events: ['sample.created', 'sample.deleted'], headers: '', status: 'enabled',
    });

    // The error on the endpoint page: #form-error for the edit form, else the page's message.
    const errorText = async () => {
      for (const sel of ['#form-error', '.error[role=alert]', '#notice']) {
        const l = page.locator(sel);
        if (await l.count()) return [sel, (await l.first().innerText()).trim()];
      }
      return [null, null];
    };
    const results = [];

    // Edit: a forbidden URL, not a URL, no events, a bad version.
    const edits = [
      ['edit: forbidden URL', async (f) => { await f.locator('#url').fill('http://10.0.0.1/'); }],
      ['edit: not a URL', async (f) => { await f.locator('#url').fill('nonsense'); }],
      ['edit: no event', async () => { await chooseEvents(page, []); }],
      ['edit: bad version', async (f) => { await f.locator('#version').evaluate((el) => { el.type = 'text'; el.value = '1.5'; }); }],
    ];
    for (const [what, change] of edits) {
      await page.goto(endpointUrl);
      await noValidate(page);
      const f = page.locator('#edit-endpoint');
      await f.locator('#description').fill('changed');
      await change(f);
      const { post } = await submit(page, f.getByRole('button', { name: 'Save' }));
      const [sel, text] = await errorText();
      results.push([what, post.status(), sel, text]);
      assert.equal(post.status(), 400, `${what}: status ${post.status()}`);
      assert.equal(sel, '#form-error', `${what}: the error is shown in the form`);
      assert.ok(text, what);
      if (what === 'edit: forbidden URL') await shot(page, 'edit-endpoint-error');
      assert.deepEqual(await state(), before, `${what}: nothing changed`);
    }

    // Custom headers: a forbidden header, a line that is not a header.
    for (const [what, text] of [
      ['headers: content-type', 'content-type: x'],
      ['headers: not Name: value', 'just words'],
      ['headers: host', 'Host: example.com'],
    ]) {
      await page.goto(endpointUrl);
      await page.fill('#headers', text);
      const { post } = await submit(page, page.getByRole('button', { name: 'Save headers' }));
      const [sel, msg] = await errorText();
      results.push([what, post.status(), sel, msg]);
      assert.equal(post.status(), 400, `${what}: status ${post.status()}`);
      assert.ok(msg, `${what}: no error shown`);
      if (what === 'headers: content-type') await shot(page, 'headers-error');
      assert.deepEqual(await state(), before, `${what}: nothing changed`);
    }

    // Recover with no time.
    await page.goto(endpointUrl);
    await noValidate(page);
    let r = await submit(page, page.getByRole('button', { name: 'Recover failed since…' }));
    let [sel, msg] = await errorText();
    results.push(['recover: empty time', r.post.status(), sel, msg]);
    assert.equal(r.post.status(), 400);
    assert.match(msg ?? '', /time to recover from/);
    assert.equal(await page.locator('#task').count(), 0, 'no recovery was started');
    await shot(page, 'recover-error');
    // …and with a time it starts, and shows its progress.
    await page.fill('#since', '2026-01-31T09:00');
    r = await submit(page, page.getByRole('button', { name: 'Recover failed since…' }));
    assert.equal(r.post.status(), 303);
    assert.match(page.url(), /\?task=qtask_/);
    await reloadUntil(page, async () => /Recover finished: 0 message/.test(await page.locator('#task').innerText()),
      'the recovery finishing');

    // Delete without ticking the box.
    await page.goto(endpointUrl);
    r = await submit(page, page.getByRole('button', { name: 'Delete endpoint' }), { confirm: true });
    [sel, msg] = await errorText();
    results.push(['delete: not confirmed', r.post.status(), sel, msg]);
    assert.equal(r.post.status(), 400);
    assert.match(msg ?? '', /Tick the box/);
    assert.deepEqual(await state(), before, 'delete without the box: still there');

    // Delete, dismissing the browser's confirmation: nothing is sent.
    await page.goto(endpointUrl);
    await page.locator('#delete-form input[name=confirm]').check();
    page.once('dialog', (d) => d.dismiss());
    await page.getByRole('button', { name: 'Delete endpoint' }).click();
    await sleep(300);
    assert.equal(page.url(), endpointUrl);
    assert.equal(await endpointCount(page, user.username), 1);

    // A good edit, then headers, then a real delete, all work.
    await page.goto(endpointUrl);
    await page.fill('#edit-endpoint #description', 'edited');
    r = await submit(page, page.locator('#edit-endpoint').getByRole('button', { name: 'Save' }));
    assert.equal(r.post.status(), 303);
    assert.equal(await page.locator('#edit-endpoint #description').inputValue(), 'edited');
    await page.fill('#headers', 'X-Team: labeling');
    r = await submit(page, page.getByRole('button', { name: 'Save headers' }));
    assert.equal(r.post.status(), 303);
    // Header names are case-insensitive; the page may show them lower-cased.
    assert.equal((await page.locator('#headers').inputValue()).toLowerCase(), 'x-team: labeling');
    await submit(page, page.locator('#toggle'));
    assert.match(await page.locator('#status').innerText(), /disabled/);
    await submit(page, page.locator('#toggle'));
    assert.equal(await page.locator('#status').innerText(), 'enabled');

    console.log('Endpoint page errors:', JSON.stringify(results, null, 1));
    await page.locator('#delete-form input[name=confirm]').check();
    r = await submit(page, page.getByRole('button', { name: 'Delete endpoint' }), { confirm: true });
    assert.equal(r.post.status(), 303);
    assert.equal(new URL(page.url()).pathname, managePath(user.username));
    assert.equal(await endpointCount(page, user.username), 0);
    assert.deepEqual(problems, []);
  });
});

test('errors on the endpoint page are shown as errors, not as notices', {
  ...T,
}, async () => {
  const user = await newUser('fay');
  const rcv = await newReceiver('notice');
  await withBrowser(async ({ page }) => {
    await signIn(page, user);
    await enableWebhooks(page, user.username);
    await addEndpoint(page, { url: rcv.url, events: ['sample.created'] });
    await page.fill('#headers', 'content-type: x');
    await submit(page, page.getByRole('button', { name: 'Save headers' }));
    const err = page.locator('.error[role=alert]');
    assert.equal(await err.count(), 1, 'the headers error is a role=alert .error');
    assert.equal(await page.locator('.notice').count(), 0, 'not a success notice');
    assert.equal(await page.locator('#headers').inputValue(), 'content-type: x', 'the headers typed are kept');
  });
});

test('a form without the CSRF token is refused with 403; another user\'s endpoint answers 404', T, async () => {
  const user = await newUser('gina');
  const intruder = await newUser('mallory');
  const rcv = await newReceiver('csrf');
  const owner = await openBrowser();
  const other = await openBrowser();
  try {
    const page = owner.page;
    await signIn(page, user);
    await enableWebhooks(page, user.username);
    const { id } = await addEndpoint(page, { url: rcv.url, events: ['sample.created'] });
    assert.ok(id);
    const endpointPath = `/ui/accounts/${user.username}/endpoints/${id}`;
    const csrf = await page.locator('#edit-endpoint input[name=csrf]').inputValue();
    assert.match(csrf, /^[0-9a-f]{16,}$/);
    const form = (fields) => new URLSearchParams(fields).toString();
    const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };

    // 1. From the page itself (same origin, the session cookie goes along), no csrf field.
    await page.goto(`${BASE}${managePath(user.username)}`);
    const fromPage = await page.evaluate(async ([path, body]) => {
      const res = await fetch(path, {
        method: 'POST', body, credentials: 'same-origin',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      return { status: res.status, text: await res.text() };
    }, [`/ui/accounts/${user.username}/endpoints`, form({ url: rcv.url, event_types: 'sample.created', version: '1' })]);
    assert.equal(fromPage.status, 403, fromPage.text.slice(0, 300));
    assert.match(fromPage.text, /did not come from this site/);

    // 2. With the session cookie (page.request shares it) and each action, without or with a
    //    wrong token: 403 and nothing changes.
    const attempts = [
      [`/ui/accounts/${user.username}/endpoints`, { url: rcv.url, event_types: 'sample.created' }],
      [endpointPath, { action: 'delete', confirm: 'yes' }],
      [endpointPath, { action: 'delete', confirm: 'yes', csrf: 'f'.repeat(32) }],
      [endpointPath, { action: 'reveal' }],
      [endpointPath, { action: 'rotate' }],
      [endpointPath, { action: 'toggle' }],
      [endpointPath, { action: 'edit', url: 'http://127.0.0.1:9/x', event_types: 'sample.created', version: '1' }],
      [`/ui/accounts/${user.username}/webhooks`, { action: 'disable' }],
      ['/ui/logout', {}],
    ];
    for (const [route, fields] of attempts) {
      const res = await page.request.post(`${BASE}${route}`, {
        headers: formHeaders, data: form(fields), maxRedirects: 0,
      });
      const body = await res.text();
      assert.equal(res.status(), 403, `${route} ${JSON.stringify(fields)}: ${res.status()}`);
      assert.ok(!body.includes('whsec_'), 'no secret in a refused answer');
    }
    // A valid token from a foreign origin is refused too.
    const foreign = await page.request.post(`${BASE}${endpointPath}`, {
      headers: { ...formHeaders, origin: 'http://evil.example' },
      data: form({ action: 'reveal', csrf }), maxRedirects: 0,
    });
    assert.equal(foreign.status(), 403);
    // …while the same request from our origin is served (the token is right).
    const same = await page.request.post(`${BASE}${endpointPath}`, {
      headers: formHeaders, data: form({ action: 'reveal', csrf }), maxRedirects: 0,
    });
    assert.equal(same.status(), 200);
    assert.match(await same.text(), /whsec_/);

    await page.goto(`${BASE}${endpointPath}`);
    assert.equal(await page.locator('#status').innerText(), 'enabled');
    assert.equal(await page.locator('h1').innerText(), rcv.url);
    assert.equal(await endpointCount(page, user.username), 1);
    await page.goto(`${BASE}/ui/`);
    await accountRow(page, user.username).getByText('enabled', { exact: true }).waitFor();

    // Another user, in a browser of their own, gets 404 for every page of the first user's.
    const p2 = other.page;
    await signIn(p2, intruder);
    for (const route of [
      endpointPath,
      managePath(user.username),
      `/ui/accounts/${user.username}/messages`,
    ]) {
      const res = await p2.goto(`${BASE}${route}`);
      assert.equal(res.status(), 404, `${route} as another user: ${res.status()}`);
      assert.ok(!(await p2.content()).includes(rcv.url), 'nothing of the endpoint shows');
    }
    await p2.goto(`${BASE}${endpointPath}`);
    await shot(p2, 'other-users-endpoint-404');
    // Their own valid token does not open the first user's endpoint either.
    await p2.goto(`${BASE}/ui/`);
    const theirCsrf = await p2.locator('input[name=csrf]').first().inputValue();
    for (const fields of [{ action: 'reveal' }, { action: 'delete', confirm: 'yes' }]) {
      const res = await p2.request.post(`${BASE}${endpointPath}`, {
        headers: formHeaders, data: form({ ...fields, csrf: theirCsrf }), maxRedirects: 0,
      });
      assert.equal(res.status(), 404, `${fields.action} as another user`);
      assert.ok(!(await res.text()).includes('whsec_'));
    }
    assert.equal(await endpointCount(page, user.username), 1, 'still there');

    // A signed-out browser is sent to sign in.
    await submit(p2, p2.getByRole('button', { name: 'Sign out' }));
    assert.match(p2.url(), /\/ui\/login$/);
    const res = await p2.goto(`${BASE}${endpointPath}`);
    assert.match(p2.url(), /\/ui\/login$/);
    assert.equal(res.status(), 200);

    await page.goto(`${BASE}${endpointPath}`);
    await shot(page, 'csrf-refused');
    assert.deepEqual(owner.problems, []);
  } finally {
    await owner.close();
    await other.close();
  }
});

test('README screenshot: Manage webhooks with one endpoint', T, async () => {
  const user = await newUser('lab', 'flower-lab');
  const rcv = await newReceiver('readme');
  await withBrowser(async ({ page, problems }) => {
    await signIn(page, user);
    await enableWebhooks(page, user.username);
    await addEndpoint(page, {
      url: rcv.url, description: 'Labeling pipeline', events: ['sample.created', 'label.updated', 'release.created'],
    });
    await createDataset(user, 'flowers');
    await createSample(user, 'flowers', 'rose.png');
    await rcv.waitFor((d) => d.length >= 1, 'a delivery');
    await page.goto(`${BASE}${managePath(user.username)}`);
    await reloadUntil(page, async () => (await rows(page, '#endpoints'))[0]?.[5] === '100% of last 1', 'the success rate');
    fs.mkdirSync(DOCS, { recursive: true });
    await page.screenshot({ path: path.join(DOCS, 'screenshot-manage-webhooks.png') });
    await shot(page, 'readme-manage-webhooks');
    // The same page and the log on a phone.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await shot(page, 'manage-webhooks-mobile');
    await page.goto(`${BASE}/ui/accounts/${user.username}/messages`);
    await shot(page, 'message-log-mobile');
    assert.deepEqual(problems, []);
  }, { viewport: { width: 1280, height: 900 } });
});
