// Before the visit: the level-1 path (in person first, then level 2), booking, moving and
// cancelling a booking from the ticket, and a draft typed before the visit that the counter
// officer opens with the ticket code. Each in Vietnamese and English.

import assert from 'node:assert/strict';

import {
  BIRTH,
  BIRTH_ANSWERS,
  assertAt,
  assertPageLanguage,
  fillForm,
  signIn,
  text,
} from './flows.mjs';

/** Thới Sơn's reception points in samples/wards.toml: the centre and the two former offices. */
const RECEPTION_POINTS = 3;

/** Where `needle` starts in the main text of the page; fails when it is not there. */
async function offset(page, needle) {
  const main = (await page.locator('main').innerText()).replace(/\s+/g, ' ');
  const at = main.indexOf(needle);
  assert.ok(at >= 0, `\`${needle}\` on ${page.url()}`);
  return at;
}

/** A level-1 resident: the counter and the way to level 2 lead, signing in again comes after. */
export async function level1InPersonFirst(flow, gateway) {
  const { page } = flow;
  await page.goto(`${gateway}/procedures/${BIRTH}`);
  await signIn(flow, gateway, 'level1');
  const url = assertAt(page, gateway, `/procedures/${BIRTH}`);
  assert.equal(url.searchParams.get('outcome'), 'level_unreachable');
  await assertPageLanguage(page, 'vi');
  assert.equal(await text(page, '.notice-warning h2'), 'Tài khoản của bạn ở mức độ 1: nộp hồ sơ trực tiếp');
  assert.equal(await page.locator('main li.reception-point').count(), RECEPTION_POINTS, 'every reception point');
  const points = await offset(page, 'Nơi nộp hồ sơ');
  const level2 = await offset(page, 'Cách nâng tài khoản định danh điện tử lên mức độ 2');
  const again = await offset(page, 'Tôi vừa được nâng lên mức độ 2, đăng nhập lại');
  const bring = await offset(page, 'Giấy tờ cần mang theo');
  assert.ok(points < level2 && level2 < again && again < bring, 'places, level 2, sign in again, documents');
  assert.match(await text(page, 'main .level2'), /Tối đa 3 ngày làm việc \(7 ngày làm việc/);
  assert.match(await text(page, 'main .level2'), /VNeID hoặc tin nhắn SMS/);
  assert.match(await text(page, 'main .assisted'), /số hóa \(scan\) giấy tờ ngay tại quầy/);
  assert.equal(await page.locator('main a.button', { hasText: 'Thử đăng nhập lại' }).count(), 0);
  // The level-1 login is remembered as failed: signing in again first forgets it ("try again").
  const secondary = page.locator('main form.try-again', { hasText: 'Tôi vừa được nâng lên mức độ 2' });
  assert.equal(await secondary.getAttribute('action'), `/procedures/${BIRTH}/try-again?lang=vi`);
  assert.ok((await page.locator('main a[href^="tel:"]').count()) >= RECEPTION_POINTS, 'phones are tel: links');
  await flow.capture('level1-referral-vi');

  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('lang') === 'en'),
    page.locator('nav.lang-switch a[hreflang="en"]').click(),
  ]);
  await assertPageLanguage(page, 'en');
  assert.equal(await text(page, '.notice-warning h2'), 'Your account is level 1: file in person');
  const pointsEn = await offset(page, 'Where to go');
  const level2En = await offset(page, 'How to raise your e-identity account to level 2');
  const againEn = await offset(page, 'I have just been raised to level 2, sign in again');
  assert.ok(pointsEn < level2En && level2En < againEn);
  assert.match(await text(page, 'main .level2'), /At most 3 working days \(7 if your identity card has expired/);
  await flow.capture('level1-referral-en');
}

/** Books the first free slot on the open referral page; returns the code and the time label. */
async function bookFirst(flow, gateway, confirmed) {
  const { page } = flow;
  const code = await text(page, 'main .ticket-code');
  const select = page.locator('main select[name="start"]');
  const first = select.locator('option').first();
  const time = (await first.innerText()).replace(/\s*\(.*\)\s*$/, '').trim();
  await select.selectOption(await first.getAttribute('value'));
  await Promise.all([
    page.waitForURL((u) => u.pathname === `/tickets/${code}/booking`),
    page.locator(`main form[action^="/procedures/${BIRTH}/book"] button[type="submit"]`).click(),
  ]);
  assert.equal(await text(page, 'h1'), confirmed);
  assert.ok((await text(page, 'main dl.details')).includes(time), `the confirmation shows ${time}`);
  return { code, time };
}

/** Books, moves and cancels from the ticket page, in `lang`. */
async function bookMoveCancel(flow, gateway, lang, words) {
  const { page } = flow;
  await page.goto(`${gateway}/procedures/${BIRTH}?in_person=1&lang=${lang}`);
  await assertPageLanguage(page, lang);
  assert.equal(await page.locator('main form input[name="ticket_token"]').count(), 1, 'the booking form carries the ticket token');
  const { code, time } = await bookFirst(flow, gateway, words.confirmed);
  assert.ok((await text(page, 'main dl.details')).includes(`${words.code} ${code}`));
  await flow.capture(`booking-confirmed-${lang}`);

  await Promise.all([
    page.waitForURL((u) => u.pathname === `/tickets/${code}`),
    page.locator(`main a.button[href^="/tickets/${code}?"]`).click(),
  ]);
  const manage = page.locator('main section.manage-booking');
  assert.ok((await manage.innerText()).includes(time), 'the ticket shows the current time');
  await flow.capture(`ticket-manage-${lang}`);

  // Move to another time.
  const move = manage.locator(`form[action^="/tickets/${code}/booking/move"]`);
  const other = move.locator('select[name="start"] option').nth(1);
  const newTime = (await other.innerText()).replace(/\s*\(.*\)\s*$/, '').trim();
  await move.locator('select[name="start"]').selectOption(await other.getAttribute('value'));
  await Promise.all([
    page.waitForURL((u) => u.pathname === `/tickets/${code}/booking`),
    move.locator('button[type="submit"]').click(),
  ]);
  const moved = await text(page, 'main dl.details');
  assert.ok(moved.includes(newTime), `moved to ${newTime}: ${moved}`);
  await flow.capture(`booking-moved-${lang}`);

  // Cancel it from the ticket page.
  await page.goto(`${gateway}/tickets/${code}?lang=${lang}`);
  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('cancelled') === '1'),
    page.locator(`main form[action^="/tickets/${code}/booking/cancel"] button[type="submit"]`).click(),
  ]);
  assert.equal(await text(page, '.notice-success h2'), words.cancelled);
  assert.equal(await page.locator('main section.manage-booking').count(), 0, 'no booking left to manage');
  await flow.capture(`booking-cancelled-${lang}`);
}

/** Booking, moving and cancelling a booking, in Vietnamese. */
export async function bookingMoveCancelVi(flow, gateway) {
  await bookMoveCancel(flow, gateway, 'vi', {
    confirmed: 'Đã đặt lịch hẹn',
    code: 'Mã lịch hẹn',
    cancelled: 'Đã hủy lịch hẹn',
  });
}

/** Booking, moving and cancelling a booking, in English. */
export async function bookingMoveCancelEn(flow, gateway) {
  await bookMoveCancel(flow, gateway, 'en', {
    confirmed: 'Booking confirmed',
    code: 'Appointment code',
    cancelled: 'Booking cancelled',
  });
}

/**
 * A signed-out resident fills in the form before the visit (saved as the ticket's draft) and
 * the counter officer opens it with the ticket code.
 */
export async function draftBeforeVisit(flow, gateway) {
  const { page } = flow;
  await page.goto(`${gateway}/procedures/${BIRTH}?in_person=1&lang=en`);
  const code = await text(page, 'main .ticket-code');
  await Promise.all([
    page.waitForURL((u) => u.pathname === `/tickets/${code}/draft`),
    page.locator(`main a[href^="/tickets/${code}/draft"]`).click(),
  ]);
  await assertPageLanguage(page, 'en');
  assert.equal(await text(page, 'h1'), 'Form filled in before the visit');
  const form = page.locator(`main form[action^="/tickets/${code}/draft"]`);
  assert.equal(await form.locator('input[name="ticket_token"]').count(), 1);
  await fillForm(form, BIRTH_ANSWERS);
  await flow.capture('draft-filled-en');
  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('saved') === '1'),
    form.locator('button[type="submit"]').click(),
  ]);
  assert.equal(await text(page, '.notice-success h2'), 'Draft saved');
  assert.equal(await page.locator('main input[name="child_name"]').inputValue(), BIRTH_ANSWERS.child_name);
  await flow.capture('draft-saved-en');

  // The same draft page in Vietnamese, with the answers kept.
  await page.goto(`${gateway}/tickets/${code}/draft?lang=vi`);
  assert.equal(await text(page, 'h1'), 'Tờ khai điền trước');
  assert.equal(await page.locator('main input[name="child_name"]').inputValue(), BIRTH_ANSWERS.child_name);
  await flow.capture('draft-vi');

  // The officer looks the ticket up and sees what the resident typed.
  await page.goto(`${gateway}/staff`);
  await signIn(flow, gateway, 'officer', 'main a.button[href^="/staff/login"]');
  assertAt(page, gateway, '/staff');
  await page.goto(`${gateway}/staff/tickets?code=${encodeURIComponent(code)}`);
  assert.equal(await text(page, '.notice-success h2'), 'Mã lịch hẹn hợp lệ');
  const details = await text(page, '.notice-success dl');
  assert.ok(details.includes(BIRTH_ANSWERS.child_name), `the officer sees the draft: ${details}`);
  assert.ok(details.includes(BIRTH_ANSWERS.mother_citizen_id), details);
  await flow.capture('staff-sees-draft');
}
