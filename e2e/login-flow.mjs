// login-flow.mjs: drives headless Chromium through edgegate's browser login.
// Usage: node login-flow.mjs <gateway-base-url> <provider: devidp|oidc-provider> <user> [password]
// Prints one JSON object with what it saw; the Go test asserts on it.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, provider, user, password = ''] = process.argv.slice(2);
const out = { steps: [] };
const dir = mkdtempSync(join(tmpdir(), 'edgegate-chromium-'));
const context = await chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const seenURLs = [];
try {
  const page = context.pages()[0] || await context.newPage();
  page.on('request', (req) => { if (req.isNavigationRequest()) seenURLs.push(req.url()); });
  page.setDefaultTimeout(15000);

  // 1. A protected page sends the browser to the provider.
  await page.goto(base + '/app/hello?x=1');
  out.loginPageURL = page.url();
  if (provider === 'devidp') {
    out.devOnlyBanner = await page.locator('#dev-only').innerText();
    await page.check('#user-' + user);
    if (password) await page.fill('#password', password);
    await page.click('#sign-in');
  } else {
    // oidc-provider devInteractions: a login form, then a consent form.
    for (let i = 0; i < 4 && !page.url().startsWith(base); i++) {
      await page.waitForLoadState('load');
      if (page.url().startsWith(base)) break;
      if (await page.locator('input[name=login]').count() > 0) {
        await page.fill('input[name=login]', user);
        await page.fill('input[name=password]', password || 'any');
      }
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    }
  }
  await page.waitForURL((u) => u.toString().startsWith(base + '/app/'));
  out.backURL = page.url();
  out.appBody = await page.content();
  const cookies = await context.cookies(base);
  out.cookies = cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite, path: c.path, size: c.value.length, domain: c.domain }));

  // 2. whoami shows the identity and never a token.
  await page.goto(base + '/.edgegate/whoami');
  out.subject = await page.locator('#subject').innerText();
  out.refreshesBefore = Number(await page.locator('#refreshes').innerText());
  out.whoamiHTML = await page.content();

  // 3. After the token is due, the session refreshes itself (after a
  // provider key rotation when ROTATE_URL is given).
  if (process.env.ROTATE_URL) {
    out.rotated = await (await fetch(process.env.ROTATE_URL, { method: 'POST' })).json();
  }
  await page.waitForTimeout(Number(process.env.REFRESH_WAIT_MS || 2500));
  await page.goto(base + '/.edgegate/whoami');
  out.refreshesAfter = Number(await page.locator('#refreshes').innerText());

  // 4. An API call from the page (no text/html) with the cookie works.
  await page.goto(base + '/app/hello');
  out.apiStatus = await page.evaluate(async () => (await fetch('/app/api', { headers: { Accept: 'application/json' } })).status);

  // 5. Logout ends the session at the gateway and at the provider.
  await page.goto(base + '/.edgegate/logout');
  await page.waitForLoadState('load');
  if (provider === 'oidc-provider' && page.url().includes('/session/end')) {
    // oidc-provider asks to confirm the RP-initiated logout.
    out.logoutConfirmURL = page.url();
    await Promise.all([page.waitForNavigation(), page.click('button[autofocus], button[type=submit], input[type=submit]')]);
    await page.waitForLoadState('load');
  }
  out.afterLogoutURL = page.url();
  out.cookiesAfterLogout = (await context.cookies(base)).map((c) => c.name);
  const resp = await page.request.get(base + '/app/again', { headers: { Accept: 'application/json' }, maxRedirects: 0 });
  out.apiAfterLogout = resp.status();
  await page.goto(base + '/app/again');
  out.afterLogoutProtectedURL = page.url();
} catch (e) {
  out.error = String(e && e.stack || e);
} finally {
  out.navigations = seenURLs;
  await context.close();
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
