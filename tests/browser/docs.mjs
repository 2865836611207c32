// Browser test of `/docs`: Swagger UI, served by the binary from embedded assets, renders the
// OpenAPI document under the server's own Content-Security-Policy (`default-src 'self'`),
// loads nothing from another origin (its icons included), and shows the typed schemas. Run through
// its launcher: `.venv/bin/python -m pytest tests/e2e/test_browser_docs.py`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BASE, shot, withBrowser } from './helpers.mjs';

test('docs: Swagger UI renders the typed API under the CSP, from this origin only', { timeout: 90_000 }, async () => {
  await withBrowser(async ({ page, problems }) => {
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    const icons = [];
    page.on('response', (r) => {
      if (r.url().includes('/ui/static/swagger-ui/icon/')) icons.push({ url: r.url(), status: r.status() });
    });
    // A script or style the policy refused shows up as this event in the page.
    await page.addInitScript(() => {
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    const resp = await page.goto(`${BASE}/docs`);
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['content-security-policy'], /default-src 'self'/);

    // The viewer ran (so its script loaded under the policy) and read /openapi.json.
    await page.locator('.swagger-ui .info .title').waitFor();
    assert.match(await page.locator('.swagger-ui .info .title').innerText(), /datahooks/);
    const ops = page.locator('.opblock');
    await ops.first().waitFor();
    assert.ok(await ops.count() > 80, `only ${await ops.count()} operations shown`);

    // An operation shows its typed request body and answer.
    const create = page.locator('#operations-endpoints-endpoints_create');
    await create.locator('.opblock-summary').click();
    await create.locator('.opblock-body').waitFor();
    const body = await create.locator('.opblock-body').innerText();
    assert.match(body, /EndpointIn|filterTypes/, body.slice(0, 2000));
    assert.match(body, /201/);

    // The schemas section lists the named bodies.
    const models = page.locator('.models');
    await models.scrollIntoViewIfNeeded();
    assert.match(await models.innerText(), /EndpointOut/);
    assert.match(await models.innerText(), /Dataset/);

    // The API key can be given (the Authorize dialog offers both schemes).
    await page.locator('.btn.authorize').click();
    const dialog = page.locator('.auth-container');
    await dialog.first().waitFor();
    const auth = await page.locator('.modal-ux').innerText();
    assert.match(auth, /apiKey/);
    assert.match(auth, /bearer/);
    await page.locator('.modal-ux .close-modal').click();

    await shot(page, 'docs');
    const foreign = requests.filter((u) => !u.startsWith(BASE) && !u.startsWith('data:'));
    assert.deepEqual(foreign, [], 'requests to another origin');
    // Nothing is refused: the stylesheet's data: icons are served as files of their own.
    const violations = await page.evaluate(() => window.__violations);
    assert.deepEqual(violations, [], 'refused by the policy');
    assert.deepEqual(problems, []);
    assert.ok(icons.length > 0, 'no icon was loaded');
    assert.deepEqual(icons.filter((i) => i.status !== 200), [], 'an icon failed');
  });
});
