// The check every console page gets where a test file reaches it signed in:
// axe-core, no console error, no wider than a desktop or a phone screen,
// and its screenshots with CALINVITE_SCREENSHOTS=1.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { VIEWPORTS } from './browser.mjs';
import { assertAccessible } from './checks.mjs';
import { CONSOLE_PAGES } from './pages.mjs';

const SHOTS = fileURLToPath(new URL('../../../../../docs/screenshots/', import.meta.url));

/** The names of CONSOLE_PAGES that the test file `file` checks. */
export function consolePagesOf(file) {
  return CONSOLE_PAGES.filter((p) => p.file === file).map((p) => p.name);
}

/**
 * A console page as it stands: no serious or critical axe-core violation,
 * no console error, no wider than a desktop or a phone screen; its
 * screenshots (`docs/screenshots/console-{name}-{desktop|phone}.png`) with
 * CALINVITE_SCREENSHOTS=1. `name` must be in CONSOLE_PAGES under `file`;
 * it is added to `checked`.
 */
export async function checkConsolePage(page, name, file, checked) {
  assert.ok(
    CONSOLE_PAGES.some((p) => p.name === name && p.file === file),
    `${name} is listed in lib/pages.mjs CONSOLE_PAGES for ${file}`,
  );
  await assertAccessible(page, name);
  assert.deepEqual(page.context().problems, [], `${name}: console errors (a CSP violation shows here)`);
  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(viewport);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) {
      // What sticks out, for the message.
      const wide = await page.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
          .slice(0, 8)
          .map((e) => `${e.tagName.toLowerCase()}${e.className ? `.${e.className}` : ''} (${Math.round(e.getBoundingClientRect().right)} px)`),
      );
      assert.fail(`${name}: ${overflow} px wider than a ${size} screen: ${wide.join(', ')}`);
    }
    if (process.env.CALINVITE_SCREENSHOTS === '1') {
      mkdirSync(SHOTS, { recursive: true });
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      const shot = { path: `${SHOTS}console-${name}-${size}.png` };
      // Long pages (a 1,000-row dry run) are cut at three screens.
      if (height > viewport.height * 3) shot.clip = { x: 0, y: 0, width: viewport.width, height: viewport.height * 3 };
      else shot.fullPage = true;
      await page.screenshot(shot);
    }
  }
  await page.setViewportSize(VIEWPORTS.desktop);
  checked.add(name);
}
