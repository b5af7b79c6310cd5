// Helpers shared by the real-time (XMPP) tests: a raw frame tap for any @xmpp
// client (the SDKs' own and @xmpp/client), polling waits whose timeout errors
// carry the frames each client saw, and chat users made with the CLI.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { uniq } from './server.mjs';
import { PASSWORD } from './flows.mjs';

export const OBJECT_ID = /^[0-9a-f]{24}$/;
export const ISO_STAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
export const NS_DELAY = 'urn:xmpp:delay';
export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

/**
 * Records every raw chunk an @xmpp connection (0.13 in v3, 0.14 in v6 and @xmpp/client)
 * reads and writes, by wrapping its `_onData` and `write` before the first connect
 * (`_attachSocket` binds `this._onData`, so the own property wins). Returns the array
 * of {dir: 'R'|'W', t: ms since the tap, data}. With PALAVER_TEST_XMPP_LOG=1 frames
 * are also printed to stderr as they pass.
 */
export function tapFrames(xmppClient, label = 'xmpp') {
  const frames = [];
  const t0 = Date.now();
  const live = !!process.env.PALAVER_TEST_XMPP_LOG;
  const record = (dir, data) => {
    const f = { dir, t: Date.now() - t0, data: String(data) };
    frames.push(f);
    if (frames.length > 2000) frames.shift();
    if (live) process.stderr.write(`[${label} ${dir} +${f.t}ms] ${f.data}\n`);
  };
  const origOnData = xmppClient._onData;
  xmppClient._onData = function (data) {
    record('R', Buffer.isBuffer(data) ? data.toString('utf8') : data);
    return origOnData.call(this, data);
  };
  const origWrite = xmppClient.write;
  xmppClient.write = function (string) {
    record('W', string);
    return origWrite.call(this, string);
  };
  return frames;
}

/** The last `n` frames of a tap as text, one per line. */
export function formatFrames(frames, label, n = 40) {
  const tail = frames.slice(-n);
  const head = frames.length > n ? `  … ${frames.length - n} earlier frames\n` : '';
  return `--- frames of ${label} (R = from server, W = to server) ---\n${head}${tail.map((f) => `  ${f.dir} +${f.t}ms ${f.data}`).join('\n')}`;
}

/**
 * Polls `pred` every 20 ms until it returns a truthy value (returned) or `timeoutMs`
 * passes; the timeout error names `what` and appends `dump()` (e.g. frame logs).
 */
export async function waitFor(what, pred, { timeoutMs = 5_000, dump = () => '' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) {
      const extra = dump();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra ? `\n${extra}` : ''}`);
    }
    await sleep(20);
  }
}

/** Settles `promise` or fails after `ms` with a message naming `what` (for calls that may hang). */
export async function within(ms, what, promise, dump = () => '') {
  let timer;
  const timeout = new Promise((_, rej) => {
    timer = setTimeout(() => {
      const extra = dump();
      rej(new Error(`${what} neither resolved nor rejected within ${ms} ms${extra ? `\n${extra}` : ''}`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh user made with the CLI: {id, login, password, appId}. */
export async function newChatUser(server, app, prefix = 'chat') {
  const login = `${prefix}${uniq(8)}`;
  const u = await server.createUser(app.id, login, PASSWORD);
  assert.equal(typeof u.id, 'number', `palaver user create: id must be a number: ${JSON.stringify(u)}`);
  return { id: u.id, login, password: PASSWORD, appId: app.id };
}

/** Unix seconds now. */
export const nowSecs = () => Math.floor(Date.now() / 1000);

/** Checks a `<delay xmlns="urn:xmpp:delay">` stamp: ISO-8601 UTC, not before `notBefore` (ms) - 1 s, not in the future. */
export function assertDelayStamp(stamp, notBeforeMs, what = 'delay stamp') {
  assert.match(String(stamp), ISO_STAMP, `${what}: XEP-0082 UTC timestamp`);
  const ms = Date.parse(stamp);
  assert.ok(ms >= Math.floor(notBeforeMs / 1000) * 1000 - 1000, `${what} ${stamp} is before the message was sent (${new Date(notBeforeMs).toISOString()})`);
  assert.ok(ms <= Date.now() + 1000, `${what} ${stamp} is in the future`);
}
