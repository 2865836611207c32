// Shared helpers of the browser tests: the browser, the launcher's control server, the API,
// and the page steps every test repeats (sign in, enable webhooks, add an endpoint, submit).
//
// Environment (set by tests/e2e/test_browser.py):
//   DATAHOOKS_URL          the running server, "http://127.0.0.1:PORT"
//   DATAHOOKS_CONTROL_URL  the launcher's control server (users, receivers; see test_browser.py)
//   DATAHOOKS_ARTIFACTS    where screenshots go (screenshots/<test>.png)
//   DATAHOOKS_DOCS         where the README screenshot goes
//   CHROMIUM_PATH          the browser (default /usr/bin/chromium)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');

function need(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run the browser tests through ` +
      '`.venv/bin/python -m pytest tests/e2e/test_browser.py`');
  }
  return v.replace(/\/+$/, '');
}

export const BASE = need('DATAHOOKS_URL');
export const CONTROL = need('DATAHOOKS_CONTROL_URL');
export const ARTIFACTS = process.env.DATAHOOKS_ARTIFACTS || path.join(REPO, 'artifacts');
export const DOCS = process.env.DATAHOOKS_DOCS || path.join(REPO, 'docs');
export const SCREENSHOTS = path.join(ARTIFACTS, 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const ALL_EVENT_TYPES = [
  'dataset.created', 'dataset.updated', 'dataset.deleted',
  'sample.created', 'sample.updated', 'sample.deleted',
  'label.updated', 'label.deleted',
  'issue.created', 'issue.updated',
  'release.created',
];

let counter = 0;
/** A name valid for accounts, datasets and samples, unique in this run. */
export function unique(prefix) {
  counter += 1;
  return `${prefix}-${counter}-${Math.random().toString(16).slice(2, 8)}`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the browser ------------------------------------------------------------------------

/**
 * A fresh Chromium (its own new user-data dir) with one page; closed and cleaned up by
 * `close()`. Each signed-in user gets a browser of their own.
 */
export async function openBrowser({ viewport = { width: 1280, height: 900 } } = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'datahooks-chromium-'));
  const context = await chromium.launchPersistentContext(dataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (4\d\d)/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return {
    context,
    page,
    problems,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn(browser)` with a fresh browser, always closed afterwards. */
export async function withBrowser(fn, opts) {
  const b = await openBrowser(opts);
  try {
    return await fn(b);
  } finally {
    await b.close();
  }
}

/** A full-page screenshot in artifacts/screenshots/<name>.png. */
export async function shot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// ---- the launcher's control server -------------------------------------------------------

export async function control(method, route, body) {
  const res = await fetch(`${CONTROL}${route}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json();
  assert.equal(res.status, 200, `control ${method} ${route}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

/** A new user: {username, api_key}. */
export const newUser = (prefix = 'web', name = undefined) => control('POST', '/users', { prefix, name });

/** A new loopback receiver: {id, url, reply(status, body), deliveries(secret?), waitFor(pred)}. */
export async function newReceiver(name = 'browser') {
  const r = await control('POST', '/receivers', { name });
  return {
    ...r,
    reply: (status, body = status < 300 ? 'ok' : 'boom') =>
      control('POST', `/receivers/${r.id}/reply`, { status, body }),
    deliveries: (secret) =>
      control('GET', `/receivers/${r.id}/deliveries${secret ? `?secret=${encodeURIComponent(secret)}` : ''}`),
    /** Polls until `pred(deliveries)` holds (returns them) or fails after `timeout` ms. */
    async waitFor(pred, what, { timeout = 20_000, secret } = {}) {
      const deadline = Date.now() + timeout;
      let ds = [];
      while (Date.now() < deadline) {
        ds = await control('GET', `/receivers/${r.id}/deliveries${secret ? `?secret=${encodeURIComponent(secret)}` : ''}`);
        if (pred(ds)) return ds;
        await sleep(200);
      }
      assert.fail(`receiver: ${what} did not happen within ${timeout} ms; got ${JSON.stringify(ds.map((d) => [d.event_type, d.status, d.body.slice(0, 120)]))}`);
    },
  };
}

// ---- the API (what the labeling tools do) -----------------------------------------------

export async function api(key, method, route, body) {
  const res = await fetch(`${BASE}${route}`, {
    method,
    headers: { Authorization: `APIKey ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `API ${method} ${route}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export const createDataset = (user, name) => api(user.api_key, 'POST', '/user/datasets/', { name });
export const createSample = (user, dataset, name = 'rose.png') =>
  api(user.api_key, 'POST', `/datasets/${user.username}/${dataset}/samples/`, { name });

// ---- page steps -------------------------------------------------------------------------

/**
 * Clicks `button` (a submit button) and waits for the page the form leads to. Returns
 * {post, page}: the form POST's own response (303 on success, 4xx with the form shown
 * again on error) and the final document's response.
 */
export async function submit(page, button, { confirm } = {}) {
  if (confirm !== undefined) {
    page.once('dialog', (d) => (confirm ? d.accept() : d.dismiss()));
  }
  const post = page.waitForResponse(
    (r) => r.request().method() === 'POST' && r.request().resourceType() === 'document',
  );
  const nav = page.waitForNavigation({ waitUntil: 'load' });
  await button.click();
  const [p, n] = await Promise.all([post, nav]);
  return { post: p, page: n };
}

/** Turns off the browser's own form checks, so what is tested is the server's. */
export async function noValidate(page) {
  await page.evaluate(() => {
    for (const f of document.forms) f.noValidate = true;
  });
}

export async function signIn(page, user) {
  await page.goto(`${BASE}/ui/`);
  assert.match(page.url(), /\/ui\/login$/, 'a browser without a session is sent to sign in');
  await page.fill('#api_key', user.api_key);
  const { post } = await submit(page, page.getByRole('button', { name: 'Sign in' }));
  assert.equal(post.status(), 303, 'sign-in redirects');
  assert.equal(new URL(page.url()).pathname, '/ui/');
  await page.getByRole('heading', { name: 'Your accounts' }).waitFor();
}

/** The row of `account` on the account page. */
export const accountRow = (page, account) =>
  page.locator('tbody tr').filter({ has: page.getByRole('cell', { name: account, exact: true }) });

/** On the account page: Enable webhooks for `account`; lands on its Manage webhooks page. */
export async function enableWebhooks(page, account) {
  if (new URL(page.url()).pathname !== '/ui/') await page.goto(`${BASE}/ui/`);
  const row = accountRow(page, account);
  await row.getByRole('button', { name: 'Enable' }).waitFor();
  const { post } = await submit(page, row.getByRole('button', { name: 'Enable' }));
  assert.equal(post.status(), 303);
  assert.equal(new URL(page.url()).pathname, `/ui/accounts/${account}/webhooks`);
  await page.getByRole('heading', { name: `Manage webhooks for ${account}` }).waitFor();
}

export const managePath = (account) => `/ui/accounts/${account}/webhooks`;

/** Sets the event checkboxes of the form on the page: `null` = all, else exactly these. */
export async function chooseEvents(page, events) {
  const form = page.locator('form:has(input[name=event_types])');
  if (events === null) {
    await form.getByRole('button', { name: 'Select all' }).click();
  } else {
    await form.getByRole('button', { name: 'Select none' }).click();
    for (const e of events) await form.locator(`input[name=event_types][value="${e}"]`).check();
  }
  const checked = await form.locator('input[name=event_types]:checked').evaluateAll((xs) => xs.map((x) => x.value));
  assert.deepEqual(checked.sort(), (events ?? ALL_EVENT_TYPES).slice().sort());
}

/**
 * On the Manage webhooks page: fills and submits Add endpoint. Returns {post, id}: `id` is
 * the new endpoint's id when the server took it (it then shows the endpoint's page).
 */
export async function addEndpoint(page, { url, events = null, description = '', version, datasets } = {}) {
  const form = page.locator('#add-endpoint');
  await form.locator('#url').fill(url);
  if (description) await form.locator('#description').fill(description);
  if (version !== undefined) await form.locator('#version').fill(String(version));
  if (datasets !== undefined) await form.locator('#datasets').fill(datasets);
  await chooseEvents(page, events);
  const { post } = await submit(page, form.getByRole('button', { name: 'Add endpoint' }));
  const m = new URL(page.url()).pathname.match(/\/endpoints\/([^/]+)$/);
  return { post, id: post.status() === 303 && m ? m[1] : null };
}

/**
 * Reloads the page until `check()` resolves truthy (the page's live refresh is not relied
 * on); fails after `timeout` ms with `what`.
 */
export async function reloadUntil(page, check, what, { timeout = 20_000, every = 700 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`${what}: not seen within ${timeout} ms on ${page.url()}`);
    await sleep(every);
    await page.reload({ waitUntil: 'load' });
  }
}

/** The text of every row of a table's body, as arrays of cell texts. */
export const rows = (page, tableSelector) =>
  page.locator(`${tableSelector} tbody tr`).evaluateAll((trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.trim())));

/** The number of endpoint rows in the Manage webhooks table (0 for "No endpoints yet"). */
export async function endpointCount(page, account) {
  await page.goto(`${BASE}${managePath(account)}`);
  return page.locator('#endpoints tbody tr a').count();
}

/** Clicks a link (or anything that navigates) and waits for the new page. */
export async function follow(page, locator) {
  const [res] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
  return res;
}
