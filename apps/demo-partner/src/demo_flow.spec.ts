import { REPO_ROOT, waitFor } from '@ctp/testing';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium, type Chromium } from './browser';
import { startDemoWorld, type DemoWorld } from './harness';

/**
 * The whole partner flow in real Chromium, as a newcomer clicks through `npm run demo`: consent,
 * an allowed analysis, revocation, the live decision flipping to deny, a denied analysis with a
 * message for the person; and the dialog's outcomes reaching CTP as funnel counters and ledger
 * entries.
 */
describe('demo partner app: consent -> allowed analysis -> revoke -> denied', () => {
  let world: DemoWorld;
  let browser: Chromium;
  let site: string;

  beforeAll(async () => {
    [world, browser] = await Promise.all([startDemoWorld(), launchChromium()]);
    site = await world.demo();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await world?.stop();
  });

  const text = (page: Page, selector: string) => page.locator(selector).textContent();
  const attribute = (page: Page, selector: string, name: string) => page.locator(selector).getAttribute(name);
  const metric = async (pattern: RegExp) => Number(pattern.exec(await (await fetch(`${world.ctp.url}/metrics`)).text())?.[1] ?? 0);

  it('runs end to end, and the live view flips to deny once the revocation is pushed', async () => {
    const page = await browser.context.newPage();
    await page.goto(site);
    await page.getByRole('button', { name: 'Agree' }).waitFor();
    await waitFor(async () => (await attribute(page, '#decision', 'data-reason')) === 'consent_missing', 5000, 'the live view before consent');

    await page.getByRole('button', { name: 'Analyse this call' }).click();
    await waitFor(async () => (await attribute(page, '#analysis-result', 'data-outcome')) === 'denied', 5000, 'a denied analysis before consent');
    expect(await text(page, '#analysis-result')).toMatch(/^We need your permission/);

    await page.getByRole('button', { name: 'Agree' }).click();
    await page.getByRole('button', { name: 'Revoke consent' }).waitFor();
    await waitFor(async () => (await attribute(page, '#decision', 'data-decision')) === 'allow', 5000, 'the live view to allow');
    await page.getByRole('button', { name: 'Analyse this call' }).click();
    await waitFor(async () => (await attribute(page, '#analysis-result', 'data-outcome')) === 'allowed', 5000, 'an allowed analysis');
    expect(await text(page, '#analysis-result')).toMatch(/^Analysed: /);

    const revokedAt = Date.now();
    await page.getByRole('button', { name: 'Revoke consent' }).click();
    // The page polls every 250 ms; the push itself is measured by tools/bench/sdk.ts, not here.
    // Generous: on a loaded machine the push channel may be reconnecting and the pull fallback takes over.
    await waitFor(async () => (await attribute(page, '#decision', 'data-reason')) === 'revoked', 15_000, 'the live view to deny with revoked');
    console.log(`demo: revoke click -> live view shows deny in ${Date.now() - revokedAt} ms (includes the 250 ms page poll)`);
    await page.getByRole('button', { name: 'Analyse this call' }).click();
    await waitFor(async () => (await text(page, '#analysis-result'))?.startsWith('You withdrew your consent') === true, 5000, 'a denied analysis after revocation');
    await page.screenshot({ path: join(REPO_ROOT, 'dist/test-artifacts/ctp-consent/demo-after-revoke.png'), fullPage: true });

    // The dialog's outcomes (shown, agreed, revoked) reached CTP through the partner backend.
    await waitFor(async () => (await metric(/^ctp_consent_funnel_events_total\{partner="demo",outcome="revoked"\} (\d+)/m)) === 1, 5000, 'the revoked funnel event');
    expect(await metric(/^ctp_consent_funnel_events_total\{partner="demo",outcome="agreed"\} (\d+)/m)).toBe(1);
    expect(await metric(/^ctp_consent_funnel_events_total\{partner="demo",outcome="shown"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    await waitFor(async () => (await metric(/^ctp_ledger_entries_total\{type="consent.funnel"\} (\d+)/m)) >= 3, 10_000, 'funnel events in the ledger');
  }, 90_000);
});
