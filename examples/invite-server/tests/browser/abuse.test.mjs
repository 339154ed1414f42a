// Abuse of the public forms is held at the configured limits: a flood
// from one IP address, many requests for one mail address (from many IP
// addresses), and requests across many events of one organizer each get a
// 429 page with Retry-After once past the limit, and nothing more is sent;
// a replayed form is refused and sends nothing.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { postForm, Visitor } from './lib/http.mjs';
import { address, ctaLink, DEMO_SLUG, prepare } from './lib/pages.mjs';
import { startServer } from './lib/server.mjs';

const PER_IP = 5;
const PER_ADDRESS = 3;
const PER_ORGANIZER = 12;

let server;
let events = [];
let nextIp = 10;

/** A visitor from a loopback address of its own (127.0.1.x). */
function visitor() {
  nextIp += 1;
  return new Visitor(`127.0.1.${nextIp}`, server.origin);
}

before(async () => {
  server = await startServer({
    config: [
      '[web]',
      `per_ip_per_minute = ${PER_IP}`,
      `per_address_per_hour = ${PER_ADDRESS}`,
      `per_organizer_per_hour = ${PER_ORGANIZER}`,
    ].join('\n'),
  });
  const { organizer } = await prepare(server);
  // Events of the demo organizer to spread requests over.
  for (let i = 0; i < PER_ORGANIZER + 4; i++) {
    const e = await server.ok('POST', '/v1/events', {
      organizer,
      summary: `Open day ${i + 1}`,
      start: `2036-07-${String(i + 1).padStart(2, '0')}T10:00`,
      end: `2036-07-${String(i + 1).padStart(2, '0')}T12:00`,
      time_zone: 'Europe/Madrid',
    });
    events.push(e.code);
  }
});

after(async () => {
  await server?.stop();
});

/**
 * Opens the call-to-action page as `v` and presses its button. Answers
 * `'sent'`, `'limited'` (a 429 page with Retry-After, at either step) or
 * throws on anything else.
 */
async function cta(v, event, to) {
  const page = await v.get(ctaLink(server, to, 'Someone', event));
  if (page.status === 429) return limited(page);
  assert.equal(page.status, 200, `the call-to-action page: ${page.text.slice(0, 300)}`);
  const form = postForm(page.text, server.base);
  assert.ok(form, 'a form on the page');
  const r = await v.post(form.action, form.fields);
  if (r.status === 429) return limited(r);
  assert.equal(r.status, 200, `the form: ${r.status} ${r.text.slice(0, 300)}`);
  assert.match(r.text, /data-sent="[01]"/);
  return 'sent';
}

function limited(r) {
  assert.match(r.headers['content-type'] ?? '', /^text\/html/, 'the 429 is a page');
  const retry = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(retry) && retry > 0, `Retry-After: ${r.headers['retry-after']}`);
  return 'limited';
}

async function sentTo(addresses) {
  await server.settle();
  let n = 0;
  for (const a of addresses) n += (await server.mailTo(a)).length;
  return n;
}

test('a flood from one IP address is held at the limit', async () => {
  const v = visitor();
  const outcomes = [];
  const to = [];
  for (let i = 0; i < PER_IP * 3; i++) {
    to.push(address('flood'));
    outcomes.push(await cta(v, events[i % events.length], to[i]));
  }
  const first = outcomes.indexOf('limited');
  assert.ok(first >= 1 && first <= PER_IP, `held by the ${PER_IP}th request: ${outcomes}`);
  assert.ok(outcomes.slice(first).every((o) => o === 'limited'), `held from then on: ${outcomes}`);
  assert.ok((await sentTo(to)) <= PER_IP, 'no more sent than the limit');
  // Another address is not held by this one's flood.
  assert.equal(await cta(visitor(), events[0], address('neighbour')), 'sent');
});

test('many requests for one mail address, from many IP addresses, are held at the limit', async () => {
  const to = address('target');
  const outcomes = [];
  for (let i = 0; i < PER_ADDRESS + 4; i++) outcomes.push(await cta(visitor(), events[i], to));
  assert.ok(outcomes.includes('limited'), `held: ${outcomes}`);
  assert.ok((await sentTo([to])) <= PER_ADDRESS, 'no more mail to the address than the limit');
});

test('requests across many events of one organizer are held at the organizer\'s limit', async () => {
  const outcomes = [];
  const to = [];
  for (let i = 0; i < PER_ORGANIZER + 4; i++) {
    to.push(address('wide'));
    outcomes.push(await cta(visitor(), events[i % events.length], to[i]));
  }
  assert.ok(outcomes.includes('limited'), `held: ${outcomes}`);
  // The other tests of this file sent some of the organizer's budget already.
  assert.ok((await sentTo(to)) <= PER_ORGANIZER, 'no more sent than the organizer\'s limit');
});

test('a replayed landing-page form is refused and sends nothing', async () => {
  // A fresh server: the limits above are spent.
  const fresh = await startServer();
  try {
    const v = new Visitor('127.0.2.1', fresh.origin);
    const page = await v.get(fresh.url(`/p/${DEMO_SLUG}`));
    assert.equal(page.status, 200);
    const form = postForm(page.text, fresh.base);
    const code = page.text.match(/name="event"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="event"/);
    assert.ok(code, 'an event box');
    const to = address('replay');
    const pairs = [...form.fields.filter(([k]) => k !== 'email'), ['email', to], ['event', code[1] ?? code[2]]];
    const first = await v.post(form.action, pairs);
    assert.equal(first.status, 200, first.text.slice(0, 300));
    await fresh.waitForMail(to, 1);
    const replay = await v.post(form.action, pairs);
    assert.equal(replay.status, 403, `the replay: ${replay.status}`);
    await fresh.settle();
    assert.equal((await fresh.mailTo(to)).length, 1, 'the replay sent nothing');
  } finally {
    await fresh.stop();
  }
});
