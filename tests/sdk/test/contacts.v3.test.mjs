// Contact list (RFC 6121 roster + presence subscriptions) through connectycube@3.35.3, the only SDK
// generation with a contact-list API (docs/protocol.md#xmpp-contact-list), against a real
// palaver server: contactList.add / confirm / reject / remove / get / updateName, the callbacks
// onSubscribeListener, onConfirmSubscribeListener, onRejectSubscribeListener and
// onContactListListener, requests kept for an offline contact, and the contact limit.
//
// v3 keeps a roster cache (`chat.contactList.contacts`) that decides which presences reach
// onContactListListener; only `chat.getContacts()` (deprecated) and `contactList.add()` fill it,
// `contactList.get()` does not (NOTES.md).

import '../lib/v3-nonces.mjs';
import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import CB from 'connectycube-v3';
import { startServer, uniq } from '../lib/server.mjs';
import { SdkChatClient } from '../lib/chat-suite.mjs';
import { waitFor, within, newChatUser } from '../lib/chat-util.mjs';
import { v3Sdk } from '../lib/sdk-adapters.mjs';
import { stanzas, findTag, listen, bareJid, closeClients, forceStop } from '../lib/wire.mjs';

const sdk = v3Sdk(CB);
const SETTLE_MS = 500;
const LISTENERS = ['onSubscribeListener', 'onConfirmSubscribeListener', 'onRejectSubscribeListener', 'onContactListListener', 'onLastUserActivityListener'];
const NS_ROSTER = /xmlns=["']jabber:iq:roster["']/;

// Without the runner's certificate v3's REST calls hang (NOTES.md #4): fail fast instead.
if (!process.env.PALAVER_TLS_CERT) {
  test('v3 needs a trusted certificate', () => {
    assert.fail('v3 only speaks HTTPS: run this file through `node run.mjs`, which provides a trusted certificate');
  });
} else {
  contactsSuite();
}

function contactsSuite() {
  const ctx = { srv: null, app: null };
  const open = [];
  const all = []; // every client made, for forceStop()

  const client = (user, { label, server = ctx.srv, app = ctx.app } = {}) => {
    const c = new SdkChatClient(sdk, server, app, user, { label: label || user.login });
    all.push(c);
    listen(c, LISTENERS);
    open.push(c);
    return c;
  };
  const user = (prefix, server = ctx.srv, app = ctx.app) => newChatUser(server, app, prefix);
  /** connect() and wait for stream management (counting earlier logins of the same object). */
  const connected = async (c) => {
    const n = c.received(/<enabled xmlns=["']urn:xmpp:sm:3["']/).length;
    await c.connect();
    await c.smEnabled(n + 1);
    return c;
  };
  const online = async (prefix, opts) => connected(client(await user(prefix), opts));
  const jid = (u, server = ctx.srv) => bareJid(server, u);
  const closeAll = () => closeClients(open.splice(0));

  /**
   * contactList.get() within 5 s. An item without a `name` attribute comes back as `name: undefined`
   * (v3 maps only a name equal to "{uid}-{app}" to null, NOTES.md); both are normalised to null here.
   */
  const roster = async (c) => {
    const r = await within(5_000, `${c.label}: contactList.get()`, c.chat.contactList.get(), c.dump);
    for (const v of Object.values(r)) if (v.name === undefined) v.name = null;
    return r;
  };
  /** Polls contactList.get() until `pred(contacts)` holds; returns the contacts. */
  const rosterUntil = async (c, what, pred) => {
    let last;
    await waitFor(`${c.label}: contact list ${what}`, async () => pred((last = await roster(c))), {
      dump: () => `last contactList.get(): ${JSON.stringify(last)}\n${c.dump()}`,
    });
    return last;
  };
  /** Subscription presences of `type` that `c` read from the server. */
  const subPresences = (c, type) => stanzas(c, 'R', 'presence').filter((s) => s.attrs.type === type);
  /** Roster pushes `c` read (iq set with jabber:iq:roster). */
  const rosterPushes = (c) => stanzas(c, 'R', 'iq', NS_ROSTER).filter((s) => s.attrs.type === 'set');

  /** A asks for B's presence; B (already online) confirms; both end with subscription "both". */
  const befriend = async (a, b) => {
    await within(5_000, `${a.label}: contactList.add`, a.chat.contactList.add(b.user.id), a.dump);
    await b.waitEvent('onSubscribeListener', (id) => id === a.user.id);
    b.chat.contactList.confirm(a.user.id); // never settles (docs/protocol.md#quirk-v3-contact-list-promises)
    await a.waitEvent('onConfirmSubscribeListener', (id) => id === b.user.id);
    await b.waitEvent('onConfirmSubscribeListener', (id) => id === a.user.id);
    await rosterUntil(a, `lists ${b.user.id} with "both"`, (r) => r[b.user.id]?.subscription === 'both');
    await rosterUntil(b, `lists ${a.user.id} with "both"`, (r) => r[a.user.id]?.subscription === 'both');
  };

  /** No roster push, no result of this file's own queries etc. may look like a last-activity push
   * (docs/protocol.md#quirk-iq-query-is-last-activity). */
  const assertNoBogusLastActivity = (...clients) => {
    for (const c of clients) {
      assert.deepEqual(c.eventsOf('onLastUserActivityListener'), [], `${c.label}: no onLastUserActivityListener (roster pushes must carry no "from", docs/protocol.md#quirk-iq-query-is-last-activity)\n${c.dump()}`);
      for (const p of rosterPushes(c)) assert.equal(p.attrs.from, undefined, `${c.label}: roster push with a "from": ${p.data}`);
    }
  };

  before(async () => {
    ctx.srv = await startServer({ name: 'contacts-v3' });
    ctx.app = await ctx.srv.createApp(`contacts-${uniq(4)}`);
  });
  after(async () => {
    await closeAll();
    await forceStop(all);
    await ctx.srv?.stop();
  });
  afterEach(closeAll);

  describe('v3: add, confirm and the contact list', () => {
    test('add(userId): roster set then subscribe; the contact gets onSubscribeListener(requesterId); get() shows ask "subscribe" on the requester side only', async () => {
      const a = await online('addA');
      const b = await online('addB');
      await b.chat.getContacts();
      const res = await within(5_000, 'contactList.add', a.chat.contactList.add(b.user.id), a.dump);
      assert.equal(res, undefined, 'add() resolves to undefined');

      // wire, requester side: roster set with the contact's bare JID, then <presence type="subscribe"/>
      const sets = stanzas(a, 'W', 'iq', NS_ROSTER).filter((s) => s.attrs.type === 'set');
      assert.equal(sets.length, 1, `one roster set\n${a.dump()}`);
      assert.equal(findTag(sets[0].data, 'item').attrs.jid, jid(b.user));
      const subs = stanzas(a, 'W', 'presence').filter((s) => s.attrs.type === 'subscribe');
      assert.equal(subs.length, 1, `one subscribe presence\n${a.dump()}`);
      assert.equal(subs[0].attrs.to, jid(b.user));
      assert.ok(subs[0].t >= sets[0].t, 'subscribe only after the roster set was answered');
      const answer = stanzas(a, 'R', 'iq').find((s) => s.attrs.id === sets[0].attrs.id);
      assert.equal(answer?.attrs.type, 'result', `the roster set is answered with a result\n${a.dump()}`);

      // the contact gets the request from the requester's bare JID
      await b.waitEvent('onSubscribeListener', (id) => id === a.user.id);
      const reqs = subPresences(b, 'subscribe');
      assert.equal(reqs.length, 1, `one subscribe reached B\n${b.dump()}`);
      assert.equal(reqs[0].attrs.from, jid(a.user), 'subscription presences carry the bare JID of the sender (RFC 6121 §3.1.2)');

      assert.deepEqual(await roster(a), { [b.user.id]: { subscription: 'none', ask: 'subscribe', name: null } }, "A's contact list");
      assert.deepEqual(await roster(b), {}, "B's contact list: a pending inbound request is not a roster item (RFC 6121 §3.1.3)");

      await sleep(SETTLE_MS);
      assert.deepEqual(b.eventsOf('onSubscribeListener'), [[a.user.id]], 'exactly one onSubscribeListener');
      assert.deepEqual(a.eventsOf('onSubscribeListener'), []);
      assert.deepEqual(a.eventsOf('onConfirmSubscribeListener'), []);
      assertNoBogusLastActivity(a, b);
    });

    test('confirm(userId): the requester gets onConfirmSubscribeListener(contactId), the mutual request is auto-accepted, both lists end "both", presences are exchanged; confirm() never settles', async () => {
      const a = await online('cfA');
      const b = await online('cfB');
      await a.chat.getContacts();
      await b.chat.getContacts();
      await a.chat.contactList.add(b.user.id);
      await b.waitEvent('onSubscribeListener', (id) => id === a.user.id);

      let settled = false;
      const pending = b.chat.contactList.confirm(a.user.id);
      pending.then(
        () => (settled = 'resolved'),
        () => (settled = 'rejected')
      );
      await a.waitEvent('onConfirmSubscribeListener', (id) => id === b.user.id, `${a.label}: onConfirmSubscribeListener(${b.user.id})`);
      // mutual mode: B's own add(A) is answered by A's SDK automatically (cached "to" → "subscribed")
      await b.waitEvent('onConfirmSubscribeListener', (id) => id === a.user.id, `${b.label}: onConfirmSubscribeListener(${a.user.id}) after the mutual request`);

      // wire, contact side: subscribed, then (mutual) roster set and subscribe
      const bOut = b.frames.filter((f) => f.dir === 'W');
      const iSubscribed = bOut.findIndex((f) => /<presence\b[^>]*type="subscribed"/.test(f.data));
      const iSet = bOut.findIndex((f) => NS_ROSTER.test(f.data) && /type="set"/.test(f.data));
      const iSubscribe = bOut.findIndex((f) => /<presence\b[^>]*type="subscribe"/.test(f.data));
      assert.ok(iSubscribed >= 0 && iSet > iSubscribed && iSubscribe > iSet, `B sends subscribed, roster set, subscribe in that order\n${b.dump()}`);
      assert.equal(subPresences(a, 'subscribed')[0]?.attrs.from, jid(b.user), 'the confirmation comes from B\'s bare JID');
      // A answered B's request itself: no onSubscribeListener, a <presence type="subscribed"/> to B
      assert.equal(subPresences(a, 'subscribe').length, 1, `B's mutual request reached A\n${a.dump()}`);
      assert.ok(stanzas(a, 'W', 'presence').some((s) => s.attrs.type === 'subscribed' && s.attrs.to === jid(b.user)), `A's SDK answered with subscribed\n${a.dump()}`);

      const rA = await rosterUntil(a, 'both', (r) => r[b.user.id]?.subscription === 'both');
      const rB = await rosterUntil(b, 'both', (r) => r[a.user.id]?.subscription === 'both');
      assert.deepEqual(rA, { [b.user.id]: { subscription: 'both', ask: null, name: null } });
      assert.deepEqual(rB, { [a.user.id]: { subscription: 'both', ask: null, name: null } });

      // each now sees the other online (the server sends the current presence on "subscribed")
      await a.waitEvent('onContactListListener', (id, type) => id === b.user.id && type === undefined);
      await b.waitEvent('onContactListListener', (id, type) => id === a.user.id && type === undefined);

      await sleep(SETTLE_MS);
      assert.equal(settled, false, 'contactList.confirm() neither resolves nor rejects (v3 calls add(params, callback) and add ignores the callback)');
      assert.deepEqual(a.eventsOf('onSubscribeListener'), [], 'A: no onSubscribeListener for the automatically accepted request');
      assert.deepEqual(b.eventsOf('onSubscribeListener'), [[a.user.id]]);
      assert.deepEqual(a.eventsOf('onConfirmSubscribeListener'), [[b.user.id]]);
      assert.deepEqual(b.eventsOf('onConfirmSubscribeListener'), [[a.user.id]]);
      assert.deepEqual(a.eventsOf('onContactListListener'), [[b.user.id]], `A: B's presence once\n${a.dump()}`);
      assert.deepEqual(b.eventsOf('onContactListListener'), [[a.user.id]], `B: A's presence once\n${b.dump()}`);
      assertNoBogusLastActivity(a, b);
    });
  });

  describe('v3: contact presence (onContactListListener)', () => {
    test('a contact going offline and online: onContactListListener(id, "unavailable") then (id); only once the roster is cached with getContacts()', async () => {
      const a = await online('prA');
      const b = await online('prB');
      await befriend(a, b);
      const bUser = b.user;
      a.events.length = 0;

      await b.close();
      await a.waitEvent('onContactListListener', (id, type) => id === bUser.id && type === 'unavailable');
      const unav = stanzas(a, 'R', 'presence').filter((s) => s.attrs.type === 'unavailable');
      assert.equal(unav.length, 1, `one unavailable presence of B\n${a.dump()}`);
      assert.match(unav[0].attrs.from, new RegExp(`^${jid(bUser).replace(/[.]/g, '\\.')}/.+`), 'from the full JID of the session that left');

      await connected(b);
      await a.waitEvent('onContactListListener', (id, type) => id === bUser.id && type === undefined);
      await sleep(SETTLE_MS);
      assert.deepEqual(a.eventsOf('onContactListListener'), [[bUser.id, 'unavailable'], [bUser.id]], `exactly one callback per change\n${a.dump()}`);

      // A second SDK object of A: at login the server sends B's presence (probe), but with an empty
      // roster cache v3 reports nothing …
      const a2 = client(a.user, { label: `${a.user.login}#2` });
      await connected(a2);
      await waitFor(`${a2.label}: B's presence at login (probe)`, () => stanzas(a2, 'R', 'presence').some((s) => s.attrs.from?.startsWith(`${jid(bUser)}/`) && !s.attrs.type), {
        dump: a2.dump,
      });
      // … contactList.get() alone does not fill the cache …
      assert.deepEqual(await roster(a2), { [bUser.id]: { subscription: 'both', ask: null, name: null } });
      await b.close();
      await waitFor(`${a2.label}: B's unavailable presence`, () => stanzas(a2, 'R', 'presence').some((s) => s.attrs.type === 'unavailable'), { dump: a2.dump });
      await sleep(200);
      assert.deepEqual(a2.eventsOf('onContactListListener'), [], 'no callback without a cached roster (contactList.get() does not cache)');
      // … chat.getContacts() does.
      const cached = await within(5_000, 'chat.getContacts()', a2.chat.getContacts(), a2.dump);
      assert.deepEqual(cached, { [bUser.id]: { subscription: 'both', ask: null, name: undefined } }, 'getContacts() resolves to the same map (an unnamed item has name undefined)');
      await connected(b);
      await a2.waitEvent('onContactListListener', (id, type) => id === bUser.id && type === undefined);
      await b.close();
      await a2.waitEvent('onContactListListener', (id, type) => id === bUser.id && type === 'unavailable');
      assertNoBogusLastActivity(a, a2);
    });
  });

  describe('v3: reject, remove, updateName', () => {
    test('reject(userId): resolves; the requester gets onRejectSubscribeListener(contactId) and keeps the contact with subscription "none"; the request is not delivered again', async () => {
      const a = await online('rjA');
      const c = await online('rjC');
      await a.chat.getContacts();
      await a.chat.contactList.add(c.user.id);
      await c.waitEvent('onSubscribeListener', (id) => id === a.user.id);
      const res = await within(5_000, 'contactList.reject', c.chat.contactList.reject(a.user.id), c.dump);
      assert.equal(res, undefined);
      const sent = stanzas(c, 'W', 'presence').filter((s) => s.attrs.type === 'unsubscribed');
      assert.equal(sent.length, 1);
      assert.equal(sent[0].attrs.to, jid(a.user));

      await a.waitEvent('onRejectSubscribeListener', (id) => id === c.user.id);
      assert.equal(subPresences(a, 'unsubscribed')[0].attrs.from, jid(c.user));
      await rosterUntil(a, 'shows the refusal', (r) => r[c.user.id]?.ask === null);
      assert.deepEqual(await roster(a), { [c.user.id]: { subscription: 'none', ask: null, name: null } });
      assert.deepEqual(await roster(c), {});

      // C's presence does not reach A, and C is not asked again at its next login
      const before = stanzas(a, 'R', 'presence').length;
      await c.close();
      await connected(c);
      await sleep(SETTLE_MS);
      assert.equal(stanzas(a, 'R', 'presence').length, before, `A gets no presence of C\n${a.dump()}`);
      assert.deepEqual(c.eventsOf('onSubscribeListener'), [[a.user.id]], `the refused request is not delivered again\n${c.dump()}\n${a.dump()}`);
      assert.deepEqual(a.eventsOf('onRejectSubscribeListener'), [[c.user.id]]);
      assertNoBogusLastActivity(a, c);
    });

    test('remove(userId): resolves; the contact is gone from the list, the other side gets unsubscribe + unsubscribed (v3: onRejectSubscribeListener) and presences stop', async () => {
      const a = await online('rmA');
      const b = await online('rmB');
      await befriend(a, b);
      a.events.length = 0;
      b.events.length = 0;

      const res = await within(5_000, 'contactList.remove', a.chat.contactList.remove(b.user.id), a.dump);
      assert.equal(res, undefined);
      const set = stanzas(a, 'W', 'iq', NS_ROSTER).filter((s) => /subscription="remove"/.test(s.data));
      assert.equal(set.length, 1);
      assert.equal(findTag(set[0].data, 'item').attrs.jid, jid(b.user));
      assert.deepEqual(await roster(a), {}, "A's list no longer has B");

      await waitFor(`${b.label}: unsubscribe and unsubscribed from A`, () => subPresences(b, 'unsubscribe').length >= 1 && subPresences(b, 'unsubscribed').length >= 1, { dump: b.dump });
      for (const type of ['unsubscribe', 'unsubscribed']) {
        const got = subPresences(b, type);
        assert.equal(got.length, 1, `exactly one ${type}\n${b.dump()}`);
        assert.equal(got[0].attrs.from, jid(a.user), `${type} from A's bare JID`);
      }
      await b.waitEvent('onRejectSubscribeListener', (id) => id === a.user.id);
      assert.deepEqual(await roster(b), { [a.user.id]: { subscription: 'none', ask: null, name: null } }, "B keeps A, with subscription none (RFC 6121 §3.2.2, §3.3.2)");

      // presences no longer flow either way
      const seenByA = stanzas(a, 'R', 'presence').length;
      const seenByB = stanzas(b, 'R', 'presence').length;
      await b.close();
      await connected(b);
      await sleep(SETTLE_MS);
      assert.equal(stanzas(a, 'R', 'presence').length, seenByA, `A gets no presence of B any more\n${a.dump()}`);
      const a2 = client(a.user, { label: `${a.user.login}#2` });
      await connected(a2);
      await a2.close();
      await sleep(SETTLE_MS);
      const fromA = stanzas(b, 'R', 'presence').slice(seenByB).filter((s) => s.attrs.from?.startsWith(`${jid(a.user)}/`));
      assert.deepEqual(fromA, [], `B gets no presence of A any more\n${b.dump()}`);
      assert.deepEqual(a.eventsOf('onContactListListener'), []);
      assertNoBogusLastActivity(a, b);
    });

    test('add({userId, name}) and updateName({userId, name}): the name is stored and returned by get(); updateName for an uncached contact rejects without a request', async () => {
      const a = await online('nmA');
      const bUser = await user('nmB');
      await a.chat.contactList.add({ userId: bUser.id, name: 'Bob' });
      const set = stanzas(a, 'W', 'iq', NS_ROSTER).filter((s) => s.attrs.type === 'set');
      assert.equal(findTag(set[0].data, 'item').attrs.name, 'Bob');
      assert.deepEqual(await roster(a), { [bUser.id]: { subscription: 'none', ask: 'subscribe', name: 'Bob' } });

      const res = await within(5_000, 'contactList.updateName', a.chat.contactList.updateName({ userId: bUser.id, name: 'Bobby' }), a.dump);
      assert.equal(res, undefined, 'updateName() resolves (to undefined) on a result');
      assert.deepEqual(await roster(a), { [bUser.id]: { subscription: 'none', ask: 'subscribe', name: 'Bobby' } }, 'renamed, subscription state untouched');

      // a fresh SDK object of A has no cache: updateName rejects client-side
      const a2 = client(a.user, { label: `${a.user.login}#2` });
      await connected(a2);
      const writesBefore = a2.frames.filter((f) => f.dir === 'W').length;
      await assert.rejects(a2.chat.contactList.updateName({ userId: bUser.id, name: 'Robert' }), (e) => e === 'No contact exists with provided user id');
      assert.equal(a2.frames.filter((f) => f.dir === 'W').length, writesBefore, 'nothing was sent');
      await a2.chat.getContacts();
      await within(5_000, 'updateName after getContacts()', a2.chat.contactList.updateName({ userId: bUser.id, name: 'Robert' }), a2.dump);
      assert.equal((await roster(a))[bUser.id].name, 'Robert', 'the other session sees the new name');
      assertNoBogusLastActivity(a, a2);
    });
  });

  describe('v3: requests for an offline contact', () => {
    test('a request sent while the contact is offline arrives at its next login (after its presence), again until answered, and not after the answer', async () => {
      const a = await online('ofA');
      const dUser = await user('ofD');
      await a.chat.getContacts();
      await within(5_000, 'add while the contact is offline', a.chat.contactList.add(dUser.id), a.dump);

      const d = client(dUser);
      await connected(d);
      await d.waitEvent('onSubscribeListener', (id) => id === a.user.id, `${d.label}: the stored request at login`);
      const req = subPresences(d, 'subscribe');
      assert.equal(req.length, 1, `one request\n${d.dump()}`);
      assert.equal(req[0].attrs.from, jid(a.user));
      const initial = d.frames.findIndex((f) => f.dir === 'W' && /^<presence\b/.test(f.data) && !/type=/.test(f.data));
      const delivered = d.frames.findIndex((f) => f.dir === 'R' && /^<presence\b[^>]*type=["']subscribe["']/.test(f.data));
      assert.ok(initial >= 0 && delivered > initial, `delivered after the initial presence\n${d.dump()}`);

      // not answered: delivered again at the next login
      await d.close();
      await connected(d);
      await waitFor(`${d.label}: the unanswered request again`, () => d.eventsOf('onSubscribeListener').length >= 2, { dump: d.dump });

      // answered: A (online) is told, and the request is not delivered any more
      d.chat.contactList.confirm(a.user.id);
      await a.waitEvent('onConfirmSubscribeListener', (id) => id === dUser.id);
      await rosterUntil(d, 'both', (r) => r[a.user.id]?.subscription === 'both');
      // The push saying "both" can still be on its way after the stored roster says so. Read before
      // closing, else the SDK answers it while its stream is closing and hands that write's error to
      // the next connect() as its rejection.
      await waitFor(`${d.label}: the roster push with "both"`, () => rosterPushes(d).some((p) => /subscription=["']both["']/.test(p.data)), { dump: d.dump });
      await d.close();
      const n = d.eventsOf('onSubscribeListener').length;
      const frames = subPresences(d, 'subscribe').length;
      await connected(d);
      await sleep(SETTLE_MS);
      assert.equal(subPresences(d, 'subscribe').length, frames, `no request after it was answered\n${d.dump()}`);
      assert.equal(d.eventsOf('onSubscribeListener').length, n);
      assertNoBogusLastActivity(a, d);
    });
  });

  describe('v3: contact limit (PALAVER_MAX_CONTACTS=3 standing in for 300)', () => {
    let srv;
    let app;
    before(async () => {
      srv = await startServer({ name: 'contacts-limit-v3', env: { PALAVER_MAX_CONTACTS: '3' } });
      app = await srv.createApp(`limit-${uniq(4)}`);
    });
    after(async () => {
      await srv?.stop();
    });

    test('the 4th add is refused (405 not-allowed) and its subscribe is dropped; removing a contact makes room again', async () => {
      const mk = (p) => newChatUser(srv, app, p);
      const aUser = await mk('limA');
      const others = [await mk('lim1'), await mk('lim2'), await mk('lim3')];
      const uUser = await mk('lim4');
      const a = client(aUser, { server: srv, app });
      await connected(a);
      const u = client(uUser, { server: srv, app });
      await connected(u);
      await u.chat.getContacts();

      for (const o of others) await within(5_000, `add ${o.login}`, a.chat.contactList.add(o.id), a.dump);
      const res = await within(5_000, 'the 4th add', a.chat.contactList.add(uUser.id), a.dump);
      assert.equal(res, undefined, 'v3 add() resolves even when the roster set fails (docs/protocol.md#quirk-v3-contact-list-promises)');

      const sets = stanzas(a, 'W', 'iq', NS_ROSTER).filter((s) => s.attrs.type === 'set');
      assert.equal(sets.length, 4);
      const refusal = stanzas(a, 'R', 'iq').find((s) => s.attrs.id === sets[3].attrs.id);
      assert.ok(refusal, `the 4th roster set is answered\n${a.dump()}`);
      assert.equal(refusal.attrs.type, 'error', `the 4th roster set is refused\n${a.dump()}`);
      const err = findTag(refusal.data, 'error');
      assert.equal(err.attrs.code, '405', `legacy code 405: ${refusal.data}`);
      assert.equal(err.attrs.type, 'cancel');
      assert.match(refusal.data, /<not-allowed\b/);
      assert.match(refusal.data, /Contact list limit \(3\) reached/);
      // the SDK still sent the subscribe …
      assert.ok(stanzas(a, 'W', 'presence').some((s) => s.attrs.type === 'subscribe' && s.attrs.to === jid(uUser, srv)), 'v3 sends subscribe after the failed roster set');
      // … which the server refuses back to A (v3 ignores presence errors: no callback) …
      const bounced = await waitFor(`${a.label}: the subscribe refused`, () => stanzas(a, 'R', 'presence').find((s) => s.attrs.type === 'error' && s.attrs.from === jid(uUser, srv)), { dump: a.dump });
      assert.equal(findTag(bounced.data, 'error').attrs.code, '405', `presence error code 405: ${bounced.data}`);
      assert.match(bounced.data, /<not-allowed\b/);
      // … and which must not reach U, now or at its next login
      await sleep(SETTLE_MS);
      assert.deepEqual(subPresences(u, 'subscribe'), [], `no subscription request reaches the 4th user\n${u.dump()}`);
      assert.deepEqual(u.eventsOf('onSubscribeListener'), []);
      await u.close();
      await connected(u);
      await sleep(SETTLE_MS);
      assert.deepEqual(subPresences(u, 'subscribe'), [], `no stored request either\n${u.dump()}`);

      const list = await roster(a);
      assert.deepEqual(Object.keys(list).map(Number).sort((x, y) => x - y), others.map((o) => o.id).sort((x, y) => x - y), 'the list holds the first 3');
      for (const o of others) assert.deepEqual(list[o.id], { subscription: 'none', ask: 'subscribe', name: null });

      // room again after a removal
      await a.chat.contactList.remove(others[0].id);
      await a.chat.contactList.add(uUser.id);
      await u.waitEvent('onSubscribeListener', (id) => id === aUser.id);
      const after = await roster(a);
      assert.equal(Object.keys(after).length, 3);
      assert.deepEqual(after[uUser.id], { subscription: 'none', ask: 'subscribe', name: null });
      assertNoBogusLastActivity(a, u);
    });
  });
}
