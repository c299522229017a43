// The official SDKs against coopd's Model Router and the provider emulator.
//
//   COOP_URL   http://127.0.0.1:PORT of coopd (the router)
//   EMU_URL    http://127.0.0.1:PORT of the provider emulator
//   REPLY      the text the emulator answers
//
// The openai client drives /v1/chat/completions, with and without
// streaming, for every provider behind coopd; @anthropic-ai/sdk drives
// /v1/messages the same way. @anthropic-ai/sdk and @google/genai also
// talk to the emulator directly: they check that the
// emulator speaks their wire format as the real services do, which is
// what makes the router's own tests against it meaningful.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';

const { COOP_URL, EMU_URL, REPLY } = process.env;
const models = {
  openai: 'openai/gpt-4o',
  anthropic: 'anthropic/claude-sonnet-4-5',
  gemini: 'gemini/gemini-2.5-flash',
  deepseek: 'deepseek/deepseek-chat',
  selfhosted: 'selfhosted/llama-3.1-8b',
};

let failures = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

const openai = new OpenAI({ apiKey: process.env.COOP_TOKEN, baseURL: `${COOP_URL}/v1`, maxRetries: 0 });

for (const [provider, model] of Object.entries(models)) {
  await check(`openai client, ${provider}, non-streaming`, async () => {
    const r = await openai.chat.completions.create({
      model,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello' }],
    });
    assert.equal(r.choices[0].message.content, REPLY);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.ok(r.usage.total_tokens > 0);
  });
  await check(`openai client, ${provider}, streaming`, async () => {
    const stream = await openai.chat.completions.create({
      model,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hello' }],
    });
    let text = '';
    let usage = null;
    let finish = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.delta?.content ?? '';
        finish = c.finish_reason ?? finish;
      }
    }
    assert.equal(text, REPLY);
    assert.equal(finish, 'stop');
    assert.ok(usage && usage.completion_tokens > 0);
  });
}

await check('openai client, models.list', async () => {
  const ids = [];
  for await (const m of openai.models.list()) ids.push(m.id);
  assert.ok(ids.includes('openai/gpt-4o'), ids.join(','));
});

await check('openai client, provider error surfaces as APIError with status', async () => {
  await assert.rejects(
    openai.chat.completions.create({ model: models.openai, messages: [{ role: 'user', content: 'EMU:status=429' }] }),
    (e) => e.status === 429,
  );
});

await check('openai client, stream failing mid-way raises', async () => {
  const stream = await openai.chat.completions.create({
    model: models.anthropic,
    stream: true,
    messages: [{ role: 'user', content: 'EMU:cut' }],
  });
  await assert.rejects(async () => {
    for await (const _ of stream) { /* drain */ }
  });
});

// @anthropic-ai/sdk pointed at coopd's POST /v1/messages, unchanged: any
// provider behind it, with and without streaming, errors as SDK errors.
const viaCoop = new Anthropic({ apiKey: process.env.COOP_TOKEN, baseURL: COOP_URL, maxRetries: 0 });
const anthropicModels = { anthropic: 'claude-emulated', openai: 'openai/gpt-4o', gemini: 'gemini/gemini-2.5-flash' };
for (const [provider, model] of Object.entries(anthropicModels)) {
  await check(`@anthropic-ai/sdk against coopd, ${provider}, non-streaming`, async () => {
    const m = await viaCoop.messages.create({
      model, max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'hello' }],
    });
    assert.equal(m.type, 'message');
    assert.equal(m.model, model);
    assert.equal(m.content[0].type, 'text');
    assert.equal(m.content[0].text, REPLY);
    assert.equal(m.stop_reason, 'end_turn');
    assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0, JSON.stringify(m.usage));
  });
  await check(`@anthropic-ai/sdk against coopd, ${provider}, messages.stream`, async () => {
    const stream = viaCoop.messages.stream({
      model, max_tokens: 64, messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }] }],
    });
    let text = '';
    stream.on('text', (t) => { text += t; });
    const final = await stream.finalMessage();
    assert.equal(text, REPLY);
    assert.equal(final.content[0].text, REPLY);
    assert.equal(final.stop_reason, 'end_turn');
    assert.ok(final.usage.output_tokens > 0 && final.usage.input_tokens > 0, JSON.stringify(final.usage));
  });
  await check(`@anthropic-ai/sdk against coopd, ${provider}, raw stream events`, async () => {
    const stream = await viaCoop.messages.create({
      model, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hello' }],
    });
    const types = [];
    for await (const ev of stream) types.push(ev.type);
    assert.equal(types[0], 'message_start');
    assert.equal(types[1], 'content_block_start');
    assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
    assert.ok(types.includes('content_block_delta'));
  });
}

await check('@anthropic-ai/sdk against coopd, token in x-api-key', async () => {
  const c = new Anthropic({
    apiKey: null, authToken: null, baseURL: COOP_URL, maxRetries: 0,
    defaultHeaders: { 'x-api-key': process.env.COOP_TOKEN },
  });
  const m = await c.messages.create({ model: 'claude-emulated', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(m.content[0].text, REPLY);
});

await check('@anthropic-ai/sdk against coopd, errors are typed SDK errors', async () => {
  await assert.rejects(
    viaCoop.messages.create({ model: 'claude-emulated', max_tokens: 8, messages: [{ role: 'user', content: 'EMU:status=429' }] }),
    (e) => e instanceof Anthropic.RateLimitError && e.error?.error?.type === 'rate_limit_error',
  );
  await assert.rejects(
    viaCoop.messages.create({
      model: 'claude-emulated', max_tokens: 8,
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] }],
    }),
    (e) => e instanceof Anthropic.BadRequestError && e.error?.error?.type === 'invalid_request_error',
  );
  const bad = new Anthropic({ apiKey: 'coop_not_a_token_0123456789', baseURL: COOP_URL, maxRetries: 0 });
  await assert.rejects(
    bad.messages.create({ model: 'claude-emulated', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof Anthropic.AuthenticationError,
  );
});

await check('@anthropic-ai/sdk against coopd, stream failing mid-way raises', async () => {
  for (const model of ['claude-emulated', 'openai/gpt-4o']) {
    const stream = await viaCoop.messages.create({
      model, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'EMU:error-event' }],
    });
    await assert.rejects(async () => {
      for await (const _ of stream) { /* drain */ }
    }, (e) => e instanceof Anthropic.APIError);
  }
});

const anthropic = new Anthropic({ apiKey: 'emulator-key', baseURL: EMU_URL, maxRetries: 0 });
await check('@anthropic-ai/sdk against the emulator, non-streaming', async () => {
  const m = await anthropic.messages.create({
    model: 'claude-emulated', max_tokens: 64, system: 'Be brief.',
    messages: [{ role: 'user', content: 'hello' }],
  });
  assert.equal(m.content[0].text, REPLY);
  assert.equal(m.stop_reason, 'end_turn');
});
await check('@anthropic-ai/sdk against the emulator, streaming', async () => {
  const stream = anthropic.messages.stream({
    model: 'claude-emulated', max_tokens: 64, messages: [{ role: 'user', content: 'hello' }],
  });
  let text = '';
  stream.on('text', (t) => { text += t; });
  const final = await stream.finalMessage();
  assert.equal(text, REPLY);
  assert.equal(final.usage.output_tokens, 5);
});

const genai = new GoogleGenAI({ apiKey: 'emulator-key', httpOptions: { baseUrl: EMU_URL } });
await check('@google/genai against the emulator, generateContent', async () => {
  const r = await genai.models.generateContent({
    model: 'gemini-2.5-flash', contents: 'hello', config: { systemInstruction: 'Be brief.' },
  });
  assert.equal(r.text, REPLY);
});
await check('@google/genai against the emulator, streaming', async () => {
  const stream = await genai.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'hello' });
  let text = '';
  for await (const chunk of stream) text += chunk.text ?? '';
  assert.equal(text, REPLY);
});

console.log(failures ? `${failures} failed` : 'all passed');
process.exit(failures ? 1 : 0);
