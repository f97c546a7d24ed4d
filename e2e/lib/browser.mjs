// Debian's Chromium, headless, driven by playwright-core (no browser download), with a
// screenshot of every step and an axe-core scan of every page a flow visits.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { ARTIFACTS } from './processes.mjs';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');
const AXE_VERSION = require('axe-core/package.json').version;

/** Debian's Chromium (`apt-get install chromium`). */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Impacts that fail a run; `moderate` and `minor` findings are reported only. */
const FAILING_IMPACTS = new Set(['serious', 'critical']);

/** Bounds of one action and one navigation. */
const ACTION_TIMEOUT_MS = 10_000;
const NAVIGATION_TIMEOUT_MS = 20_000;

/**
 * Launches headless Chromium. Playwright gives every launch a fresh temporary `--user-data-dir`
 * of its own (and removes it on close); it refuses one passed in `args`.
 */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Everything the accessibility scans found, across flows, for the closing report. */
export const accessibility = {
  axeVersion: AXE_VERSION,
  pages: [],
};

/** `rule (impact): help — N nodes: selector, selector` lines of axe `violations`. */
function describeViolations(violations) {
  return violations.map((v) => {
    const targets = v.nodes
      .slice(0, 5)
      .map((node) => node.target.join(' '))
      .join(', ');
    const more = v.nodes.length > 5 ? `, … (${v.nodes.length - 5} more)` : '';
    const summary = v.nodes[0]?.failureSummary?.split('\n').slice(0, 3).join(' ') ?? '';
    return `  - ${v.id} (${v.impact}): ${v.help}\n      at ${targets}${more}\n      ${summary}\n      ${v.helpUrl}`;
  });
}

/** A readable report of failing accessibility findings, or '' when there are none. */
export function failingAccessibilityReport(pages = accessibility.pages) {
  const failing = pages.filter((p) => p.failing.length > 0);
  if (failing.length === 0) {
    return '';
  }
  return failing
    .map((p) => `${p.flow} / ${p.step}: ${p.url}\n${describeViolations(p.failing).join('\n')}`)
    .join('\n\n');
}

/** Writes the accessibility findings of `pages` to `name` in the artifacts folder. */
export function writeAccessibilityReport(name, pages) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  writeFileSync(
    path,
    JSON.stringify(
      {
        axeVersion: AXE_VERSION,
        pages: pages.map((p) => ({
          flow: p.flow,
          step: p.step,
          url: p.url,
          violations: p.violations.map((v) => ({
            id: v.id,
            impact: v.impact,
            help: v.help,
            helpUrl: v.helpUrl,
            targets: v.nodes.map((n) => n.target.join(' ')),
          })),
        })),
      },
      null,
      2,
    ),
  );
  return path;
}

/**
 * One flow: a fresh browser context (no cookies from other flows), its page, numbered
 * screenshots in `e2e/screenshots/<name>/` and an accessibility scan of every page visited.
 */
export class Flow {
  static async open(browser, name, { log = () => {} } = {}) {
    const dir = join(ARTIFACTS, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    // The flow itself runs with the Content Security Policy enforced, as residents get it.
    const context = await browser.newContext({ locale: 'vi-VN', viewport: { width: 1024, height: 800 } });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const page = await context.newPage();
    const flow = new Flow(browser, name, dir, context, page, log);
    page.on('pageerror', (error) => flow.problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // A document's own error status (a 401 sign-in page, a 404) is asserted by the flows;
      // failing subresources are caught below with their URL.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        flow.problems.push(`console error: ${message.text()}`);
      }
    });
    page.on('response', (response) => {
      if (!response.request().isNavigationRequest() && response.status() >= 400) {
        flow.problems.push(`${response.status()} for ${response.request().resourceType()} ${response.url()}`);
      }
    });
    page.on('requestfailed', (request) => {
      flow.problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`);
    });
    return flow;
  }

  constructor(browser, name, dir, context, page, log) {
    this.browser = browser;
    this.name = name;
    this.dir = dir;
    this.context = context;
    this.page = page;
    this.log = log;
    this.step = 0;
    this.scans = [];
    this.problems = [];
  }

  /**
   * Saves `e2e/screenshots/<flow>/<nn>-<label>.png` of the whole page and scans the page with
   * axe-core (recorded; failures are asserted by `assertAccessible`).
   */
  async capture(label) {
    this.step += 1;
    const file = `${String(this.step).padStart(2, '0')}-${label}.png`;
    await this.page.screenshot({ path: join(this.dir, file), fullPage: true });
    this.log(`${this.name}: ${file} ${this.page.url()}`);
    // One h1 per page (the page shell's rule 3), which axe-core does not check.
    const headings = await this.page.locator('h1').allInnerTexts();
    if (headings.length !== 1) {
      this.problems.push(`${file}: ${headings.length} h1 elements (${headings.join(' | ')}), expected one`);
    }
    await this.scan(file.replace(/\.png$/, ''));
  }

  /**
   * Runs axe-core on the page as it is now. The pages' Content Security Policy
   * (`default-src 'none'`) rightly blocks injected scripts, so the scan runs in a separate
   * context with Playwright's `bypassCSP: true` — for the scan only, never for the flow — on an
   * exact copy of the current document served at the same URL (so the stylesheet loads from the
   * gateway and contrast is measured on the real styles). Pages reached by a POST are scanned
   * the same way.
   */
  async scan(step) {
    const url = this.page.url();
    const html = await this.page.content();
    const context = await this.browser.newContext({
      bypassCSP: true,
      locale: 'vi-VN',
      viewport: { width: 1024, height: 800 },
    });
    try {
      context.setDefaultTimeout(ACTION_TIMEOUT_MS);
      const page = await context.newPage();
      const documentUrl = url.split('#')[0];
      await page.route(
        (u) => u.href.split('#')[0] === documentUrl,
        (route) =>
          route.request().isNavigationRequest()
            ? route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html })
            : route.continue(),
      );
      await page.goto(url, { waitUntil: 'load' });
      await page.addScriptTag({ path: AXE_PATH });
      const results = await page.evaluate(() =>
        // eslint-disable-next-line no-undef
        axe.run(document, { resultTypes: ['violations'] }),
      );
      const violations = results.violations;
      const entry = {
        flow: this.name,
        step,
        url,
        violations,
        failing: violations.filter((v) => FAILING_IMPACTS.has(v.impact)),
      };
      accessibility.pages.push(entry);
      this.scans.push(entry);
      // Reflow (WCAG 1.4.10): at 320 CSS pixels wide, nothing scrolls sideways.
      await page.setViewportSize({ width: 320, height: 640 });
      const wide = await page.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const overflowing = [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > width + 1)
          .filter((el) => !el.parentElement.closest('[data-overflowing]'))
          .map((el) => {
            el.setAttribute('data-overflowing', '');
            return [el.tagName.toLowerCase(), ...el.classList].join('.');
          });
        return { scrollWidth: document.documentElement.scrollWidth, width, overflowing };
      });
      if (wide.scrollWidth > wide.width) {
        this.problems.push(
          `${step}: ${wide.scrollWidth} px wide at a 320 px viewport (reflow); too wide: ${wide.overflowing.slice(0, 5).join(', ')}`,
        );
      }
    } finally {
      await context.close();
    }
  }

  /**
   * Saves the page as printed: `<nn>-<label>.png` with print styles and `<nn>-<label>.pdf`
   * (Chromium's own print to PDF), then returns to screen styles.
   */
  async print(label) {
    this.step += 1;
    const base = join(this.dir, `${String(this.step).padStart(2, '0')}-${label}`);
    await this.page.emulateMedia({ media: 'print' });
    try {
      await this.page.screenshot({ path: `${base}.png`, fullPage: true });
      await this.page.pdf({ path: `${base}.pdf`, format: 'A4', printBackground: true });
    } finally {
      await this.page.emulateMedia({ media: 'screen' });
    }
    this.log(`${this.name}: ${base}.png, .pdf (print)`);
  }

  /** Throws a readable report when any page of this flow had a serious or critical finding. */
  assertAccessible() {
    const report = failingAccessibilityReport(this.scans);
    if (report) {
      throw new Error(`serious or critical accessibility violations (axe-core ${AXE_VERSION}):\n${report}`);
    }
  }

  async close() {
    await this.context.close();
  }
}
