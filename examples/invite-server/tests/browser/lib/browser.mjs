// Debian's headless Chromium, driven by playwright-core. No browser is
// downloaded: scripts/browser-tests.sh installs the `chromium` package.

import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CALINVITE_CHROMIUM ?? '/usr/bin/chromium';

/**
 * The flags every start uses. Playwright gives each launch a new, empty
 * profile (its own --user-data-dir in a temporary folder). Without the
 * background-networking flags, Chromium tries to reach Google's hosts,
 * which a closed network refuses.
 */
export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: run examples/invite-server/scripts/browser-tests.sh ` +
        '(it installs Debian\'s chromium package), or set CALINVITE_CHROMIUM',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
}

/** Desktop and phone widths, for screenshots and layout checks. */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
};

/**
 * A new browser context (its own cookies), with JavaScript on or off.
 * Console errors and failed requests are collected in `context.problems`.
 */
export async function newContext(browser, { javaScript = true, viewport = VIEWPORTS.desktop, ...rest } = {}) {
  const context = await browser.newContext({
    javaScriptEnabled: javaScript,
    viewport,
    locale: 'en-GB',
    ...rest,
  });
  // Fail within seconds when a control is not there, not after 30 s.
  context.setDefaultTimeout(10_000);
  context.problems = [];
  context.on('page', (page) => watch(page, context.problems));
  return context;
}

function watch(page, problems) {
  page.on('console', (m) => {
    // A page's own status (a 404 page) is no problem; its resources' are, below.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of/.test(m.text())) {
      problems.push(`console error on ${page.url()}: ${m.text()}`);
    }
  });
  page.on('response', (r) => {
    if (r.request().resourceType() !== 'document' && r.status() >= 400) {
      problems.push(`${r.status()} for ${r.url()} (a ${r.request().resourceType()} of ${page.url()})`);
    }
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}: ${r.failure()?.errorText}`));
  page.on('pageerror', (e) => problems.push(`script error on ${page.url()}: ${e.message}`));
}

/** A page that records the requests it made (method, URL). */
export async function newPage(context) {
  const page = await context.newPage();
  page.requests = [];
  page.on('request', (r) => page.requests.push({ method: r.method(), url: r.url() }));
  return page;
}
