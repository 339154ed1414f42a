// Every public page (lib/pages.mjs): accessible (axe-core), usable with the
// keyboard alone, no POST accepted without its CSRF token or replayed,
// nothing changed or submitted by opening it, laid out for a desktop and a
// phone (screenshots into docs/screenshots/ with CALINVITE_SCREENSHOTS=1).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { launch, newContext, newPage, VIEWPORTS } from './lib/browser.mjs';
import { assertAccessible, assertKeyboardReach, focusStart, postForms, tabTo } from './lib/checks.mjs';
import { pages, prepare } from './lib/pages.mjs';
import { generousLimits, startServer } from './lib/server.mjs';
import { assertUnchanged, snapshot } from './lib/state.mjs';

const SHOTS = fileURLToPath(new URL('../../../../docs/screenshots/', import.meta.url));

let server;
let browser;

before(async () => {
  // Generous rate limits: this file posts many forms from one address.
  server = await startServer({ config: generousLimits() });
  browser = await launch();
  await prepare(server);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens a fresh instance of `p` in a new context; checks its status. */
async function open(p, options = {}) {
  const url = await p.open(server);
  const context = await newContext(browser, options);
  const page = await newPage(context);
  const response = await page.goto(url, { waitUntil: 'networkidle' });
  assert.equal(response.status(), p.status ?? 200, `${p.name}: status of ${url}`);
  assert.match(response.headers()['content-type'] ?? '', /^text\/html/, `${p.name}: an HTML page`);
  return { url, context, page, response };
}

/** The value to give a field of `p` (a function makes a fresh one each time). */
function value(p, name) {
  const v = p.fields?.[name];
  return typeof v === 'function' ? v() : v;
}

/** Fills `p`'s fields and ticks its boxes with the keyboard, then submits with `key`. */
async function submitByKeyboard(p, page, key) {
  for (const name of Object.keys(p.fields ?? {})) {
    await focusStart(page);
    await tabTo(page, (n) => document.activeElement?.getAttribute('name') === n, name);
    await page.keyboard.type(value(p, name));
  }
  for (const name of p.ticks ?? []) {
    await focusStart(page);
    await tabTo(page, (n) => document.activeElement?.getAttribute('name') === n && document.activeElement.type === 'checkbox', name);
    await page.keyboard.press('Space');
    assert.equal(await page.evaluate(() => document.activeElement.checked), true, `${p.name}: Space ticks a box`);
  }
  await tabTo(page, () => {
    const e = document.activeElement;
    return (e?.type === 'submit') && e.form?.method?.toLowerCase() === 'post';
  });
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.waitForNavigation({ waitUntil: 'networkidle' }),
    page.keyboard.press(key),
  ]);
  await page.waitForLoadState('networkidle');
  return response;
}

for (const p of pages()) {
  describe(`the ${p.name} page`, () => {
    test('axe-core finds no serious or critical violation, with JavaScript and without; no console error', async () => {
      for (const javaScript of [true, false]) {
        const { context, page } = await open(p, { javaScript });
        if (javaScript) {
          await assertAccessible(page, `${p.name} (JavaScript on)`);
        } else {
          // axe runs as script; with JavaScript off the page is read as
          // served: every control it has must still be there.
          const forms = await postForms(page);
          if (p.form) assert.ok(forms.length >= 1, `${p.name}: the form is there without JavaScript`);
        }
        assert.deepEqual(context.problems, [], `${p.name}: console errors (a CSP violation shows here)`);
        await context.close();
      }
    });

    test('works with the keyboard alone: Tab reaches every control, focus is visible, Enter and Space submit', async () => {
      const { context, page } = await open(p);
      await assertKeyboardReach(page, p.name);
      await context.close();
      if (!p.form) return;
      for (const key of ['Enter', 'Space']) {
        const { context: c, page: pg } = await open(p);
        const response = await submitByKeyboard(p, pg, key);
        // A redirect (303 after signing in) has no body to show.
        if (response.status() >= 400) assert.fail(`${p.name}: ${key} submitted, answered ${response.status()}: ${await response.text()}`);
        await assertAccessible(pg, `${p.name}: the page after submitting`);
        assert.deepEqual(c.problems, [], `${p.name}: console errors after submitting`);
        await c.close();
      }
    });

    if (p.form) {
      test('refuses a POST without its CSRF token, with a forged one, from another site, without the cookie, or replayed', async () => {
        const { context, page } = await open(p);
        const forms = await postForms(page);
        assert.ok(forms.length >= 1, `${p.name}: a POST form`);
        for (const f of forms) assert.ok(f.hasCsrf, `${p.name}: the form to ${f.action} carries csrf`);
        const form = forms[0];
        const pairs = form.fields.map(([k, v]) => [k, p.fields?.[k] ? value(p, k) : v]);
        for (const name of p.ticks ?? []) {
          const v = await page.evaluate((n) => document.querySelector(`input[type=checkbox][name="${n}"]`)?.value, name);
          assert.ok(v, `${p.name}: a ${name} box`);
          pairs.push([name, v]);
        }
        const body = (ps) => new URLSearchParams(ps).toString();
        const post = (ps, headers = {}, c = context) =>
          c.request.post(form.action, {
            data: body(ps),
            headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.origin, ...headers },
            maxRedirects: 0,
            failOnStatusCode: false,
          });
        const before = await snapshot(server);
        const refused = async (r, why) => {
          assert.equal(r.status(), 403, `${p.name}: ${why}: ${r.status()} ${(await r.text()).slice(0, 500)}`);
          assert.match(r.headers()['content-type'] ?? '', /^text\/html/, `${p.name}: ${why}: a page says why`);
        };
        await refused(await post(pairs.filter(([k]) => k !== 'csrf')), 'no token');
        await refused(await post(pairs.map(([k, v]) => [k, k === 'csrf' ? `${v.slice(0, -2)}xy` : v])), 'a forged token');
        await refused(await post(pairs, { origin: 'https://forms.example.org', 'sec-fetch-site': 'cross-site' }), 'another site');
        const stranger = await newContext(browser);
        await refused(await post(pairs, {}, stranger), 'the token without its cookie');
        await stranger.close();
        assertUnchanged(before, await snapshot(server), `${p.name}: refused forms`);

        const ok = await post(pairs);
        assert.ok(ok.status() < 400, `${p.name}: the whole form is taken: ${ok.status()} ${(await ok.text()).slice(0, 500)}`);
        const afterOk = await snapshot(server);
        const replay = await post(pairs);
        assert.ok(
          (p.replay ?? [403]).includes(replay.status()),
          `${p.name}: a replayed form: ${replay.status()} ${(await replay.text()).slice(0, 500)}`,
        );
        assertUnchanged(afterOk, await snapshot(server), `${p.name}: a replayed form`);
        await context.close();
      });
    }

    test('opening it, with JavaScript, changes nothing and submits nothing', async () => {
      const url = await p.open(server);
      const before = await snapshot(server);
      const context = await newContext(browser);
      const page = await newPage(context);
      await page.goto(url, { waitUntil: 'networkidle' });
      await page.waitForTimeout(300);
      const writes = page.requests.filter((r) => r.method !== 'GET');
      assert.deepEqual(writes, [], `${p.name}: requests other than GET`);
      const refresh = await page.locator('meta[http-equiv="refresh" i]').count();
      assert.equal(refresh, 0, `${p.name}: a meta refresh`);
      assertUnchanged(before, await snapshot(server), `${p.name}: opening the page`);
      await context.close();
    });

    test('fits a desktop and a phone screen (screenshots with CALINVITE_SCREENSHOTS=1)', async () => {
      for (const [size, viewport] of Object.entries(VIEWPORTS)) {
        const { context, page } = await open(p, { viewport });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 1, `${p.name}: ${overflow} px wider than a ${size} screen`);
        if (process.env.CALINVITE_SCREENSHOTS === '1') {
          mkdirSync(SHOTS, { recursive: true });
          const height = await page.evaluate(() => document.documentElement.scrollHeight);
          const shot = { path: `${SHOTS}${p.name}-${size}.png` };
          // Long pages (the 272-event season) are cut at three screens.
          if (height > viewport.height * 3) shot.clip = { x: 0, y: 0, width: viewport.width, height: viewport.height * 3 };
          else shot.fullPage = true;
          await page.screenshot(shot);
        }
        await context.close();
      }
    });
  });
}
