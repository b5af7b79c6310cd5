// Interoperability with a standard XMPP client library: @xmpp/client (xmpp.js), not
// the ConnectyCube SDKs. It logs in over TCP with STARTTLS (PALAVER_C2S_ADDR), over
// direct TLS (PALAVER_C2S_TLS_ADDR) and over WebSocket, with SASL2 and SCRAM-SHA-1
// (the strongest mechanism it has), and exchanges messages, pings and offline
// messages with plain RFC 6120/6121 stanzas. TLS is verified against the runner's
// certificate (NODE_EXTRA_CA_CERTS; the certificate names localhost and 127.0.0.1).

import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { client, xml } from '@xmpp/client';
import WebSocket from 'ws';
import { startServer, uniq } from '../lib/server.mjs';
import { tapFrames, formatFrames, waitFor, within, newChatUser, assertDelayStamp, OBJECT_ID, NS_DELAY } from '../lib/chat-util.mjs';

// @xmpp/websocket uses the global WebSocket, which Node 20 does not have by default.
globalThis.WebSocket ??= WebSocket;

const TLS_OK = !!(process.env.PALAVER_TLS_CERT && process.env.NODE_EXTRA_CA_CERTS);
const NS_PING = 'urn:xmpp:ping';
const SETTLE_MS = 400;

/** An @xmpp/client connection for `user`, recording frames and every stanza it receives. */
class XmppClient {
  constructor(server, user, service, label) {
    this.user = user;
    this.label = `xmpp.js:${label}`;
    this.bare = server.jid(user.id, user.appId);
    this.x = client({ service, domain: server.domain, username: `${user.id}-${user.appId}`, password: user.password });
    this.x.reconnect.stop(); // a test failure must not turn into a reconnect loop
    this.frames = tapFrames(this.x, this.label);
    this.stanzas = [];
    this.errors = [];
    this.x.on('stanza', (s) => this.stanzas.push(s));
    this.x.on('error', (e) => this.errors.push(e));
    const t0 = Date.now();
    this.x.on('status', (st) => this.frames.push({ dir: 'S', t: Date.now() - t0, data: `status ${st}` }));
  }

  dump = () => formatFrames(this.frames, this.label);

  /**
   * start(), resolving on 'online' and rejecting on the first 'error'. Not just `await x.start()`:
   * @xmpp/client 0.14's open() listens for the stream header only after the header *write*
   * completed, and on a TLS socket a fast server's answer can be parsed before that, so start()
   * may reject with TimeoutError 2 s later although the client went online (NOTES.md).
   */
  async start() {
    const online = new Promise((resolve, reject) => {
      this.x.once('online', resolve);
      this.x.once('error', reject);
    });
    const started = this.x.start();
    started.catch(() => {}); // see above: its TimeoutError alone means nothing
    const jid = await within(10_000, `${this.label}: start()`, online, this.dump).catch((e) => {
      e.message = `${this.label}: start() failed: ${e.name} ${e.message}\n${this.dump()}`;
      throw e;
    });
    this.jid = jid.toString();
    // RFC 6121: only an "available" resource (one that sent initial presence) gets messages
    // to the bare JID, and offline messages come after it; the SDKs send it themselves.
    await this.x.send(xml('presence'));
    return this.jid;
  }

  messages(filter = () => true) {
    return this.stanzas.filter((s) => s.is('message') && filter(s));
  }

  async waitMessages(n, filter = () => true, what = `${this.label}: ${n} message(s)`) {
    await waitFor(what, () => this.messages(filter).length >= n, { timeoutMs: 5_000, dump: this.dump });
    return this.messages(filter);
  }

  written(re) {
    return this.frames.filter((f) => f.dir === 'W' && re.test(f.data));
  }

  received(re) {
    return this.frames.filter((f) => f.dir === 'R' && re.test(f.data));
  }

  /** Sends an iq get ping to `to` and resolves to the result stanza (rejects on an error reply). */
  ping(to) {
    return within(5_000, `${this.label}: ping ${to}`, this.x.iqCaller.request(xml('iq', { type: 'get', to }, xml('ping', { xmlns: NS_PING }))), this.dump);
  }

  async stop() {
    try {
      this.x.reconnect.stop();
      if (this.x.status !== 'offline') await within(5_000, `${this.label}: stop()`, this.x.stop());
    } catch {
      // best effort
    }
  }
}

const chatMessage = (to, id, body, children = []) => xml('message', { type: 'chat', to, id }, xml('body', {}, body), ...children);

/** The extraParams of a received message as {name: text}, attachments left out. */
function extraParams(stanza) {
  const ep = stanza.getChild('extraParams');
  assert.ok(ep, `message has no <extraParams>: ${stanza}`);
  return Object.fromEntries(ep.children.filter((c) => typeof c !== 'string' && c.name !== 'attachment').map((c) => [c.name, c.text()]));
}

let server;
let app;
const open = [];

before(async () => {
  server = await startServer({ name: 'interop' });
  app = await server.createApp(`interop-${uniq(4)}`);
});

after(async () => {
  for (const c of open.splice(0)) await c.stop();
  await server?.stop();
});

afterEach(async () => {
  for (const c of open.splice(0)) await c.stop();
});

async function connected(prefix, service, label = prefix) {
  const user = await newChatUser(server, app, prefix);
  const c = new XmppClient(server, user, service, label);
  open.push(c);
  await c.start();
  return c;
}

describe('@xmpp/client interop', { skip: TLS_OK ? false : "needs the runner's trusted certificate (node run.mjs)" }, () => {
  test('TCP + STARTTLS and direct TLS logins with SASL2 SCRAM-SHA-1; full JIDs with long random resources', async () => {
    const a = await connected('tcp', server.c2sService, 'starttls');
    const b = await connected('tls', server.c2sTlsService, 'directtls');
    for (const c of [a, b]) {
      assert.ok(c.jid.startsWith(`${c.bare}/`), `${c.label}: bound JID ${c.jid} is in the chat domain`);
      assert.ok(c.jid.length - c.bare.length - 1 >= 16, `${c.label}: long resource`);
      assert.equal(c.x.isSecure(), true, `${c.label}: the stream runs over TLS`);
      const auth = c.written(/<authenticate\b[^>]*mechanism="([^"]+)"/);
      assert.equal(auth.length, 1, `${c.label}: one SASL2 <authenticate>\n${c.dump()}`);
      assert.match(auth[0].data, /mechanism="SCRAM-SHA-1"/, `${c.label}: @xmpp/client picks SCRAM-SHA-1`);
    }
    assert.equal(a.written(/<starttls\b/).length, 1, `STARTTLS was negotiated on the TCP port\n${a.dump()}`);
    assert.equal(a.received(/<proceed\b/).length, 1);
    assert.equal(b.written(/<starttls\b/).length, 0, 'no STARTTLS on the direct-TLS port');
  });

  test('messages both ways (TCP/STARTTLS <-> direct TLS): from stamped by the server, id kept, unknown children kept, dialog_id and date_sent added', async () => {
    const a = await connected('msgA', server.c2sService, 'starttls');
    const b = await connected('msgB', server.c2sTlsService, 'directtls');
    const t0 = Math.floor(Date.now() / 1000);

    const idA = `a${uniq(10)}`;
    // a forged `from` must be replaced by the sender's real full JID (docs/protocol.md#xmpp-messages)
    const out = chatMessage(b.bare, idA, 'hello over tcp', [
      xml('extraParams', { xmlns: 'jabber:client' }, xml('save_to_history', {}, '1'), xml('custom', {}, 'v')),
      xml('markable', { xmlns: 'urn:xmpp:chat-markers:0' }),
      xml('unknown', { xmlns: 'urn:example:interop' }, xml('deep', { k: 'v' }, 'text')),
    ]);
    out.attrs.from = server.jid(999999, app.id) + '/forged';
    await a.x.send(out);
    const [m1] = await b.waitMessages(1);
    assert.equal(m1.attrs.from, a.jid, 'from = the sender\'s full JID');
    assert.equal(m1.attrs.to, b.jid, 'to = the recipient\'s full JID');
    assert.equal(m1.attrs.type, 'chat');
    assert.equal(m1.attrs.id, idA);
    assert.equal(m1.getChildText('body'), 'hello over tcp');
    const ep1 = extraParams(m1);
    assert.equal(ep1.save_to_history, '1');
    assert.equal(ep1.custom, 'v');
    assert.match(ep1.dialog_id, OBJECT_ID, 'server-added dialog_id');
    assert.match(ep1.date_sent, /^\d+$/, 'server-added date_sent');
    assert.ok(Number(ep1.date_sent) >= t0 - 2 && Number(ep1.date_sent) <= Date.now() / 1000 + 2);
    assert.ok(m1.getChild('markable', 'urn:xmpp:chat-markers:0'), `<markable/> kept: ${m1}`);
    const unknown = m1.getChild('unknown', 'urn:example:interop');
    assert.ok(unknown, `unknown namespaced child kept: ${m1}`);
    assert.equal(unknown.getChild('deep')?.attrs.k, 'v');
    assert.equal(unknown.getChildText('deep'), 'text');
    assert.ok(!m1.getChild('delay', NS_DELAY), 'a live message has no <delay>');

    const idB = `b${uniq(10)}`;
    await b.x.send(chatMessage(a.bare, idB, 'hello over tls'));
    const [m2] = await a.waitMessages(1);
    assert.equal(m2.attrs.from, b.jid);
    assert.equal(m2.attrs.to, a.jid);
    assert.equal(m2.attrs.id, idB);
    assert.equal(m2.getChildText('body'), 'hello over tls');
    assert.equal(extraParams(m2).dialog_id, ep1.dialog_id, 'both directions are one private dialog');

    await sleep(SETTLE_MS);
    assert.equal(a.messages().length, 1, `A: exactly one message\n${a.dump()}`);
    assert.equal(b.messages().length, 1, `B: exactly one message\n${b.dump()}`);
  });

  test('a WebSocket client and a TCP client chat both ways', async () => {
    const w = await connected('ws', server.wsUrl, 'websocket');
    const t = await connected('tcpw', server.c2sService, 'starttls');
    assert.match(w.written(/<open\b/)[0].data, /urn:ietf:params:xml:ns:xmpp-framing/, 'RFC 7395 framing');
    const id1 = `w${uniq(10)}`;
    await w.x.send(chatMessage(t.bare, id1, 'from websocket'));
    const [m1] = await t.waitMessages(1);
    assert.equal(m1.attrs.from, w.jid);
    assert.equal(m1.attrs.id, id1);
    assert.equal(m1.getChildText('body'), 'from websocket');
    const id2 = `t${uniq(10)}`;
    await t.x.send(chatMessage(w.bare, id2, 'from tcp'));
    const [m2] = await w.waitMessages(1);
    assert.equal(m2.attrs.from, t.jid);
    assert.equal(m2.attrs.id, id2);
    assert.equal(m2.getChildText('body'), 'from tcp');
  });

  test('ping: a full JID is routed to that client, a bare JID and the domain are answered by the server', async () => {
    const a = await connected('pingA', server.c2sService, 'starttls');
    const b = await connected('pingB', server.c2sTlsService, 'directtls');
    const pingsAtB = () => b.stanzas.filter((s) => s.is('iq') && s.attrs.type === 'get' && s.getChild('ping', NS_PING));

    const full = await a.ping(b.jid);
    assert.equal(full.attrs.type, 'result');
    assert.equal(full.attrs.from, b.jid, 'the answer to a full-JID ping comes from that client');
    assert.equal(pingsAtB().length, 1, 'the iq was routed to B');
    assert.equal(pingsAtB()[0].attrs.from, a.jid, 'routed iq: from = the pinger\'s full JID');

    const bare = await a.ping(b.bare);
    assert.equal(bare.attrs.type, 'result');
    assert.equal(bare.attrs.from, b.bare, 'the server answers a bare-JID ping on behalf of the account');
    await sleep(200);
    assert.equal(pingsAtB().length, 1, 'a bare-JID iq is not forwarded to the user\'s resources');

    const dom = await a.ping(server.domain);
    assert.equal(dom.attrs.type, 'result');
    assert.equal(dom.attrs.from, server.domain);
  });

  test('offline: a message to a user who is not online is delivered at login with <delay>, exactly once', async () => {
    const a = await connected('offA', server.c2sService, 'starttls');
    const dUser = await newChatUser(server, app, 'offD');
    const dBare = server.jid(dUser.id, app.id);
    const sentAt = Date.now();
    const ids = [`o${uniq(10)}`, `o${uniq(10)}`];
    await a.x.send(chatMessage(dBare, ids[0], 'first while offline', [xml('extraParams', { xmlns: 'jabber:client' }, xml('save_to_history', {}, '1'))]));
    await a.x.send(chatMessage(dBare, ids[1], 'second while offline'));
    await a.ping(server.domain); // the server has handled both messages once it answers this

    const d = new XmppClient(server, dUser, server.wsUrl, 'offline-ws');
    open.push(d);
    await d.start();
    const got = await d.waitMessages(2);
    assert.deepEqual(got.map((m) => m.attrs.id), ids, 'both, in order');
    for (const m of got) {
      assert.equal(m.attrs.from, a.jid, 'from = the sender\'s full JID');
      const delays = m.getChildren('delay', NS_DELAY);
      assert.equal(delays.length, 1, `exactly one <delay xmlns="urn:xmpp:delay">: ${m}`);
      assert.equal(delays[0].attrs.from, server.domain, 'delay from = the server');
      assertDelayStamp(delays[0].attrs.stamp, sentAt);
    }
    assert.equal(got[0].getChildText('body'), 'first while offline');
    assert.match(extraParams(got[1]).dialog_id, OBJECT_ID);
    await sleep(SETTLE_MS);
    assert.equal(d.messages().length, 2, `exactly once\n${d.dump()}`);

    // not again on the next login
    await d.stop();
    const d2 = new XmppClient(server, dUser, server.c2sService, 'offline-relogin');
    open.push(d2);
    await d2.start();
    await sleep(SETTLE_MS * 2);
    assert.equal(d2.messages().length, 0, `offline messages are not delivered twice\n${d2.dump()}`);
  });

  test('SCRAM-SHA-1 with a wrong password fails with not-authorized', async () => {
    const user = await newChatUser(server, app, 'wrong');
    const c = new XmppClient(server, { ...user, password: 'not-the-password' }, server.c2sService, 'wrongpw');
    open.push(c);
    await assert.rejects(c.start(), (e) => e.name === 'SASLError' && e.condition === 'not-authorized');
    assert.match(c.written(/<authenticate\b/)[0].data, /mechanism="SCRAM-SHA-1"/);
  });
});
