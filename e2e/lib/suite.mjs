// The resident suite for one provider set-up: one gateway, one Chromium, one node:test test per
// flow (each ≤ 60 s, in a fresh browser context), an accessibility report at the end.

import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';

import {
  Flow,
  accessibility,
  failingAccessibilityReport,
  launchBrowser,
  writeAccessibilityReport,
} from './browser.mjs';
import {
  cancelledLoginRefers,
  languageSwitch,
  level1BooksInPerson,
  level2FilesOnline,
  staffDesk,
  staffRefused,
} from './flows.mjs';
import { dossierStatusAfterReport } from './flows_status.mjs';
import { counterReceives } from './flows_counter.mjs';
import { bookingMoveCancelEn, bookingMoveCancelVi, draftBeforeVisit, level1InPersonFirst } from './flows_visit.mjs';
import { failedLoginRemembered, malformedAddressPage } from './flows_edges13.mjs';
import { twoResidentsOnAnAssistedDevice } from './flows_shared.mjs';

const FLOW_TIMEOUT_MS = 60_000;
const SETUP_TIMEOUT_MS = 90_000;

const FLOWS = [
  ['level2-online', 'a level-2 resident files online and gets a receipt', level2FilesOnline],
  ['level1-in-person', 'a level-1 resident is routed in person, books a slot and opens the printable ticket', level1BooksInPerson],
  ['cancelled-login', 'a cancelled login ends on a referral', cancelledLoginRefers],
  ['language-switch', 'the language switch works', languageSwitch],
  ['dossier-status', 'the back office reports a status and the resident looks the dossier up in vi and en', dossierStatusAfterReport],
  ['visit-level1', 'a level-1 resident is led to the counter and to level 2 first, in Vietnamese and English', level1InPersonFirst],
  ['visit-booking-vi', 'a resident books, moves and cancels a booking from the ticket, in Vietnamese', bookingMoveCancelVi],
  ['visit-booking-en', 'a resident books, moves and cancels a booking from the ticket, in English', bookingMoveCancelEn],
  ['failed-login-remembered', 'a failed login is remembered until the resident tries again', failedLoginRemembered],
  ['malformed-address', 'a malformed address gets a Vietnamese page with a way back', malformedAddressPage],
];

/** Flows beyond the resident ones, by suite. */
export const STAFF_DESK = ['staff-desk', 'ward staff sign in, see today\'s bookings, look up a ticket and open the statistics', staffDesk];
export const COUNTER = ['counter', 'the officer looks a booked ticket up, sees the draft, records it received, and the back office gets a counter dossier', counterReceives];
export const VISIT_DRAFT = ['visit-draft', 'a draft typed before the visit is what the counter officer opens', draftBeforeVisit];
export const STAFF_REFUSED = ['staff-refused', 'a resident signing in on the staff pages is refused', staffRefused];
export const SHARED_DEVICE = ['shared-device', 'two residents in a row on an assisted device', twoResidentsOnAnAssistedDevice];

/** The last lines of a process's output, for failure messages. */
function tail(text, lines = 40) {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Defines the suite `mode` (`simulator`, `oidc-provider`). `setUp()` starts what the gateway
 * needs and resolves with `{ gateway, output(), stop() }`.
 */
export function residentSuite(mode, setUp, extraFlows = []) {
  describe(`ward portal with ${mode}`, () => {
    let env;
    let browser;

    before(async () => {
      env = await setUp();
      browser = await launchBrowser();
      console.log(`${mode}: gateway ${env.gateway}, Chromium ${browser.version()}`);
    }, { timeout: SETUP_TIMEOUT_MS });

    after(async () => {
      try {
        await browser?.close();
      } finally {
        await env?.stop();
      }
      const pages = accessibility.pages;
      if (pages.length > 0) {
        const path = writeAccessibilityReport(`accessibility-${mode}.json`, pages);
        const counts = {};
        for (const page of pages) {
          for (const v of page.violations) {
            counts[v.impact] = (counts[v.impact] ?? 0) + 1;
          }
        }
        const found = Object.entries(counts).map(([impact, n]) => `${n} ${impact}`).join(', ') || 'no violations';
        console.log(`${mode}: axe-core ${accessibility.axeVersion} scanned ${pages.length} pages: ${found} (${path})`);
        const failing = failingAccessibilityReport(pages);
        if (failing) {
          console.log(`serious or critical accessibility violations:\n${failing}`);
        }
      }
    }, { timeout: 30_000 });

    for (const [name, title, run] of [...FLOWS, ...extraFlows]) {
      test(title, { timeout: FLOW_TIMEOUT_MS }, async (t) => {
        const flowName = `${mode}-${name}`;
        const flow = await Flow.open(browser, flowName, { log: (line) => t.diagnostic(line) });
        try {
          await run(flow, env.gateway);
        } catch (error) {
          await flow.page
            .screenshot({ path: join(flow.dir, 'failure.png'), fullPage: true })
            .catch(() => {});
          error.message += `\n  at ${flow.page.url()} (screenshot ${join(flow.dir, 'failure.png')})` +
            `\n  gateway output (last lines):\n${tail(env.output())}`;
          throw error;
        } finally {
          await flow.close();
        }
        flow.assertAccessible();
        if (flow.problems.length > 0) {
          throw new Error(`the pages reported problems:\n${flow.problems.join('\n')}`);
        }
      });
    }
  });
}

