// After filing: the back office reports a status (signed, from the test) and the resident looks
// the dossier up with the code and secret printed on the receipt, in Vietnamese and English.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

import { BACKOFFICE_STATUS_KEY } from './processes.mjs';
import { BIRTH, BIRTH_ANSWERS, assertAt, assertPageLanguage, fillForm, signIn, text } from './flows.mjs';

/** Posts a back-office status report signed as the back office signs it. */
async function reportStatus(gateway, report) {
  const body = JSON.stringify(report);
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac('sha256', Buffer.from(BACKOFFICE_STATUS_KEY, 'hex')).update(`${t}.${body}`).digest('hex');
  const response = await fetch(`${gateway}/api/backoffice/status`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'wardgate-signature': `t=${t},v1=${v1}` },
    body,
  });
  const answer = await response.text();
  assert.equal(response.status, 200, `the report answered ${response.status}: ${answer}`);
  return JSON.parse(answer);
}

/** Fills the look-up form of `/dossiers` in `lang` and submits it. */
async function lookUp(flow, gateway, lang, code, secret) {
  const { page } = flow;
  await page.goto(`${gateway}/dossiers?lang=${lang}`);
  await assertPageLanguage(page, lang);
  const form = page.locator('main form[action^="/dossiers"]');
  await fillForm(form, { code, secret });
  await Promise.all([page.waitForLoadState('load'), form.locator('button[type="submit"]').click()]);
  await page.waitForURL((u) => u.pathname === '/dossiers');
}

/**
 * A level-2 resident files online; the back office reports the dossier accepted; signed out, the
 * resident looks it up with the receipt's code and secret and sees the report.
 */
export async function dossierStatusAfterReport(flow, gateway) {
  const { page } = flow;
  await page.goto(`${gateway}/procedures/${BIRTH}`);
  await signIn(flow, gateway, 'level2');
  assertAt(page, gateway, `/procedures/${BIRTH}`);
  const form = page.locator(`main form[action^="/procedures/${BIRTH}/submit"]`);
  await fillForm(form, BIRTH_ANSWERS);
  await Promise.all([
    page.waitForURL((u) => u.pathname.startsWith('/receipts/')),
    form.locator('button[type="submit"]:not([formaction])').click(),
  ]);
  const code = decodeURIComponent(new URL(page.url()).pathname.slice('/receipts/'.length));
  const details = await text(page, '.notice-success dl');
  const secret = /Mã tra cứu ([0-9A-Z]{10})/.exec(details)?.[1];
  assert.ok(secret, `the receipt prints a look-up secret: ${details}`);
  assert.match(await text(page, '.sample-banner'), /^Dữ liệu mẫu:/);
  await flow.capture('receipt-with-secret');

  const recorded = await reportStatus(gateway, {
    report_id: `e2e-${code}`,
    dossier_code: code,
    status: 'accepted',
    reported_at: new Date(Date.now() - 1000).toISOString(),
  });
  assert.equal(recorded.status, 'accepted');

  // Signed out: the code and the secret are enough.
  await page.context().clearCookies();
  await lookUp(flow, gateway, 'vi', code, secret);
  assert.equal(await text(page, 'h1'), 'Tình trạng hồ sơ');
  assert.equal(await text(page, '.notice-info h2'), 'Cán bộ đã kiểm tra và tiếp nhận hồ sơ');
  const steps = await page.locator('ol.status-steps li').allInnerTexts();
  assert.equal(steps.length, 2, steps.join(' | '));
  assert.match(steps[0], /^Cổng dịch vụ công đã nhận hồ sơ – \d{2}:\d{2} \d{2}\/\d{2}\/\d{4}$/);
  assert.match(steps[1], /^Cán bộ đã kiểm tra và tiếp nhận hồ sơ – /);
  await flow.capture('status-vi');

  await lookUp(flow, gateway, 'en', code, secret);
  await assertPageLanguage(page, 'en');
  assert.equal(await text(page, 'h1'), 'Dossier status');
  assert.equal(await text(page, '.notice-info h2'), 'An officer checked and accepted the dossier');
  await flow.capture('status-en');

  // A wrong secret opens nothing, and says so in the form.
  await lookUp(flow, gateway, 'en', code, 'AAAAAAAAAA');
  assert.equal(await text(page, 'h1'), 'Look up a dossier');
  assert.match(await text(page, '.field-error'), /No dossier opens with this dossier code and look-up secret/);
  await flow.capture('status-wrong-secret');
}
