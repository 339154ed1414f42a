// The public pages a test can reach, one entry each. The generic tests
// (accessibility, keyboard, CSRF, no auto-submit, screenshots) run over this
// list: a new public page is covered by adding its entry here.
//
// An entry:
//   name     — a short name (screenshot files are docs/screenshots/{name}-{desktop|phone}.png)
//   open     — async (server) => absolute URL of a fresh instance of the page
//              (makes whatever the page needs: a link mailed, an invitation sent)
//   form     — the page has a POST form that changes state
//   fields   — values to type into the form's fields before submitting
//   ticks    — names of checkboxes of which the first is ticked before submitting
//   replay   — statuses a replayed form may get (default: 403)
//   status   — the page's own status (default 200)

import { postForm, Visitor } from './http.mjs';
import { findLink, readMessage } from './mail.mjs';

let serial = 0;
/** A unique address on a reserved domain. */
export function address(prefix = 'guest') {
  serial += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${serial}@example.net`;
}

/** Demo organizer: its id, with one-click unsubscribe links on its invitations. */
export async function prepare(server) {
  if (server.prepared) return server.prepared;
  const organizers = await server.all('/v1/organizers');
  const demo = organizers.find((o) => (o.addresses ?? [o.address]).includes('organizer@example.com')) ?? organizers[0];
  await server.ok('PATCH', `/v1/organizers/${demo.id}`, { settings: { list_unsubscribe: true } });
  server.prepared = { organizer: demo.id };
  return server.prepared;
}

/** Invites `to` to `event` through the API; answers the captured invitation. */
export async function invite(server, event, to, name = 'A Guest') {
  await prepare(server);
  const before = (await server.mailTo(to)).length;
  await server.ok('POST', `/v1/events/${event}/invitations`, { address: to, name });
  const mails = await server.waitForMail(to, before + 1);
  return mails[mails.length - 1];
}

/** A sign-in link mailed to a new address (`/register/{token}`). */
export async function registerLink(server) {
  const to = address('newcomer');
  await server.ok('POST', '/v1/organizers/registrations', { address: to });
  const [mail] = await server.waitForMail(to, 1);
  return findLink(await readMessage(mail.path), /\/register\/[A-Za-z0-9_-]{43}$/);
}

/** The answer link (`accept`, `tentative`, `decline`) of a new invitation to the demo event. */
export async function rsvpLink(server, answer = 'accept', event = server.event) {
  const mail = await invite(server, event, address('rsvp'));
  return findLink(await readMessage(mail.path), new RegExp(`/rsvp/[^/]+/${answer}$`));
}

/** The unsubscribe link of a new invitation to the demo event. */
export async function unsubscribeLink(server) {
  const mail = await invite(server, server.event, address('unsub'));
  return findLink(await readMessage(mail.path), /\/unsubscribe\/[^/?#]+$/);
}

/** A call-to-action link for the demo event, as an organizer's mail carries it. */
export function ctaLink(server, to = address('cta'), name = 'Cta Guest', event = server.event) {
  const u = new URL(`/e/${event}`, server.base);
  u.searchParams.set('email', to);
  u.searchParams.set('name', name);
  return u.toString();
}

/** The demo organizer's address (it signs in to the console). */
export const ORGANIZER = 'organizer@example.com';

/** A console sign-in link mailed to the demo organizer (`/console/sign-in/{token}`). */
export async function consoleLink(server) {
  const before = (await server.mailTo(ORGANIZER)).length;
  const v = new Visitor('127.0.0.1', server.origin);
  const page = await v.get(server.url('/console/sign-in'));
  if (page.status !== 200) throw new Error(`/console/sign-in: ${page.status}`);
  const form = postForm(page.text, server.base);
  const r = await v.post(form.action, [...form.fields.filter(([k]) => k !== 'email'), ['email', ORGANIZER]]);
  if (r.status !== 200) throw new Error(`POST /console/sign-in: ${r.status} ${r.text.slice(0, 300)}`);
  const mails = await server.waitForMail(ORGANIZER, before + 1);
  for (const m of mails.slice(before).reverse()) {
    try {
      return findLink(await readMessage(m.path), /\/console\/sign-in\/[^/?#]+$/);
    } catch {
      // another notice to the organizer
    }
  }
  throw new Error('no console sign-in link mailed to the demo organizer');
}

export const DEMO_SLUG = 'demo-season';

export const PAGES = [
  {
    name: 'register',
    module: 'unregistered',
    open: (s) => registerLink(s),
    form: true,
    replay: [403, 410],
  },
  {
    name: 'register-unknown-link',
    module: 'unregistered',
    open: async (s) => s.url(`/register/${'A'.repeat(43)}`),
    status: 404,
  },
  {
    name: 'console-sign-in',
    module: 'console',
    open: async (s) => s.url('/console/sign-in'),
    form: true,
    fields: { email: () => ORGANIZER },
  },
  {
    name: 'console-sign-in-link',
    module: 'console',
    open: (s) => consoleLink(s),
    form: true,
    replay: [400, 403, 404, 410],
  },
  {
    name: 'landing',
    module: 'landing',
    open: async (s) => s.url(`/p/${DEMO_SLUG}`),
    form: true,
    fields: { email: () => address('landing') },
    ticks: ['event'],
  },
  {
    name: 'call-to-action',
    module: 'public',
    open: async (s) => ctaLink(s),
    form: true,
  },
  {
    name: 'rsvp',
    module: 'public',
    open: (s) => rsvpLink(s, 'accept'),
    form: true,
  },
  {
    name: 'unsubscribe',
    module: 'public',
    open: (s) => unsubscribeLink(s),
    form: true,
  },
];

/** The pages to test: all, or those named in CALINVITE_PAGES (comma-separated, for a quick local run). */
export function pages() {
  const only = process.env.CALINVITE_PAGES;
  if (!only) return PAGES;
  const names = only.split(',').map((s) => s.trim());
  const chosen = PAGES.filter((p) => names.includes(p.name) || names.includes(p.module));
  if (chosen.length === 0) throw new Error(`CALINVITE_PAGES=${only} names no page`);
  return chosen;
}

/**
 * The console's pages, each checked by the test file `file` as its flows
 * reach them signed in (lib/console.mjs: axe-core, the width of a desktop
 * and a phone screen) and screenshotted as
 * docs/screenshots/console-{name}-{desktop|phone}.png with
 * CALINVITE_SCREENSHOTS=1; each file asserts that it checked all of its
 * own. The sign-in pages are also in PAGES above (the checks every public
 * page gets).
 */
export const CONSOLE_PAGES = [
  { name: 'sign-in', title: 'Sign in: the address typed, a link mailed', file: 'console.test.mjs' },
  { name: 'sign-in-link', title: 'The mailed link: a button, nothing more', file: 'console.test.mjs' },
  { name: 'events', title: 'Events and their answers', file: 'console.test.mjs' },
  { name: 'event', title: 'One event: answers, chart, revisions, recipients', file: 'console.test.mjs' },
  { name: 'list-new', title: 'Send to a list: a CSV file or the list pasted', file: 'console.test.mjs' },
  { name: 'list-preview', title: 'Each row’s verdict before sending', file: 'console.test.mjs' },
  { name: 'list-progress', title: 'A list’s progress', file: 'console.test.mjs' },
  { name: 'pending', title: 'Changes waiting for approval', file: 'console.test.mjs' },
  { name: 'pending-one', title: 'One change: what changes, who would receive it', file: 'console.test.mjs' },
  { name: 'reports', title: 'Reports', file: 'console.test.mjs' },
  { name: 'event-report', title: 'An event’s report', file: 'console.test.mjs' },
  { name: 'settings', title: 'Settings: sending and who receives updates', file: 'settings.test.mjs' },
  { name: 'settings-organizer', title: 'An organizer’s settings', file: 'settings.test.mjs' },
  { name: 'keys', title: 'API keys', file: 'settings.test.mjs' },
  { name: 'key', title: 'One API key', file: 'settings.test.mjs' },
  { name: 'key-new', title: 'A key just made: its secret, shown this once', file: 'settings.test.mjs' },
  { name: 'webhooks', title: 'Webhook endpoints', file: 'settings.test.mjs' },
  { name: 'webhook', title: 'One webhook endpoint', file: 'settings.test.mjs' },
  { name: 'webhook-deliveries', title: 'A webhook endpoint’s delivery log', file: 'settings.test.mjs' },
  { name: 'landing-pages', title: 'Landing pages', file: 'pages-console.test.mjs' },
  { name: 'landing-page-edit', title: 'A landing page’s editor with its preview', file: 'pages-console.test.mjs' },
  { name: 'cta-link', title: 'A call-to-action link for a mailing platform', file: 'pages-console.test.mjs' },
];
