// The counter flow: a resident saves a draft and books a visit, the officer looks the ticket up,
// sees the draft and records "received", and the dossier reaches the back office with the
// channel `counter`. The flow runs its own gateway (built-in simulator) wired to a small back
// office receiver on loopback, so it can read what the outbox delivered.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';

import { BIRTH, fillForm, signIn, text } from './flows.mjs';
import { startGateway } from './processes.mjs';

/** How long the outbox may take to deliver (it polls every second). */
const DELIVERY_TIMEOUT_MS = 20_000;

/**
 * A back office on a free loopback port: it accepts every envelope (`201`) and keeps
 * `{ key, envelope }` in `received`.
 */
function startBackOffice() {
  const received = [];
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      try {
        received.push({ key: request.headers['idempotency-key'], envelope: JSON.parse(body).envelope });
        response.writeHead(201, { 'content-type': 'application/json' });
        response.end('{}');
      } catch {
        response.writeHead(400, { 'content-type': 'application/json' });
        response.end('{"error":"bad_request"}');
      }
    });
  });
  return new Promise((resolveStart, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolveStart({
        url: `http://127.0.0.1:${port}`,
        received,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

/** The JSON payload of a compact JWS (not verified: the Rust tests verify signatures). */
function jwsPayload(jws) {
  return JSON.parse(Buffer.from(jws.split('.')[1], 'base64url').toString('utf8'));
}

/** Waits until the back office has the envelope of `code`. */
async function delivered(backOffice, code) {
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const found = backOffice.received.find((r) => r.key === code);
    if (found) {
      return jwsPayload(found.envelope);
    }
    await new Promise((done) => setTimeout(done, 250));
  }
  throw new Error(`the back office did not receive dossier ${code} within ${DELIVERY_TIMEOUT_MS} ms`);
}

/** The resident's draft answers: what the officer must see. */
const DRAFT = { child_name: 'Nguyễn Thị Mai', requester_name: 'Nguyễn Thị Lan' };

export async function counterReceives(flow) {
  const { page } = flow;
  const backOffice = await startBackOffice();
  const { service, url: gateway } = await startGateway({
    providerEnv: { WARDGATE_BACKOFFICE_URL: `${backOffice.url}/dossiers` },
    logPath: join(flow.dir, 'gateway.log'),
  });
  try {
    // The resident signs in, saves a draft, then chooses to file in person and books.
    await page.goto(`${gateway}/procedures/${BIRTH}`);
    await signIn(flow, gateway, 'level2');
    const form = page.locator(`main form[action^="/procedures/${BIRTH}/submit"]`);
    await fillForm(form, DRAFT);
    await Promise.all([
      page.waitForURL((u) => u.searchParams.get('saved') === '1'),
      form.locator('button[type="submit"][formaction]').click(),
    ]);
    await flow.capture('counter-draft-saved');

    await page.goto(`${gateway}/procedures/${BIRTH}?in_person=1`);
    assert.equal(await text(page, '.notice-warning h2'), 'Nộp hồ sơ trực tiếp');
    const code = await text(page, 'main .ticket-code');
    const select = page.locator('main select[name="start"]');
    await select.selectOption(await select.locator('option').first().getAttribute('value'));
    await Promise.all([
      page.waitForURL((u) => u.pathname === `/tickets/${code}/booking`),
      page.locator(`main form[action^="/procedures/${BIRTH}/book"] button[type="submit"]`).click(),
    ]);
    assert.equal(await text(page, 'main .ticket-code'), code, 'the confirmation names the appointment code');
    await flow.capture('counter-booking-confirmed');

    // The officer signs in and looks the ticket up by its code.
    const closed = await page.goto(`${gateway}/staff`);
    assert.equal(closed.status(), 401);
    await signIn(flow, gateway, 'officer', 'main a.button[href^="/staff/login"]');
    await page.locator('main input#code').fill(code);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/staff/tickets'),
      page.locator('main form[action="/staff/tickets"] button[type="submit"]').click(),
    ]);
    assert.equal(await text(page, '.notice-success h2'), 'Mã lịch hẹn hợp lệ');
    const draft = await text(page, '.notice-success dl.draft');
    assert.ok(draft.includes(DRAFT.child_name), `the officer sees the draft: ${draft}`);
    assert.ok(draft.includes(DRAFT.requester_name), draft);
    await flow.capture('counter-ticket-lookup');

    // "Received", for the ticket's procedure (selected by default).
    const received = page.locator(`main form[action^="/staff/tickets/${code}/received"]`);
    assert.equal(await received.locator('input[name="csrf_token"]').count(), 1, 'the form carries the staff CSRF token');
    assert.equal(await received.locator('select[name="procedure"]').inputValue(), BIRTH);
    await Promise.all([
      page.waitForURL((u) => u.pathname === `/staff/tickets/${code}/received`),
      received.locator('button[type="submit"]').click(),
    ]);
    assert.equal(await text(page, '.notice-success h2'), 'Đã tiếp nhận hồ sơ');
    const dossier = await text(page, 'main strong.dossier-code');
    assert.match(dossier, /^\d{5}-\d{8}-[0-9A-Z]{6}$/);
    await flow.capture('counter-received');

    // The outbox delivers it to the back office as a counter dossier, with the draft's answers.
    const handoff = await delivered(backOffice, dossier);
    assert.equal(handoff.dossier_code, dossier);
    assert.equal(handoff.channel, 'counter');
    assert.equal(handoff.procedure, BIRTH);
    assert.ok(handoff.officer, 'the receiving officer, pseudonymous');
    assert.ok(handoff.reception_point, 'the reception point');
    assert.equal(handoff.payload.child_name, DRAFT.child_name);

    // The statistics count it as the one in-person dossier.
    await page.goto(`${gateway}/staff/stats`);
    assert.match(await text(page, 'main p.report-sentence'), /^Từ \d\d\/\d\d\/\d{4} đến \d\d\/\d\d\/\d{4}: 1 hồ sơ, 0 % trực tuyến$/);
    assert.equal(await page.locator('main figure.chart svg[role="img"]').count(), 4);
    await flow.capture('counter-statistics');
  } finally {
    await service.stop();
    await backOffice.close();
  }
}
