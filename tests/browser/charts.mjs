// Browser test of the charts: an endpoint's attempts per hour (success / failure) and its
// latency p50/p95, the account's delivery volume, all drawn by the server as inline SVG
// (no script), and a pending message's next retry time. Run through its launcher:
// `.venv/bin/python -m pytest tests/e2e/test_browser_charts.py`, which starts a server whose
// retry schedule (1s, then 60s) keeps a failed delivery pending long enough to be seen.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  BASE, addEndpoint, createDataset, createSample, enableWebhooks, managePath, newReceiver,
  newUser, reloadUntil, rows, shot, signIn, unique, withBrowser,
} from './helpers.mjs';

/** What a chart shows: its accessible name and the counts of its marks. */
const chartOf = (page, id) => page.locator(`svg#${id}`).evaluate((svg) => ({
  role: svg.getAttribute('role'),
  title: svg.querySelector('title')?.textContent,
  desc: svg.querySelector('desc')?.textContent,
  labelledby: svg.getAttribute('aria-labelledby'),
  ok: svg.querySelectorAll('rect.bar-ok').length,
  fail: svg.querySelectorAll('rect.bar-fail').length,
  dots: svg.querySelectorAll('circle.dot-p95').length,
  hours: [...svg.querySelectorAll('g.hour > title')].map((t) => t.textContent),
  axis: [...svg.querySelectorAll('text.axis')].map((t) => t.textContent),
  styled: svg.querySelectorAll('[style]').length,
  height: svg.getBoundingClientRect().height,
  barFill: getComputedStyle(svg.querySelector('rect.bar-ok') ?? svg).fill,
}));

test('charts: attempts and latency per endpoint, volume per account, next retry time', { timeout: 120_000 }, async () => {
  const user = await newUser('charts');
  const rcv = await newReceiver('charts');
  await withBrowser(async ({ page, problems }) => {
    await signIn(page, user);
    await enableWebhooks(page, user.username);
    const { id } = await addEndpoint(page, { url: rcv.url, events: ['sample.created'] });
    assert.ok(id);

    // Two deliveries succeed, then one fails (and stays pending: the next retry is 60 s out).
    const ds = unique('charts');
    await createDataset(user, ds);
    await createSample(user, ds, 'a.png');
    await createSample(user, ds, 'b.png');
    await rcv.waitFor((d) => d.length === 2, 'two deliveries');
    await rcv.reply(500, 'boom');
    await createSample(user, ds, 'c.png');
    await rcv.waitFor((d) => d.length >= 4, 'the failed delivery and its first retry', { timeout: 30_000 });

    const endpointPath = `/ui/accounts/${user.username}/endpoints/${id}`;
    await page.goto(`${BASE}${endpointPath}`);
    await reloadUntil(page, async () => (await chartOf(page, 'attempts-chart')).fail > 0, 'a failure bar');
    const attempts = await chartOf(page, 'attempts-chart');
    assert.equal(attempts.role, 'img');
    assert.equal(attempts.labelledby, 'attempts-chart-title attempts-chart-desc');
    assert.equal(attempts.title, `Attempts per hour to ${rcv.url}`);
    assert.match(attempts.desc, /2 succeeded, 2 failed/);
    assert.ok(attempts.ok >= 1 && attempts.fail >= 1, JSON.stringify(attempts));
    // The hours' titles add up to the attempts, and the axes are labelled.
    const sum = (re) => attempts.hours.reduce((n, h) => n + Number(h.match(re)?.[1] ?? 0), 0);
    assert.equal(sum(/(\d+) succeeded/), 2, JSON.stringify(attempts.hours));
    assert.equal(sum(/(\d+) failed/), 2, JSON.stringify(attempts.hours));
    assert.ok(attempts.hours.every((h) => /UTC: /.test(h)), JSON.stringify(attempts.hours));
    assert.ok(attempts.axis.includes('0') && attempts.axis.some((a) => /^[A-Z][a-z]{2} \d+$/.test(a)), JSON.stringify(attempts.axis));
    assert.equal(attempts.styled, 0, 'no inline styles (CSP)');
    assert.ok(attempts.height > 50, 'the chart is drawn at a readable size');
    assert.notEqual(attempts.barFill, 'rgb(0, 0, 0)', 'bars take their colour from the stylesheet');

    const latency = await chartOf(page, 'latency-chart');
    assert.equal(latency.role, 'img');
    assert.match(latency.desc, /p95/);
    assert.ok(latency.dots >= 1, JSON.stringify(latency));
    assert.ok(latency.hours.every((h) => /p50 \d+ ms, p95 \d+ ms/.test(h)), JSON.stringify(latency.hours));
    assert.ok(latency.axis.some((a) => / ms$/.test(a)), JSON.stringify(latency.axis));
    await shot(page, 'charts-endpoint');

    // The account's delivery volume.
    await page.goto(`${BASE}${managePath(user.username)}`);
    const volume = await chartOf(page, 'volume-chart');
    assert.equal(volume.title, `Deliveries per hour for ${user.username}`);
    assert.match(volume.desc, /2 succeeded, 2 failed/);
    await shot(page, 'charts-volume');

    // The failed message: pending at the endpoint, with the time of its next attempt.
    await page.goto(`${BASE}${endpointPath}`);
    const failed = (await rows(page, '#deliveries')).find((r) => r[3] === 'failed');
    assert.ok(failed, 'a failed attempt is listed');
    await page.goto(`${BASE}/ui/accounts/${user.username}/messages/${failed[1]}`);
    const target = (await rows(page, '#targets'))[0];
    assert.match(target[1], /^pending, next attempt \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, JSON.stringify(target));
    const next = Date.parse(target[1].replace(/^pending, next attempt /, '').replace(' UTC', 'Z').replace(' ', 'T'));
    assert.ok(next > Date.now() + 20_000, `the 60 s retry is still ahead: ${target[1]}`);
    await shot(page, 'charts-next-retry');
    // The message log says it too.
    await page.goto(`${BASE}/ui/accounts/${user.username}/messages`);
    const logRow = await page.locator(`#messages tbody tr:has(a[href$="/${failed[1]}"])`)
      .evaluate((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.trim()));
    assert.ok(logRow.some((c) => /1 pending, next attempt \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/.test(c)), JSON.stringify(logRow));
    assert.deepEqual(problems, []);
  });
});
