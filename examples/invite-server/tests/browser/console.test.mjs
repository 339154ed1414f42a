// The console in headless Chromium, against the running server: an
// organizer signs in by the mailed link (the link's page changes nothing
// until its button is pressed), finds the event its calendar mailed in,
// uploads a 1,000-row CSV file with bad rows, reads each row's verdict,
// sends, watches the self-refreshing progress page reach the end; answers
// arrive by mail and the event's counts and chart follow; with approval on,
// an edit from the calendar waits, shows its audience (Yes and Maybe only)
// and, approved with the keyboard, goes to them alone. A domain owner's
// administrator sees both organizers' events; one organizer reaches none
// of the other's pages by URL. Every console page: no serious or critical
// axe-core violation, no wider than a desktop or a phone screen
// (screenshots into docs/screenshots/ with CALINVITE_SCREENSHOTS=1).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { launch, newContext, newPage } from './lib/browser.mjs';
import { assertAccessible, focusStart, tabTo } from './lib/checks.mjs';
import { findLink, readMessage } from './lib/mail.mjs';
import { checkConsolePage, consolePagesOf } from './lib/console.mjs';
import { ORGANIZER } from './lib/pages.mjs';
import { generousLimits, startServer } from './lib/server.mjs';

const RUN = `${process.pid.toString(36)}${Date.now().toString(36)}`;
/** The organizer of most of this file, its calendar's address. */
const ADA = `ada.${RUN}@club.example`;
/** A domain owner's console administrator. */
const CHAIR = `chair.${RUN}@owner.example`;
/** Where organizers' calendars send their invitations. */
const INGEST = 'create@invites.localhost';
/** The list's good rows: 1,000 rows in all, five of them bad. */
const GOOD = 995;

let server;
let browser;
/** What the tests before left for the next: Ada's organizer, event, list, pending change. */
const made = {};
/** Console pages checked (axe-core, width, screenshot). */
const checked = new Set();

before(async () => {
  // No generated season: the console lists the events of this file.
  server = await startServer({ config: [generousLimits(), '', '[demo]', 'season = false'].join('\n') });
  browser = await launch();
  const created = await server.ok('POST', '/v1/organizers', {
    name: 'Ada’s Chess Club',
    address: ADA,
    settings: { inbound_auth: 'allow-list-only' },
  });
  made.organizer = created.organizer.id;
  await server.ok('POST', '/v1/owner/admins', { address: CHAIR });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const member = (i) => `m${i}.${RUN}@example.net`;

/** An iMIP REQUEST as an organizer's calendar mails it to the ingest mailbox. */
function calendarRequest({ from, name, uid, sequence, summary, start, end, location }) {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  return [
    `From: ${name} <${from}>`,
    `To: ${INGEST}`,
    `Subject: ${summary}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${sequence}.${uid}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/calendar; charset=UTF-8; method=REQUEST',
    '',
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Example//Club calendar//EN',
    'METHOD:REQUEST',
    'BEGIN:VEVENT',
    `UID:${uid}`,
    `SEQUENCE:${sequence}`,
    `DTSTAMP:${stamp}`,
    `DTSTART:${start}`,
    `DTEND:${end}`,
    `SUMMARY:${summary}`,
    `LOCATION:${location}`,
    `ORGANIZER;CN=${name}:mailto:${from}`,
    `ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:${INGEST}`,
    'STATUS:CONFIRMED',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

/** The calendar part of a captured message, unfolded. */
async function calendarOf(path) {
  const m = await readMessage(path);
  const part = m.parts.find((p) => p.type === 'text/calendar');
  assert.ok(part, `${path}: a text/calendar part`);
  return part.text.replace(/\r?\n[ \t]/g, '');
}

/** `guest`'s calendar answers the invitation it holds (iMIP REPLY over SMTP). */
async function answer(guest, partstat) {
  const [invitation] = await server.mailTo(guest);
  assert.ok(invitation, `${guest} holds an invitation`);
  const ics = await calendarOf(invitation.path);
  const uid = ics.match(/^UID:(.+)$/m)[1].trim();
  const sequence = ics.match(/^SEQUENCE:(\d+)/m)?.[1] ?? '0';
  const replyTo = ics.match(/^ORGANIZER[^:\r\n]*:mailto:([^\r\n]+)$/im)[1].trim();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const mail = [
    `From: ${guest}`,
    `To: ${replyTo}`,
    `Subject: ${partstat}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${partstat}.${Date.now()}.${guest}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/calendar; charset=UTF-8; method=REPLY',
    '',
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Guest//Calendar//EN',
    'METHOD:REPLY',
    'BEGIN:VEVENT',
    `UID:${uid}`,
    `SEQUENCE:${sequence}`,
    `DTSTAMP:${stamp}`,
    `ORGANIZER:mailto:${replyTo}`,
    `ATTENDEE;PARTSTAT=${partstat}:mailto:${guest}`,
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
  await server.sendSmtp(guest, replyTo, mail);
}

/** Waits until `check()` answers something truthy. */
async function until(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** A console page as it stands (lib/console.mjs), screenshots included. */
function checkPage(page, name) {
  return checkConsolePage(page, name, 'console.test.mjs', checked);
}

/** Presses Enter on the focused control and waits for the page it leads to. */
async function enter(page) {
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.keyboard.press('Enter'),
  ]);
  return response;
}

/**
 * Signs `address` in with the keyboard: the form (address typed, Enter),
 * the mailed link opened — its page signs nobody in — and its button
 * pressed (Tab, Enter). Answers the signed-in page (the events).
 */
async function signIn(address, { check = false } = {}) {
  const context = await newContext(browser);
  const page = await newPage(context);
  await page.goto(server.url('/console/sign-in'), { waitUntil: 'networkidle' });
  if (check) await checkPage(page, 'sign-in');
  const before = (await server.mailTo(address)).length;
  await focusStart(page);
  await tabTo(page, () => document.activeElement?.getAttribute('name') === 'email');
  await page.keyboard.type(address);
  const sent = await enter(page);
  assert.equal(sent.status(), 200);
  await page.locator('[data-sign-in="sent"]').waitFor();
  const mails = await server.waitForMail(address, before + 1);
  const link = findLink(await readMessage(mails[mails.length - 1].path), /\/console\/sign-in\/[A-Za-z0-9_-]{43}$/);

  const sentBefore = page.requests.length;
  const opened = await page.goto(link, { waitUntil: 'networkidle' });
  assert.equal(opened.status(), 200);
  assert.deepEqual(page.requests.slice(sentBefore).filter((r) => r.method !== 'GET'), [], 'opening the link posts nothing');
  const cookies = await context.cookies();
  assert.ok(!cookies.some((c) => c.name === 'calinvite_console'), 'opening the link starts no session');
  const probe = await context.request.get(server.url('/console'), { maxRedirects: 0 });
  assert.equal(probe.status(), 303, 'not signed in by opening the link');
  assert.equal(probe.headers().location, '/console/sign-in');
  if (check) await checkPage(page, 'sign-in-link');
  await focusStart(page);
  await tabTo(page, () => document.activeElement?.type === 'submit');
  await enter(page);
  assert.equal(new URL(page.url()).pathname, '/console', 'the button signs in and shows the events');
  assert.ok(
    (await context.cookies()).some((c) => c.name === 'calinvite_console' && c.httpOnly),
    'a session cookie, HttpOnly',
  );
  return page;
}

/** The number a `[data-answer-count]` of the event page shows. */
async function answerCount(page, what) {
  return Number(await page.locator(`[data-answer-count="${what}"]`).innerText());
}

test('an organizer signs in, finds the event its calendar mailed, sends it to a 1,000-row CSV file; answers move the counts and the chart', async (t) => {
  // The organizer's calendar mails an event in.
  const uid = `club-night-${RUN}@club.example`;
  made.uid = uid;
  await server.sendSmtp(
    ADA,
    INGEST,
    calendarRequest({
      from: ADA,
      name: 'Ada',
      uid,
      sequence: 0,
      summary: 'Club night',
      start: '20370314T180000Z',
      end: '20370314T210000Z',
      location: 'The back room',
    }),
  );
  const event = await until('the event made from the calendar mail', async () =>
    (await server.all('/v1/events')).find((e) => e.summary === 'Club night' && e.organizer === made.organizer),
  );
  made.event = event.code;

  // Bad rows the list will hold: a suppressed address, one already invited.
  const gone = `gone.${RUN}@example.net`;
  const already = `already.${RUN}@example.net`;
  await server.ok('POST', '/v1/suppressions', { address: gone, reason: 'complaint' });
  await server.ok('POST', `/v1/events/${event.code}/invitations`, { address: already, name: 'Already' });
  await server.waitForMail(already, 1);

  const page = await signIn(ADA, { check: true });
  // The events: the mailed event, and only Ada's.
  await checkPage(page, 'events');
  const rows = await page.locator('tr[data-event]').evaluateAll((trs) => trs.map((t) => t.dataset.event));
  assert.deepEqual(rows, [event.code], 'Ada sees her one event');
  await focusStart(page);
  await tabTo(page, (code) => document.activeElement?.getAttribute('href') === `/console/events/${code}`, event.code);
  await enter(page);
  assert.equal(await page.locator('h1[data-event-page]').innerText(), 'Club night');
  assert.match(await page.locator('[data-details]').innerText(), /the organizer's calendar/);
  assert.equal(await answerCount(page, 'invitations'), 1);
  assert.equal(await page.locator('[data-chart="empty"]').count(), 1, 'no answers, no chart yet');
  await assertAccessible(page, 'the event page, no answers yet');

  // The list: 1,000 rows, five of them bad, chosen as a file.
  const lines = ['email,name'];
  const bad = {
    100: ['not-an-address', 'Bad Address'],
    200: [member(1).toUpperCase(), 'Member One Again'],
    300: [gone, 'Gone'],
    400: ['rsvp@invites.localhost', 'Our Own Mailbox'],
    500: [already, 'Already'],
  };
  let n = 0;
  for (let row = 1; row <= 1000; row++) {
    if (bad[row]) lines.push(bad[row].join(','));
    else lines.push(`${member(++n)},Member ${n}`);
  }
  assert.equal(n, GOOD);
  const csv = `${lines.join('\r\n')}\r\n`;

  await page.goto(server.url(`/console/events/${event.code}/lists`), { waitUntil: 'networkidle' });
  assert.equal(await page.locator('[data-empty="lists"]').count(), 1);
  await checkPage(page, 'list-new');
  // A file an old spreadsheet saved in Latin-1: refused, saying why and where.
  await page.locator('#name').fill('Latin-1');
  await page.locator('#file').setInputFiles({
    name: 'old.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('email,name\r\njerome@example.net,J\xe9r\xf4me\r\n', 'latin1'),
  });
  const [refused] = await Promise.all([page.waitForNavigation(), page.locator('form[enctype] button[type=submit]').click()]);
  assert.equal(refused.status(), 400);
  assert.match(await page.locator('main').innerText(), /“old\.csv” is not UTF-8 text \(line 2 has a byte that is not\)/);
  await assertAccessible(page, 'the list form refusing a file');
  assert.equal((await server.mailTo('jerome@example.net')).length, 0);
  await page.goto(server.url(`/console/events/${event.code}/lists`), { waitUntil: 'networkidle' });
  // With the keyboard: the name typed, the file chosen (Space opens the
  // chooser), Enter on the button.
  await focusStart(page);
  await tabTo(page, () => document.activeElement?.getAttribute('name') === 'name');
  await page.keyboard.type('Members 2037');
  await tabTo(page, () => document.activeElement?.type === 'file');
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Space')]);
  await chooser.setFiles({ name: 'members.csv', mimeType: 'text/csv', buffer: Buffer.from(csv, 'utf8') });
  await tabTo(page, () => document.activeElement?.type === 'submit' && document.activeElement.form?.method === 'post'
    && document.activeElement.form.action.endsWith('/lists/preview'));
  const previewed = await enter(page);
  assert.equal(previewed.status(), 200, await previewed.text());

  // Each row's verdict, before anything is sent.
  assert.equal(await page.locator('[data-preview-invited]').getAttribute('data-preview-invited'), String(GOOD));
  const counts = Object.fromEntries(
    await page.locator('[data-verdict-count]').evaluateAll((lis) =>
      lis.map((li) => [li.dataset.verdictCount, Number(li.textContent.split(':').pop())]),
    ),
  );
  assert.deepEqual(counts, { 'already-invited': 1, duplicate: 1, invalid: 1, invited: GOOD, 'own-address': 1, suppressed: 1 });
  for (const [row, verdict] of [[101, 'invalid'], [201, 'duplicate'], [301, 'suppressed'], [401, 'own-address'], [501, 'already-invited'], [2, 'invited'], [1001, 'invited']]) {
    assert.equal(
      await page.locator(`tr[data-row="${row}"]`).getAttribute('data-row-verdict'),
      verdict,
      `row ${row} (the header is row 1)`,
    );
  }
  assert.match(await page.locator('tr[data-row="101"]').innerText(), /not usable: /, 'the reason is given');
  assert.equal(await page.locator('tr[data-row-verdict]').count(), 1000);
  await checkPage(page, 'list-preview');
  assert.equal((await server.mailTo(member(1))).length, 0, 'nothing sent by the dry run');
  assert.deepEqual(await server.ok('GET', `/v1/events/${event.code}/lists`), [], 'nothing recorded by the dry run');

  // Send (Tab to the button, Enter): the progress page refreshes itself to the end.
  await focusStart(page);
  await tabTo(page, () => /^Send to /.test(document.activeElement?.textContent ?? ''));
  let loads = 0;
  page.on('load', () => (loads += 1));
  await enter(page);
  assert.match(new URL(page.url()).pathname, /^\/console\/lists\/[^/]+$/);
  made.list = new URL(page.url()).pathname.split('/').pop();
  const first = await page.locator('[data-list-state]').getAttribute('data-list-state');
  if (first === 'running') {
    assert.equal(await page.locator('meta[http-equiv="refresh"]').getAttribute('content'), '2');
  }
  await page.locator('[data-list-state="done"]').waitFor({ timeout: 100_000 });
  if (first === 'running') assert.ok(loads >= 2, `the page reloaded itself (${loads} loads)`);
  t.diagnostic(`the progress page was first ${first}; it loaded ${loads} times`);
  await page.waitForLoadState('load');
  assert.equal(await page.locator('meta[http-equiv="refresh"]').count(), 0, 'a finished list stops refreshing');
  const count = async (what) => Number(await page.locator(`[data-count="${what}"]`).innerText());
  assert.equal(await count('rows'), 1000);
  assert.equal(await count('invited'), GOOD);
  assert.equal(await count('sent'), GOOD);
  assert.equal(await count('queued'), 0);
  assert.equal(await count('invalid'), 1);
  assert.equal(await count('duplicate'), 1);
  assert.equal(await count('already-invited'), 1);
  assert.equal(await count('suppressed'), 1);
  assert.equal(await count('own-address'), 1);
  await checkPage(page, 'list-progress');

  // The capture folder: one invitation to each good row, none to the bad.
  await server.settle();
  const captured = await server.captured();
  const members = captured.filter((m) => m.address.startsWith('m') && m.address.endsWith(`.${RUN}@example.net`));
  assert.equal(members.length, GOOD, 'an invitation to each good row');
  assert.equal(new Set(members.map((m) => m.address)).size, GOOD, 'one each');
  assert.equal((await server.mailTo(gone)).length, 0, 'none to the suppressed address');
  assert.equal((await server.mailTo(already)).length, 1, 'the one already invited is not invited again');
  assert.ok(!captured.some((m) => m.address === 'rsvp@invites.localhost'), 'none to our own mailbox');
  const ics = await calendarOf(members[0].path);
  assert.match(ics, /^METHOD:REQUEST/m);
  assert.match(ics, /^SUMMARY:Club night/m);
  assert.match(ics, /^LOCATION:The back room/m);

  // Answers arrive by mail: five Yes, three Maybe, two No.
  const answers = { ACCEPTED: [1, 2, 3, 4, 5], TENTATIVE: [6, 7, 8], DECLINED: [9, 10] };
  for (const [partstat, who] of Object.entries(answers)) {
    for (const i of who) await answer(member(i), partstat);
  }
  await until('the answers recorded', async () => {
    const e = await server.ok('GET', `/v1/events/${event.code}`);
    return e.answers.accepted === 5 && e.answers.tentative === 3 && e.answers.declined === 2;
  });
  await page.goto(server.url(`/console/events/${event.code}`), { waitUntil: 'networkidle' });
  assert.equal(await answerCount(page, 'accepted'), 5);
  assert.equal(await answerCount(page, 'tentative'), 3);
  assert.equal(await answerCount(page, 'declined'), 2);
  assert.equal(await answerCount(page, 'invitations'), GOOD + 1);
  assert.equal(await answerCount(page, 'no-answer'), GOOD + 1 - 10);
  assert.equal(await page.locator('[data-chart="empty"]').count(), 0);
  const chart = page.locator('figure[data-chart="answers"] svg[role="img"]');
  assert.equal(await chart.locator('rect').count(), 1, 'one bar: every answer came today');
  assert.match(await chart.locator('desc').textContent(), /^10 answers from (\d{4}-\d\d-\d\d) to \1; the busiest day had 10\.$/);
  assert.equal(await page.locator('[data-chart-table="answers"] td').textContent(), '10');
  const svg = await page.context().request.get(server.url(`/console/events/${event.code}/chart.svg`));
  assert.equal(svg.status(), 200);
  assert.match(svg.headers()['content-type'], /^image\/svg\+xml/);
  assert.equal(((await svg.text()).match(/<rect /g) ?? []).length, 1);
  // The recipients filtered by answer.
  await page.goto(server.url(`/console/events/${event.code}?status=declined`), { waitUntil: 'networkidle' });
  const declined = await page.locator('tr[data-recipient]').evaluateAll((trs) => trs.map((t) => t.dataset.recipient).sort());
  assert.deepEqual(declined, [member(10), member(9)].sort());
  await page.goto(server.url(`/console/events/${event.code}`), { waitUntil: 'networkidle' });
  await checkPage(page, 'event');

  // Reports.
  await page.goto(server.url('/console/reports'), { waitUntil: 'networkidle' });
  await checkPage(page, 'reports');
  await page.goto(server.url(`/console/events/${event.code}/report`), { waitUntil: 'networkidle' });
  await checkPage(page, 'event-report');
  await page.context().close();
});

test('with approval on, an edit from the calendar waits; its audience is Yes and Maybe only; approved with the keyboard, it goes to them alone', async () => {
  assert.ok(made.event, 'the test before made the event');
  await server.ok('PATCH', `/v1/organizers/${made.organizer}`, {
    settings: { approval: true, audience: 'accepted-or-tentative' },
  });
  const before = new Map();
  for (let i = 1; i <= 12; i++) before.set(member(i), (await server.mailTo(member(i))).length);
  const capturedBefore = (await server.captured()).length;

  // The calendar moves the event by an hour (SEQUENCE 1).
  await server.sendSmtp(
    ADA,
    INGEST,
    calendarRequest({
      from: ADA,
      name: 'Ada',
      uid: made.uid,
      sequence: 1,
      summary: 'Club night',
      start: '20370314T190000Z',
      end: '20370314T220000Z',
      location: 'The big hall',
    }),
  );
  const pending = await until('the change held for approval', async () =>
    (await server.all('/v1/pending')).find((p) => p.event === made.event),
  );
  made.pending = pending.id;
  await server.settle();
  assert.equal((await server.captured()).length, capturedBefore, 'nothing sent while it waits');

  const page = await signIn(ADA);
  await page.goto(server.url('/console/pending'), { waitUntil: 'networkidle' });
  assert.equal(await page.locator('tr[data-pending]').count(), 1);
  await checkPage(page, 'pending');
  await focusStart(page);
  await tabTo(page, (id) => document.activeElement?.getAttribute('href') === `/console/pending/${id}`, pending.id);
  await enter(page);
  assert.equal(await page.locator('[data-pending-state]').getAttribute('data-pending-state'), 'open');
  // What changes, and who would receive it: the Yes and Maybe answerers.
  const changed = await page.locator('tr[data-changed="yes"] th').allInnerTexts();
  assert.deepEqual(changed.map((t) => t.replace(' (changed)', '')).sort(), ['When', 'Where']);
  assert.equal(await page.locator('[data-audience]').getAttribute('data-audience'), '8');
  const byAnswer = Object.fromEntries(
    await page.locator('[data-audience-answer]').evaluateAll((lis) =>
      lis.map((li) => [li.dataset.audienceAnswer, Number(li.textContent.split(':').pop())]),
    ),
  );
  assert.deepEqual(byAnswer, { accepted: 5, tentative: 3 });
  const audience = await page.locator('[data-audience-address]').evaluateAll((lis) => lis.map((l) => l.dataset.audienceAddress).sort());
  assert.deepEqual(audience, [1, 2, 3, 4, 5, 6, 7, 8].map(member).sort());
  await checkPage(page, 'pending-one');

  // Approve: Tab to the button, Enter.
  await focusStart(page);
  await tabTo(page, () => document.activeElement?.dataset?.pendingAction === 'approve');
  const approved = await enter(page);
  assert.equal(approved.status(), 200);
  assert.equal(new URL(page.url()).pathname, `/console/pending/${pending.id}`);
  assert.equal(await page.locator('[data-pending-state]').getAttribute('data-pending-state'), 'approved');
  assert.equal(await page.locator('[data-pending-action]').count(), 0, 'nothing more to decide');

  // The capture folder: the update went to the eight, not to the No answerers.
  await server.settle();
  for (let i = 1; i <= 8; i++) {
    const mails = await server.waitForMail(member(i), before.get(member(i)) + 1);
    assert.equal(mails.length, before.get(member(i)) + 1, `${member(i)}: one update`);
    const ics = await calendarOf(mails[mails.length - 1].path);
    assert.match(ics, /^METHOD:REQUEST/m);
    assert.match(ics, /^SEQUENCE:1/m);
    assert.match(ics, /^LOCATION:The big hall/m);
  }
  for (const i of [9, 10, 11, 12]) {
    assert.equal((await server.mailTo(member(i))).length, before.get(member(i)), `${member(i)}: no update`);
  }
  const guests = (await server.captured()).slice(capturedBefore).filter((m) => m.address.endsWith(`.${RUN}@example.net`));
  assert.equal(guests.length, 8, 'eight updates to recipients, no more');
  await page.context().close();
});

test('a domain owner\'s administrator sees both organizers\' events; one organizer reaches none of the other\'s pages by URL', async () => {
  assert.ok(made.event && made.list && made.pending, 'the tests before made an event, a list and a change');
  const demoEvent = server.event;
  const chair = await signIn(CHAIR);
  const seen = await chair.locator('tr[data-event]').evaluateAll((trs) => trs.map((t) => t.dataset.event));
  assert.ok(seen.includes(made.event), 'Ada’s event');
  assert.ok(seen.includes(demoEvent), 'the demo organizer’s event');
  assert.match(await chair.locator(`tr[data-event="${made.event}"]`).innerText(), /Ada’s Chess Club/);
  for (const path of [`/console/events/${made.event}`, `/console/events/${demoEvent}`, `/console/lists/${made.list}`, `/console/pending/${made.pending}`]) {
    const r = await chair.goto(server.url(path), { waitUntil: 'load' });
    assert.equal(r.status(), 200, `the administrator opens ${path}`);
  }
  await chair.context().close();

  // The demo organizer: Ada's pages are not found, its own are there.
  const other = await signIn(ORGANIZER);
  const mine = await other.locator('tr[data-event]').evaluateAll((trs) => trs.map((t) => t.dataset.event));
  assert.ok(mine.includes(demoEvent));
  assert.ok(!mine.includes(made.event), 'Ada’s event is not listed');
  for (const path of [
    `/console/events/${made.event}`,
    `/console/events/${made.event}/lists`,
    `/console/events/${made.event}/chart.svg`,
    `/console/events/${made.event}/report`,
    `/console/events/${made.event}/report.csv`,
    `/console/lists/${made.list}`,
    `/console/lists/${made.list}/rows.csv`,
    `/console/pending/${made.pending}`,
    `/console/organizers/${made.organizer}/report`,
  ]) {
    const r = await other.context().request.get(server.url(path), { maxRedirects: 0 });
    assert.equal(r.status(), 404, `the demo organizer opens ${path}: ${r.status()}`);
    assert.ok(!(await r.text()).includes('Club night'), `${path} tells nothing of the event`);
  }
  const r = await other.goto(server.url(`/console/events/${made.event}`));
  assert.equal(r.status(), 404);
  assert.equal(await other.locator('text=Club night').count(), 0);
  await other.context().close();

  // And Ada does not reach the demo organizer's event.
  const ada = await signIn(ADA);
  const back = await ada.context().request.get(server.url(`/console/events/${demoEvent}`), { maxRedirects: 0 });
  assert.equal(back.status(), 404);
  await ada.context().close();
});

test('every console page was checked (axe-core, width, screenshot)', () => {
  assert.deepEqual([...checked].sort(), consolePagesOf('console.test.mjs').sort());
});
