// The landing page of the demo season (/p/demo-season, 272 events): it
// works without JavaScript and with it; choosing events (some through
// "select all in group") and submitting sends one invitation per event,
// each passing the interop checks; more than one submit sends at once
// asks for a confirmation by mail first; the QR code decodes to the page.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';

import { launch, newContext, newPage } from './lib/browser.mjs';
import { assertInvitations } from './lib/interop.mjs';
import { findLink, readMessage } from './lib/mail.mjs';
import { address, DEMO_SLUG } from './lib/pages.mjs';
import { knowsWeb, startServer } from './lib/server.mjs';
import { assertUnchanged, snapshot } from './lib/state.mjs';

const SEASON = 272;
// One submit sends at most this many; above it, a confirmation mail first.
const MAX_PER_SUBMIT = 30;

let server;
let browser;
let pageUrl;

before(async () => {
  const config = knowsWeb()
    ? ['[web]', `max_events_per_submit = ${MAX_PER_SUBMIT}`, 'per_ip_per_minute = 100000', 'per_address_per_hour = 100000',
        'per_organizer_per_hour = 1000000'].join('\n')
    : '';
  server = await startServer({ config });
  browser = await launch();
  pageUrl = server.url(`/p/${DEMO_SLUG}`);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The page's events and groups as served. */
async function structure(page) {
  return page.evaluate(() => ({
    boxes: [...document.querySelectorAll('input[type=checkbox][name=event]')].map((b) => ({
      code: b.value,
      checked: b.checked,
      group: b.closest('fieldset[data-group]')?.dataset.group ?? null,
      label: b.closest('label')?.innerText.trim() ?? null,
      row: b.closest('[data-event]')?.dataset.event ?? null,
    })),
    groups: [...document.querySelectorAll('fieldset[data-group]')].map((f) => ({
      id: f.dataset.group,
      legend: f.querySelector(':scope > legend')?.innerText.trim() ?? '',
      allLink: f.querySelector(`a[href*="all="]`)?.getAttribute('href') ?? null,
    })),
    form: (() => {
      const f = document.querySelector('form[method="post" i]');
      return f && { action: f.action, send: !!f.querySelector('#send') };
    })(),
  }));
}

function assertSeason(s, what) {
  assert.equal(s.boxes.length, SEASON, `${what}: one box per event`);
  assert.equal(new Set(s.boxes.map((b) => b.code)).size, SEASON, `${what}: each event once`);
  for (const b of s.boxes) {
    assert.ok(b.label, `${what}: the box of ${b.code} is in a label`);
    assert.equal(b.row, b.code, `${what}: the row of ${b.code} names it (data-event)`);
    assert.ok(b.group, `${what}: ${b.code} is in a group`);
  }
  assert.ok(s.groups.length >= 2, `${what}: events in groups`);
  for (const g of s.groups) {
    assert.ok(g.legend, `${what}: group ${g.id} has a legend`);
    assert.ok(g.allLink, `${what}: group ${g.id} has a "select all" link`);
  }
  assert.ok(s.form?.send, `${what}: the form with its #send button`);
  assert.equal(new URL(s.form.action).pathname, `/p/${DEMO_SLUG}`, `${what}: the form posts to the page`);
}

test('the 272-event page renders without JavaScript and with it', async () => {
  const before = await snapshot(server);
  for (const javaScript of [false, true]) {
    const context = await newContext(browser, { javaScript });
    const page = await newPage(context);
    const r = await page.goto(pageUrl, { waitUntil: 'networkidle' });
    assert.equal(r.status(), 200);
    const headers = r.headers();
    assert.match(headers['content-security-policy'] ?? '', /default-src 'none'/, 'a CSP');
    assert.equal(await page.locator('html[lang]').count(), 1, 'the page says its language');
    const s = await structure(page);
    assertSeason(s, javaScript ? 'with JavaScript' : 'without JavaScript');
    assert.ok(s.boxes.every((b) => !b.checked), 'nothing ticked at first');
    if (javaScript) {
      assert.ok(page.requests.some((q) => q.url.endsWith('/assets/landing.js')), 'the enhancement script is loaded');
    }
    assert.deepEqual(context.problems, [], 'console errors');
    await context.close();
  }
  assertUnchanged(before, await snapshot(server), 'viewing the page');
});

/**
 * Chooses events: every event of group `g1` through its "select all" link,
 * then two single events of group `g2` by hand; submits for `to`. Answers
 * the codes chosen and the answer page.
 */
async function choose(page, s, to, { groups = 1, singles = 2 } = {}) {
  const chosen = new Set();
  for (let gi = 0; gi < groups; gi++) {
    const g = s.groups[gi];
    await page.click(`fieldset[data-group="${g.id}"] a[href*="all="]`);
    await page.waitForLoadState('networkidle');
    // Every box of the group is ticked, in place (with JavaScript) or on the
    // page served again (without).
    const now = await structure(page);
    const inGroup = now.boxes.filter((b) => b.group === g.id);
    assert.ok(inGroup.length >= 1, `group ${g.id} has events`);
    assert.ok(inGroup.every((b) => b.checked), `"select all" ticked every box of group ${g.id}`);
    for (const b of inGroup) chosen.add(b.code);
  }
  const other = s.groups[groups].id;
  const singlesOf = s.boxes.filter((b) => b.group === other).slice(0, singles);
  for (const b of singlesOf) {
    await page.check(`input[type=checkbox][name=event][value="${b.code}"]`);
    chosen.add(b.code);
  }
  const ticked = (await structure(page)).boxes.filter((b) => b.checked).map((b) => b.code);
  assert.deepEqual(new Set(ticked), chosen, 'the boxes ticked are those chosen');
  await page.fill('input[name=email]', to);
  const nameField = page.locator('input[name=name]');
  if (await nameField.count()) await nameField.fill('Season Fan');
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle' }), page.click('#send')]);
  return { chosen: [...chosen], response };
}

for (const javaScript of [false, true]) {
  test(`choosing events, some by "select all in group", sends one invitation per event (JavaScript ${javaScript ? 'on' : 'off'})`, async () => {
    const context = await newContext(browser, { javaScript });
    const page = await newPage(context);
    await page.goto(pageUrl, { waitUntil: 'networkidle' });
    const s = await structure(page);
    const to = address(javaScript ? 'fan-js' : 'fan-nojs');
    const labels = new Map(s.boxes.map((b) => [b.code, b.label]));
    const { chosen, response } = await choose(page, s, to);
    assert.ok(chosen.length <= MAX_PER_SUBMIT, `the test chooses at most ${MAX_PER_SUBMIT} (chose ${chosen.length})`);
    assert.equal(response.status(), 200);
    const sent = await page.locator('main[data-sent]').getAttribute('data-sent');
    assert.equal(Number(sent), chosen.length, 'the answer page says how many were sent');
    const mails = await server.waitForMail(to, chosen.length);
    await server.settle();
    assert.equal((await server.mailTo(to)).length, chosen.length, 'one invitation per event, no more');
    const events = await assertInvitations(mails.map((m) => m.path), to);
    // Each invitation is for one of the events ticked: its title is in the row.
    for (const e of events) {
      const rows = chosen.filter((c) => labels.get(c)?.includes(e.SUMMARY));
      assert.ok(rows.length >= 1, `${e.SUMMARY} is one of the events chosen`);
    }
    assert.deepEqual(context.problems, [], 'console errors');
    await context.close();
  });
}

test('more events than one submit sends: a confirmation mail first, whose link shows a page and whose button sends', async () => {
  const context = await newContext(browser);
  const page = await newPage(context);
  await page.goto(pageUrl, { waitUntil: 'networkidle' });
  const s = await structure(page);
  // Enough whole groups to pass the limit.
  let groups = 0;
  let n = 0;
  while (n <= MAX_PER_SUBMIT && groups < s.groups.length - 1) {
    n += s.boxes.filter((b) => b.group === s.groups[groups].id).length;
    groups += 1;
  }
  assert.ok(n > MAX_PER_SUBMIT, `whole groups of more than ${MAX_PER_SUBMIT} events, with one group left over`);
  const to = address('many');
  const before = (await server.captured()).length;
  const { chosen } = await choose(page, s, to, { groups, singles: 1 });
  assert.ok(chosen.length > MAX_PER_SUBMIT);
  assert.equal(await page.locator('main[data-confirm="1"]').count(), 1, 'the answer says a confirmation mail was sent');
  const [mail] = await server.waitForMail(to, 1);
  await server.settle();
  assert.equal((await server.captured()).length, before + 1, 'only the confirmation mail');
  const link = findLink(await readMessage(mail.path), new RegExp(`/p/${DEMO_SLUG}/confirm/[^/?#]+$`));
  // The link's page changes nothing; its button sends.
  const quiet = await snapshot(server);
  await page.goto(link, { waitUntil: 'networkidle' });
  assertUnchanged(quiet, await snapshot(server), 'opening the confirmation link');
  await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle' }), page.click('form[method="post" i] [type=submit]')]);
  assert.equal(Number(await page.locator('main[data-sent]').getAttribute('data-sent')), chosen.length);
  const mails = await server.waitForMail(to, chosen.length + 1);
  const invitations = mails.filter((m) => m.path !== mail.path);
  await assertInvitations(invitations.map((m) => m.path), to);
  await context.close();
});

test('the QR code decodes to the page\'s URL', async () => {
  const r = await fetch(server.url(`/p/${DEMO_SLUG}/qr.png`));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'image/png');
  const png = PNG.sync.read(Buffer.from(await r.arrayBuffer()));
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(code, 'a QR code in the PNG');
  assert.equal(code.data, pageUrl, 'it decodes to the page');
  const svg = await fetch(server.url(`/p/${DEMO_SLUG}/qr.svg`));
  assert.equal(svg.status, 200);
  assert.match(svg.headers.get('content-type') ?? '', /^image\/svg\+xml/);
  assert.match(await svg.text(), /<svg[\s>]/);
});
