// The resident flows, the same against the built-in simulator and against oidc-provider. Each
// takes a `Flow` (browser context, screenshots, accessibility scans) and the gateway's URL, and
// asserts what the resident sees at every step.

import assert from 'node:assert/strict';

/** Birth registration (samples/catalog.toml): online at level 2, otherwise in person. */
export const BIRTH = '1.001193';

function origin(url) {
  return new URL(url).origin;
}

export async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ').trim();
}

export async function assertPageLanguage(page, lang) {
  assert.equal(await page.locator('html').getAttribute('lang'), lang, `<html lang> of ${page.url()}`);
}

/** Asserts the page is the gateway's page for `path` and that nothing on it failed. */
export function assertAt(page, gateway, path) {
  const url = new URL(page.url());
  assert.equal(url.origin, origin(gateway), `expected the gateway, at ${page.url()}`);
  assert.equal(url.pathname, path, `expected ${path}, at ${page.url()}`);
  return url;
}

/**
 * From a procedure page (or the staff sign-in page, with its link's selector): follows the
 * sign-in link to the provider, chooses `persona` on
 * its sign-in page (radio buttons and a submit button on the simulator, one button per persona
 * on oidc-provider) and waits until the browser is back on the gateway.
 */
export async function signIn(flow, gateway, persona, linkSelector = 'main a.button[href^="/login?"]') {
  const { page } = flow;
  const link = page.locator(linkSelector);
  assert.equal(await link.count(), 1, `one sign-in link (${linkSelector}) on ${page.url()}`);
  await Promise.all([page.waitForURL((u) => u.origin !== origin(gateway)), link.click()]);
  assert.match(new URL(page.url()).pathname, /^\/interaction\//, `provider sign-in page, at ${page.url()}`);
  await flow.capture(`provider-sign-in-${persona}`);

  const button = page.locator(`button[name="persona"][value="${persona}"]`);
  const back = page.waitForURL((u) => u.origin === origin(gateway), { waitUntil: 'load' });
  if ((await button.count()) > 0) {
    await button.click();
  } else {
    const radio = page.locator(`input[type="radio"][name="persona"][value="${persona}"]`);
    assert.equal(await radio.count(), 1, `persona \`${persona}\` offered on ${page.url()}`);
    await radio.check();
    await page.locator('form button[type="submit"]').click();
  }
  await back;
}

/**
 * Valid answers for the birth registration form: the `[procedure.example]` of
 * samples/catalog.toml (the optional father's number is left empty).
 */
export const BIRTH_ANSWERS = {
  child_name: 'Nguyễn Thị Mai',
  child_birth_date: '2026-02-20',
  child_sex: 'nu',
  mother_citizen_id: '089190000001',
  phone: '0912345678',
  child_ethnicity: 'Kinh',
  child_nationality: 'Việt Nam',
  place_of_birth: 'Trung tâm Y tế thị xã Tịnh Biên, tỉnh An Giang',
  home_town: 'Thới Sơn, An Giang',
  requester_name: 'Nguyễn Thị Lan',
  requester_relationship: 'me',
  copies: '1',
  delivery: 'tai_trung_tam',
};

/** Fills the fields of `form` named in `answers`; returns how many it filled. */
export async function fillForm(form, answers) {
  let filled = 0;
  for (const [name, value] of Object.entries(answers)) {
    const field = form.locator(`[name="${name}"]`);
    assert.equal(await field.count(), 1, `the form has a field \`${name}\``);
    const tag = await field.evaluate((el) => el.tagName.toLowerCase());
    if (tag === 'select') {
      await field.selectOption(value);
    } else {
      await field.fill(value);
    }
    filled += 1;
  }
  return filled;
}

/** A level-2 resident signs in, gets the online form, files it and gets a printable receipt. */
export async function level2FilesOnline(flow, gateway) {
  const { page } = flow;
  await page.goto(`${gateway}/procedures/${BIRTH}`);
  assertAt(page, gateway, `/procedures/${BIRTH}`);
  await assertPageLanguage(page, 'vi');
  assert.equal(await text(page, 'h1'), 'Đăng ký khai sinh');
  assert.equal(await text(page, '.notice-info h2'), 'Đăng nhập để nộp trực tuyến');
  await flow.capture('procedure-sign-in');

  await signIn(flow, gateway, 'level2');
  const url = assertAt(page, gateway, `/procedures/${BIRTH}`);
  assert.equal(url.searchParams.get('outcome'), null, `no failed login, at ${page.url()}`);
  assert.equal(await text(page, '.notice-success h2'), 'Bạn có thể nộp trực tuyến');
  assert.match(await text(page, 'main'), /Bạn đã đăng nhập: Tài khoản định danh điện tử mức độ 2/);
  const form = page.locator(`main form[action^="/procedures/${BIRTH}/submit"]`);
  assert.equal(await form.count(), 1, 'the online form posts to /procedures/{code}/submit');
  assert.equal(await form.getAttribute('method'), 'post');
  assert.equal(await form.locator('input[name="csrf_token"]').count(), 1, 'the form carries a CSRF token');
  await flow.capture('online-form');

  await fillForm(form, BIRTH_ANSWERS);
  await flow.capture('online-form-filled');

  const submitted = page.waitForResponse(
    (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === `/procedures/${BIRTH}/submit`,
  );
  // The form has two submit buttons: file (the form's own action) and save as draft (formaction).
  await form.locator('button[type="submit"]:not([formaction])').click();
  const response = await submitted;
  await page.waitForLoadState('load');
  assert.ok(response.status() < 400, `the submission answered ${response.status()}`);
  assert.equal(origin(page.url()), origin(gateway), `the receipt is on the gateway, at ${page.url()}`);
  assert.equal(await page.locator('.notice-error').count(), 0, `no error on the receipt page ${page.url()}`);
  const receipt = /^\/receipts\/([^/]+)$/.exec(new URL(page.url()).pathname);
  assert.ok(receipt, `the form leads to /receipts/{dossier code}, at ${page.url()}`);
  assert.equal(await text(page, 'h1'), 'Giấy tiếp nhận hồ sơ');
  assert.equal(
    await text(page, '.notice-success h2'),
    'Hồ sơ đã được gửi đến phường; cán bộ sẽ kiểm tra và tiếp nhận',
  );
  const details = await text(page, '.notice-success dl');
  assert.ok(details.includes(`Mã hồ sơ ${decodeURIComponent(receipt[1])}`), details);
  assert.ok(details.includes('Thủ tục Đăng ký khai sinh'), details);
  assert.match(details, /Ngày hẹn trả kết quả \(dự kiến\) \d{2}\/\d{2}\/\d{4}/);
  assert.ok(details.includes('Cách nhận kết quả Nhận tại Trung tâm Phục vụ hành chính công'), details);
  // The level, digest and signature are folded away under "technical details".
  const technical = page.locator('details.technical-details');
  assert.equal(await technical.locator('summary').innerText(), 'Chi tiết kỹ thuật');
  await technical.locator('summary').click();
  const folded = await text(page, 'details.technical-details dl');
  assert.ok(folded.includes('Mức độ tài khoản đã dùng 2'), folded);
  assert.match(folded, /Mã kiểm tra nội dung \(SHA-256\) [0-9a-f]{64}/);
  await flow.capture('receipt');
  await flow.print('receipt-print');
}

/**
 * A level-1 resident signs in, is routed in person (the level cannot be reached), books a slot
 * and opens the printable ticket with its QR code.
 */
export async function level1BooksInPerson(flow, gateway) {
  const { page } = flow;
  await page.goto(`${gateway}/procedures/${BIRTH}`);
  assertAt(page, gateway, `/procedures/${BIRTH}`);
  await flow.capture('procedure-sign-in');

  await signIn(flow, gateway, 'level1');
  const url = assertAt(page, gateway, `/procedures/${BIRTH}`);
  // The gateway asks for level 2 as an essential acr; a level-1 account cannot reach it, so the
  // provider ends the login with `unmet_authentication_requirements`.
  assert.equal(url.searchParams.get('outcome'), 'level_unreachable', `outcome, at ${page.url()}`);
  assert.equal(await text(page, '.notice-warning h2'), 'Tài khoản của bạn ở mức độ 1: nộp hồ sơ trực tiếp');
  assert.match(await text(page, '.notice-warning'), /mức độ 2/);
  const code = await text(page, 'main .ticket-code');
  assert.match(code, /\S{6,}/, 'the referral shows a ticket code');
  assert.match(await text(page, 'main'), /Nơi nộp hồ sơ/);
  assert.match(await text(page, 'main'), /Giờ làm việc/);
  await flow.capture('referral');

  const select = page.locator('main select[name="start"]');
  assert.equal(await select.count(), 1, 'the referral offers booking');
  const options = await select.locator('option').evaluateAll((all) =>
    all.map((o) => ({ value: o.value, label: o.textContent ?? '' })),
  );
  assert.ok(options.length > 0, 'free slots in the next 7 days');
  const chosen = options[Math.min(1, options.length - 1)];
  await select.selectOption(chosen.value);
  await flow.capture('slot-chosen');

  const bookForm = page.locator(`main form[action^="/procedures/${BIRTH}/book"]`);
  await Promise.all([
    page.waitForURL((u) => u.pathname === `/tickets/${code}/booking`),
    bookForm.locator('button[type="submit"]').click(),
  ]);
  assert.equal(await text(page, 'h1'), 'Đã đặt lịch hẹn');
  await flow.capture('booking-confirmed');
  await Promise.all([
    page.waitForURL((u) => u.pathname === `/tickets/${code}`),
    page.locator(`main a.button[href^="/tickets/${code}?"]`).click(),
  ]);
  assert.equal(await text(page, 'h1'), 'Phiếu hẹn nộp hồ sơ');
  assert.equal(await text(page, 'main .ticket-code'), code);
  const details = await text(page, 'main dl.details');
  const time = chosen.label.replace(/\s*\(.*\)\s*$/, '').trim();
  assert.ok(details.includes(`Giờ hẹn ${time}`), `the ticket shows the booked time \`${time}\`: ${details}`);
  assert.match(details, /Thủ tục Đăng ký khai sinh/);
  assert.equal(await page.locator('main figure.qr svg').count(), 1, 'the ticket has its QR code');
  await flow.capture('ticket');

  // The printable ticket: print styles hide the header navigation.
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('.lang-switch').isVisible(), false, 'no language switch in print');
  assert.equal(await page.locator('main figure.qr svg').isVisible(), true, 'the QR code prints');
  await flow.print('ticket-print');
}

/** A resident cancels at the provider and lands on a referral, with the choice to retry. */
export async function cancelledLoginRefers(flow, gateway) {
  const { page } = flow;
  await page.goto(`${gateway}/procedures/${BIRTH}`);
  await flow.capture('procedure-sign-in');

  await signIn(flow, gateway, 'cancel');
  const url = assertAt(page, gateway, `/procedures/${BIRTH}`);
  assert.equal(url.searchParams.get('outcome'), 'cancelled', `outcome, at ${page.url()}`);
  assert.equal(await text(page, '.notice-warning h2'), 'Nộp hồ sơ trực tiếp');
  assert.equal(await page.locator('main .notice-success').count(), 0, 'no online form');
  assert.equal(await page.locator(`main form[action^="/procedures/${BIRTH}/submit"]`).count(), 0);
  // The referral is remembered; retrying is the resident's explicit choice (a form).
  const retry = page.locator(`main form[action^="/procedures/${BIRTH}/try-again"] button`, { hasText: 'Thử đăng nhập lại' });
  assert.equal(await retry.count(), 1, 'a cancelled login may be retried');
  const code = await text(page, 'main .ticket-code');
  assert.match(code, /\S{6,}/, 'the referral shows a ticket code');
  await flow.capture('referral');

  const ticketLink = page.locator(`main a[href^="/tickets/${code}?"]`);
  await Promise.all([page.waitForURL((u) => u.pathname === `/tickets/${code}`), ticketLink.click()]);
  assert.equal(await text(page, 'h1'), 'Phiếu hẹn nộp hồ sơ');
  assert.equal(await page.locator('main figure.qr svg').count(), 1);
  await flow.capture('ticket');
}

/**
 * The language switch: Vietnamese by default, English and back on every page, keeping the path
 * and query; the English procedure page leads to an English referral when the resident chooses
 * to file in person.
 */
export async function languageSwitch(flow, gateway) {
  const { page } = flow;
  await page.goto(`${gateway}/`);
  await assertPageLanguage(page, 'vi');
  const wardVi = await text(page, 'h1');
  assert.match(await text(page, 'main h2'), /Thủ tục hành chính/);
  await flow.capture('home-vi');

  const toEnglish = page.locator('nav.lang-switch a[hreflang="en"]');
  assert.equal(await toEnglish.getAttribute('lang'), 'en', 'the link names its language in it');
  await Promise.all([page.waitForURL((u) => u.searchParams.get('lang') === 'en'), toEnglish.click()]);
  assertAt(page, gateway, '/');
  await assertPageLanguage(page, 'en');
  const wardEn = await text(page, 'h1');
  assert.notEqual(wardEn, wardVi, 'the ward name is translated');
  assert.match(await text(page, 'main h2'), /Administrative procedures/);
  await flow.capture('home-en');

  const procedure = page.locator(`main a[href^="/procedures/${BIRTH}"]`);
  assert.equal((await procedure.innerText()).trim(), 'Birth registration');
  await Promise.all([page.waitForURL((u) => u.pathname === `/procedures/${BIRTH}`), procedure.click()]);
  let url = assertAt(page, gateway, `/procedures/${BIRTH}`);
  assert.equal(url.searchParams.get('lang'), 'en');
  await assertPageLanguage(page, 'en');
  assert.equal(await text(page, 'h1'), 'Birth registration');
  assert.equal(await text(page, '.notice-info h2'), 'Sign in to file online');
  assert.match((await page.locator('main a.button[href^="/login?"]').getAttribute('href')) ?? '', /lang=en/);
  await flow.capture('procedure-en');

  const toVietnamese = page.locator('nav.lang-switch a[hreflang="vi"]');
  assert.equal(await text(page, 'nav.lang-switch a'), 'Tiếng Việt');
  await Promise.all([page.waitForURL((u) => u.searchParams.get('lang') === 'vi'), toVietnamese.click()]);
  url = assertAt(page, gateway, `/procedures/${BIRTH}`);
  await assertPageLanguage(page, 'vi');
  assert.equal(await text(page, 'h1'), 'Đăng ký khai sinh');
  await flow.capture('procedure-vi');

  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('lang') === 'en'),
    page.locator('nav.lang-switch a[hreflang="en"]').click(),
  ]);
  const inPerson = page.locator('main a.button', { hasText: 'File in person at the Public Administrative Service Center' });
  await Promise.all([page.waitForURL((u) => u.searchParams.get('in_person') === '1'), inPerson.click()]);
  url = assertAt(page, gateway, `/procedures/${BIRTH}`);
  assert.equal(url.searchParams.get('lang'), 'en');
  await assertPageLanguage(page, 'en');
  assert.equal(await text(page, '.notice-warning h2'), 'File in person');
  assert.match(await text(page, 'main'), /Where to go/);
  assert.match(await text(page, 'main'), /Opening hours/);
  assert.match(await text(page, 'main'), /What to bring/);
  await flow.capture('referral-en');

  // The switch keeps the query: back to Vietnamese, still the in-person choice.
  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('lang') === 'vi'),
    page.locator('nav.lang-switch a[hreflang="vi"]').click(),
  ]);
  url = assertAt(page, gateway, `/procedures/${BIRTH}`);
  assert.equal(url.searchParams.get('in_person'), '1');
  assert.equal(await text(page, '.notice-warning h2'), 'Nộp hồ sơ trực tiếp');
  await flow.capture('referral-vi');
}

/**
 * A resident chooses to file in person and books a slot: the referral's ticket code and the
 * booked time as the booking form labelled it (`HH:MM ngày DD/MM/YYYY`).
 */
async function residentBooks(flow, gateway) {
  const { page } = flow;
  await page.goto(`${gateway}/procedures/${BIRTH}?in_person=1`);
  assert.equal(await text(page, '.notice-warning h2'), 'Nộp hồ sơ trực tiếp');
  const code = await text(page, 'main .ticket-code');
  const select = page.locator('main select[name="start"]');
  const first = await select.locator('option').first();
  const time = (await first.innerText()).replace(/\s*\(.*\)\s*$/, '').trim();
  await select.selectOption(await first.getAttribute('value'));
  await flow.capture('resident-referral');
  await Promise.all([
    page.waitForURL((u) => u.pathname === `/tickets/${code}/booking`),
    page.locator(`main form[action^="/procedures/${BIRTH}/book"] button[type="submit"]`).click(),
  ]);
  assert.ok((await text(page, 'main dl.details')).includes(`Giờ hẹn ${time}`));
  await flow.capture('resident-ticket');
  return { code, time };
}

/** Opens `/staff` without a staff sign-in: the staff sign-in page, answered 401. */
async function staffSignInPage(flow, gateway) {
  const { page } = flow;
  const response = await page.goto(`${gateway}/staff`);
  assert.equal(response.status(), 401, 'the staff pages need a staff sign-in');
  assert.equal(await text(page, 'h1'), 'Trang cán bộ');
  assert.equal(await text(page, '.notice-info h2'), 'Cần đăng nhập');
  await flow.capture('staff-sign-in');
}

/**
 * Ward staff (the simulator's `officer` persona, with the `ward_officer` role) sign in on the
 * staff pages, see today's bookings and look up a resident's ticket (a mistyped code is
 * refused), and open the ward's statistics.
 */
export async function staffDesk(flow, gateway) {
  const { page } = flow;
  const { code, time } = await residentBooks(flow, gateway);

  await staffSignInPage(flow, gateway);
  await signIn(flow, gateway, 'officer', 'main a.button[href^="/staff/login"]');
  assertAt(page, gateway, '/staff');
  assert.equal(await text(page, 'h1'), 'Trang cán bộ');
  const heading = await text(page, 'main h2');
  const today = /^Lịch hẹn hôm nay \((\d\d\/\d\d\/\d{4})\)$/.exec(heading);
  assert.ok(today, `today's bookings heading, got \`${heading}\``);
  const listed = page.locator(`main table a[href^="/staff/tickets?code=${code}"]`);
  // The dashboard lists today's bookings only: the resident's slot is there when it is today.
  assert.equal(await listed.count(), time.endsWith(today[1]) ? 1 : 0, `booking ${time} on ${today[1]}`);
  await flow.capture('staff-dashboard');

  await page.locator('main input#code').fill(code);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/staff/tickets'),
    page.locator('main form[action="/staff/tickets"] button[type="submit"]').click(),
  ]);
  assert.equal(await text(page, 'h1'), 'Tra cứu mã lịch hẹn');
  assert.equal(await text(page, '.notice-success h2'), 'Mã lịch hẹn hợp lệ');
  const details = await text(page, '.notice-success dl');
  assert.ok(details.includes(`Mã ${code}`), details);
  assert.ok(details.includes('Thủ tục Đăng ký khai sinh'), details);
  assert.match(details, /Lý do nộp trực tiếp \S/);
  await flow.capture('staff-ticket-valid');

  await page.locator('main input#code').fill('TS-0000-KHONG');
  await Promise.all([
    page.waitForURL((u) => u.searchParams.get('code') === 'TS-0000-KHONG'),
    page.locator('main form[action="/staff/tickets"] button[type="submit"]').click(),
  ]);
  assert.equal(await text(page, '.notice-error h2'), 'Mã không hợp lệ');
  await flow.capture('staff-ticket-invalid');

  // The ward's statistics lead with the report sentence; the referral above is counted as a
  // referral, not as a dossier.
  const stats = await page.goto(`${gateway}/staff/stats`);
  assert.equal(stats.status(), 200);
  assert.equal(await text(page, 'h1'), 'Thống kê hồ sơ');
  const summary = await text(page, 'main p');
  assert.match(summary, /^Từ \d\d\/\d\d\/\d{4} đến \d\d\/\d\d\/\d{4}: \d+ hồ sơ, (\d+ %|–) trực tuyến/, summary);
  assert.equal(await page.locator('main form[action="/staff/stats"] input[inputmode="numeric"]').count(), 2, 'dates typed as dd/mm/yyyy');
  await flow.capture('staff-statistics');
}

/**
 * With no staff list configured (oidc-provider set up only through the WARDGATE_* variables),
 * a resident who signs in on the staff pages is refused, and the staff pages stay closed.
 */
export async function staffRefused(flow, gateway) {
  const { page } = flow;
  await staffSignInPage(flow, gateway);
  const refused = page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/callback');
  await signIn(flow, gateway, 'level2', 'main a.button[href^="/staff/login"]');
  assert.equal((await refused).status(), 403, 'the callback refuses a resident on the staff pages');
  assert.equal(await text(page, 'h1'), 'Không có quyền cán bộ');
  assert.equal(await text(page, '.notice-error h2'), 'Không có quyền truy cập');
  await flow.capture('staff-refused');

  const again = await page.goto(`${gateway}/staff`);
  assert.equal(again.status(), 401, 'no staff cookie was set');
}
