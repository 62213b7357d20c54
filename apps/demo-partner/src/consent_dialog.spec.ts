import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { REPO_ROOT, waitFor } from '@ctp/testing';
import { axeViolations, contrastRatio, launchChromium, type Chromium } from './browser';
import { startDemoWorld, type DemoWorld } from './harness';

/**
 * <ctp-consent> in real Chromium (Debian's, driven by playwright-core), on the demo partner page
 * against a real `ctp up`: keyboard only, focus order and visible focus, names and roles,
 * contrast, 200% zoom and 320 px reflow, and an axe-core WCAG 2.1 AA scan with zero violations in
 * every state. A PNG of each state lands in dist/test-artifacts/ctp-consent/ (docs/img has copies).
 */
const SHOTS = join(REPO_ROOT, 'dist/test-artifacts/ctp-consent');

// The page.evaluate callbacks below run in the browser; this program has no DOM library.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare function getComputedStyle(element: any): any;

describe('<ctp-consent> in Chromium', () => {
  let world: DemoWorld;
  let browser: Chromium;
  let site: string;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    [world, browser] = await Promise.all([startDemoWorld(), launchChromium()]);
    site = await world.demo();
  }, 60_000);
  // Pages of one profile share cookies, and cookies ignore ports: no page may outlive its test.
  afterEach(async () => {
    for (const page of browser.context.pages()) await page.close();
  });
  afterAll(async () => {
    await browser?.close();
    await world?.stop();
  });

  /** A new page; a new visitor (session) unless `keepSession`. */
  const open = async (path = '/', options: { keepSession?: boolean } = {}) => {
    if (!options.keepSession) await browser.context.clearCookies();
    const page = await browser.context.newPage();
    await page.goto(`${site}${path}`);
    await page.locator('ctp-consent button').first().waitFor();
    return page;
  };
  const dialog = (page: Page) => page.getByRole('region', { name: /analyse this call|Gespräch auswerten/ });
  const status = (page: Page) => dialog(page).getByRole('status');
  const stateOf = (page: Page) => status(page).getAttribute('data-state');
  const focusedLabel = (page: Page) => page.evaluate(() => {
    const host = document.activeElement;
    const inner = host?.shadowRoot?.activeElement ?? host;
    return inner?.textContent?.trim() ?? '';
  });
  /** Tabs from the top of the page until `label` has the focus; returns how many presses it took. */
  const tabTo = async (page: Page, label: string) => {
    for (let presses = 1; presses <= 10; presses++) {
      await page.keyboard.press('Tab');
      if ((await focusedLabel(page)) === label) return presses;
    }
    throw new Error(`${label} never got the focus`);
  };
  const stateIs = (page: Page, state: string, timeoutMs = 5000) => waitFor(async () => (await stateOf(page)) === state, timeoutMs, `the dialog to show ${state}`);
  const look = (page: Page, label: string) =>
    page.locator('ctp-consent').getByRole('button', { name: label }).evaluate((el) => {
      const s = getComputedStyle(el);
      const r = el.getBoundingClientRect();
      return { x: Math.round(r.x), y: Math.round(r.y), height: Math.round(r.height), background: s.backgroundColor, color: s.color, font: `${s.fontSize} ${s.fontWeight}`, border: s.borderTopColor };
    });
  const expectNoAxeViolations = async (page: Page, state: string) => {
    expect([state, await axeViolations(page)]).toEqual([state, []]);
  };
  const shoot = (page: Page, state: string) => page.locator('ctp-consent').screenshot({ path: join(SHOTS, `${state}.png`) });

  it('names, roles and plain-language copy; no decision yet; zero axe violations', async () => {
    const page = await open();
    await expect(dialog(page).getByRole('heading', { level: 2 }).textContent()).resolves.toBe('May we analyse this call?');
    await expect(dialog(page).textContent()).resolves.toContain('we will analyze tone and sentiment in this call for customer support quality');
    await expect(dialog(page).getByRole('button').allTextContents()).resolves.toEqual(['Agree', 'Decline']);
    expect(await stateOf(page)).toBe('none');
    await expectNoAxeViolations(page, 'none');
    await shoot(page, 'none');
    await page.close();
  });

  it('keyboard only: agree, then Revoke sits exactly where Agree was (same key presses, same look), then revoke', async () => {
    const page = await open();
    const toAgree = await tabTo(page, 'Agree');
    const agreeLook = await look(page, 'Agree');
    await page.keyboard.press('Enter');
    await stateIs(page, 'granted');
    expect(await focusedLabel(page)).toBe('Revoke consent');
    await expect(status(page).textContent()).resolves.toMatch(/^Consent given/);
    expect(await look(page, 'Revoke consent')).toEqual(agreeLook);
    await expectNoAxeViolations(page, 'granted');
    await shoot(page, 'granted');

    // A later visit in the same session: Revoke takes as many key presses as Agree did.
    const again = await open('/', { keepSession: true });
    expect(await stateOf(again)).toBe('granted');
    expect(await tabTo(again, 'Revoke consent')).toBe(toAgree);
    await again.keyboard.press('Space');
    await stateIs(again, 'revoked');
    expect(await focusedLabel(again)).toBe('Agree');
    await expect(status(again).textContent()).resolves.toMatch(/^Consent revoked/);
    await expectNoAxeViolations(again, 'revoked');
    await shoot(again, 'revoked');
    await page.close();
    await again.close();
  });

  it('keyboard only: decline; the status is announced through a polite live region', async () => {
    const page = await open();
    await tabTo(page, 'Decline');
    await page.keyboard.press('Space');
    await stateIs(page, 'declined');
    await expect(status(page).textContent()).resolves.toMatch(/^You declined/);
    expect(await focusedLabel(page)).toBe('Agree');
    await expectNoAxeViolations(page, 'declined');
    await shoot(page, 'declined');
    await page.close();
  });

  it('focus is always visible, and text, controls and focus ring meet the contrast minimums', async () => {
    const page = await open();
    await tabTo(page, 'Agree');
    const seen = await page.locator('ctp-consent').getByRole('button', { name: 'Agree' }).evaluate((el) => {
      const s = getComputedStyle(el);
      const section = getComputedStyle(el.closest('section')!);
      return { outlineStyle: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth), outlineColor: s.outlineColor, color: s.color, bg: s.backgroundColor, sectionBg: section.backgroundColor, text: section.color };
    });
    expect(seen.outlineStyle).toBe('solid');
    expect(seen.outlineWidth).toBeGreaterThanOrEqual(2);
    expect(contrastRatio(seen.outlineColor, seen.sectionBg)).toBeGreaterThanOrEqual(3);
    expect(contrastRatio(seen.color, seen.bg)).toBeGreaterThanOrEqual(4.5);
    expect(contrastRatio(seen.text, seen.sectionBg)).toBeGreaterThanOrEqual(4.5);
    await page.close();
  });

  it.each([
    ['320 px wide (reflow, WCAG 1.4.10)', 320, 640],
    ['200% zoom of a 1280 px window', 640, 400],
  ])('%s: no horizontal scrolling, every control fully visible, no axe violations', async (_name, width, height) => {
    const page = await open();
    await page.setViewportSize({ width, height });
    const layout = await page.evaluate(() => {
      const host = document.querySelector('ctp-consent')!;
      const buttons = [...host.shadowRoot!.querySelectorAll('button')].map((b) => b.getBoundingClientRect());
      return {
        scrollWidth: document.documentElement.scrollWidth,
        clientWidth: document.documentElement.clientWidth,
        buttonsInside: buttons.every((r) => r.left >= 0 && r.right <= document.documentElement.clientWidth && r.width > 0),
        sectionClipped: [...host.shadowRoot!.querySelectorAll('p, h2')].some((el) => el.scrollWidth > el.clientWidth + 1),
      };
    });
    expect(layout).toEqual({ scrollWidth: layout.clientWidth, clientWidth: width, buttonsInside: true, sectionClipped: false });
    await expectNoAxeViolations(page, `${width}px`);
    if (width === 320) await shoot(page, 'none-320px');
    await page.close();
  });

  it('German copy (de-DE) from its ui_copy_id, with the document language set for screen readers', async () => {
    const page = await open('/?lang=de');
    await expect(dialog(page).getByRole('heading', { level: 2 }).textContent()).resolves.toBe('Dürfen wir dieses Gespräch auswerten?');
    await expect(dialog(page).getAttribute('lang')).resolves.toBe('de-DE');
    await expect(dialog(page).getByRole('button').allTextContents()).resolves.toEqual(['Zustimmen', 'Ablehnen']);
    await expectNoAxeViolations(page, 'none (de-DE)');
    await shoot(page, 'none-de-DE');
    await page.close();
  });

  it('shows "expired" when the session consent ends, announced without a reload', async () => {
    const shortSite = await world.demo({ consentSeconds: 1 });
    await browser.context.clearCookies();
    const page = await browser.context.newPage();
    await page.goto(shortSite);
    await page.locator('ctp-consent button').first().waitFor();
    await tabTo(page, 'Agree');
    await page.keyboard.press('Enter');
    await stateIs(page, 'granted');
    await stateIs(page, 'expired');
    await expect(status(page).textContent()).resolves.toMatch(/ended with this session/);
    await expectNoAxeViolations(page, 'expired');
    await shoot(page, 'expired');
    await page.close();
  });
});
