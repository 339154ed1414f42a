// The console's landing pages in the browser: with JavaScript, the preview
// follows a colour as it is typed (nothing saved) and the copy button
// appears; without it, the form's Preview button shows the unsaved title
// beside the form. Every page of the section passes axe-core, and the
// forms are reachable by keyboard. Screenshots of the list, the editor
// with its preview and the call-to-action link page
// (docs/screenshots/console-{name}-{desktop|phone}.png) with
// CALINVITE_SCREENSHOTS=1.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launch, newContext, newPage } from './lib/browser.mjs';
import { assertAccessible, assertKeyboardReach } from './lib/checks.mjs';
import { checkConsolePage, consolePagesOf } from './lib/console.mjs';
import { consoleLink } from './lib/pages.mjs';
import { startServer } from './lib/server.mjs';

const SLUG = 'console-test';

let server;
let browser;
/** Console pages checked (axe-core, width, screenshot). */
const checked = new Set();
const FILE = 'pages-console.test.mjs';

before(async () => {
  server = await startServer();
  browser = await launch();
  await server.ok('POST', '/v1/pages', { slug: SLUG, organizer: 1, title: 'Console test page' });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page signed in to the console as the demo organizer. */
async function signedIn(context) {
  const page = await newPage(context);
  await page.goto(await consoleLink(server));
  await Promise.all([page.waitForURL(/\/console$/), page.locator('main form button[type=submit]').click()]);
  return page;
}

/** A custom property of the preview frame's page. */
function frameColour(page, name) {
  return page.evaluate((n) => {
    const doc = document.querySelector('iframe[data-preview-frame]')?.contentDocument;
    return doc?.documentElement ? getComputedStyle(doc.documentElement).getPropertyValue(n).trim() : null;
  }, name);
}

test('with JavaScript, the preview follows a colour as it is typed, and nothing is saved', async () => {
  const context = await newContext(browser);
  const page = await signedIn(context);
  await page.goto(server.url(`/console/pages/${SLUG}/edit`));
  await page.waitForFunction(() => {
    const doc = document.querySelector('iframe[data-preview-frame]')?.contentDocument;
    return doc?.querySelector('h1')?.textContent === 'Console test page';
  });
  assert.equal(await frameColour(page, '--bg'), '#ffffff');
  await page.fill('#background', '#102030');
  await page.fill('#text', '#ffffff');
  await page.fill('#accent', '#99ccff');
  await page.waitForFunction(() => {
    const doc = document.querySelector('iframe[data-preview-frame]')?.contentDocument;
    return doc?.documentElement && getComputedStyle(doc.documentElement).getPropertyValue('--bg').trim() === '#102030';
  });
  assert.equal(await frameColour(page, '--fg'), '#ffffff');
  const saved = await server.ok('GET', `/v1/pages/${SLUG}`);
  assert.equal(saved.colors.background, undefined, 'the preview saved nothing');
  assert.equal(saved.revision, 1);

  // The copy button appears, and says what it did.
  const copy = page.locator('button[data-copy="page-url"]');
  assert.equal(await copy.isVisible(), true);
  await copy.click();
  await page.waitForFunction(() => document.getElementById('page-url-status')?.textContent.trim() !== '');
  assert.deepEqual(context.problems.filter((p) => !/favicon/.test(p)), []);
  await context.close();
});

test('without JavaScript, Preview shows the unsaved title beside the form', async () => {
  const context = await newContext(browser, { javaScript: false });
  const page = await signedIn(context);
  await page.goto(server.url(`/console/pages/${SLUG}/edit`));
  assert.equal(await page.locator('button[data-copy]').isVisible(), false);
  await page.fill('#title', 'Typed, not saved');
  await Promise.all([page.waitForURL(/\/preview$/), page.locator('button[data-preview-button]').click()]);
  assert.equal(await page.inputValue('#title'), 'Typed, not saved');
  const frame = page.frameLocator('iframe[data-preview-frame]');
  assert.equal(await frame.locator('h1').textContent(), 'Typed, not saved');
  assert.equal((await server.ok('GET', `/v1/pages/${SLUG}`)).title, 'Console test page');
  await context.close();
});

test('the landing pages section passes axe-core and Tab reaches its forms', async () => {
  const context = await newContext(browser);
  const page = await signedIn(context);
  // Each path, with its name in lib/pages.mjs CONSOLE_PAGES (null: checked
  // with axe-core here, not screenshotted).
  for (const [path, name] of [
    ['/console/pages', 'landing-pages'],
    ['/console/pages/new', null],
    [`/console/pages/${SLUG}/edit`, 'landing-page-edit'],
    [`/console/pages/${SLUG}/delete`, null],
    [`/console/cta?event=${server.event}&platform=mailchimp&address=ana%40example.org`, 'cta-link'],
    ['/console/pages/preview?title=Preview', null],
  ]) {
    const r = await page.goto(server.url(path), { waitUntil: 'networkidle' });
    assert.equal(r.status(), 200, path);
    if (name === 'landing-page-edit') {
      // The preview beside the form has drawn the page.
      await page.waitForFunction(() => {
        const doc = document.querySelector('iframe[data-preview-frame]')?.contentDocument;
        return doc?.querySelector('h1')?.textContent === 'Console test page';
      });
    }
    if (name) await checkConsolePage(page, name, FILE, checked);
    else await assertAccessible(page, path);
    if (!path.startsWith('/console/pages/preview')) await assertKeyboardReach(page, path);
  }
  // A refused colour: the reason next to the field, still accessible.
  await page.goto(server.url(`/console/pages/${SLUG}/edit`));
  await page.fill('#text', '#eeeeee');
  await Promise.all([page.waitForURL(/\/edit$/), page.locator('#page-form button[type=submit]:not([formaction])').click()]);
  const said = await page.locator('[data-error-for="text"]').textContent();
  assert.match(said, /contrast of 1\.16:1/);
  await assertAccessible(page, 'a refused colour');
  await context.close();
});

test('every landing-page console page of lib/pages.mjs CONSOLE_PAGES was checked (axe-core, width, screenshot)', () => {
  assert.deepEqual([...checked].sort(), consolePagesOf(FILE).sort());
});
