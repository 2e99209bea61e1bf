// The web chat page served at `/`: one self-contained HTML file compiled into the binary. It lists
// the models (/v1/models), keeps the conversation in the page and streams each reply from
// /v1/chat/completions (server-sent events read with fetch, so an API key can be sent).
#include "serve/chat_page.h"

namespace cornerstone::serve {

const char* chat_page_html() {
  return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cornerstone chat</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 46rem; margin: 0 auto; padding: 1rem; color: #222; }
  header { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; margin-bottom: .75rem; }
  header h1 { font-size: 1.1rem; margin: 0 auto 0 0; }
  #log { border: 1px solid #ccc; border-radius: 6px; padding: .5rem; min-height: 16rem; max-height: 65vh; overflow-y: auto; }
  .msg { white-space: pre-wrap; margin: .35rem 0; padding: .4rem .6rem; border-radius: 6px; }
  .user { background: #e8f0fe; }
  .assistant { background: #f3f3f3; }
  .error { background: #fde8e8; color: #8a1c1c; }
  form { display: flex; gap: .5rem; margin-top: .75rem; }
  textarea { flex: 1; font: inherit; min-height: 3rem; }
  small { color: #666; }
</style>
</head>
<body>
<header>
  <h1>Cornerstone chat</h1>
  <label>model <select id="model"></select></label>
  <label>max tokens <input id="max-tokens" type="number" value="128" min="1" style="width: 5rem"></label>
  <label>temperature <input id="temperature" type="number" value="0.7" min="0" max="2" step="0.1" style="width: 4rem"></label>
  <input id="api-key" type="password" placeholder="API key (if the server wants one)">
</header>
<div id="log" aria-live="polite"></div>
<form id="form">
  <textarea id="input" placeholder="Say something (Enter sends, Shift+Enter for a new line)"></textarea>
  <button id="send" type="submit">Send</button>
</form>
<small id="status"></small>
<script>
const $ = (id) => document.getElementById(id);
const messages = [];  // the conversation, as the API wants it
$('api-key').value = localStorage.getItem('cornerstone-api-key') || '';
$('api-key').addEventListener('change', () => { localStorage.setItem('cornerstone-api-key', $('api-key').value); loadModels(); });

function headers() {
  const h = { 'Content-Type': 'application/json' };
  if ($('api-key').value) h['Authorization'] = 'Bearer ' + $('api-key').value;
  return h;
}

function add(role, text) {
  const div = document.createElement('div');
  div.className = 'msg ' + role;
  div.textContent = text;
  $('log').appendChild(div);
  $('log').scrollTop = $('log').scrollHeight;
  return div;
}

async function errorText(res) {
  try { return (await res.json()).error.message; } catch { return 'HTTP ' + res.status; }
}

async function loadModels() {
  const res = await fetch('/v1/models', { headers: headers() });
  if (!res.ok) { $('status').textContent = await errorText(res); return; }
  const select = $('model');
  select.innerHTML = '';
  for (const m of (await res.json()).data) select.add(new Option(m.id, m.id));
  $('status').textContent = '';
}

async function send(text) {
  messages.push({ role: 'user', content: text });
  add('user', text);
  const reply = add('assistant', '');
  $('send').disabled = true;
  $('status').textContent = 'generating...';
  try {
    const res = await fetch('/v1/chat/completions', {
      method: 'POST', headers: headers(),
      body: JSON.stringify({ model: $('model').value || undefined, messages, stream: true,
                             max_tokens: Number($('max-tokens').value), temperature: Number($('temperature').value),
                             stream_options: { include_usage: true } }),
    });
    if (!res.ok) throw new Error(await errorText(res));
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '', usage = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {  // one server-sent event
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!event.startsWith('data: ')) continue;  // ": keep-alive" comments
        const data = event.slice(6);
        if (data === '[DONE]') continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) usage = chunk.usage;
        for (const c of chunk.choices) reply.textContent += c.delta?.content ?? '';
        $('log').scrollTop = $('log').scrollHeight;
      }
    }
    messages.push({ role: 'assistant', content: reply.textContent });
    $('status').textContent = usage ? `${usage.prompt_tokens} prompt tokens, ${usage.completion_tokens} generated` : '';
  } catch (e) {
    reply.remove();
    messages.pop();
    add('error', e.message);
    $('status').textContent = '';
  } finally {
    $('send').disabled = false;
  }
}

$('form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('input').value.trim();
  if (!text || $('send').disabled) return;
  $('input').value = '';
  send(text);
});
$('input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('form').requestSubmit(); }
});
loadModels();
</script>
</body>
</html>
)html";
}

}  // namespace cornerstone::serve
