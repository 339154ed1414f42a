// The pages a recipient meets from a mail: a call to action (an organizer's
// own mail links to /e/{code}), the answer links of an invitation (also for
// one occurrence of a recurring event), and the unsubscribe link, each
// followed in the browser; the answers show in the API and the report.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { launch, newContext, newPage } from './lib/browser.mjs';
import { assertInvitations } from './lib/interop.mjs';
import { findLink, linksOf, readMessage } from './lib/mail.mjs';
import { address, ctaLink, invite, prepare } from './lib/pages.mjs';
import { generousLimits, startServer } from './lib/server.mjs';
import { assertUnchanged, snapshot } from './lib/state.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ config: generousLimits() });
  browser = await launch();
  await prepare(server);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function invitation(event, to) {
  return (await server.ok('GET', `/v1/events/${event}/invitations/${encodeURIComponent(to)}`)).invitation;
}

async function report(event) {
  return server.ok('GET', `/v1/events/${event}/report`);
}

/** Clicks the POST form's submit button matching `selector`; answers the page's <main>. */
async function submit(page, selector = 'form[method="post" i] [type=submit]') {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle' }), page.click(selector)]);
  assert.equal(response.status(), 200, `the answer page: ${await response.text()}`);
  return page.locator('main');
}

test('a call-to-action mail: its link shows what will be sent, the button sends one invitation, a second press sends none', async () => {
  const to = address('cta');
  const file = join(server.dir, 'organizer-mail.html');
  const link = ctaLink(server, to, 'Cta Guest');
  await writeFile(
    file,
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Our evening</title></head><body>` +
      `<p>Join us: <a id="cta" href="${link.replace(/&/g, '&amp;')}">put it in my calendar</a></p></body></html>`,
  );
  const context = await newContext(browser);
  const page = await newPage(context);
  await page.goto(pathToFileURL(file).toString());
  const quiet = await snapshot(server, { events: [server.event] });
  await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle' }), page.click('#cta')]);
  assert.ok((await page.content()).includes(to), 'the page names the address');
  assertUnchanged(quiet, await snapshot(server, { events: [server.event] }), 'opening the call-to-action page');

  const main = await submit(page);
  assert.equal(await main.getAttribute('data-sent'), '1', 'one invitation sent');
  const mails = await server.waitForMail(to, 1);
  await assertInvitations(mails.map((m) => m.path), to);
  const inv = await invitation(server.event, to);
  assert.equal(inv.source, 'call-to-action');

  // The link followed again and pressed again: nothing new.
  await page.goto(link, { waitUntil: 'networkidle' });
  const again = await submit(page);
  assert.equal(await again.getAttribute('data-sent'), '0', 'already sent: nothing new');
  await server.settle();
  assert.equal((await server.mailTo(to)).length, 1, 'still one invitation');
  assert.deepEqual(context.problems, [], 'console errors');
  await context.close();
});

test('the answer links: the page records nothing, its buttons record the answer, which the report shows', async () => {
  const to = address('rsvp');
  const mail = await invite(server, server.event, to);
  const msg = await readMessage(mail.path);
  const accept = findLink(msg, /\/rsvp\/[^/]+\/accept$/);
  const decline = findLink(msg, /\/rsvp\/[^/]+\/decline$/);
  const before = await report(server.event);
  const context = await newContext(browser);
  const page = await newPage(context);

  // The decline link, opened: nothing recorded; the decline button stands out.
  const quiet = await snapshot(server, { events: [server.event] });
  await page.goto(decline, { waitUntil: 'networkidle' });
  assertUnchanged(quiet, await snapshot(server, { events: [server.event] }), 'opening an answer link');
  const buttons = page.locator('form[method="post" i] button[name=answer]');
  assert.deepEqual((await buttons.evaluateAll((bs) => bs.map((b) => b.value))).sort(), ['accepted', 'declined', 'tentative']);
  const highlighted = await page.locator('button[name=answer][aria-pressed="true"], button[name=answer][aria-current], button[name=answer].btn-primary').evaluateAll((bs) => bs.map((b) => b.value));
  assert.deepEqual(highlighted, ['declined'], 'the answer clicked in the mail is the one highlighted');

  // The person changes their mind on the page: Yes.
  const main = await submit(page, 'button[name=answer][value=accepted]');
  assert.equal(await main.getAttribute('data-answer'), 'accepted');
  assert.equal((await invitation(server.event, to)).status, 'accepted');
  const after = await report(server.event);
  assert.equal(after.accepted, before.accepted + 1, 'the report counts the answer');
  const listed = await server.all(`/v1/events/${server.event}/invitations?status=accepted`);
  assert.ok(listed.some((i) => i.address === to), 'the recipients accepted list it');

  // The accept link opened later shows the answer and changes nothing.
  const quiet2 = await snapshot(server, { events: [server.event] });
  await page.goto(accept, { waitUntil: 'networkidle' });
  assertUnchanged(quiet2, await snapshot(server, { events: [server.event] }), 'opening the accept link after answering');
  assert.deepEqual(context.problems, [], 'console errors');
  await context.close();
});

/** A weekly event of four occurrences, sent from the demo organizer's calendar. */
async function recurringEvent() {
  const uid = `weekly-${process.pid}-${Date.now()}@example.com`;
  const ics = [
    'From: Demo Organizer <organizer@example.com>',
    'To: create@invites.localhost',
    'Subject: Weekly training',
    'Date: Fri, 04 Dec 2026 10:00:00 +0000',
    `Message-ID: <${uid}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/calendar; charset=UTF-8; method=REQUEST',
    '',
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Example//Organizer calendar//EN',
    'METHOD:REQUEST',
    'BEGIN:VEVENT',
    `UID:${uid}`,
    'SEQUENCE:0',
    'DTSTAMP:20261204T100000Z',
    'DTSTART:20360602T170000Z',
    'DTEND:20360602T183000Z',
    'RRULE:FREQ=WEEKLY;COUNT=4',
    'SUMMARY:Weekly training',
    'ORGANIZER;CN=Demo Organizer:mailto:organizer@example.com',
    'ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:create@invites.localhost',
    'STATUS:CONFIRMED',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
  await server.sendSmtp('organizer@example.com', 'create@invites.localhost', ics);
  for (let i = 0; i < 100; i++) {
    const e = (await server.all('/v1/events')).find((x) => x.summary === 'Weekly training');
    if (e) return e.code;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the recurring event was not made from the calendar invitation');
}

test('one occurrence of a recurring event answered on the web: recorded for that occurrence only', async () => {
  const code = await recurringEvent();
  const to = address('weekly');
  const mail = await invite(server, code, to);
  await assertInvitations([mail.path], to, { summaries: ['Weekly training'] });
  const link = findLink(await readMessage(mail.path), /\/rsvp\/[^/]+\/decline$/);
  const context = await newContext(browser);
  const page = await newPage(context);
  await page.goto(link, { waitUntil: 'networkidle' });
  // The page offers the next occurrences, each a form of its own with its
  // RECURRENCE-ID value (data-occurrence) and the three buttons.
  const choices = await page.locator('form[data-occurrence]').evaluateAll((fs) => fs.map((f) => f.dataset.occurrence));
  const second = choices.find((v) => v.startsWith('20360609'));
  assert.ok(second, `the second occurrence (9 June 2036) is offered: ${JSON.stringify(choices)}`);
  const main = await submit(page, `form[data-occurrence="${second}"] button[name=answer][value=declined]`);
  assert.equal(await main.getAttribute('data-answer'), 'declined');
  const inv = await invitation(code, to);
  assert.notEqual(inv.status, 'declined', 'the whole series is not declined');
  assert.equal(inv.instance_answers.length, 1, `one occurrence answered: ${JSON.stringify(inv.instance_answers)}`);
  assert.equal(inv.instance_answers[0].status, 'declined');
  assert.match(inv.instance_answers[0].occurrence, /^2036-06-09/);
  await context.close();
});

test('unsubscribe: the link shows a button, the button unsubscribes; one-click from a mail provider too', async () => {
  const to = address('leaving');
  const mail = await invite(server, server.event, to);
  const msg = await readMessage(mail.path);
  const header = msg.header('List-Unsubscribe') ?? '';
  assert.match(msg.header('List-Unsubscribe-Post') ?? '', /List-Unsubscribe=One-Click/);
  const link = findLink(msg, /\/unsubscribe\/[^/?#]+$/);
  assert.ok(header.includes(link), 'the header and the mail link to the same page');
  const context = await newContext(browser);
  const page = await newPage(context);
  const quiet = await snapshot(server, { events: [server.event] });
  await page.goto(link, { waitUntil: 'networkidle' });
  assertUnchanged(quiet, await snapshot(server, { events: [server.event] }), 'opening the unsubscribe link');
  const before = await report(server.event);
  const main = await submit(page);
  assert.equal(await main.getAttribute('data-unsubscribed'), '1');
  const suppressed = await server.all('/v1/suppressions');
  assert.ok(suppressed.some((s) => s.address === to), 'the address is on the suppression list');
  assert.equal((await report(server.event)).unsubscribed, before.unsubscribed + 1, 'the report counts it');
  // Another event's invitation to the address is refused now.
  const again = await server.api('POST', `/v1/events/${server.event}/invitations`, { address: to });
  assert.notEqual(again.body?.outcome, 'invited');
  await context.close();

  // RFC 8058: the provider posts List-Unsubscribe=One-Click, with no cookie.
  const to2 = address('one-click');
  const mail2 = await invite(server, server.event, to2);
  const url = linksOf(await readMessage(mail2.path)).find((l) => l.from === 'List-Unsubscribe').url;
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'List-Unsubscribe=One-Click',
  });
  assert.ok(r.status >= 200 && r.status < 300, `one-click: ${r.status}`);
  assert.ok((await server.all('/v1/suppressions')).some((s) => s.address === to2), 'one-click unsubscribed');
});
