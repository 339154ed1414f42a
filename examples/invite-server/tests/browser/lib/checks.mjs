// Checks every page gets: axe-core's accessibility rules, keyboard reach
// and visible focus, the page's main form.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core in the page (evaluated by the driver, so the page's CSP,
 * which allows no inline script, stays in force) and asserts that it finds
 * no `serious` or `critical` violation.
 */
export async function assertAccessible(page, what) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
    }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${what}: axe-core violations\n${JSON.stringify(bad, null, 2)}`);
  return result;
}

/**
 * Puts the keyboard's starting point at the top of the page, as a person
 * who just opened it (an autofocused control moved it): a temporary
 * element out of the Tab order, first in the body, takes the focus.
 */
export async function focusStart(page) {
  await page.evaluate(() => {
    let start = document.getElementById('calinvite-test-start');
    if (!start) {
      start = document.createElement('span');
      start.id = 'calinvite-test-start';
      start.tabIndex = -1;
      document.body.prepend(start);
    }
    start.focus();
    window.scrollTo(0, 0);
  });
}

/** Marks the page's keyboard-reachable controls (`data-kb`) and describes them. */
export async function controls(page) {
  return page.evaluate(() => {
    const sel = 'a[href], button, input, select, textarea, summary, [tabindex], [contenteditable="true"]';
    const out = [];
    let i = 0;
    for (const el of document.querySelectorAll(sel)) {
      if (el.type === 'hidden') continue;
      if (el.disabled || el.closest('[hidden], [inert]')) continue;
      const cs = getComputedStyle(el);
      if (cs.display === 'none' || cs.visibility === 'hidden') continue;
      const r = el.getBoundingClientRect();
      const onScreen = r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0;
      out.push({
        kb: String(i),
        tag: el.tagName.toLowerCase(),
        type: el.type ?? null,
        name: el.getAttribute('name'),
        tabIndex: el.tabIndex,
        onScreen,
        text: (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 60),
      });
      el.setAttribute('data-kb', String(i));
      i += 1;
    }
    return out;
  });
}

/** The styles that show focus, of the element and of its label or row. */
async function focusStyles(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const pick = (e) => {
      if (!e) return null;
      const cs = getComputedStyle(e);
      return {
        outline: `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}`,
        outlineVisible: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0,
        boxShadow: cs.boxShadow,
        background: cs.backgroundColor,
        border: `${cs.borderTopColor} ${cs.borderTopWidth}`,
        decoration: cs.textDecorationLine,
        color: cs.color,
      };
    };
    const r = el.getBoundingClientRect();
    const onScreen = r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0 && r.left < innerWidth && r.top < innerHeight;
    return { kb: el.getAttribute('data-kb'), onScreen, self: pick(el), label: pick(el.closest('label')) };
  });
}

/**
 * Tabs through the page from its start. Asserts that Tab reaches every
 * control that takes focus (one stop per radio group) and that each shows
 * where the focus is (an outline, or a style that differs from the same
 * control without focus). Answers the controls in the order reached.
 */
export async function assertKeyboardReach(page, what) {
  const all = await controls(page);
  const focusable = all.filter((c) => c.tabIndex >= 0);
  // A control off screen (the honeypot) must be out of the Tab order, or
  // come on screen when focused (a "skip to content" link): checked below.
  // Styles without focus, for comparison.
  await page.evaluate(() => document.activeElement?.blur());
  const unfocused = {};
  for (const c of focusable) {
    unfocused[c.kb] = await page.evaluate((kb) => {
      const e = document.querySelector(`[data-kb="${kb}"]`);
      const pick = (x) => {
        if (!x) return null;
        const cs = getComputedStyle(x);
        return {
          outline: `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}`,
          boxShadow: cs.boxShadow,
          background: cs.backgroundColor,
          border: `${cs.borderTopColor} ${cs.borderTopWidth}`,
          decoration: cs.textDecorationLine,
          color: cs.color,
        };
      };
      return { self: pick(e), label: pick(e.closest('label')) };
    }, c.kb);
  }
  const reached = [];
  const seen = new Set();
  const noFocusShown = [];
  const offScreen = [];
  const limit = focusable.length * 2 + 10;
  await focusStart(page);
  for (let n = 0; n < limit; n++) {
    await page.keyboard.press('Tab');
    const s = await focusStyles(page);
    if (!s || s.kb === null) {
      if (reached.length > 0) break; // back to the browser's UI: the end of the page
      continue;
    }
    if (seen.has(s.kb)) break;
    seen.add(s.kb);
    reached.push(s.kb);
    const before = unfocused[s.kb];
    const differs = (a, b) =>
      a && b && (a.outline !== b.outline || a.boxShadow !== b.boxShadow || a.background !== b.background ||
        a.border !== b.border || a.decoration !== b.decoration || a.color !== b.color);
    const shown = s.self.outlineVisible || differs(s.self, before?.self) || differs(s.label, before?.label);
    if (!shown) noFocusShown.push(focusable.find((c) => c.kb === s.kb));
    if (!s.onScreen) offScreen.push(focusable.find((c) => c.kb === s.kb));
  }
  // A radio group is one Tab stop.
  const radioNames = new Set(
    focusable.filter((c) => c.type === 'radio' && seen.has(c.kb)).map((c) => c.name),
  );
  const missed = focusable.filter((c) => !seen.has(c.kb) && !(c.type === 'radio' && radioNames.has(c.name)));
  assert.deepEqual(missed, [], `${what}: controls Tab never reached`);
  assert.deepEqual(noFocusShown, [], `${what}: controls that show no focus`);
  assert.deepEqual(offScreen, [], `${what}: controls focused off screen`);
  return reached.map((kb) => focusable.find((c) => c.kb === kb));
}

/**
 * Tabs until the focus is on an element matching `predicate` (evaluated in
 * the page on document.activeElement); fails after `limit` presses.
 */
export async function tabTo(page, predicate, arg, limit = 2000) {
  for (let n = 0; n < limit; n++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(predicate, arg)) return;
  }
  throw new Error(`Tab never reached the control (${predicate})`);
}

/** The page's POST forms: action, fields (name, value pairs, as the browser would send them). */
export async function postForms(page) {
  return page.evaluate(() =>
    [...document.forms]
      .filter((f) => f.method.toLowerCase() === 'post')
      .map((f) => ({
        action: f.action,
        // As the browser sends it when its first submit button is pressed.
        fields: [...new FormData(f, f.querySelector('[type=submit][name]') ?? undefined).entries()].map(([k, v]) => [k, String(v)]),
        hasCsrf: !!f.querySelector('input[type=hidden][name=csrf]'),
      })),
  );
}
