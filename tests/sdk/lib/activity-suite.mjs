// Last activity (XEP-0012), ConnectyCube's status streaming, markActive/markInactive and the relay
// of call-signalling headlines, shared by v6 and v3 (docs/protocol.md#xmpp-last-activity,
// docs/protocol.md#xmpp-status-streaming, docs/protocol.md#xmpp-active-inactive,
// docs/protocol.md#xmpp-call-signalling).
// Each test file calls activitySuite() with the chat adapter of lib/sdk-adapters.mjs plus:
//
//   sendCallSignal(client, toUserId, extension, signalType) — sends a WebRTCVideoChat headline through
//       the SDK's own signalling code (v6 chat.sendWebRTCSignalingMessage as WebRTCSignalingProvider
//       calls it, v3 its WebRTCSignalingProvider class on chat.xmppClient)
//   captureCallSignals(client) — installs a stand-in for the SDK's WebRTC signalling processor on
//       the receiving chat (Node has no WebRTC, so the SDKs build none) and returns the array it fills
//       with {userId, signalType, sessionID, extension} (and counts every call in its `dispatches`)
//   dispatchesPerSignal — how many times the SDK calls its processor per headline (v6 2, v3 1)
//   lastActivityOnError — what onLastUserActivityListener receives when getLastUserActivity() fails
//       (undefined: not called)

import { describe as nodeDescribe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { startServer, uniq } from './server.mjs';
import { SdkChatClient } from './chat-suite.mjs';
import { waitFor, within, newChatUser } from './chat-util.mjs';
import { stanzas, findTag, listen, bareJid, closeClients, forceStop } from './wire.mjs';

const SETTLE_MS = 500;
const NS_LAST = /xmlns=["']jabber:iq:last["']/;
const NS_STREAMING = /xmlns=["']https:\/\/connectycube\.com\/protocol\/status_streaming["']/;
const NS_MOBILE = /xmlns=["']http:\/\/tigase\.org\/protocol\/mobile#v2["']/;
// An SDP as browsers produce it: CR LF line ends.
const SDP = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n';

/** `<extraParams>` text with the default namespace declaration dropped and line ends normalised. */
const canonicalXml = (x) => x && x.replace(/\r\n?/g, '\n').replace(/^<extraParams xmlns=["']jabber:client["']>/, '<extraParams>');

/** The `<extraParams …>…</extraParams>` text of a frame. */
const extraParamsOf = (data) => {
  const m = /<extraParams\b[\s\S]*<\/extraParams>/.exec(data);
  return m ? m[0] : null;
};

export function activitySuite(sdk) {
  const describe = (title, fn) => nodeDescribe(`${sdk.version}: ${title}`, fn);
  const ctx = { srv: null, app: null };
  const open = [];
  const all = []; // every client made, for forceStop()

  const client = (user, { label } = {}) => {
    const c = new SdkChatClient(sdk, ctx.srv, ctx.app, user, { label: label || user.login });
    all.push(c);
    listen(c, ['onLastUserActivityListener']);
    open.push(c);
    return c;
  };
  const user = (prefix) => newChatUser(ctx.srv, ctx.app, prefix);
  /** connect() and wait for stream management (counting earlier logins of the same object). */
  const connected = async (c) => {
    const n = c.received(/<enabled xmlns=["']urn:xmpp:sm:3["']/).length;
    await c.connect();
    await c.smEnabled(n + 1);
    return c;
  };
  const online = async (prefix) => connected(client(await user(prefix)));
  const jid = (u) => bareJid(ctx.srv, u);

  /** Last-activity iqs (queries, results, pushes) a client read. */
  const lastIqs = (c) => stanzas(c, 'R', 'iq', NS_LAST);
  /** The server's answer to the iq `c` wrote matching `re` (waits up to 5 s). */
  const answerTo = async (c, re, what) => {
    let sent;
    let answer;
    await waitFor(`${c.label}: the server answers ${what}`, () => {
      sent = stanzas(c, 'W', 'iq', re).at(-1);
      answer = sent && stanzas(c, 'R', 'iq').find((s) => s.attrs.id === sent.attrs.id);
      return answer;
    }, { dump: c.dump });
    return { sent, answer };
  };
  /** Fails if `c` answered any last-activity push (with a result or an error). */
  const assertNoRepliesToPushes = (c) => {
    const pushIds = new Set(lastIqs(c).map((s) => s.attrs.id));
    const replies = stanzas(c, 'W', 'iq').filter((s) => pushIds.has(s.attrs.id));
    assert.deepEqual(replies.map((s) => s.data), [], `${c.label}: the SDK answers nothing to type="result" pushes`);
  };

  before(async () => {
    ctx.srv = await startServer({ name: `activity-${sdk.version}` });
    ctx.app = await ctx.srv.createApp(`activity-${sdk.version}-${uniq(4)}`);
  });
  const closeAll = () => closeClients(open.splice(0));
  after(async () => {
    await closeAll();
    await forceStop(all);
    await ctx.srv?.stop();
  });
  afterEach(closeAll);

  describe('getLastUserActivity', () => {
    test('an online user: resolves {userId, seconds: 0}, answered by the server from the user\'s bare JID, and fires onLastUserActivityListener', async () => {
      const a = await online('laA');
      const b = await online('laB');
      const res = await within(5_000, 'chat.getLastUserActivity()', a.chat.getLastUserActivity(b.user.id), a.dump);
      assert.deepEqual(res, { userId: b.user.id, seconds: 0 });
      assert.deepEqual(a.eventsOf('onLastUserActivityListener'), [[b.user.id, 0]], 'the listener fires for the result too');

      const { sent, answer } = await answerTo(a, NS_LAST, 'the last-activity query');
      assert.equal(sent.attrs.type, 'get');
      assert.equal(sent.attrs.to, jid(b.user), 'queried at the bare JID');
      assert.equal(answer.attrs.type, 'result');
      assert.equal(answer.attrs.from, jid(b.user), 'from = the queried user (docs/protocol.md#quirk-last-activity-from)');
      assert.equal(findTag(answer.data, 'query').attrs.seconds, '0');
      assert.deepEqual(lastIqs(b), [], `the query is answered by the server, not forwarded to the user\n${b.dump()}`);
    });

    test('a user who disconnected: a positive number of seconds, growing with the time since', async () => {
      const a = await online('loA');
      const b = await online('loB');
      await b.close();
      const closedAt = Date.now();
      await sleep(2_300);
      const res = await within(5_000, 'chat.getLastUserActivity()', a.chat.getLastUserActivity(b.user.id), a.dump);
      const elapsed = (Date.now() - closedAt) / 1000;
      assert.equal(res.userId, b.user.id);
      assert.ok(Number.isInteger(res.seconds), `seconds must be an integer: ${JSON.stringify(res)}`);
      assert.ok(res.seconds >= 2 && res.seconds <= Math.ceil(elapsed) + 1, `seconds ${res.seconds} after ${elapsed.toFixed(1)} s offline`);
      assert.deepEqual(a.eventsOf('onLastUserActivityListener'), [[b.user.id, res.seconds]]);
      const { answer } = await answerTo(a, NS_LAST, 'the last-activity query');
      assert.equal(answer.attrs.from, jid(b.user));
    });

    test('an unknown user and a user never seen in chat: rejects with {code: 404, info}', async () => {
      const a = await online('luA');
      const never = await user('luNever');
      for (const [what, id] of [
        ['an unknown user id', 2_000_000_000],
        ['a user who never connected', never.id],
      ]) {
        a.events.length = 0;
        let err;
        let value;
        try {
          value = await within(5_000, `getLastUserActivity(${what})`, a.chat.getLastUserActivity(id), a.dump);
        } catch (e) {
          err = e;
        }
        assert.ok(err !== undefined, `getLastUserActivity(${what}) resolved ${JSON.stringify(value)}`);
        assert.equal(err?.code, 404, `${what}: rejects with code 404, got ${JSON.stringify(err)}\n${a.dump()}`);
        assert.equal(typeof err.info, 'string', `${what}: info is the <text> of the error`);
        const { answer } = await answerTo(a, NS_LAST, `the query for ${what}`);
        assert.equal(answer.attrs.type, 'error');
        assert.match(answer.data, /<item-not-found\b/);
        assert.equal(findTag(answer.data, 'error').attrs.type, 'cancel');
        assert.deepEqual(
          a.eventsOf('onLastUserActivityListener'),
          sdk.lastActivityOnError === undefined ? [] : [[id, sdk.lastActivityOnError]],
          `${what}: onLastUserActivityListener on an error (NOTES.md)`
        );
      }
    });
  });

  describe('status streaming', () => {
    test('subscribeToUserLastActivityStatus: (uid, 0) when the user connects, (uid, seconds > 0) when its last session goes; unsubscribe stops them', async () => {
      const a = await online('ssA');
      const bUser = await user('ssB');
      assert.equal(a.chat.subscribeToUserLastActivityStatus(bUser.id), undefined, 'returns nothing');
      const { sent, answer } = await answerTo(a, NS_STREAMING, 'the subscription');
      const sub = findTag(sent.data, 'subscribe');
      assert.equal(sub.attrs.user_jid, jid(bUser));
      assert.equal(sub.attrs.enable, 'true');
      assert.equal(answer.attrs.type, 'result', `the subscription is accepted\n${a.dump()}`);

      const b1 = client(bUser, { label: `${bUser.login}#1` });
      await connected(b1);
      await a.waitEvent('onLastUserActivityListener', (id, s) => id === bUser.id && s === 0, `${a.label}: (${bUser.id}, 0) when B connects`);
      const [push] = lastIqs(a);
      assert.equal(push.attrs.type, 'result', `the push is a type="result" iq: ${push.data}`);
      assert.equal(push.attrs.from, jid(bUser), 'from = the watched user');
      assert.equal(findTag(push.data, 'query').attrs.seconds, '0');

      // another session of B: still online, nothing new; the first one leaving: still online
      const b2 = client(bUser, { label: `${bUser.login}#2` });
      await connected(b2);
      await b1.close();
      await sleep(SETTLE_MS);
      assert.deepEqual(a.eventsOf('onLastUserActivityListener'), [[bUser.id, 0]], `no push while B keeps a session\n${a.dump()}`);

      await b2.close();
      const [, seconds] = await a.waitEvent('onLastUserActivityListener', (id, s) => id === bUser.id && s > 0, `${a.label}: (${bUser.id}, >0) when B's last session goes`);
      assert.ok(Number.isInteger(seconds) && seconds >= 1, `seconds ${seconds}`);
      const offPush = lastIqs(a).at(-1);
      assert.equal(offPush.attrs.type, 'result');
      assert.equal(offPush.attrs.from, jid(bUser));
      assertNoRepliesToPushes(a);

      // unsubscribe
      assert.equal(a.chat.unsubscribeFromUserLastActivityStatus(bUser.id), undefined);
      const un = await answerTo(a, /enable="false"/, 'the unsubscription');
      assert.match(un.sent.data, NS_STREAMING);
      assert.equal(un.answer.attrs.type, 'result');
      const n = a.events.length;
      const frames = lastIqs(a).length;
      await connected(b1);
      await b1.close();
      await sleep(SETTLE_MS);
      assert.equal(a.events.length, n, `no callback after unsubscribing: ${JSON.stringify(a.events.slice(n))}`);
      assert.equal(lastIqs(a).length, frames, `no push after unsubscribing\n${a.dump()}`);
      assert.deepEqual(a.eventsOf('onLastUserActivityListener'), [[bUser.id, 0], [bUser.id, seconds]], 'exactly one callback per change');
    });

    test('a subscription belongs to the session: after the subscriber reconnects nothing arrives until it subscribes again', async () => {
      const a = await online('spA');
      const bUser = await user('spB');
      a.chat.subscribeToUserLastActivityStatus(bUser.id);
      await answerTo(a, NS_STREAMING, 'the subscription');
      await a.close();
      await connected(a);
      const b = client(bUser);
      await connected(b);
      await sleep(SETTLE_MS);
      assert.deepEqual(a.eventsOf('onLastUserActivityListener'), [], 'the new session is not subscribed');
      a.chat.subscribeToUserLastActivityStatus(bUser.id);
      await answerTo(a, NS_STREAMING, 'the new subscription');
      await b.close();
      await a.waitEvent('onLastUserActivityListener', (id, s) => id === bUser.id && s > 0);
    });
  });

  describe('markInactive / markActive', () => {
    test('both return nothing, send <mobile enable="true"|"false"/> (inverted), are answered with a result; messages keep arriving live while inactive', async () => {
      const a = await online('maA');
      const b = await online('maB');
      assert.equal(a.chat.markInactive(), undefined, 'markInactive() returns undefined (not a promise)');
      const inactive = await answerTo(a, NS_MOBILE, 'markInactive');
      assert.match(inactive.sent.attrs.id, /:markActive$/);
      assert.equal(inactive.sent.attrs.type, 'set');
      assert.equal(findTag(inactive.sent.data, 'mobile').attrs.enable, 'true', 'markInactive sends enable="true"');
      assert.equal(inactive.answer.attrs.type, 'result', `markInactive is accepted\n${a.dump()}`);

      const id1 = b.send(a.user, { type: 'chat', body: 'while inactive', extension: { save_to_history: 1 } });
      const [got1] = await a.waitMessages(1);
      assert.equal(got1.message.id, id1);
      assert.ok(!got1.message.delay, 'delivered live (no <delay>) while inactive');

      assert.equal(a.chat.markActive(), undefined, 'markActive() returns undefined');
      const active = await answerTo(a, /enable="false"/, 'markActive');
      assert.match(active.sent.data, NS_MOBILE);
      assert.match(active.sent.attrs.id, /:markActive$/);
      assert.equal(active.answer.attrs.type, 'result', `markActive is accepted\n${a.dump()}`);

      const id2 = b.send(a.user, { type: 'chat', body: 'active again', extension: { save_to_history: 1 } });
      const got = await a.waitMessages(2);
      assert.equal(got[1].message.id, id2);
      assert.equal(a.disconnects, 0);
      assert.equal(a.chat.isConnected, true);
      assert.equal(a.errors.length, 0);
    });
  });

  describe('call signalling (WebRTCVideoChat headlines)', () => {
    test('relayed untouched, with the sender\'s JID, to every session of the callee and to the SDK\'s signalling processor; never stored for an offline callee', async () => {
      const a = await online('callA');
      const bUser = await user('callB');
      const b1 = client(bUser, { label: `${bUser.login}#1` });
      const b2 = client(bUser, { label: `${bUser.login}#2` });
      await connected(b1);
      await connected(b2);
      const got1 = sdk.captureCallSignals(b1);
      const got2 = sdk.captureCallSignals(b2);
      const sessionID = randomUUID();
      const ext = { sessionID, callType: 1, callerID: a.user.id, opponentsIDs: [bUser.id], sdp: SDP, userInfo: { name: 'Alice' } };
      sdk.sendCallSignal(a, bUser.id, ext, 'call');

      for (const [c, got] of [[b1, got1], [b2, got2]]) {
        await waitFor(`${c.label}: the call signal in the SDK's signalling processor`, () => got.length >= 1, { dump: c.dump });
        const [s] = got;
        assert.equal(s.userId, a.user.id, 'userId = the caller');
        assert.equal(s.signalType, 'call');
        assert.equal(s.sessionID, sessionID);
        assert.equal(Number(s.extension.callerID), a.user.id);
        assert.equal(Number(s.extension.callType), 1);
        assert.deepEqual(s.extension.opponentsIDs, [bUser.id]);
        assert.equal(s.extension.sdp.replace(/\r\n/g, '\n'), SDP.replace(/\r\n/g, '\n'), 'the SDP (line ends aside)');
        assert.deepEqual(s.extension.userInfo, { name: 'Alice' });
      }
      const out = stanzas(a, 'W', 'message', /WebRTCVideoChat/);
      assert.equal(out.length, 1, `the caller sent one headline\n${a.dump()}`);
      assert.equal(out[0].attrs.type, 'headline');
      for (const c of [b1, b2]) {
        const inn = stanzas(c, 'R', 'message', /WebRTCVideoChat/);
        assert.equal(inn.length, 1, `${c.label}: exactly one headline\n${c.dump()}`);
        assert.equal(inn[0].attrs.type, 'headline');
        assert.equal(inn[0].attrs.id, out[0].attrs.id, 'the message id is kept');
        assert.equal(inn[0].attrs.from, a.jid, 'from = the caller\'s full JID');
        assert.doesNotMatch(inn[0].data, /<delay\b/, 'no <delay> (the SDKs ignore delayed signals)');
        // Relayed unchanged up to XML equivalence: palaver re-serialises the stanza, so the redundant
        // xmlns="jabber:client" of <extraParams> is dropped and CR LF reaches the callee as LF (an XML
        // parser must normalise line ends; see docs/protocol.md#xmpp-call-signalling). NOTES.md.
        assert.equal(canonicalXml(extraParamsOf(inn[0].data)), canonicalXml(extraParamsOf(out[0].data)), `${c.label}: <extraParams> relayed unchanged`);
      }
      assert.equal(got1.dispatches, sdk.dispatchesPerSignal, `the SDK hands one headline to its signalling processor ${sdk.dispatchesPerSignal} time(s) (NOTES.md)`);

      // offline callee: dropped, not delivered at the next login
      await closeClients([b1, b2]);
      sdk.sendCallSignal(a, bUser.id, { sessionID, callType: 1, callerID: a.user.id, opponentsIDs: [bUser.id] }, 'hangUp');
      await sleep(300);
      const b3 = client(bUser, { label: `${bUser.login}#3` });
      const got3 = sdk.captureCallSignals(b3);
      await connected(b3);
      await sleep(SETTLE_MS);
      assert.deepEqual(stanzas(b3, 'R', 'message'), [], `nothing stored for the offline callee\n${b3.dump()}`);
      assert.equal(got3.length, 0, 'no signal reaches the SDK at the next login');
      assert.equal(got3.dispatches, 0);
      assert.deepEqual(stanzas(a, 'R', 'message'), [], `the caller gets no error for the dropped signal\n${a.dump()}`);
      assert.equal(a.errors.length, 0);
    });
  });

  return ctx;
}
