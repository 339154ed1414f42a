// The console's settings pages (sending, API keys, webhook endpoints), as
// the demo organizer signed in by its mailed link: accessible (axe-core),
// every control reached with Tab and showing its focus, none wider than a
// phone's screen, every form with its CSRF token with JavaScript on and
// off; a key made with the keyboard alone, its secret on that answer only.
// Screenshots of each (docs/screenshots/console-{name}-{desktop|phone}.png)
// with CALINVITE_SCREENSHOTS=1.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launch, newContext, newPage, VIEWPORTS } from './lib/browser.mjs';
import { assertAccessible, assertKeyboardReach, focusStart, postForms, tabTo } from './lib/checks.mjs';
import { checkConsolePage, consolePagesOf } from './lib/console.mjs';
import { postForm, Visitor } from './lib/http.mjs';
import { findLink, readMessage } from './lib/mail.mjs';
import { consoleLink, prepare } from './lib/pages.mjs';
import { generousLimits, startServer } from './lib/server.mjs';

let server;
let browser;
let organizer;
/** Console pages checked (axe-core, width, screenshot). */
const checked = new Set();
const FILE = 'settings.test.mjs';

before(async () => {
  server = await startServer({
    config: [generousLimits(), '[webhooks]', 'allow_private_targets = true'].join('\n'),
  });
  browser = await launch();
  ({ organizer } = await prepare(server));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A console sign-in link mailed to `address`. */
async function linkFor(address) {
  const before = (await server.mailTo(address)).length;
  const v = new Visitor('127.0.0.1', server.origin);
  const page = await v.get(server.url('/console/sign-in'));
  const form = postForm(page.text, server.base);
  const r = await v.post(form.action, [...form.fields.filter(([k]) => k !== 'email'), ['email', address]]);
  assert.equal(r.status, 200, 'POST /console/sign-in');
  const mails = await server.waitForMail(address, before + 1);
  return findLink(await readMessage(mails[mails.length - 1].path), /\/console\/sign-in\/[^/?#]+$/);
}

/** A context signed in to the console: the demo organizer, or `address`. */
async function signedIn(options = {}, address = null) {
  const link = address ? await linkFor(address) : await consoleLink(server);
  const context = await newContext(browser, options);
  const page = await newPage(context);
  await page.goto(link, { waitUntil: 'networkidle' });
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'networkidle' }),
    page.click('form[method=post] [type=submit]'),
  ]);
  assert.equal(new URL(page.url()).pathname, '/console', 'signed in');
  return { context, page };
}

test('every settings page is accessible and usable with the keyboard', async () => {
  const key = await server.ok('POST', '/v1/keys', { organizer, label: 'browser test' });
  const hook = await server.ok('POST', '/v1/webhooks', {
    organizer,
    url: 'http://127.0.0.1:9/hook',
    description: 'browser test',
  });
  const w = hook.webhook.id;
  // Each path, with its name in lib/pages.mjs CONSOLE_PAGES (null: checked
  // here, not screenshotted).
  const paths = [
    ['/console/settings', 'settings'],
    [`/console/settings/organizers/${organizer}`, 'settings-organizer'],
    ['/console/settings/keys', 'keys'],
    [`/console/settings/keys/${key.id}`, 'key'],
    ['/console/settings/webhooks', 'webhooks'],
    [`/console/settings/webhooks/${w}`, 'webhook'],
    [`/console/settings/webhooks/${w}/delete`, null],
    [`/console/settings/webhooks/${w}/deliveries`, 'webhook-deliveries'],
  ];
  for (const javaScript of [true, false]) {
    const { context, page } = await signedIn({ javaScript });
    for (const [path, name] of paths) {
      const r = await page.goto(server.url(path), { waitUntil: 'networkidle' });
      assert.equal(r.status(), 200, path);
      if (javaScript) {
        await assertKeyboardReach(page, path);
        // axe-core, nothing wider than a desktop or a phone screen.
        if (name) await checkConsolePage(page, name, FILE, checked);
        else {
          await assertAccessible(page, path);
          await page.setViewportSize(VIEWPORTS.phone);
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 1, `${path}: ${overflow} px wider than a phone's screen`);
          await page.setViewportSize(VIEWPORTS.desktop);
        }
      }
      // With JavaScript off (axe runs as script) the page is read as served:
      // every form is there, each with its CSRF token.
      const forms = await postForms(page);
      assert.ok(forms.length >= 1, `${path}: its forms (sign-out at least)`);
      assert.deepEqual(forms.filter((f) => !f.hasCsrf), [], `${path}: forms without a CSRF token`);
    }
    assert.deepEqual(context.problems, [], 'console errors (a CSP violation shows here)');
    await context.close();
  }
});

test('a key is made with the keyboard alone and shown on that page only', async () => {
  const { context, page } = await signedIn();
  await page.goto(server.url('/console/settings/keys'), { waitUntil: 'networkidle' });
  await focusStart(page);
  await tabTo(page, () => document.activeElement?.getAttribute('name') === 'label');
  await page.keyboard.type('made by keyboard');
  await tabTo(page, () => {
    const e = document.activeElement;
    return e?.type === 'submit' && e.form?.getAttribute('action') === '/console/settings/keys';
  });
  await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle' }), page.keyboard.press('Enter')]);
  const secret = await page.inputValue('#new-key');
  assert.match(secret, /^cik_/);
  await checkConsolePage(page, 'key-new', FILE, checked);
  await page.goto(server.url('/console/settings/keys'), { waitUntil: 'networkidle' });
  const html = await page.content();
  assert.ok(html.includes('made by keyboard'), 'listed');
  assert.ok(!html.includes(secret), 'the secret is not shown again');
  assert.deepEqual(context.problems, [], 'console errors');
  await context.close();
});

test("a domain owner's administrator: its pages are accessible; a default is changed with the keyboard alone", async () => {
  const chair = `chair.${process.pid}@owner.example`;
  await server.ok('POST', '/v1/owner/admins', { address: chair });
  const { context, page } = await signedIn({}, chair);
  for (const path of ['/console/settings', `/console/settings/organizers/${organizer}`, '/console/settings/keys', '/console/settings/webhooks']) {
    const r = await page.goto(server.url(path), { waitUntil: 'networkidle' });
    assert.equal(r.status(), 200, path);
    await assertAccessible(page, `${path} (an administrator)`);
    await assertKeyboardReach(page, `${path} (an administrator)`);
  }
  // Who receives updates: the checked radio, then the next with an arrow key.
  await page.goto(server.url('/console/settings'), { waitUntil: 'networkidle' });
  const before = (await server.ok('GET', '/v1/owner')).settings.audience;
  await focusStart(page);
  await tabTo(page, () => document.activeElement?.getAttribute('name') === 'audience');
  await page.keyboard.press('ArrowDown');
  const chosen = await page.evaluate(() => document.querySelector('input[name=audience]:checked').value);
  assert.notEqual(chosen, before, 'the arrow key chose another');
  await tabTo(page, () => {
    const e = document.activeElement;
    return e?.type === 'submit' && e.form?.getAttribute('action') === '/console/settings';
  });
  await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle' }), page.keyboard.press('Enter')]);
  assert.match(page.url(), /\/console\/settings\?done=saved$/);
  assert.equal((await server.ok('GET', '/v1/owner')).settings.audience, chosen, 'the API reports the choice');
  assert.ok(await page.isVisible('[data-done=saved]'), 'the page says it is saved');
  assert.deepEqual(context.problems, [], 'console errors');
  await context.close();
});

test('every settings page of lib/pages.mjs CONSOLE_PAGES was checked (axe-core, width, screenshot)', () => {
  assert.deepEqual([...checked].sort(), consolePagesOf(FILE).sort());
});
