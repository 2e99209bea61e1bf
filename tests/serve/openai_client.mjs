// The official `openai` npm client against `cornerstone serve` (run by tests/serve/test_serve.cpp):
//   node openai_client.mjs OPENAI_PACKAGE_DIR BASE_URL API_KEY MODEL_ID
// Chat, streamed chat with usage, completions, embeddings (float and the client's default base64),
// the models list, and the errors the client turns into its exception classes. Exits non-zero on
// the first failed check.
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [pkg, baseURL, apiKey, model] = process.argv.slice(2);
const { default: OpenAI } = await import(pathToFileURL(path.join(pkg, 'index.mjs')).href);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120_000 });

const messages = [{ role: 'user', content: 'What is the state of the Union?' }];

// Models.
const models = [];
for await (const m of client.models.list()) models.push(m);
assert.ok(models.map((m) => m.id).includes(model), JSON.stringify(models));

// Chat, greedy: the same reply twice, and streamed it adds up to the same text.
const chat = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0 });
assert.equal(chat.object, 'chat.completion');
assert.equal(chat.choices.length, 1);
assert.equal(chat.choices[0].message.role, 'assistant');
assert.equal(typeof chat.choices[0].message.content, 'string');
assert.ok(['stop', 'length'].includes(chat.choices[0].finish_reason));
assert.equal(chat.usage.total_tokens, chat.usage.prompt_tokens + chat.usage.completion_tokens);
const again = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0 });
assert.equal(again.choices[0].message.content, chat.choices[0].message.content);

// Retrieval rides along as an extra body field; the passages come back as "sources".
const rag = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0, retrieval: { k: 2, mode: 'bm25' } });
assert.ok(Array.isArray(rag.sources) && rag.sources.length >= 1, JSON.stringify(rag));
assert.equal(rag.sources[0].rank, 1);
assert.equal(typeof rag.sources[0].source, 'string');
assert.ok(rag.usage.prompt_tokens > chat.usage.prompt_tokens);
const hits = await client.post('/search', { body: { query: 'the army and the navy', k: 3 } });
assert.equal(hits.object, 'list');
assert.equal(hits.data.length, 3);
assert.equal(hits.data[0].object, 'search.result');

const stream = await client.chat.completions.create({
  model, messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let streamed = '';
let usage = null;
let finish = null;
for await (const chunk of stream) {
  assert.equal(chunk.object, 'chat.completion.chunk');
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    streamed += c.delta?.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
}
assert.equal(streamed, chat.choices[0].message.content);
assert.equal(finish, chat.choices[0].finish_reason);
assert.deepEqual(usage, chat.usage);

// Completions.
const completion = await client.completions.create({ model, prompt: 'The state of the Union', max_tokens: 12, temperature: 0 });
assert.equal(completion.object, 'text_completion');
assert.equal(typeof completion.choices[0].text, 'string');
assert.equal(completion.usage.completion_tokens <= 12, true);

// Embeddings: the client asks for base64 by default and decodes it; float must agree.
const input = ['The state of the Union is strong.', 'Fellow citizens'];
const asBase64 = await client.embeddings.create({ model, input });
const asFloat = await client.embeddings.create({ model, input, encoding_format: 'float' });
assert.equal(asBase64.data.length, 2);
for (let i = 0; i < 2; ++i) {
  assert.equal(asBase64.data[i].index, i);
  assert.ok(asBase64.data[i].embedding.length > 0);
  assert.deepEqual(Array.from(asBase64.data[i].embedding), asFloat.data[i].embedding);
}

// Errors as the client's exception classes, with the server's status and message.
async function rejects(promise, cls, status) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, status);
    assert.ok(e.error?.message || e.message);
    return e;
  }
  assert.fail(`expected ${cls.name}`);
}
await rejects(client.chat.completions.create({ model: 'gpt-4o', messages }), OpenAI.NotFoundError, 404);
await rejects(client.chat.completions.create({ model, messages, temperature: 9 }), OpenAI.BadRequestError, 400);
await rejects(client.chat.completions.create({ model, messages, n: 17 }), OpenAI.BadRequestError, 400);
await rejects(client.chat.completions.create({ model, messages, max_tokens: 1e6 }), OpenAI.BadRequestError, 400);
const wrongKey = new OpenAI({ baseURL, apiKey: 'nope', maxRetries: 0 });
await rejects(wrongKey.models.list(), OpenAI.AuthenticationError, 401);

console.log('all checks passed');
