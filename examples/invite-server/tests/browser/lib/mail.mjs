// Reads captured .eml files: headers, MIME parts (base64 and
// quoted-printable decoded), and the links a recipient can follow.

import { readFile } from 'node:fs/promises';

/** Splits a message (or a part) into unfolded headers and its body. */
function split(raw) {
  const at = raw.search(/\r?\n\r?\n/);
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? '' : raw.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers = [];
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && headers.length) {
      headers[headers.length - 1][1] += ` ${line.trim()}`;
    } else {
      const c = line.indexOf(':');
      if (c > 0) headers.push([line.slice(0, c).trim(), line.slice(c + 1).trim()]);
    }
  }
  return { headers, body };
}

function header(headers, name) {
  const h = headers.find(([k]) => k.toLowerCase() === name.toLowerCase());
  return h ? h[1] : null;
}

/** `text/html; charset="utf-8"` → `{type, params}`. */
function contentType(value) {
  const [type, ...rest] = (value ?? 'text/plain').split(';');
  const params = {};
  for (const p of rest) {
    const m = p.trim().match(/^([^=]+)=\s*"?([^"]*)"?$/);
    if (m) params[m[1].toLowerCase()] = m[2];
  }
  return { type: type.trim().toLowerCase(), params };
}

function decode(body, encoding, charset) {
  let bytes;
  switch ((encoding ?? '7bit').toLowerCase()) {
    case 'base64':
      bytes = Buffer.from(body.replace(/\s+/g, ''), 'base64');
      break;
    case 'quoted-printable': {
      const soft = body.replace(/=\r?\n/g, '');
      const out = [];
      for (let i = 0; i < soft.length; i++) {
        const c = soft[i];
        if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) {
          out.push(parseInt(soft.slice(i + 1, i + 3), 16));
          i += 2;
        } else {
          out.push(soft.charCodeAt(i) & 0xff);
        }
      }
      bytes = Buffer.from(out);
      break;
    }
    default:
      bytes = Buffer.from(body, 'latin1');
  }
  const cs = (charset ?? 'utf-8').toLowerCase();
  return bytes.toString(cs === 'us-ascii' || cs === 'utf-8' || cs === 'utf8' ? 'utf8' : 'latin1');
}

/** Every leaf part: `{type, params, headers, text}`. */
function leaves(raw, depth = 0) {
  const { headers, body } = split(raw);
  const ct = contentType(header(headers, 'Content-Type'));
  if (ct.type.startsWith('multipart/') && ct.params.boundary && depth < 10) {
    const b = `--${ct.params.boundary}`;
    const pieces = body.split(new RegExp(`(?:^|\\r?\\n)${b.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const parts = [];
    for (const piece of pieces.slice(1)) {
      if (piece.startsWith('--')) break;
      parts.push(...leaves(piece.replace(/^[ \t]*\r?\n/, ''), depth + 1));
    }
    return parts;
  }
  return [
    {
      type: ct.type,
      params: ct.params,
      headers,
      text: decode(body, header(headers, 'Content-Transfer-Encoding'), ct.params.charset),
    },
  ];
}

/** A parsed message. */
export function parseMessage(raw) {
  const { headers } = split(raw);
  return {
    headers,
    header: (name) => header(headers, name),
    parts: leaves(raw),
  };
}

export async function readMessage(path) {
  return parseMessage(await readFile(path, 'latin1'));
}

function unescapeHtml(s) {
  return s
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

/** The `href`s of an HTML text, unescaped. */
export function hrefs(html) {
  const out = [];
  for (const m of html.matchAll(/\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
    out.push(unescapeHtml(m[1] ?? m[2] ?? m[3]));
  }
  return out;
}

/**
 * The links of a message a recipient (or their mail provider) can follow:
 * every href of its HTML parts, the http(s) URLs of its plain-text parts,
 * and the http(s) URLs of List-Unsubscribe. `{url, from}` each.
 */
export function linksOf(message) {
  const out = [];
  for (const p of message.parts) {
    if (p.type === 'text/html') for (const u of hrefs(p.text)) out.push({ url: u, from: 'html' });
    if (p.type === 'text/plain') {
      for (const m of p.text.matchAll(/https?:\/\/[^\s<>"')\]]+/g)) out.push({ url: m[0], from: 'text' });
    }
  }
  const lu = message.header('List-Unsubscribe');
  if (lu) {
    for (const m of lu.matchAll(/<([^>]+)>/g)) {
      if (/^https?:/i.test(m[1])) out.push({ url: m[1], from: 'List-Unsubscribe' });
    }
  }
  return out;
}

/** The first link of `message` whose path matches `re` (on `origin` when given). */
export function findLink(message, re) {
  const l = linksOf(message).find((l) => re.test(l.url));
  if (!l) {
    throw new Error(`no link matching ${re} in the message; its links: ${JSON.stringify(linksOf(message).map((l) => l.url))}`);
  }
  return l.url;
}
