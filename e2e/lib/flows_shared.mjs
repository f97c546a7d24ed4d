// Shared devices: two residents in a row on a device that ward staff put in assisted mode.

import assert from 'node:assert/strict';

import { BIRTH } from './flows.mjs';

const LABEL = 'Tổ CNSCĐ khóm Xuân Hòa';
const FIRST_CHILD = 'Trần Thị Bé Một';

function origin(url) {
  return new URL(url).origin;
}

async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ').trim();
}

/** Follows `link` to the simulator, picks `persona` and waits to be back on the gateway. */
async function signInWith(flow, gateway, persona, link) {
  const { page } = flow;
  assert.equal(await link.count(), 1, `one sign-in link on ${page.url()}`);
  await Promise.all([page.waitForURL((u) => u.origin !== origin(gateway)), link.click()]);
  assert.match(new URL(page.url()).pathname, /^\/interaction\//, `provider sign-in page, at ${page.url()}`);
  const back = page.waitForURL((u) => u.origin === origin(gateway), { waitUntil: 'load' });
  const radio = page.locator(`input[type="radio"][name="persona"][value="${persona}"]`);
  assert.equal(await radio.count(), 1, `persona \`${persona}\` offered on ${page.url()}`);
  await radio.check();
  await page.locator('form button[type="submit"]').click();
  await back;
}

/** Presses a sign-out button and follows the provider's end-session round trip home. */
async function signOutWith(flow, gateway, button) {
  const { page } = flow;
  assert.equal(await button.count(), 1, `one sign-out button on ${page.url()}`);
  await Promise.all([
    page.waitForURL((u) => u.origin === origin(gateway) && u.pathname === '/', { waitUntil: 'load' }),
    button.click(),
  ]);
}

/** The procedure page as the device's next person finds it. */
async function openProcedure(flow, gateway) {
  const { page } = flow;
  await page.goto(`${gateway}/procedures/${BIRTH}`);
  assert.equal(await text(page, 'h1'), 'Đăng ký khai sinh');
  const banner = await text(page, '.notice-warning');
  assert.ok(banner.includes(LABEL), `the page names who is helping: ${banner}`);
  assert.ok(banner.includes('5 phút'), `the page warns about the idle end: ${banner}`);
}

/**
 * An officer puts the device in assisted mode and signs out; a first resident signs in, saves
 * a draft and presses "Người tiếp theo"; the second resident, before and after signing in,
 * sees nothing of the first one's draft.
 */
export async function twoResidentsOnAnAssistedDevice(flow, gateway) {
  const { page } = flow;

  // The officer turns assisted mode on, from the staff pages.
  await page.goto(`${gateway}/staff`);
  await signInWith(flow, gateway, 'officer', page.locator('main a.button[href^="/staff/login"]'));
  await page.locator('nav.staff-nav a[href^="/staff/device"]').click();
  await page.waitForURL((u) => u.pathname === '/staff/device');
  assert.equal(await text(page, 'h1'), 'Thiết bị hỗ trợ người dân');
  await page.locator('main input#label').fill(LABEL);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/staff/device', { waitUntil: 'load' }),
    page.locator('main form[action="/staff/device"] button[type="submit"]').first().click(),
  ]);
  assert.ok((await text(page, 'main')).includes(LABEL));
  await flow.capture('assisted-device-on');
  await signOutWith(flow, gateway, page.locator('nav.staff-nav form[action="/logout"] button'));
  assert.equal((await page.goto(`${gateway}/staff`)).status(), 401, 'the officer is signed out');

  // The first resident signs in, saves a draft and hands the device on.
  await openProcedure(flow, gateway);
  await flow.capture('assisted-procedure');
  await signInWith(flow, gateway, 'level2', page.locator('main a.button[href^="/login?"]'));
  assert.match(await text(page, 'main'), /Bạn đã đăng nhập/);
  const form = page.locator(`main form[action^="/procedures/${BIRTH}/submit"]`);
  await form.locator('[name="child_name"]').fill(FIRST_CHILD);
  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('saved') === '1', { waitUntil: 'load' }),
    form.locator('button[formaction]').click(),
  ]);
  assert.equal(await page.locator('main [name="child_name"]').inputValue(), FIRST_CHILD);
  await flow.capture('assisted-first-resident-draft');
  const next = page.locator('.notice-warning form[action="/logout"] button');
  assert.equal(await text(page, '.notice-warning button'), 'Người tiếp theo');
  await signOutWith(flow, gateway, next);

  // The second resident: nothing of the first one's, signed out or signed in.
  await openProcedure(flow, gateway);
  assert.ok(!(await text(page, 'main')).includes('Bạn đã đăng nhập'), 'nobody is signed in');
  assert.ok(!(await page.content()).includes(FIRST_CHILD), 'no trace of the first draft');
  await signInWith(flow, gateway, 'officer', page.locator('main a.button[href^="/login?"]'));
  assert.match(await text(page, 'main'), /Bạn đã đăng nhập/);
  assert.equal(await page.locator('main [name="child_name"]').inputValue(), '');
  assert.ok(!(await page.content()).includes(FIRST_CHILD), 'no trace of the first draft');
  await flow.capture('assisted-second-resident');
}
