// The project's interop checks on captured invitations: the same
// independent reader the Rust interop tests use (tests/py/read_message.py:
// Python's email package with policy.default, and the icalendar library),
// run with $CALINVITE_PYTHON (scripts/test.sh installs it in a venv).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const READER = fileURLToPath(new URL('../../../../../tests/py/read_message.py', import.meta.url));

export function python() {
  const p = process.env.CALINVITE_PYTHON;
  if (!p) {
    throw new Error(
      'CALINVITE_PYTHON is not set: run scripts/test.sh or examples/invite-server/scripts/browser-tests.sh ' +
        '(they install the independent iCalendar reader in a venv)',
    );
  }
  return p;
}

/** What the independent reader reads in each message file. */
export async function readIndependently(paths) {
  const out = [];
  // A few hundred paths per run keeps the command line short.
  for (let i = 0; i < paths.length; i += 200) {
    const { stdout } = await run(python(), [READER, ...paths.slice(i, i + 200)], { maxBuffer: 256 * 1024 * 1024 });
    out.push(...JSON.parse(stdout));
  }
  return out;
}

/**
 * Asserts that each message is a well-formed invitation (METHOD:REQUEST)
 * to `address`, as the Rust interop tests check: ASCII, CRLF only, lines of
 * at most 78 characters, no parser defects, a text/calendar part whose
 * method matches the calendar's, one event with a UID, the recipient an
 * ATTENDEE. `summaries` (optional) are the titles expected, in any order.
 * Answers the events read (one per message).
 */
export async function assertInvitations(paths, address, { summaries } = {}) {
  const read = await readIndependently(paths);
  assert.equal(read.length, paths.length);
  const events = [];
  for (const r of read) {
    const ctx = r.path;
    assert.equal(r.ascii, true, `${ctx}: ASCII only`);
    assert.equal(r.crlf_only, true, `${ctx}: CRLF line ends only`);
    assert.ok(r.max_line <= 78, `${ctx}: a line of ${r.max_line} characters`);
    assert.deepEqual(r.defects, [], `${ctx}: parser defects`);
    assert.ok(r.tree.includes('text/calendar'), `${ctx}: a text/calendar part (${r.tree})`);
    assert.equal(r.to[1].toLowerCase(), address.toLowerCase(), `${ctx}: To`);
    assert.equal(r.method, 'REQUEST', `${ctx}: METHOD`);
    assert.equal(r.ct_method, 'REQUEST', `${ctx}: the part's method parameter`);
    assert.equal(r.ics_crlf_only, true, `${ctx}: the calendar's line ends`);
    assert.ok(r.ics_max_line <= 75, `${ctx}: a calendar line of ${r.ics_max_line} octets`);
    assert.equal(r.ics_lines_split_utf8, 0, `${ctx}: a folded line splits a UTF-8 character`);
    if (r.attachment_name !== null) assert.equal(r.attachment_same, true, `${ctx}: the .ics attachment differs`);
    assert.ok(r.events.length >= 1, `${ctx}: no VEVENT`);
    const e = r.events[0];
    assert.ok(e.UID, `${ctx}: no UID`);
    assert.ok(e.DTSTART, `${ctx}: no DTSTART`);
    const attendees = e.ATTENDEE.map(([a]) => a.toLowerCase());
    assert.ok(
      attendees.includes(`mailto:${address.toLowerCase()}`),
      `${ctx}: ${address} is not an ATTENDEE (${attendees})`,
    );
    events.push({ ...e, path: r.path, subject: r.subject });
  }
  if (summaries) {
    assert.deepEqual(
      events.map((e) => e.SUMMARY).sort(),
      [...summaries].sort(),
      'the invitations are for the events chosen',
    );
  }
  const uids = new Set(events.map((e) => e.UID));
  assert.equal(uids.size, events.length, 'one invitation per event (no UID twice)');
  return events;
}
