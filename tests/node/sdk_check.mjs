// The official Runway Node SDK (@runwayml/sdk, pinned in package.json), unchanged, against a live
// `kino serve`. Driven by tests/test_server_node_sdk.py; runnable by hand too:
//
//   KINO_BASE_URL=http://127.0.0.1:8000 KINO_API_KEY=key_... node tests/node/sdk_check.mjs
//
// Prints one JSON object {ok, checks: [{name, ok, ...}]} on stdout; exits 1 if any check failed.
// The SDK's waitForTaskOutput sleeps a fixed 4.5-7.5 s (module constants POLL_TIME/POLL_JITTER in
// src/lib/polling.ts, not configurable) before every poll, so the other checks run while it waits.
// What can be set is set: the wait's `timeout`, and maxRetries 0 so a 5xx or 409 is seen, not retried.

import RunwayML from '@runwayml/sdk';

const baseURL = process.env.KINO_BASE_URL;
const apiKey = process.env.KINO_API_KEY;
if (!baseURL || !apiKey) {
  console.error('set KINO_BASE_URL and KINO_API_KEY');
  process.exit(2);
}
const waitMs = Number(process.env.KINO_WAIT_MS || 120000);

const client = new RunwayML({ apiKey, baseURL, maxRetries: 0 });
const checks = [];

function errInfo(e) {
  return { error: e?.constructor?.name ?? typeof e, status: e?.status, message: String(e?.message ?? e).slice(0, 500) };
}

async function check(name, fn) {
  const t0 = Date.now();
  try {
    const info = (await fn()) ?? {};
    checks.push({ name, ok: true, ms: Date.now() - t0, ...info });
  } catch (e) {
    checks.push({ name, ok: false, ms: Date.now() - t0, ...errInfo(e) });
  }
}

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

async function expectError(cls, fn) {
  try {
    await fn();
  } catch (e) {
    expect(e instanceof cls, `expected ${cls.name}, got ${e?.constructor?.name}: ${e?.message}`);
    return { status: e.status, body: e.error };
  }
  throw new Error(`expected ${cls.name}, got success`);
}

// 1. create + waitForTaskOutput (started first; its fixed initial sleep overlaps the checks below)
const created = client.textToVideo.create({ model: 'gen4.5', promptText: 'a red ball rolls left', ratio: '1280:720', duration: 2, seed: 3 });
let taskId = null;
let succeeded = null;
const waited = (async () => {
  await check('create', async () => {
    const t = await created;
    expect(typeof t.id === 'string' && t.id.length > 0, `no task id in ${JSON.stringify(t)}`);
    expect(t.estimatedCost?.credits === 24, `estimatedCost ${JSON.stringify(t.estimatedCost)} != 24`);
    taskId = t.id;
    return { id: t.id, estimatedCost: t.estimatedCost };
  });
  await check('waitForTaskOutput', async () => {
    succeeded = await created.waitForTaskOutput({ timeout: waitMs });
    expect(succeeded.status === 'SUCCEEDED', `status ${succeeded.status}`);
    expect(Array.isArray(succeeded.output) && /^https?:\/\//.test(succeeded.output[0]), `output ${JSON.stringify(succeeded.output)}`);
    expect(succeeded.cost?.credits === 24, `cost ${JSON.stringify(succeeded.cost)}`);
    return { status: succeeded.status, cost: succeeded.cost };
  });
})();

// 2. while it waits: a bad request, and create → retrieve → delete → retrieve (404) on a second task
await check('badRequest', async () => {
  const info = await expectError(RunwayML.BadRequestError, () => client.textToVideo.create({ model: 'gen4.5', promptText: 'x', ratio: '1:3', duration: 2 }));
  expect(info.status === 400, `status ${info.status}`);
  expect(JSON.stringify(info.body?.issues?.[0]?.path) === '["ratio"]', `issues ${JSON.stringify(info.body?.issues)}`);
  return info;
});

await check('deleteThenNotFound', async () => {
  const t = await client.textToVideo.create({ model: 'kino-tiny', promptText: 'a blue box', ratio: '1:1', duration: 2 });
  const got = await client.tasks.retrieve(t.id);
  expect(got.id === t.id, `retrieved ${got.id} for ${t.id}`);
  const deleted = await client.tasks.delete(t.id);
  expect(deleted === undefined || deleted === null || deleted === '', `delete returned ${JSON.stringify(deleted)}`);
  const info = await expectError(RunwayML.NotFoundError, () => client.tasks.retrieve(t.id));
  expect(info.status === 404 && info.body?.error === 'Could not find Task', `404 body ${JSON.stringify(info.body)}`);
  return { id: t.id, statusBeforeDelete: got.status, ...info };
});

await waited;

// 3. after success: the output URL downloads without the key; retrieve; delete the finished task
if (succeeded) {
  await check('download', async () => {
    const r = await fetch(succeeded.output[0]);
    const body = new Uint8Array(await r.arrayBuffer());
    expect(r.status === 200, `status ${r.status}`);
    expect(r.headers.get('content-type') === 'video/mp4', `content-type ${r.headers.get('content-type')}`);
    expect(body.length > 100 && String.fromCharCode(...body.slice(4, 8)) === 'ftyp', `not an mp4 (${body.length} bytes)`);
    return { bytes: body.length };
  });
  await check('retrieve', async () => {
    const t = await client.tasks.retrieve(taskId);
    expect(t.id === taskId && t.status === 'SUCCEEDED', `got ${JSON.stringify(t)}`);
    expect(t.output?.length === 1 && t.createdAt?.endsWith('Z'), `got ${JSON.stringify(t)}`);
    return { status: t.status, kino: t.kino };
  });
  await check('deleteFinished', async () => {
    await client.tasks.delete(taskId);
    return await expectError(RunwayML.NotFoundError, () => client.tasks.retrieve(taskId));
  });
}

const ok = checks.length > 0 && checks.every((c) => c.ok) && succeeded !== null;
console.log(JSON.stringify({ ok, sdk: RunwayML.name, checks }, null, 2));
process.exit(ok ? 0 : 1);
