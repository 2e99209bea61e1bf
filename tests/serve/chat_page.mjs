// The web chat page at `/` in a real headless browser (Debian's chromium driven by puppeteer-core),
// run by tests/serve/test_serve.cpp:
//   node chat_page.mjs PUPPETEER_DIR BASE_URL API_KEY MODEL_ID
// Enters the key, picks the model, sends a message with temperature 0 and checks that the streamed
// reply shown equals the API's non-streamed greedy reply; then that an error reaches the page.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';

const [dir, base, apiKey, model] = process.argv.slice(2);
const puppeteer = createRequire(path.join(dir, 'package.json'))('puppeteer-core');

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  await page.goto(base + '/', { waitUntil: 'networkidle0' });
  assert.equal(await page.title(), 'Cornerstone chat');

  // Without the key the models cannot be listed; with it they are.
  assert.match(await page.$eval('#status', (e) => e.textContent), /API key/);
  await page.type('#api-key', apiKey);
  await page.$eval('#api-key', (e) => e.dispatchEvent(new Event('change')));
  await page.waitForFunction((m) => [...document.querySelectorAll('#model option')].some((o) => o.value === m), {}, model);
  await page.select('#model', model);
  await page.$eval('#temperature', (e) => { e.value = '0'; });
  await page.$eval('#max-tokens', (e) => { e.value = '20'; });

  const text = 'What is the state of the Union?';
  await page.type('#input', text);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('generated'), { timeout: 60000 });
  const shown = await page.$$eval('.msg', (els) => els.map((e) => [e.className, e.textContent]));
  assert.equal(shown.length, 2, JSON.stringify(shown));
  assert.deepEqual(shown[0], ['msg user', text]);

  const res = await fetch(base + '/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + apiKey },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: text }], max_tokens: 20, temperature: 0 }),
  });
  const expected = (await res.json()).choices[0].message.content;
  assert.equal(shown[1][0], 'msg assistant');
  assert.equal(shown[1][1], expected);

  // An error from the server appears in the page, and the conversation goes on.
  await page.$eval('#max-tokens', (e) => { e.value = '100000'; });
  await page.type('#input', 'And again?');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.msg.error', { timeout: 60000 });
  assert.match(await page.$eval('.msg.error', (e) => e.textContent), /max_tokens/);
  assert.deepEqual(consoleErrors, []);
  console.log('all checks passed');
} finally {
  await browser.close();
}
