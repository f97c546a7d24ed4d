// Flows for the gate's edges: a failed login the browser remembers until the resident tries
// again, and the vi/en page a malformed address leads to.

import assert from 'node:assert/strict';

import { BIRTH } from './flows.mjs';

async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ').trim();
}

/**
 * A resident cancels at the provider: the referral stays on the procedure page (without
 * `?outcome=`) and in the JSON decision until "Thử đăng nhập lại", which forgets it and
 * offers to sign in again; signing in at level 2 then opens the online form.
 */
export async function failedLoginRemembered(flow, gateway) {
  const { page } = flow;
  await page.goto(`${gateway}/procedures/${BIRTH}`);
  const link = page.locator('main a.button[href^="/login?"]');
  await Promise.all([page.waitForURL((u) => u.origin !== new URL(gateway).origin), link.click()]);
  await chooseAtProvider(page, gateway, 'cancel');

  await page.goto(`${gateway}/procedures/${BIRTH}`);
  assert.equal(await text(page, '.notice-warning h2'), 'Nộp hồ sơ trực tiếp', 'still referred after a reload');
  const decision = await page.request.get(`${gateway}/api/procedures/${BIRTH}/decision`);
  const body = await decision.json();
  assert.equal(body.decision, 'in_person', JSON.stringify(body));
  assert.equal(body.reason, 'resident_cancelled');
  await flow.capture('remembered-referral');

  const retry = page.locator(`main form[action^="/procedures/${BIRTH}/try-again"] button`);
  assert.equal(await retry.count(), 1, 'one "try again" button');
  await Promise.all([
    page.waitForURL((u) => u.pathname === `/procedures/${BIRTH}` && u.searchParams.get('lang') === 'vi'),
    retry.click(),
  ]);
  assert.equal(await page.locator(`main form[action^="/procedures/${BIRTH}/try-again"]`).count(), 0, 'forgotten');
  const signIn = page.locator('main a.button[href^="/login?"]');
  await Promise.all([page.waitForURL((u) => u.origin !== new URL(gateway).origin), signIn.click()]);
  await chooseAtProvider(page, gateway, 'level2');
  assert.equal(new URL(page.url()).pathname, `/procedures/${BIRTH}`);
  assert.equal(await page.locator(`main form[action^="/procedures/${BIRTH}/submit"]`).count(), 1, 'the online form');
  await flow.capture('online-after-retry');
}

/** A duplicated query parameter: a Vietnamese page with status 400 and a way back. */
export async function malformedAddressPage(flow, gateway) {
  const { page } = flow;
  const response = await page.goto(`${gateway}/procedures/${BIRTH}?lang=vi&lang=en`);
  assert.equal(response.status(), 400);
  assert.equal(await page.locator('html').getAttribute('lang'), 'vi');
  assert.equal(await text(page, 'h1'), 'Yêu cầu không hợp lệ');
  const back = page.locator('main a.button');
  assert.equal(await back.getAttribute('href'), `/procedures/${BIRTH}?lang=vi`);
  await flow.capture('malformed-address');
}

/** Chooses `persona` on the provider's sign-in page and waits to be back on the gateway. */
async function chooseAtProvider(page, gateway, persona) {
  const back = page.waitForURL((u) => u.origin === new URL(gateway).origin, { waitUntil: 'load' });
  const button = page.locator(`button[name="persona"][value="${persona}"]`);
  if ((await button.count()) > 0) {
    await button.click();
  } else {
    await page.locator(`input[type="radio"][name="persona"][value="${persona}"]`).check();
    await page.locator('form button[type="submit"]').click();
  }
  await back;
}
