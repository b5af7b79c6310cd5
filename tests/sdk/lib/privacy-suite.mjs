// Privacy (black) lists through the SDKs' own `chat.privacylist` API, shared by v6 and v3
// (docs/protocol.md#xmpp-privacy-lists, docs/protocol.md#quirk-privacy-list-reading): create / getList / getNames / setAsDefault / update / delete as the
// chat guide shows them, the guide's decline-default-then-update flow, and what blocked users see: a
// 1-1 message → onMessageErrorListener(id, {code: 503, info: 'Service not available.'}), nothing at
// all in groups, and a two-way block also refusing the blocker's own messages (406).
// Each test file calls privacySuite() with the chat adapter of lib/sdk-adapters.mjs.

import { describe as nodeDescribe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, uniq } from './server.mjs';
import { SdkChatClient } from './chat-suite.mjs';
import { waitFor, within, newChatUser } from './chat-util.mjs';
import { stanzas, findTag, listen, bareJid, closeClients, forceStop } from './wire.mjs';

/** How long to keep listening for stanzas that must not arrive. */
const SETTLE_MS = 600;
const NS_PRIVACY = /xmlns=["']jabber:iq:privacy["']/;
const BLOCKED = { code: 503, info: 'Service not available.' };
const BLOCKING = { code: 406, info: 'You have blocked this user.' };

export function privacySuite(sdk) {
  const describe = (title, fn) => nodeDescribe(`${sdk.version}: ${title}`, fn);
  const ctx = { srv: null, app: null };
  const open = [];
  const all = [];

  const client = (user, { label } = {}) => {
    const c = new SdkChatClient(sdk, ctx.srv, ctx.app, user, { label: label || user.login });
    all.push(c);
    listen(c, ['onMessageErrorListener']);
    // The chat suite's recorder of onMessageListener stays (c.messages).
    c.chat.onMessageListener = (userId, message) => c.messages.push({ userId, message, at: Date.now() });
    open.push(c);
    return c;
  };
  const user = (prefix) => newChatUser(ctx.srv, ctx.app, prefix);
  const online = async (prefix) => {
    const c = client(await user(prefix));
    await c.connect();
    await c.smEnabled();
    return c;
  };
  /** The owner and three others, ids ascending in creation order (the SDKs write items by user id). */
  const cast = async () => {
    const owner = await online('owner');
    const blocked = await online('blocked'); // one-way
    const mutual = await online('mutual'); // two-way (mutualBlock)
    const friend = await online('friend'); // allowed
    assert.ok(blocked.user.id < mutual.user.id && mutual.user.id < friend.user.id);
    return { owner, blocked, mutual, friend };
  };
  /** The guide's list: one user denied one-way, one denied two-way, one allowed. */
  const guideList = ({ blocked, mutual, friend }, name = 'myList') => ({
    name,
    items: [
      { user_id: blocked.user.id, action: 'deny' },
      { user_id: mutual.user.id, action: 'deny', mutualBlock: true }, // it means you can't write to user
      { user_id: friend.user.id, action: 'allow' },
    ],
  });
  const pl = (c) => c.chat.privacylist;
  const call = (c, what, promise) => within(5_000, `${c.label}: privacylist.${what}`, promise, c.dump);
  /** Privacy iqs the client read, for checking that nothing was pushed. */
  const privacyIqs = (c) => stanzas(c, 'R', 'iq', NS_PRIVACY);
  const errorsOf = (c) => c.eventsOf('onMessageErrorListener').map(([messageId, error]) => ({ messageId, error }));
  const send = (from, to, body) => from.chat.send(to.user.id, { type: 'chat', body, extension: { save_to_history: 1 } });
  const gotBody = (c, body) => c.messages.some((g) => g.message.body === body);

  before(async () => {
    ctx.srv = await startServer({ name: `privacy-${sdk.version}` });
    ctx.app = await ctx.srv.createApp(`privacy-${sdk.version}-${uniq(4)}`);
  });
  const closeAll = () => closeClients(open.splice(0));
  after(async () => {
    await closeAll();
    await forceStop(all);
    await ctx.srv?.stop();
  });
  afterEach(closeAll);

  describe('managing privacy lists', () => {
    test('create, getList, getNames, setAsDefault and delete as in the guide', async () => {
      const users = await cast();
      const { owner, blocked, mutual, friend } = users;
      const other = client(owner.user, { label: `${owner.user.login}#2` });
      await other.connect();
      await other.smEnabled();
      const list = guideList(users);

      assert.equal(await call(owner, 'create()', pl(owner).create(list)), undefined, 'create() resolves with nothing');
      // On the wire: two items per user in user-id order, children for one-way and allow, none for mutualBlock.
      const edit = stanzas(owner, 'W', 'iq', NS_PRIVACY).find((s) => /:edit$/.test(s.attrs.id));
      assert.ok(edit, `the SDK sent its :edit iq\n${owner.dump()}`);
      const items = [...edit.data.matchAll(/<item\b[^>]*?(\/>|>(.*?)<\/item>)/g)].map((m) => ({ ...findTag(m[0], 'item').attrs, children: m[2] || '' }));
      assert.deepEqual(
        items.map((i) => [i.value, i.action, i.order, i.children === '' ? 'two-way' : 'one-way']),
        [
          [bareJid(ctx.srv, blocked.user), 'deny', '1', 'one-way'],
          [`muc.${ctx.srv.domain}/${blocked.user.id}`, 'deny', '2', 'one-way'],
          [bareJid(ctx.srv, mutual.user), 'deny', '3', 'two-way'],
          [`muc.${ctx.srv.domain}/${mutual.user.id}`, 'deny', '4', 'two-way'],
          [bareJid(ctx.srv, friend.user), 'allow', '5', 'one-way'],
          [`muc.${ctx.srv.domain}/${friend.user.id}`, 'allow', '6', 'one-way'],
        ]
      );

      // getList(): every even-indexed item → {user_id, action}; mutualBlock is never reported
      // (docs/protocol.md#quirk-privacy-list-reading).
      const got = await call(owner, 'getList()', pl(owner).getList('myList'));
      assert.deepEqual(got, {
        name: 'myList',
        items: [
          { user_id: blocked.user.id, action: 'deny' },
          { user_id: mutual.user.id, action: 'deny' },
          { user_id: friend.user.id, action: 'allow' },
        ],
      });

      // getNames() before and after setAsDefault(): names also lists the default's name
      // (docs/protocol.md#quirk-privacy-list-reading).
      assert.deepEqual(await call(owner, 'getNames()', pl(owner).getNames()), { default: null, active: null, names: ['myList'] });
      assert.equal(await call(owner, 'setAsDefault()', pl(owner).setAsDefault('myList')), undefined);
      assert.deepEqual(await call(owner, 'getNames()', pl(owner).getNames()), { default: 'myList', active: null, names: ['myList', 'myList'] });
      // The other session sees the same lists (they are the user's, not the session's).
      assert.deepEqual(await call(other, 'getNames()', pl(other).getNames()), { default: 'myList', active: null, names: ['myList', 'myList'] });

      // A second list, and getList() of a name that does not exist: an empty list, in both SDKs.
      await call(owner, 'create()', pl(owner).create({ name: 'spare', items: [{ user_id: friend.user.id, action: 'deny' }] }));
      assert.deepEqual(await call(owner, 'getNames()', pl(owner).getNames()), { default: 'myList', active: null, names: ['myList', 'myList', 'spare'] });
      assert.deepEqual(await call(owner, 'getList(unknown)', pl(owner).getList('no-such-list')), { name: 'no-such-list', items: [] });

      // setAsDefault() of an unknown list rejects with the legacy code.
      await assert.rejects(call(owner, 'setAsDefault(unknown)', pl(owner).setAsDefault('no-such-list')), (e) => e.code === 404 && typeof e.info === 'string');

      // delete(): the list goes; deleting the default list leaves no default.
      assert.equal(await call(owner, 'delete()', pl(owner).delete('spare')), undefined);
      assert.deepEqual(await call(owner, 'getNames()', pl(owner).getNames()), { default: 'myList', active: null, names: ['myList', 'myList'] });
      await call(owner, 'delete()', pl(owner).delete('myList'));
      assert.deepEqual(await call(owner, 'getNames()', pl(owner).getNames()), { default: null, active: null, names: [] });
      assert.deepEqual(await call(owner, 'getList()', pl(owner).getList('myList')), { name: 'myList', items: [] });

      // Nothing was pushed to the other session (docs/protocol.md#xmpp-privacy-managing) — it only read answers to its own getNames().
      await sleep(SETTLE_MS);
      const pushed = privacyIqs(other).filter((s) => !/:getNames$/.test(s.attrs.id));
      assert.deepEqual(pushed.map((s) => s.data), [], 'no privacy pushes');
    });

    test("the guide's update flow: decline the default list, update it, set it as default again", async () => {
      const users = await cast();
      const { owner, blocked, mutual, friend } = users;
      await call(owner, 'create()', pl(owner).create(guideList(users)));
      await call(owner, 'setAsDefault()', pl(owner).setAsDefault('myList'));

      // setAsDefault(null) sends an empty <default/> and declines the default.
      await call(owner, 'setAsDefault(null)', pl(owner).setAsDefault(null));
      const decline = stanzas(owner, 'W', 'iq', NS_PRIVACY).filter((s) => /:default$/.test(s.attrs.id)).at(-1);
      assert.match(decline.data, /<default\s*\/>/, 'setAsDefault(null) sends <default/>');
      assert.deepEqual(await call(owner, 'getNames()', pl(owner).getNames()), { default: null, active: null, names: ['myList'] });

      // update(): getList + create. v6 drops users whose new action is allow; v3 merges by user_id.
      await call(owner, 'update()', pl(owner).update({ name: 'myList', items: [{ user_id: blocked.user.id, action: 'allow' }] }));
      await call(owner, 'setAsDefault()', pl(owner).setAsDefault('myList'));
      const expected =
        sdk.version === 'v6'
          ? [
              { user_id: mutual.user.id, action: 'deny' },
              { user_id: friend.user.id, action: 'allow' },
            ]
          : [
              { user_id: blocked.user.id, action: 'allow' },
              { user_id: mutual.user.id, action: 'deny' },
              { user_id: friend.user.id, action: 'allow' },
            ];
      assert.deepEqual(await call(owner, 'getList()', pl(owner).getList('myList')), { name: 'myList', items: expected });
      assert.deepEqual(await call(owner, 'getNames()', pl(owner).getNames()), { default: 'myList', active: null, names: ['myList', 'myList'] });

      // The updated list is what is enforced: the formerly blocked user gets through …
      const idFree = send(blocked, owner, 'unblocked now');
      await owner.waitMessages(1, { filter: (g) => g.message.id === idFree });
      // … the mutual block lost its two-way flag in the update (getList never reports it,
      // docs/protocol.md#quirk-privacy-list-reading), so
      // the owner may write to that user again, while that user stays blocked.
      const idOut = send(owner, mutual, 'one-way now');
      await mutual.waitMessages(1, { filter: (g) => g.message.id === idOut });
      const idIn = send(mutual, owner, 'still blocked');
      await mutual.waitEvent('onMessageErrorListener', (id) => id === idIn);
      assert.deepEqual(errorsOf(mutual), [{ messageId: idIn, error: BLOCKED }]);
      await sleep(SETTLE_MS);
      assert.ok(!gotBody(owner, 'still blocked'), `the owner must not get it\n${owner.dump()}`);
      assert.deepEqual(errorsOf(owner), [], 'the owner got no errors');
    });
  });

  describe('blocked users', () => {
    test("a blocked user's 1-1 message: onMessageErrorListener(id, {code: 503, info: 'Service not available.'}), the owner gets nothing, even offline", async () => {
      const users = await cast();
      const { owner, blocked, friend } = users;
      await call(owner, 'create()', pl(owner).create(guideList(users)));
      // A list is not enforced until it is the default.
      const before = send(blocked, owner, 'not yet');
      await owner.waitMessages(1, { filter: (g) => g.message.id === before });
      await call(owner, 'setAsDefault()', pl(owner).setAsDefault('myList'));

      const id = send(blocked, owner, 'can you hear me');
      await blocked.waitEvent('onMessageErrorListener', (messageId) => messageId === id, `${blocked.label}: onMessageErrorListener for ${id}`);
      assert.deepEqual(errorsOf(blocked), [{ messageId: id, error: BLOCKED }]);
      const error = stanzas(blocked, 'R', 'message').find((s) => s.attrs.id === id);
      assert.equal(error.attrs.type, 'error');
      assert.equal(error.attrs.from, bareJid(ctx.srv, owner.user));
      assert.equal(findTag(error.data, 'error').attrs.type, 'cancel');
      assert.ok(findTag(error.data, 'service-unavailable'), error.data);

      // The one-way block lets the owner write to the blocked user (whose v6 auto-marker back is
      // dropped without an error).
      const reply = send(owner, blocked, 'I can still write to you');
      await blocked.waitMessages(1, { filter: (g) => g.message.id === reply });
      // An allowed user is not affected.
      const fromFriend = send(friend, owner, 'hello from a friend');
      await owner.waitMessages(1, { filter: (g) => g.message.id === fromFriend });

      // While the owner is offline the list still applies: nothing is kept for her.
      await owner.close();
      const whileAway = send(blocked, owner, 'are you there');
      await blocked.waitEvent('onMessageErrorListener', (messageId) => messageId === whileAway);
      const later = client(owner.user, { label: `${owner.user.login}#later` });
      const keptFromFriend = send(friend, owner, 'while you were away');
      await sleep(300);
      await later.connect();
      await later.waitMessages(1, { filter: (g) => g.message.body === 'while you were away' });
      await sleep(SETTLE_MS);
      assert.ok(!gotBody(later, 'are you there') && !gotBody(later, 'can you hear me'), `nothing from the blocked user\n${later.dump()}`);
      assert.deepEqual(errorsOf(blocked), [
        { messageId: id, error: BLOCKED },
        { messageId: whileAway, error: BLOCKED },
      ]);
      assert.ok(keptFromFriend);
    });

    test('a two-way block (mutualBlock) also refuses the blocker\'s own messages: onMessageErrorListener(id, {code: 406})', async () => {
      const users = await cast();
      const { owner, mutual } = users;
      await call(owner, 'create()', pl(owner).create(guideList(users)));
      await call(owner, 'setAsDefault()', pl(owner).setAsDefault('myList'));

      const id = send(owner, mutual, 'you will not get this');
      await owner.waitEvent('onMessageErrorListener', (messageId) => messageId === id);
      assert.deepEqual(errorsOf(owner), [{ messageId: id, error: BLOCKING }]);
      const back = send(mutual, owner, 'nor this');
      await mutual.waitEvent('onMessageErrorListener', (messageId) => messageId === back);
      assert.deepEqual(errorsOf(mutual), [{ messageId: back, error: BLOCKED }]);
      await sleep(SETTLE_MS);
      assert.ok(!gotBody(mutual, 'you will not get this'), `the blocked user must not get it\n${mutual.dump()}`);
      assert.ok(!gotBody(owner, 'nor this'), `the owner must not get it\n${owner.dump()}`);

      // Declining the default list lifts the block at once.
      await call(owner, 'setAsDefault(null)', pl(owner).setAsDefault(null));
      const again = send(owner, mutual, 'friends again');
      await mutual.waitMessages(1, { filter: (g) => g.message.id === again });
    });

    test('in a group the blocker receives nothing from blocked occupants, nobody gets an error, and a two-way block keeps the blocker\'s messages from that user', async () => {
      const users = await cast();
      const { owner, blocked, mutual, friend } = users;
      await owner.cb.createSession({ login: owner.user.login, password: owner.user.password });
      const dialog = await owner.cb.chat.dialog.create({ type: 2, name: `privacy ${uniq(4)}`, occupants_ids: [blocked.user.id, mutual.user.id, friend.user.id] });
      const dialogId = dialog._id;
      await call(owner, 'create()', pl(owner).create(guideList(users)));
      await call(owner, 'setAsDefault()', pl(owner).setAsDefault('myList'));
      const group = (from, body) => from.chat.send(dialogId, { type: 'groupchat', body, extension: { save_to_history: 1, dialog_id: dialogId } });
      const inGroup = (c, body) => c.messages.some((g) => g.message.body === body && g.message.dialog_id === dialogId);
      const waitGroup = (c, body) => c.waitMessages(1, { filter: (g) => g.message.body === body && g.message.dialog_id === dialogId });

      group(blocked, 'from the blocked one');
      group(mutual, 'from the mutual one');
      group(friend, 'from the friend');
      for (const c of [blocked, mutual, friend]) {
        for (const body of ['from the blocked one', 'from the mutual one', 'from the friend']) await waitGroup(c, body);
      }
      await waitGroup(owner, 'from the friend');
      // The owner's own message: her reflection, the one-way-blocked user and the friend; not the mutual one.
      group(owner, 'from the owner');
      for (const c of [owner, blocked, friend]) await waitGroup(c, 'from the owner');
      await sleep(SETTLE_MS);
      assert.ok(!inGroup(owner, 'from the blocked one') && !inGroup(owner, 'from the mutual one'), `the owner must get nothing from blocked occupants\n${owner.dump()}`);
      assert.ok(!inGroup(mutual, 'from the owner'), `a two-way block keeps the owner's group messages from that user\n${mutual.dump()}`);
      for (const c of [owner, blocked, mutual, friend]) {
        assert.deepEqual(errorsOf(c), [], `${c.label}: no error in a group chat`);
      }
    });
  });
}
