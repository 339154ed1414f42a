// Starts the already-built `invite-server` binary for a browser test: a
// temporary data folder, SQLite, HTTP and SMTP on free ports, outgoing mail
// captured as .eml files. Reads the first start's banner for the URL, the
// demo event and the demo API key; waits for /readyz; stops with SIGTERM.
// Builds nothing: scripts/browser-tests.sh builds the binary and passes its
// path in INVITE_SERVER_BIN.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The server binary; a missing one fails the run (never a skip). */
export function serverBinary() {
  const bin = process.env.INVITE_SERVER_BIN;
  if (!bin) {
    throw new Error(
      'INVITE_SERVER_BIN is not set: run examples/invite-server/scripts/browser-tests.sh ' +
        '(it builds invite-server and passes its path)',
    );
  }
  if (!existsSync(bin)) throw new Error(`INVITE_SERVER_BIN=${bin} does not exist`);
  return bin;
}

/** TOML string literal. */
export function tomlString(s) {
  return JSON.stringify(String(s));
}

/**
 * Starts a server. `config` is TOML appended to the generated file (whole
 * sections, such as `[web]`); `env` adds environment variables.
 */
export async function startServer({ config = '', env = {} } = {}) {
  const bin = serverBinary();
  const dir = await mkdtemp(join(tmpdir(), 'calinvite-browser-'));
  const dataDir = join(dir, 'data');
  const captureDir = join(dir, 'outbox');
  const file = join(dir, 'invite-server.toml');
  await writeFile(
    file,
    [
      `data_dir = ${tomlString(dataDir)}`,
      '',
      '[http]',
      'listen = "127.0.0.1:0"',
      '',
      '[smtp]',
      'listen = "127.0.0.1:0"',
      '',
      '[outbound]',
      'kind = "capture"',
      `capture_dir = ${tomlString(captureDir)}`,
      '',
      '[log]',
      'filter = "warn"',
      '',
      config,
      '',
    ].join('\n'),
  );
  const childEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('CALINVITE_')) childEnv[k] = v;
  }
  Object.assign(childEnv, { RUST_LOG: 'warn' }, env);
  const child = spawn(bin, ['--config', file], {
    cwd: dir,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let gone = null;
  exited.then((e) => (gone = e));

  const deadline = Date.now() + 60_000;
  while (!stdout.includes('Ctrl-C')) {
    if (gone) {
      throw new Error(`invite-server exited (${JSON.stringify(gone)}) before its banner:\n${stdout}\n${stderr}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`no banner from invite-server within 60 s:\n${stdout}\n${stderr}`);
    }
    await sleep(25);
  }
  const grab = (re, what) => {
    const m = stdout.match(re);
    if (!m) throw new Error(`the banner has no ${what}:\n${stdout}`);
    return m[1];
  };
  const base = grab(/HTTP API\s+(http:\/\/\S+)/, 'HTTP URL');
  const smtp = grab(/SMTP listener\s+(\S+)/, 'SMTP address');
  const event = grab(/demo event (\w+)\./, 'demo event');
  const key = grab(/^\s+(cik_\S+)\s*$/m, 'demo API key');

  const server = new Server({ child, exited, dir, dataDir, captureDir, base, smtp, event, key, logs: () => stderr });
  // Ready when the database answers.
  while (true) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (gone) throw new Error(`invite-server exited before /readyz:\n${stderr}`);
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`invite-server did not answer /readyz within 60 s:\n${stderr}`);
    }
    await sleep(50);
  }
  return server;
}

export class Server {
  constructor(o) {
    Object.assign(this, o);
    this.origin = new URL(o.base).origin;
  }

  /** An absolute URL on this server. */
  url(path) {
    return new URL(path, this.base).toString();
  }

  /** Calls the API with the demo key; answers `{status, body, headers}` (body parsed when JSON). */
  async api(method, path, body, { key = this.key, headers = {} } = {}) {
    const h = { authorization: `Bearer ${key}`, ...headers };
    let payload;
    if (body !== undefined) {
      h['content-type'] ??= 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const r = await fetch(this.url(path), { method, headers: h, body: payload, redirect: 'manual' });
    const text = await r.text();
    let parsed = text;
    if ((r.headers.get('content-type') ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        // left as text
      }
    }
    return { status: r.status, body: parsed, headers: r.headers };
  }

  /** Like `api`, but fails unless the status is 2xx; answers the body. */
  async ok(method, path, body, opts) {
    const r = await this.api(method, path, body, opts);
    if (r.status < 200 || r.status > 299) {
      throw new Error(`${method} ${path}: ${r.status} ${typeof r.body === 'string' ? r.body : JSON.stringify(r.body)}`);
    }
    return r.body;
  }

  /** Every page of a paged `/v1` list. */
  async all(path) {
    const items = [];
    let cursor = null;
    for (let i = 0; i < 1000; i++) {
      const sep = path.includes('?') ? '&' : '?';
      const page = await this.ok('GET', `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      items.push(...page.items);
      if (!page.next_cursor) return items;
      cursor = page.next_cursor;
    }
    throw new Error(`${path}: more than 1000 pages`);
  }

  /** Every captured message: `{path, address, name, mtime}`, oldest first. */
  async captured() {
    const out = [];
    let folders;
    try {
      folders = await readdir(this.captureDir);
    } catch {
      return out;
    }
    for (const address of folders) {
      const folder = join(this.captureDir, address);
      let files;
      try {
        files = await readdir(folder);
      } catch {
        continue;
      }
      for (const name of files) {
        if (!name.endsWith('.eml')) continue;
        const path = join(folder, name);
        out.push({ path, address, name, mtime: (await stat(path)).mtimeMs });
      }
    }
    out.sort((a, b) => a.mtime - b.mtime || a.path.localeCompare(b.path));
    return out;
  }

  /** The messages captured for one address (its raw bytes as text too). */
  async mailTo(address) {
    const all = await this.captured();
    const mine = all.filter((m) => m.address.toLowerCase() === address.toLowerCase());
    return Promise.all(mine.map(async (m) => ({ ...m, raw: await readFile(m.path, 'latin1') })));
  }

  /** Waits until `address` has at least `count` messages; answers them. */
  async waitForMail(address, count = 1, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = await this.mailTo(address);
      if (got.length >= count) return got;
      if (Date.now() > deadline) {
        throw new Error(`${address}: ${got.length} message(s) captured within ${timeoutMs} ms, wanted ${count}`);
      }
      await sleep(100);
    }
  }

  /** Waits until the capture folder holds `count` messages in all. */
  async waitForCount(count, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = (await this.captured()).length;
      if (n >= count) return n;
      if (Date.now() > deadline) throw new Error(`${n} message(s) captured within ${timeoutMs} ms, wanted ${count}`);
      await sleep(100);
    }
  }

  /** Waits until the delivery queue is empty (every message written). */
  async settle(timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await fetch(this.url('/metrics'));
      const text = await r.text();
      let busy = 0;
      for (const line of text.split('\n')) {
        const m = line.match(/^calinvite_queue_messages\{[^}]*state="(queued|leased|retrying|claimed|sending)"[^}]*\}\s+([0-9.e+]+)/);
        if (m) busy += Number(m[2]);
      }
      if (busy === 0) return;
      if (Date.now() > deadline) throw new Error(`the delivery queue still holds ${busy} message(s)`);
      await sleep(100);
    }
  }

  /** Sends one message to the server's SMTP listener (plain SMTP on loopback). */
  async sendSmtp(from, to, data) {
    const [host, port] = this.smtp.split(/:(?=\d+$)/);
    const sock = createConnection({ host, port: Number(port) });
    sock.setEncoding('utf8');
    let buffer = '';
    const waiters = [];
    sock.on('data', (d) => {
      buffer += d;
      for (;;) {
        // A whole reply: lines ending with "NNN " (last line of a reply).
        const m = buffer.match(/^((?:\d{3}-[^\r\n]*\r\n)*\d{3} [^\r\n]*\r\n)/);
        if (!m) break;
        buffer = buffer.slice(m[1].length);
        const w = waiters.shift();
        if (w) w.resolve(m[1]);
      }
    });
    const closed = new Promise((_, reject) => sock.on('error', reject));
    const reply = () =>
      Promise.race([
        new Promise((resolve, reject) => waiters.push({ resolve, reject })),
        closed,
        sleep(30_000).then(() => {
          throw new Error('SMTP: no reply within 30 s');
        }),
      ]);
    const expect = async (code) => {
      const r = await reply();
      if (!r.startsWith(String(code))) throw new Error(`SMTP: wanted ${code}, got ${r.trim()}`);
      return r;
    };
    const say = (line) => sock.write(`${line}\r\n`);
    try {
      await expect(220);
      say('EHLO browser-tests.localhost');
      await expect(250);
      say(`MAIL FROM:<${from}>`);
      await expect(250);
      say(`RCPT TO:<${to}>`);
      await expect(250);
      say('DATA');
      await expect(354);
      const body = data
        .replace(/\r?\n/g, '\r\n')
        .split('\r\n')
        .map((l) => (l.startsWith('.') ? `.${l}` : l))
        .join('\r\n');
      sock.write(`${body.endsWith('\r\n') ? body : `${body}\r\n`}.\r\n`);
      const done = await expect(250);
      say('QUIT');
      return done;
    } finally {
      sock.end();
    }
  }

  /** SIGTERM, then waits for the exit (SIGKILL after 30 s); removes the folder. */
  async stop({ keep = false } = {}) {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
      const e = await this.exited;
      clearTimeout(t);
      if (e.code !== 0) {
        throw new Error(`invite-server exited with ${JSON.stringify(e)} after SIGTERM:\n${this.logs()}`);
      }
    }
    if (!keep) await rm(this.dir, { recursive: true, force: true });
  }
}

let webKnown;
/** Whether this build has the public web pages' settings (`[web]`). */
export function knowsWeb() {
  if (webKnown === undefined) {
    webKnown = execFileSync(serverBinary(), ['example-config'], { encoding: 'utf8' }).includes('[web]');
  }
  return webKnown;
}

/**
 * `[web]` settings with rate limits far above what a test posts from one
 * address (for tests of something else than the limits).
 */
export function generousLimits() {
  if (!knowsWeb()) return '';
  return ['[web]', 'per_ip_per_minute = 100000', 'per_address_per_hour = 100000', 'per_organizer_per_hour = 1000000'].join('\n');
}
