// The link scanner: every link of every message the server delivered (the
// hrefs of its HTML parts, the URLs of its plain text, its List-Unsubscribe
// URLs), and the link of a call-to-action mail, fetched with GET as mail
// scanners and link previews do (and HEAD), then opened in the browser with
// JavaScript on until the network is idle: no GET changes anything — the
// answers and reports, the mail sent, the suppression list, the organizers
// and held invitations read through the API are the same before and after.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { launch, newContext, newPage } from './lib/browser.mjs';
import { hrefs, linksOf, readMessage } from './lib/mail.mjs';
import { address, consoleLink, ctaLink, DEMO_SLUG, invite, prepare, registerLink } from './lib/pages.mjs';
import { generousLimits, startServer } from './lib/server.mjs';
import { assertUnchanged, snapshot } from './lib/state.mjs';

let server;
let browser;
const scanned = new Set();

before(async () => {
  server = await startServer({ config: generousLimits() });
  browser = await launch();
  await prepare(server);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Every link on this server of every captured message not scanned yet. */
async function newLinks() {
  const out = new Map();
  for (const m of await server.captured()) {
    const msg = await readMessage(m.path);
    for (const l of linksOf(msg)) {
      let u;
      try {
        u = new URL(l.url);
      } catch {
        continue;
      }
      if (u.origin !== server.origin || scanned.has(l.url)) continue;
      if (!out.has(l.url)) out.set(l.url, { ...l, file: m.path });
    }
  }
  return [...out.values()];
}

/** Follows each link as scanners and a person do; asserts nothing changed. */
async function scan(links, events) {
  const context = await newContext(browser);
  for (const l of links) {
    const before = await snapshot(server, { events });
    const what = `${l.url} (${l.from} of ${l.file})`;
    for (const method of ['GET', 'HEAD']) {
      const r = await fetch(l.url, { method, redirect: 'manual' });
      await r.arrayBuffer();
      assert.ok(r.status < 500, `${method} ${what}: ${r.status}`);
    }
    const page = await newPage(context);
    const response = await page.goto(l.url, { waitUntil: 'networkidle' });
    assert.ok(response.status() < 500, `${what}: ${response.status()}`);
    await page.waitForTimeout(200);
    assert.deepEqual(page.requests.filter((r) => r.method !== 'GET'), [], `${what}: the page sent requests other than GET`);
    assertUnchanged(before, await snapshot(server, { events }), `opening ${what}`);
    await page.close();
    scanned.add(l.url);
  }
  assert.deepEqual(context.problems, [], 'console errors');
  await context.close();
}

test('the snapshot sees a change: an invitation sent, an address suppressed', async () => {
  const before = await snapshot(server, { events: [server.event] });
  await invite(server, server.event, address('seen'));
  const invited = await snapshot(server, { events: [server.event] });
  assert.throws(() => assertUnchanged(before, invited), /messages captured/);
  await server.ok('POST', '/v1/suppressions', { address: address('suppressed') });
  const suppressed = await snapshot(server, { events: [server.event] });
  assert.throws(() => assertUnchanged(invited, suppressed), /report|suppression list/);
});

test('the links of invitations, sign-in links (registration, console) and reports change nothing when followed', async (t) => {
  // Invitations sent through the API (with one-click unsubscribe links).
  for (let i = 0; i < 3; i++) await invite(server, server.event, address('scan'));
  // A sign-in link for an address not registered yet.
  await registerLink(server);
  // A console sign-in link for the demo organizer.
  await consoleLink(server);
  // The event's report, mailed to the organizer.
  await server.ok('POST', `/v1/events/${server.event}/report/mail`, {});
  await server.settle();
  const links = await newLinks();
  assert.ok(links.length >= 1, 'the captured mail has links to this server');
  assert.ok(links.some((l) => l.url.includes('/register/')), 'the sign-in link is among them');
  assert.ok(links.some((l) => l.url.includes('/console/sign-in/')), 'the console sign-in link is among them');
  await scan(links, [server.event]);
  t.diagnostic(`${links.length} links followed`);
});

test('the answer and unsubscribe links of an invitation are there and change nothing', async () => {
  const mail = await invite(server, server.event, address('answers'));
  const links = linksOf(await readMessage(mail.path)).map((l) => l.url);
  for (const answer of ['accept', 'tentative', 'decline']) {
    assert.ok(links.some((u) => new RegExp(`/rsvp/[^/]+/${answer}$`).test(u)), `an ${answer} link in ${JSON.stringify(links)}`);
  }
  assert.ok(links.some((u) => /\/unsubscribe\/[^/]+$/.test(u)), `an unsubscribe link in ${JSON.stringify(links)}`);
  await scan(await newLinks(), [server.event]);
});

test('a call-to-action mail: following its link changes nothing', async () => {
  const to = address('cta-scan');
  const link = ctaLink(server, to, 'Scan Guest');
  // An organizer's own mail, with the link as the contract gives it.
  const file = join(server.dir, 'cta-mail.html');
  await writeFile(
    file,
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>You are invited</title></head>` +
      `<body><p>Join us! <a id="cta" href="${link.replace(/&/g, '&amp;')}">Add it to my calendar</a></p></body></html>`,
  );
  const found = hrefs(await (await import('node:fs/promises')).readFile(file, 'utf8'));
  assert.deepEqual(found, [link]);
  const before = await snapshot(server, { events: [server.event] });
  const context = await newContext(browser);
  const page = await newPage(context);
  await page.goto(pathToFileURL(file).toString());
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle' }), page.click('#cta')]);
  assert.equal(response.status(), 200, 'the call-to-action page');
  await page.waitForTimeout(200);
  assert.deepEqual(page.requests.filter((r) => r.method !== 'GET'), [], 'requests other than GET');
  assert.equal(await page.locator('form[method="post" i]').count() >= 1, true, 'a button to send the invitation');
  assert.ok((await page.content()).includes(to), 'the page says to whom the invitation goes');
  assertUnchanged(before, await snapshot(server, { events: [server.event] }), 'following the call-to-action link');
  await context.close();
  scanned.add(link);
});

test('the links of mail sent from the public pages change nothing when followed', async () => {
  // An invitation chosen on the landing page, and a confirmation mail (more
  // events than one submit sends at once), and one sent from a call to action.
  const context = await newContext(browser);
  const page = await newPage(context);
  await page.goto(server.url(`/p/${DEMO_SLUG}`));
  const boxes = page.locator('input[type=checkbox][name=event]');
  await boxes.first().check();
  await page.fill('input[name=email]', address('landing-scan'));
  await Promise.all([page.waitForNavigation(), page.click('#send')]);
  assert.equal(await page.locator('main[data-sent]').count(), 1, 'the landing page sent');
  await page.goto(server.url(`/p/${DEMO_SLUG}`));
  const many = Number(process.env.CALINVITE_MAX_EVENTS_PER_SUBMIT ?? 10) + 1;
  for (let i = 0; i < many; i++) await boxes.nth(i).check();
  await page.fill('input[name=email]', address('confirm-scan'));
  await Promise.all([page.waitForNavigation(), page.click('#send')]);
  assert.equal(await page.locator('main[data-confirm="1"]').count(), 1, 'a confirmation mail instead');
  await page.goto(ctaLink(server, address('cta-sent')));
  await Promise.all([page.waitForNavigation(), page.click('form[method="post" i] [type=submit]')]);
  assert.equal(await page.locator('main[data-sent="1"]').count(), 1, 'the call to action sent');
  await context.close();
  await server.settle();
  const links = await newLinks();
  assert.ok(links.some((l) => l.url.includes(`/p/${DEMO_SLUG}/confirm/`)), 'the confirmation link is among them');
  assert.ok(links.some((l) => l.url.includes('/rsvp/')), 'answer links are among them');
  await scan(links, [server.event]);
});
