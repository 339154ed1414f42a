// A scripted visitor without a browser, as abuse comes: plain HTTP from a
// chosen loopback address (127.0.0.0/8 all reaches the server), keeping its
// own cookies, reading forms out of the served HTML.

import http from 'node:http';

/** One request; answers `{status, headers, text}`. */
export function request(url, { method = 'GET', headers = {}, body, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, localAddress, timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within 30 s`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/g)) {
    out[m[1].toLowerCase()] = (m[2] ?? m[3] ?? m[4]).replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'");
  }
  return out;
}

/** The first POST form of an HTML page: `{action, fields: [[name, value]]}` (hidden and text inputs). */
export function postForm(html, base) {
  const m = html.match(/<form\b[^>]*method\s*=\s*["']?post["']?[^>]*>([\s\S]*?)<\/form>/i);
  if (!m) return null;
  const open = m[0].slice(0, m[0].indexOf('>') + 1);
  const action = new URL(attrs(open).action ?? '', base).toString();
  const fields = [];
  for (const t of m[1].matchAll(/<input\b[^>]*>/gi)) {
    const a = attrs(t[0]);
    if (!a.name || ['checkbox', 'radio', 'submit'].includes((a.type ?? '').toLowerCase())) continue;
    fields.push([a.name, a.value ?? '']);
  }
  return { action, fields };
}

/** A visitor from one address, with a cookie jar. */
export class Visitor {
  constructor(localAddress, origin) {
    this.localAddress = localAddress;
    this.origin = origin;
    this.cookies = new Map();
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  keep(headers) {
    for (const c of headers['set-cookie'] ?? []) {
      const [pair] = c.split(';');
      const at = pair.indexOf('=');
      if (at > 0) this.cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
  }

  async get(url) {
    const r = await request(url, { headers: { cookie: this.cookieHeader() }, localAddress: this.localAddress });
    this.keep(r.headers);
    return r;
  }

  /** POSTs name/value pairs as a same-origin form would. */
  async post(url, pairs) {
    const r = await request(url, {
      method: 'POST',
      headers: {
        cookie: this.cookieHeader(),
        origin: this.origin,
        'sec-fetch-site': 'same-origin',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(pairs).toString(),
      localAddress: this.localAddress,
    });
    this.keep(r.headers);
    return r;
  }
}
