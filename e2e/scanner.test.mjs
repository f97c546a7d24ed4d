// The checks themselves: a page with known accessibility faults must fail the scan with a
// readable report, so that a clean report on the portal means something.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Flow, launchBrowser } from './lib/browser.mjs';

const FAULTY = `<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><title>Trang lỗi</title></head>
<body><main>
<h1>Một</h1><h1>Hai</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==">
<p style="color:#bbb;background:#fff">Chữ quá nhạt</p>
<form><input name="ho_ten"></form>
</main></body></html>`;

let browser;
before(async () => {
  browser = await launchBrowser();
}, { timeout: 60_000 });
after(async () => {
  await browser?.close();
});

test('the scan fails a page with serious and critical faults, naming each rule', { timeout: 60_000 }, async () => {
  const flow = await Flow.open(browser, 'scanner-self-test');
  try {
    // No server: the page is answered by the browser context itself.
    await flow.context.route('http://127.0.0.1:9/**', (route) =>
      route.request().isNavigationRequest()
        ? route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: FAULTY })
        : route.fulfill({ status: 404, body: '' }),
    );
    await flow.page.goto('http://127.0.0.1:9/faulty');
    await flow.capture('faulty');
  } finally {
    await flow.close();
  }
  const [scan] = flow.scans;
  const failing = scan.failing.map((v) => `${v.id}:${v.impact}`).sort();
  assert.deepEqual(failing, ['color-contrast:serious', 'image-alt:critical', 'label:critical']);
  assert.throws(() => flow.assertAccessible(), (error) => {
    assert.match(error.message, /serious or critical accessibility violations \(axe-core \d+\.\d+\.\d+\)/);
    assert.match(error.message, /scanner-self-test \/ 01-faulty: http:\/\/127\.0\.0\.1:9\/faulty/);
    assert.match(error.message, /- image-alt \(critical\): Images must have alternative text\n\s+at img/);
    return true;
  });
  assert.deepEqual(flow.problems, ['01-faulty.png: 2 h1 elements (Một | Hai), expected one']);
});
