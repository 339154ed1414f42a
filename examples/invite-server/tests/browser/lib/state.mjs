// What the server holds, read through its API and its capture folder, so a
// test can tell that a request changed nothing.

import assert from 'node:assert/strict';

/**
 * A snapshot: the count of captured messages, the domain owner's report,
 * every event with its answer counts, every invitation's status of the
 * events given, the suppression list, the organizers and the held
 * invitations.
 */
export async function snapshot(server, { events = [] } = {}) {
  await server.settle();
  // Some mail is written after the answer, outside the queue (the console's
  // sign-in link): the count must hold still for a moment.
  let captured = (await server.captured()).length;
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = (await server.captured()).length;
    if (now === captured) break;
    captured = now;
  }
  const s = {
    captured,
    report: await server.ok('GET', '/v1/owner/report'),
    events: await server.all('/v1/events'),
    suppressions: await server.all('/v1/suppressions'),
    organizers: await server.all('/v1/organizers'),
    held: await server.all('/v1/held'),
  };
  s.invitations = {};
  for (const code of events) {
    s.invitations[code] = (await server.all(`/v1/events/${code}/invitations`)).map((i) => stable(i));
  }
  return s;
}

/** An invitation without its moving parts that are not state (none yet). */
function stable(i) {
  return i;
}

/** Asserts that nothing changed between two snapshots. */
export function assertUnchanged(before, after, what) {
  assert.equal(after.captured, before.captured, `${what}: messages captured`);
  assert.deepEqual(after.report, before.report, `${what}: the owner's report`);
  assert.deepEqual(after.events, before.events, `${what}: the events`);
  assert.deepEqual(after.suppressions, before.suppressions, `${what}: the suppression list`);
  assert.deepEqual(after.organizers, before.organizers, `${what}: the organizers`);
  assert.deepEqual(after.held, before.held, `${what}: the held invitations`);
  assert.deepEqual(after.invitations, before.invitations, `${what}: the invitations`);
}
