// The real-time (XMPP) conformance flows that v6 and v3 share. Each test file (one
// per SDK generation, each in its own process) calls chatSuite() with an adapter:
//
//   { version: 'v6' | 'v3',
//     newInstance(),                          // a fresh SDK object (module default or a second one)
//     init(instance, server, app, {chatUrl}), // instance.init(creds, config) for that server/app/URL
//     mechanism,                              // the SASL mechanism the SDK must pick ('SCRAM-SHA-1' / 'PLAIN')
//     authElement,                            // 'authenticate' (SASL2) or 'auth' (legacy SASL)
//     connectResolvesWith,                    // what chat.connect() resolves to (v6 true, v3 undefined)
//     canUseTls }                             // false when the runner's certificate is not trusted
//
// Several SDK objects can live in one process: v6 exports its class as
// `ConnectyCube.ConnectyCube`, v3's default export is an instance whose
// `constructor` is the class. They share the module-wide config (same server and
// app here), but each init() builds its own REST proxy, chat service and XMPP
// client, so every SdkChatClient below is an independent chat connection.

import { describe as nodeDescribe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { closeClients } from './wire.mjs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, uniq } from './server.mjs';
import {
  OBJECT_ID,
  NS_DELAY,
  NS_FRAMING,
  tapFrames,
  formatFrames,
  waitFor,
  within,
  newChatUser,
  nowSecs,
  assertDelayStamp,
} from './chat-util.mjs';

/** How long to keep listening after the expected stanzas arrived, to catch duplicates. */
const SETTLE_MS = 400;

/** One SDK object connected (or not) to the chat as one user, recording everything it reports. */
export class SdkChatClient {
  constructor(sdk, server, app, user, { label = user.login, chatUrl = server.wsUrl } = {}) {
    this.sdk = sdk;
    this.server = server;
    this.app = app;
    this.user = user;
    this.label = `${sdk.version}:${label}`;
    this.chatUrl = chatUrl;
    this.cb = sdk.newInstance();
    sdk.init(this.cb, server, app, { chatUrl });
    this.chat = this.cb.chat;
    this.frames = tapFrames(this.chat.xmppClient, this.label);
    this.messages = []; // {userId, message, at}
    this.sent = []; // message objects reported sent
    this.lost = []; // message objects reported lost
    this.disconnects = 0;
    this.reconnects = 0;
    this.errors = [];
    this.chat.onMessageListener = (userId, message) => this.messages.push({ userId, message, at: Date.now() });
    this.chat.onSentMessageCallback = (lost, sent) => {
      if (sent) this.sent.push(sent);
      else this.lost.push(lost);
    };
    this.chat.onDisconnectedListener = () => {
      this.disconnects += 1;
    };
    this.chat.onReconnectListener = () => {
      this.reconnects += 1;
    };
    this.chat.onConnectionErrorListener = (e) => this.errors.push(e);
  }

  dump = () => formatFrames(this.frames, this.label);

  /** chat.connect({userId, password}); fails if the SDK neither resolves nor rejects within 10 s. */
  connect(password = this.user.password) {
    return within(10_000, `${this.label}: chat.connect()`, this.chat.connect({ userId: this.user.id, password }), this.dump);
  }

  /**
   * Waits until the server has answered the SDK's <enable/> with <enabled/> `count` times
   * (once per login so far). Until then the SDK gives no 'sent' callbacks: it queues a
   * message for them only once SM is enabled, and connect() resolves before that.
   */
  async smEnabled(count = 1) {
    await waitFor(`${this.label}: <enabled xmlns="urn:xmpp:sm:3"/> #${count}`, () => this.received(/<enabled xmlns=["']urn:xmpp:sm:3["']/).length >= count, {
      timeoutMs: 3_000,
      dump: this.dump,
    });
  }

  /** Fails (with the frame log) unless exactly `n` messages arrived in onMessageListener. */
  assertMessageCount(n, what) {
    assert.equal(this.messages.length, n, `${this.label}: ${what} (got ids ${JSON.stringify(this.messages.map((g) => g.message.id))})\n${this.dump()}`);
  }

  /** chat.send(); returns the message id the SDK returned. */
  send(to, message) {
    return this.chat.send(typeof to === 'object' ? to.id : to, message);
  }

  get jid() {
    return this.chat.xmppClient.jid ? this.chat.xmppClient.jid.toString() : null;
  }

  get resource() {
    const j = this.chat.xmppClient.jid;
    return j ? j.getResource() : null;
  }

  /** Waits until at least `n` messages (optionally filtered) arrived; returns them. */
  async waitMessages(n, { filter = () => true, timeoutMs = 5_000, what } = {}) {
    const pick = () => this.messages.filter(filter);
    await waitFor(what || `${this.label}: ${n} message(s) in onMessageListener (have ${pick().length})`, () => pick().length >= n, {
      timeoutMs,
      dump: this.dump,
    });
    return pick();
  }

  /** Frames read from the server whose text matches `re`. */
  received(re) {
    return this.frames.filter((f) => f.dir === 'R' && re.test(f.data));
  }

  written(re) {
    return this.frames.filter((f) => f.dir === 'W' && re.test(f.data));
  }

  /**
   * Disconnects (stopping automatic reconnection) and waits at most 5 s for it. v3's
   * disconnect() throws when stream management is on and the object never got online
   * (NOTES.md): then the XMPP client is stopped directly, else it would keep reconnecting.
   */
  async close() {
    try {
      await within(5_000, `${this.label}: chat.disconnect()`, Promise.resolve().then(() => this.chat.disconnect()));
    } catch (e) {
      this.closeError = e;
      const x = this.chat.xmppClient;
      try {
        x.reconnect?.stop?.();
        if (x.status !== 'offline') await within(5_000, `${this.label}: xmppClient.stop()`, x.stop());
      } catch {
        // best effort: the test has already reported what matters
      }
    }
  }
}

/** The extension the tests send: every kind of value extraParams can carry
 * (docs/protocol.md#custom-parameters). */
function richExtension() {
  return {
    save_to_history: 1,
    custom: 'x',
    num: 42,
    flag: true,
    nested: { a: '1', b: { c: 'deep' } },
    attachments: [{ type: 'image', uid: `att${uniq(10)}`, size: 12, name: 'photo.png' }],
  };
}

/** What a receiver must get for richExtension() (values as strings, size as an integer, server fields added). */
function expectedExtension(sent, received) {
  return {
    save_to_history: '1',
    custom: 'x',
    num: '42',
    flag: 'true',
    nested: { a: '1', b: { c: 'deep' } },
    attachments: sent.attachments.map((a) => ({ type: a.type, uid: a.uid, size: a.size, name: a.name })),
    dialog_id: received.dialog_id,
    date_sent: received.extension?.date_sent,
  };
}

/** Common checks on a 1-1 message as onMessageListener(userId, message) reports it. */
function assertChatMessage(got, { from, to, id, body, sentAtSecs, delayed = false }, what) {
  const { userId, message } = got;
  assert.equal(userId, from.id, `${what}: onMessageListener userId = sender id`);
  assert.equal(message.id, id, `${what}: message.id = the id chat.send() returned`);
  assert.equal(message.type, 'chat', `${what}: type`);
  assert.equal(message.body, body, `${what}: body`);
  assert.equal(message.recipient_id, to.id, `${what}: recipient_id`);
  assert.equal(message.is_forwarded, false, `${what}: is_forwarded`);
  assert.match(String(message.dialog_id), OBJECT_ID, `${what}: dialog_id (server-added) must be a 24-hex ObjectId`);
  assert.match(message.dialog_id, /[a-f]/, `${what}: dialog_id must contain a letter (docs/protocol.md#quirk-dialog-id-needs-letter)`);
  assert.ok(message.extension && typeof message.extension === 'object', `${what}: extension present`);
  assert.equal(message.extension.dialog_id, message.dialog_id, `${what}: extension.dialog_id`);
  const ds = message.extension.date_sent;
  assert.match(String(ds), /^\d+$/, `${what}: extension.date_sent (server-added) must be Unix seconds, got ${JSON.stringify(ds)}`);
  if (sentAtSecs !== undefined) {
    assert.ok(Number(ds) >= sentAtSecs - 2 && Number(ds) <= nowSecs() + 2, `${what}: date_sent ${ds} not near the send time ${sentAtSecs}`);
  }
  if (delayed) {
    assert.ok(message.delay, `${what}: an offline message must carry <delay> (message.delay)`);
    assert.equal(message.delay.attrs.xmlns, NS_DELAY, `${what}: delay namespace`);
  } else {
    assert.ok(!message.delay, `${what}: a live message must not carry <delay>, got ${message.delay}`);
  }
}

export function chatSuite(sdk) {
  const describe = (title, fn) => nodeDescribe(`${sdk.version}: ${title}`, fn);
  const ctx = { main: null, app: null };
  const open = []; // clients to close after each test

  /** A client for `user` on `server` (default: the main server), closed after the test. */
  const client = (user, opts = {}, server = ctx.main, app = ctx.app) => {
    const c = new SdkChatClient(sdk, server, app, user, opts);
    open.push(c);
    return c;
  };
  const user = (prefix, server = ctx.main, app = ctx.app) => newChatUser(server, app, prefix);
  const online = async (prefix, opts) => {
    const c = client(await user(prefix), opts);
    await c.connect();
    await c.smEnabled();
    return c;
  };

  before(async () => {
    ctx.main = await startServer({ name: `chat-${sdk.version}` });
    ctx.app = await ctx.main.createApp(`chat-${sdk.version}-${uniq(4)}`);
  });

  // One after the other: v3 answers an `unavailable` presence of its own user by sending its
  // presence again, which throws (unhandled) when that client is itself closing (NOTES.md).
  const closeAll = () => closeClients(open.splice(0));

  after(async () => {
    await closeAll();
    await ctx.main?.stop();
  });

  afterEach(closeAll);

  describe('connect and disconnect', () => {
    test('connect with the password: resolves, isConnected, status online, JID {uid}-{app}@domain with a long random resource', async () => {
      const u = await user('pw');
      const c = client(u);
      const res = await c.connect();
      assert.equal(res, sdk.connectResolvesWith, 'chat.connect() resolution value');
      assert.equal(c.chat.isConnected, true, 'chat.isConnected');
      assert.equal(c.chat.connectionStatus, 'online', 'chat.connectionStatus');
      const jid = c.chat.xmppClient.jid;
      assert.equal(jid.getLocal(), `${u.id}-${ctx.app.id}`, 'JID local part');
      assert.equal(jid.getDomain(), ctx.main.domain, 'JID domain (endpoints.chat)');
      assert.ok(c.resource && c.resource.length >= 16, `resource must be long and random (docs/protocol.md#quirk-resource-substring), got ${JSON.stringify(c.resource)}`);
      const auth = c.written(new RegExp(`<${sdk.authElement}\\b[^>]*mechanism="([^"]+)"`));
      assert.equal(auth.length, 1, `exactly one <${sdk.authElement}> sent\n${c.dump()}`);
      assert.match(auth[0].data, new RegExp(`mechanism="${sdk.mechanism}"`), `the SDK picks ${sdk.mechanism} (docs/protocol.md#xmpp-login)`);
      if (sdk.version === 'v6') assert.equal(c.chat.currentUserId, u.id, 'v6 chat.currentUserId');

      // a second client of the same app gets a different resource
      const other = await online('pw2');
      assert.notEqual(other.resource, c.resource);
    });

    test('connect with a live REST session token as the password', async () => {
      const u = await user('tok');
      const c = client(u);
      const session = await c.cb.createSession({ login: u.login, password: u.password });
      const token = c.cb.service.sdkInstance.session.token;
      assert.equal(token, session.token);
      await c.connect(token);
      assert.equal(c.chat.isConnected, true);
      assert.equal(c.chat.xmppClient.jid.getLocal(), `${u.id}-${ctx.app.id}`);
      assert.match(c.written(new RegExp(`<${sdk.authElement}\\b`))[0].data, new RegExp(`mechanism="${sdk.mechanism}"`));
    });

    test('a wrong password rejects with "not-authorized" and the server closes the stream; the SDK does not hang and logs in with the right password', async () => {
      const u = await user('bad');
      const c = client(u);
      const t0 = Date.now();
      let err;
      let value;
      try {
        value = await c.connect('not-the-password');
      } catch (e) {
        err = e;
      }
      assert.ok(err !== undefined, `connect() with a wrong password resolved (${JSON.stringify(value)})\n${c.dump()}`);
      assert.equal(err, 'not-authorized', `connect() rejects with the SASL condition as a bare string (docs/protocol.md#xmpp-login)\n${c.dump()}`);
      assert.ok(Date.now() - t0 < 5_000, `rejection took ${Date.now() - t0} ms`);
      assert.equal(c.chat.isConnected, false);
      // The server must close the stream after <failure/>, else the SDK stays "connecting"
      // (docs/protocol.md#quirk-close-after-sasl-failure)
      await waitFor(`${c.label}: the server closes the stream after the SASL failure (onDisconnectedListener)`, () => c.disconnects >= 1, {
        timeoutMs: 4_000,
        dump: c.dump,
      });
      assert.equal(c.received(/<failure\b/).length, 1, `exactly one SASL <failure/>\n${c.dump()}`);
      assert.match(c.received(/<failure\b/)[0].data, /<not-authorized\b/);

      // A fresh SDK object logs in at once (no lockout after one failure) …
      const fresh = client(u, { label: `${u.login}#fresh` });
      await fresh.connect();
      assert.equal(fresh.chat.isConnected, true);
      await fresh.close();

      // … and the failed one recovers the way each SDK allows (NOTES.md).
      if (sdk.version === 'v6') {
        await c.chat.disconnect(); // stops the automatic reconnection with the wrong password
        assert.equal(c.chat.connectionStatus, 'offline');
        await c.connect();
      } else {
        // v3: disconnect() throws here, and connect() rejects "Connection is not offline" while the
        // SDK waits to reconnect; but connect() stores the new password, which the automatic
        // reconnection then uses.
        await c.chat.connect({ userId: u.id, password: u.password }).catch(() => {});
        await waitFor(`${c.label}: online after the automatic reconnection with the new password`, () => c.chat.isConnected, {
          timeoutMs: 5_000,
          dump: c.dump,
        });
      }
      assert.equal(c.chat.isConnected, true, 'the same SDK object connects with the right password');
      assert.equal(c.chat.connectionStatus, 'online');
    });

    test("another user's session token is refused", async () => {
      const [a, b] = [await user('tokowner'), await user('tokthief')];
      const ca = client(a);
      await ca.cb.createSession({ login: a.login, password: a.password });
      const token = ca.cb.service.sdkInstance.session.token;
      const cb = client(b);
      await assert.rejects(cb.connect(token), (e) => e === 'not-authorized', "B with A's token");
      assert.equal(cb.chat.isConnected, false);
    });

    test('disconnect(): onDisconnectedListener fires, isConnected false, status offline, the server answers <close/>', async () => {
      const c = await online('bye');
      assert.equal(c.disconnects, 0);
      const t0 = Date.now();
      await within(5_000, 'chat.disconnect()', Promise.resolve(c.chat.disconnect()), c.dump);
      const took = Date.now() - t0;
      await waitFor('onDisconnectedListener', () => c.disconnects >= 1, { timeoutMs: 3_000, dump: c.dump });
      assert.equal(c.disconnects, 1, 'onDisconnectedListener fires once');
      assert.equal(c.chat.isConnected, false, 'chat.isConnected');
      assert.equal(c.chat.connectionStatus, 'offline', 'chat.connectionStatus');
      assert.equal(c.written(new RegExp(`<close xmlns="${NS_FRAMING}"`)).length, 1, 'the SDK sent <close/>');
      assert.equal(c.received(new RegExp(`<close xmlns=["']${NS_FRAMING}["']`)).length, 1, `the server answered <close/> (docs/protocol.md#xmpp-reconnection)\n${c.dump()}`);
      assert.ok(took < 1_900, `disconnect() took ${took} ms: the SDK waits 2 s for the server's <close/>`);
      await sleep(1_500); // longer than the reconnect interval: no automatic reconnection after an intentional disconnect
      assert.equal(c.chat.connectionStatus, 'offline');
      assert.equal(c.reconnects, 0);
    });
  });

  describe('1-1 messages', () => {
    test('send/receive both ways: sender id, id, body, dialog_id, date_sent and every extension value intact', async () => {
      const a = await online('alice');
      const b = await online('bob');
      const t0 = nowSecs();
      const extA = richExtension();
      const idA = a.send(b.user, { type: 'chat', body: 'hello bob', extension: extA });
      assert.match(idA, OBJECT_ID, 'chat.send() returns a 24-hex message id');
      const [gotB] = await b.waitMessages(1);
      assertChatMessage(gotB, { from: a.user, to: b.user, id: idA, body: 'hello bob', sentAtSecs: t0 }, 'A -> B');
      assert.deepEqual(gotB.message.extension, expectedExtension(extA, gotB.message), 'A -> B extension');

      const idB = b.send(a.user, { type: 'chat', body: 'hi alice', extension: { save_to_history: 1, reply: 'yes', dialog_id: gotB.message.dialog_id } });
      const [gotA] = await a.waitMessages(1);
      assertChatMessage(gotA, { from: b.user, to: a.user, id: idB, body: 'hi alice', sentAtSecs: t0 }, 'B -> A');
      assert.deepEqual(gotA.message.extension, { save_to_history: '1', reply: 'yes', dialog_id: gotB.message.dialog_id, date_sent: gotA.message.extension.date_sent });
      assert.equal(gotA.message.dialog_id, gotB.message.dialog_id, 'both directions are the same private dialog');

      await sleep(SETTLE_MS);
      b.assertMessageCount(1, 'B got exactly one message (no echo, no duplicate)');
      a.assertMessageCount(1, 'A got exactly one message (its own is not echoed back)');
    });

    test('a message without an extension still reaches the app with dialog_id and date_sent', async () => {
      const a = await online('plainA');
      const b = await online('plainB');
      const t0 = nowSecs();
      const id = a.send(b.user, { type: 'chat', body: 'no extension' });
      const [got] = await b.waitMessages(1);
      assertChatMessage(got, { from: a.user, to: b.user, id, body: 'no extension', sentAtSecs: t0 }, 'A -> B');
      assert.deepEqual(Object.keys(got.message.extension).sort(), ['date_sent', 'dialog_id']);
    });

    test('several messages arrive in the order they were sent', async () => {
      const a = await online('orderA');
      const b = await online('orderB');
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push(a.send(b.user, { type: 'chat', body: `m${i}`, extension: { save_to_history: 1 } }));
      const got = await b.waitMessages(5);
      assert.deepEqual(got.map((g) => g.message.id), ids);
      assert.deepEqual(got.map((g) => g.message.body), ['m0', 'm1', 'm2', 'm3', 'm4']);
      assert.equal(new Set(got.map((g) => g.message.dialog_id)).size, 1);
    });

    test("'sent' status: onSentMessageCallback(null, message) once per message, in order (stream management)", async () => {
      const a = await online('smA');
      const b = await online('smB');
      assert.equal(a.received(/<enabled xmlns=["']urn:xmpp:sm:3["']/).length, 1, `the server answers <enable/> with <enabled/> once\n${a.dump()}`);
      const msgs = [0, 1, 2].map((i) => ({ type: 'chat', body: `sm${i}`, extension: { save_to_history: 1 } }));
      const ids = msgs.map((m) => a.send(b.user, m));
      await waitFor(`${a.label}: 3 'sent' callbacks (have ${a.sent.length})`, () => a.sent.length >= 3, { timeoutMs: 5_000, dump: a.dump });
      assert.deepEqual(a.sent.map((m) => m.id), ids, 'sent callbacks in send order, with the ids send() returned');
      assert.ok(a.sent.every((m, i) => m === msgs[i]), 'the callback gets the very message object passed to send()');
      assert.deepEqual(a.lost, [], 'no message reported lost');
      assert.deepEqual((await b.waitMessages(3)).map((g) => g.message.id), ids);
      await sleep(SETTLE_MS);
      assert.equal(a.sent.length, 3, 'no duplicate sent callbacks');
    });

    test('offline: a user who never connected gets the message on login, with <delay>, exactly once', async () => {
      const a = await online('offA');
      const bUser = await user('offB');
      const sentAt = Date.now();
      const ext = richExtension();
      const id1 = a.send(bUser, { type: 'chat', body: 'while you were out', extension: ext });
      const id2 = a.send(bUser, { type: 'chat', body: 'second one', extension: { save_to_history: 1 } });
      await waitFor("the server acknowledged both messages ('sent' status)", () => a.sent.length >= 2, { dump: a.dump });

      const b = client(bUser);
      await b.connect();
      await b.smEnabled();
      const got = await b.waitMessages(2);
      assert.deepEqual(got.map((g) => g.message.id), [id1, id2], 'both, in order');
      assertChatMessage(got[0], { from: a.user, to: bUser, id: id1, body: 'while you were out', delayed: true }, 'offline 1');
      assertChatMessage(got[1], { from: a.user, to: bUser, id: id2, body: 'second one', delayed: true }, 'offline 2');
      assert.deepEqual(got[0].message.extension, expectedExtension(ext, got[0].message), 'offline extension intact');
      for (const g of got) assertDelayStamp(g.message.delay.attrs.stamp, sentAt, `delay stamp of ${g.message.id}`);
      await sleep(SETTLE_MS);
      b.assertMessageCount(2, 'each offline message delivered exactly once');

      // and not again on the next login
      await b.close();
      await b.connect();
      await sleep(SETTLE_MS * 2);
      b.assertMessageCount(2, 'offline messages are not delivered again on the next login');
    });

    test('offline: a message sent while the recipient had disconnected arrives when it connects again', async () => {
      const a = await online('gapA');
      const b = await online('gapB');
      const firstResource = b.resource;
      await b.close();
      const sentAt = Date.now();
      const id = a.send(b.user, { type: 'chat', body: 'after you left', extension: { save_to_history: 1 } });
      await waitFor("the server acknowledged the message ('sent' status)", () => a.sent.length >= 1, { dump: a.dump });
      await b.connect();
      assert.notEqual(b.resource, firstResource, 'a new login binds a new resource');
      const [got] = await b.waitMessages(1);
      assertChatMessage(got, { from: a.user, to: b.user, id, body: 'after you left', delayed: true }, 'offline after disconnect');
      assertDelayStamp(got.message.delay.attrs.stamp, sentAt);
      await sleep(SETTLE_MS);
      b.assertMessageCount(1, 'exactly once');
    });

    test('offline: a message without save_to_history is also kept for the offline recipient', async () => {
      const a = await online('nshA');
      const bUser = await user('nshB');
      const id = a.send(bUser, { type: 'chat', body: 'not for history', extension: { custom: 'y' } });
      await waitFor("the server acknowledged the message ('sent' status)", () => a.sent.length >= 1, { dump: a.dump });
      const b = client(bUser);
      await b.connect();
      const [got] = await b.waitMessages(1, { what: `${b.label}: the offline message sent without save_to_history (docs/protocol.md#xmpp-after-login)` });
      assertChatMessage(got, { from: a.user, to: bUser, id, body: 'not for history', delayed: true }, 'offline without save_to_history');
      assert.equal(got.message.extension.custom, 'y');
    });
  });

  describe('ping', () => {
    test('chat.ping() and chat.pingWithTimeout() to the server resolve', async () => {
      const c = await online('ping');
      const t0 = Date.now();
      assert.equal(await within(6_000, 'chat.ping()', c.chat.ping(), c.dump), undefined);
      assert.ok(Date.now() - t0 < 2_000, `ping took ${Date.now() - t0} ms`);
      await within(6_000, 'chat.pingWithTimeout(3000)', c.chat.pingWithTimeout(3_000), c.dump);
      const pings = c.written(/<ping xmlns="urn:xmpp:ping"\/>/);
      assert.equal(pings.length, 2);
      assert.match(pings[0].data, new RegExp(`to="${ctx.main.domain}"`), 'the SDK pings endpoints.chat');
      assert.equal(c.errors.length, 0, `no connection error reported: ${JSON.stringify(c.errors)}`);
    });
  });

  describe('several sessions of one user', () => {
    test('a message reaches every session of the recipient; the sender\'s other session gets a sent carbon', async () => {
      const aUser = await user('multiA');
      const a1 = client(aUser, { label: 'multiA#1' });
      const a2 = client(aUser, { label: 'multiA#2' });
      await a1.connect();
      await a2.connect();
      await a1.smEnabled();
      await a2.smEnabled();
      assert.notEqual(a1.resource, a2.resource);
      const b = await online('multiB');

      const idIn = b.send(aUser, { type: 'chat', body: 'to both of you', extension: { save_to_history: 1 } });
      const [in1] = await a1.waitMessages(1);
      const [in2] = await a2.waitMessages(1);
      assertChatMessage(in1, { from: b.user, to: aUser, id: idIn, body: 'to both of you' }, 'session 1');
      assertChatMessage(in2, { from: b.user, to: aUser, id: idIn, body: 'to both of you' }, 'session 2');

      const idOut = a1.send(b.user, { type: 'chat', body: 'from session 1', extension: { save_to_history: 1 } });
      const [atB] = await b.waitMessages(1);
      assertChatMessage(atB, { from: aUser, to: b.user, id: idOut, body: 'from session 1' }, 'A#1 -> B');
      const carbons = await a2.waitMessages(1, { filter: (g) => g.message.id === idOut, what: `${a2.label}: the sent carbon of A#1's message (docs/protocol.md#xmpp-carbons)` });
      const carbon = carbons[0];
      assert.equal(carbon.userId, aUser.id, 'carbon: userId is the sender (own user)');
      assert.equal(carbon.message.is_forwarded, true, 'carbon: is_forwarded');
      assert.equal(carbon.message.recipient_id, b.user.id, 'carbon: recipient_id is the peer');
      assert.equal(carbon.message.body, 'from session 1');
      assert.equal(carbon.message.dialog_id, atB.message.dialog_id);
      assert.equal(a2.received(/<received xmlns=["']urn:xmpp:carbons:2["']/).length, 0, 'no received-carbons (docs/protocol.md#quirk-no-received-carbons)');

      await sleep(SETTLE_MS);
      a1.assertMessageCount(1, "session 1: only B's message (its own is not echoed)");
      a2.assertMessageCount(2, "session 2: B's message and the carbon");
      b.assertMessageCount(1, 'B: exactly one');
    });
  });

  describe('secure WebSocket (wss)', () => {
    test('a client on wss:// chats with a client on ws://', { skip: sdk.canUseTls ? false : 'needs the runner\'s trusted certificate (node run.mjs)' }, async () => {
      const s = await online('wss', { chatUrl: ctx.main.wssUrl });
      assert.ok(s.chatUrl.startsWith('wss://'));
      assert.ok(String(s.chat.xmppClient.options.service).startsWith('wss://'), `the SDK's XMPP client uses ${s.chat.xmppClient.options.service}`);
      const p = await online('plainws');
      const id1 = s.send(p.user, { type: 'chat', body: 'over tls', extension: { save_to_history: 1 } });
      const [got1] = await p.waitMessages(1);
      assertChatMessage(got1, { from: s.user, to: p.user, id: id1, body: 'over tls' }, 'wss -> ws');
      const id2 = p.send(s.user, { type: 'chat', body: 'back over tls' });
      const [got2] = await s.waitMessages(1);
      assertChatMessage(got2, { from: p.user, to: s.user, id: id2, body: 'back over tls' }, 'ws -> wss');
      await s.chat.ping();
    });
  });

  describe('server restart', () => {
    let srv;
    let app;
    before(async () => {
      srv = await startServer({ name: `restart-${sdk.version}` });
      app = await srv.createApp(`restart-${uniq(4)}`);
    });
    after(async () => {
      await srv?.stop();
    });

    test('SIGTERM closes every stream; both SDKs reconnect to the restarted server (onReconnectListener) and chat both ways again', async () => {
      const [aUser, bUser] = [await newChatUser(srv, app, 'rsA'), await newChatUser(srv, app, 'rsB')];
      const a = client(aUser, {}, srv, app);
      const b = client(bUser, {}, srv, app);
      await a.connect();
      await b.connect();
      await a.smEnabled();
      const before = { a: a.resource, b: b.resource };
      const id0 = a.send(bUser, { type: 'chat', body: 'before restart' });
      await b.waitMessages(1);

      const { exited, elapsedMs } = await srv.restart();
      assert.deepEqual(exited, { code: 0, signal: null }, 'palaver serve exits 0 on SIGTERM (graceful shutdown)');
      for (const c of [a, b]) {
        await waitFor(`${c.label}: onDisconnectedListener after the server stopped`, () => c.disconnects >= 1, { timeoutMs: 3_000, dump: c.dump });
        const closing = c.received(/<close xmlns=["']urn:ietf:params:xml:ns:xmpp-framing["']|<(stream:)?error\b/);
        assert.ok(closing.length >= 1, `${c.label}: the server closed the stream (<close/> or a stream error) before going down\n${c.dump()}`);
      }
      for (const c of [a, b]) {
        await waitFor(`${c.label}: onReconnectListener`, () => c.reconnects >= 1, { timeoutMs: 15_000, dump: c.dump });
        assert.equal(c.chat.isConnected, true, `${c.label}: isConnected after the reconnection`);
        assert.equal(c.chat.connectionStatus, 'online');
      }
      await a.smEnabled(2);
      assert.notEqual(a.resource, before.a, 'the reconnection binds a new resource');
      assert.notEqual(b.resource, before.b);
      assert.equal(a.reconnects, 1);
      assert.equal(b.reconnects, 1);

      const idAB = a.send(bUser, { type: 'chat', body: 'after restart A->B', extension: { save_to_history: 1 } });
      const idBA = b.send(aUser, { type: 'chat', body: 'after restart B->A', extension: { save_to_history: 1 } });
      const gotB = await b.waitMessages(1, { filter: (g) => g.message.id !== id0 });
      const gotA = await a.waitMessages(1);
      assertChatMessage(gotB[0], { from: aUser, to: bUser, id: idAB, body: 'after restart A->B' }, 'A -> B after restart');
      assertChatMessage(gotA[0], { from: bUser, to: aUser, id: idBA, body: 'after restart B->A' }, 'B -> A after restart');
      await waitFor("'sent' status after the reconnection (SM enabled afresh)", () => a.sent.some((m) => m.id === idAB), { dump: a.dump });
      await sleep(SETTLE_MS);
      b.assertMessageCount(2, 'B: the message from before the restart and the one after, once each');
      a.assertMessageCount(1, 'A: the message from B after the restart, once');
      assert.ok(elapsedMs < 15_000, `restart took ${elapsedMs} ms`);
    });
  });

  describe('server pings', () => {
    let srv;
    let app;
    before(async () => {
      srv = await startServer({ name: `ping-${sdk.version}`, env: { PALAVER_XMPP_PING_INTERVAL_SECS: '1', PALAVER_XMPP_PING_TIMEOUT_SECS: '2' } });
      app = await srv.createApp(`ping-${uniq(4)}`);
    });
    after(async () => {
      await srv?.stop();
    });

    test('an idle client answers the server\'s pings and stays connected', async () => {
      const [aUser, bUser] = [await newChatUser(srv, app, 'idleA'), await newChatUser(srv, app, 'idleB')];
      const a = client(aUser, {}, srv, app);
      const b = client(bUser, {}, srv, app);
      await a.connect();
      await b.connect();
      await sleep(4_500);
      const pings = a.received(/<iq\b[^>]*type=["']get["'][^>]*>\s*<ping xmlns=["']urn:xmpp:ping["']/);
      assert.ok(pings.length >= 1, `the server pinged the idle client (PALAVER_XMPP_PING_INTERVAL_SECS=1)\n${a.dump()}`);
      // v6 answers with a result, v3 with service-unavailable
      // (docs/protocol.md#quirk-v3-ping-error): both prove it is alive
      assert.ok(a.written(/<iq\b[^>]*type="(result|error)"/).length >= 1, `the SDK answered the ping\n${a.dump()}`);
      assert.equal(a.disconnects, 0, `the server must not drop a client that answers pings\n${a.dump()}`);
      assert.equal(b.disconnects, 0, `the server must not drop a client that answers pings\n${b.dump()}`);
      assert.equal(a.chat.isConnected, true);
      const id = a.send(bUser, { type: 'chat', body: 'still here' });
      const [got] = await b.waitMessages(1);
      assertChatMessage(got, { from: aUser, to: bUser, id, body: 'still here' }, 'after pings');
    });
  });

  return ctx;
}
