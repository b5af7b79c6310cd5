// The dialog / history / group-chat conformance flows that v6 and v3 share: one test per section
// of the chat guide's "Dialogs" and "Chat history and messaging" chapters, each through the
// SDK calls the guide names. Each test file (one per SDK generation, each in its own process)
// calls dialogsSuite() with the adapter the chat suite uses:
//
//   { version: 'v6' | 'v3',
//     newInstance(),                          // a fresh SDK object
//     init(instance, server, app, {chatUrl}), // instance.init(creds, config) for that server/app
//     autoDelivered }                         // v6 sends a 'received' marker for every incoming message,
//                                             // v3 only for messages carrying <markable/>
//                                             // (docs/protocol.md#quirk-automatic-received-markers)
//
// Every test makes its own users (palaver CLI), gives each an SDK object of its own with a user
// session (REST) and, where the section needs it, a chat connection: an Actor records what every
// chat listener reports. A failed wait or count prints the XMPP frames of the actors involved.

import { describe as nodeDescribe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, uniq } from './server.mjs';
import { OBJECT_ID, waitFor, newChatUser, nowSecs } from './chat-util.mjs';
import { SdkChatClient } from './chat-suite.mjs';
import { expectHttpError } from './flows.mjs';

/** How long to keep listening after the expected stanzas arrived, to catch duplicates and strays. */
const SETTLE_MS = 400;
const ADMIN_TOKEN = `admin-${uniq(16)}`;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

const num = (a, b) => a - b;
const sortedIds = (ids) => [...ids].map(Number).sort(num);

/**
 * One user: an SDK object with a user session (REST) and, if connected, a chat connection, recording
 * every chat listener. `events.<kind>` are arrays of the listener arguments as objects.
 */
export class Actor extends SdkChatClient {
  constructor(sdk, server, app, user, opts) {
    super(sdk, server, app, user, opts);
    this.events = { delivered: [], read: [], typing: [], update: [], remove: [], system: [], join: [], leave: [], kick: [], reactions: [], error: [] };
    const ev = this.events;
    const c = this.chat;
    c.onDeliveredStatusListener = (messageId, dialogId, userId) => ev.delivered.push({ messageId, dialogId, userId });
    c.onReadStatusListener = (messageId, dialogId, userId) => ev.read.push({ messageId, dialogId, userId });
    c.onMessageTypingListener = (isTyping, userId, dialogId) => ev.typing.push({ isTyping, userId, dialogId });
    c.onMessageUpdateListener = (messageId, isLast, body, dialogId, userId, extension) => ev.update.push({ messageId, isLast, body, dialogId, userId, extension });
    c.onMessageDeleteListener = (messageId, dialogId, userId) => ev.remove.push({ messageId, dialogId, userId });
    c.onSystemMessageListener = (message) => ev.system.push(message);
    c.onJoinOccupant = (dialogId, userId) => ev.join.push({ dialogId, userId });
    c.onLeaveOccupant = (dialogId, userId) => ev.leave.push({ dialogId, userId });
    c.onKickOccupant = (dialogId, initiatorId) => ev.kick.push({ dialogId, initiatorId });
    c.onMessageReactionsListener = (messageId, userId, dialogId, add, remove) => ev.reactions.push({ messageId, userId, dialogId, add, remove });
    c.onMessageErrorListener = (messageId, error) => ev.error.push({ messageId, error });
    this.everConnected = false;
  }

  get id() {
    return this.user.id;
  }

  get dialog() {
    return this.chat.dialog;
  }

  get message() {
    return this.chat.message;
  }

  /** A user session for the REST calls (the way an app logs in). */
  async login() {
    const s = await this.cb.createSession({ login: this.user.login, password: this.user.password });
    assert.equal(s.user_id, this.user.id, `${this.label}: session of the right user`);
    return s;
  }

  connect(password) {
    this.everConnected = true;
    return super.connect(password);
  }

  /** chat.send() of a group message to a dialog, with the guide's extension. */
  sendGroup(dialogId, body, extension = {}) {
    return this.chat.send(dialogId, { type: 'groupchat', body, extension: { save_to_history: 1, dialog_id: dialogId, ...extension } });
  }

  /** chat.send() of a 1-1 message, with the guide's extension. */
  sendPrivate(to, dialogId, body, extension = {}, extra = {}) {
    return this.chat.send(to.id ?? to, { type: 'chat', body, extension: { save_to_history: 1, dialog_id: dialogId, ...extension }, ...extra });
  }

  /** Waits until `events[kind]` holds at least `n` entries matching `filter`; returns those. */
  async waitEvents(kind, n, filter = () => true, what = `${n} ${kind} event(s)`, timeoutMs = 5_000) {
    const pick = () => this.events[kind].filter(filter);
    await waitFor(`${this.label}: ${what} (have ${JSON.stringify(pick())})`, () => pick().length >= n, { timeoutMs, dump: this.dump });
    return pick();
  }

  /** The messages of `dialogId` this actor's onMessageListener got, as {userId, message}. */
  inDialog(dialogId) {
    return this.messages.filter((g) => g.message.dialog_id === dialogId);
  }

  /** GET /chat/Message for the dialog without marking anything read. */
  async history(dialogId, params = {}) {
    const r = await this.message.list({ chat_dialog_id: dialogId, mark_as_read: 0, ...params });
    assert.ok(r && Array.isArray(r.items), `GET /chat/Message must answer {skip, limit, items}: ${JSON.stringify(r)}`);
    return r.items;
  }

  /** Polls the history until `pred(items)` holds (messages sent over XMPP are stored asynchronously to the test). */
  async waitHistory(dialogId, pred, what) {
    let last;
    await waitFor(
      `${this.label}: history of ${dialogId}: ${what}`,
      async () => {
        last = await this.history(dialogId);
        return pred(last);
      },
      { timeoutMs: 5_000, dump: () => `last GET /chat/Message items: ${JSON.stringify(last)}\n${this.dump()}` }
    );
    return last;
  }

  /** The caller's view of one dialog, from GET /chat/Dialog. */
  async listed(dialogId) {
    const r = await this.dialog.list({ _id: dialogId });
    return r.items.find((d) => d._id === dialogId);
  }

  async unread(dialogIds) {
    return this.message.unreadCount({ chat_dialog_ids: dialogIds });
  }
}

/** Shape checks on a Dialog object (docs/protocol.md#object-dialog). */
function assertDialog(d, expected = {}, what = 'dialog') {
  assert.ok(d && typeof d === 'object', `${what}: expected a Dialog, got ${JSON.stringify(d)}`);
  assert.match(String(d._id), OBJECT_ID, `${what}: _id is a 24-hex ObjectId`);
  assert.match(d._id, /[a-f]/, `${what}: _id must contain a letter a-f, else the SDK takes it for a user id (docs/protocol.md#quirk-dialog-id-needs-letter)`);
  for (const k of ['type', 'user_id', 'name', 'occupants_ids', 'admins_ids', 'last_message', 'last_message_id', 'last_message_user_id', 'last_message_date_sent', 'unread_messages_count', 'xmpp_room_jid', 'created_at', 'updated_at']) {
    assert.ok(k in d, `${what}: lacks "${k}": ${JSON.stringify(d)}`);
  }
  assert.match(d.created_at, ISO, `${what}: created_at`);
  assert.match(d.updated_at, ISO, `${what}: updated_at`);
  assert.ok(Array.isArray(d.occupants_ids) && d.occupants_ids.every(Number.isInteger), `${what}: occupants_ids must be integers: ${JSON.stringify(d.occupants_ids)}`);
  for (const [k, v] of Object.entries(expected)) {
    if (k === 'occupants_ids' || k === 'admins_ids') assert.deepEqual(sortedIds(d[k]), sortedIds(v), `${what}: ${k}`);
    else assert.deepEqual(d[k], v, `${what}: ${k}`);
  }
}

/** Shape checks on a history Message (docs/protocol.md#object-message). */
function assertHistoryMessage(m, expected = {}, what = 'message') {
  assert.ok(m && typeof m === 'object', `${what}: expected a Message, got ${JSON.stringify(m)}`);
  for (const k of ['_id', 'chat_dialog_id', 'message', 'date_sent', 'sender_id', 'recipient_id', 'attachments', 'read_ids', 'delivered_ids', 'created_at', 'updated_at']) {
    assert.ok(k in m, `${what}: lacks "${k}": ${JSON.stringify(m)}`);
  }
  assert.equal(typeof m.date_sent, 'number', `${what}: date_sent is Unix seconds`);
  for (const [k, v] of Object.entries(expected)) {
    if (k === 'read_ids' || k === 'delivered_ids') assert.deepEqual(sortedIds(m[k]), sortedIds(v), `${what}: ${k}`);
    else assert.deepEqual(m[k], v, `${what}: ${k}`);
  }
}

/** The parsed `{SuccessfullyDeleted, NotFound, WrongPermissions}` of a bulk delete (the SDK may hand it over as text). */
function bulkResult(r, what) {
  let o = r;
  if (typeof r === 'string') {
    try {
      o = JSON.parse(r);
    } catch {
      assert.fail(`${what}: the body must be the JSON {SuccessfullyDeleted, NotFound, WrongPermissions}, got ${JSON.stringify(r)}`);
    }
  }
  for (const k of ['SuccessfullyDeleted', 'NotFound', 'WrongPermissions']) {
    assert.ok(o && o[k] && Array.isArray(o[k].ids), `${what}: ${k}.ids missing in ${JSON.stringify(o)}`);
  }
  return { ok: [...o.SuccessfullyDeleted.ids].sort(), notFound: [...o.NotFound.ids].sort(), denied: [...o.WrongPermissions.ids].sort() };
}

export function dialogsSuite(sdk) {
  const describe = (title, fn) => nodeDescribe(`${sdk.version}: ${title}`, fn);
  const ctx = { server: null, app: null };
  const open = [];

  before(async () => {
    ctx.server = await startServer({ name: `dialogs-${sdk.version}`, env: { PALAVER_ADMIN_TOKEN: ADMIN_TOKEN } });
    ctx.app = await ctx.server.createApp(`dialogs-${sdk.version}-${uniq(4)}`);
  });

  // One after the other (v3 re-sends its presence when another session of its user goes away).
  const closeAll = async () => {
    for (const c of open.splice(0)) if (c.everConnected) await c.close();
  };
  after(async () => {
    await closeAll();
    await ctx.server?.stop();
  });
  afterEach(closeAll);

  /**
   * `prefixes.length` fresh users, each with an SDK object holding a user session; with
   * `online: true` also connected to the chat (stream management enabled).
   */
  async function actors(prefixes, { online = false, app = ctx.app } = {}) {
    const users = await Promise.all(prefixes.map((p) => newChatUser(ctx.server, app, p)));
    const list = users.map((u) => {
      const a = new Actor(sdk, ctx.server, app, u);
      open.push(a);
      return a;
    });
    await Promise.all(list.map((a) => a.login()));
    if (online) {
      await Promise.all(list.map((a) => a.connect()));
      await Promise.all(list.map((a) => a.smEnabled()));
    }
    return list;
  }
  const roomJid = (dialogId) => `${ctx.app.id}_${dialogId}@muc.${ctx.server.domain}`;
  const group = (owner, others, extra = {}) => owner.dialog.create({ type: 2, name: `group ${uniq(4)}`, occupants_ids: others.map((o) => o.id), ...extra });

  // ------------------------------------------------------------------------------------------
  describe('Dialogs', () => {
    test('create 1-1 dialog (type 3): creator added, no room JID, the pair\'s dialog is reused from either side, unknown opponent 422', async () => {
      const [a, b, c] = await actors(['pa', 'pb', 'pc']);
      const d = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      assertDialog(d, { type: 3, user_id: a.id, occupants_ids: [a.id, b.id], xmpp_room_jid: null, last_message: null, unread_messages_count: 0 }, 'POST /chat/Dialog type 3');
      const again = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      assert.equal(again._id, d._id, 'the same creator asking again gets the existing private dialog');
      const fromB = await b.dialog.create({ type: 3, occupants_ids: [a.id] });
      assert.equal(fromB._id, d._id, 'the opponent creating the pair\'s dialog gets the same id');
      assert.deepEqual(sortedIds(fromB.occupants_ids), sortedIds([a.id, b.id]));
      const other = await a.dialog.create({ type: 3, occupants_ids: String(c.id) });
      assert.notEqual(other._id, d._id, 'another pair is another dialog (occupants_ids as a plain string works too)');
      assert.deepEqual(sortedIds(other.occupants_ids), sortedIds([a.id, c.id]));
      const err = await expectHttpError(a.dialog.create({ type: 3, occupants_ids: [99_999_999] }), 422, 'POST /chat/Dialog type 3 with an unknown opponent');
      assert.ok(err.info && err.info.errors, `422 body must carry "errors": ${JSON.stringify(err.info)}`);
      const listed = await b.dialog.list();
      assert.deepEqual(listed.items.map((x) => x._id), [d._id], 'B sees exactly the one private dialog (no duplicate)');

      // the first message creates the pair's private dialog (POST /chat/Message with recipient_id)
      const first = await b.message.create({ recipient_id: c.id, message: 'first contact' });
      assertHistoryMessage(first, { sender_id: b.id, recipient_id: c.id, message: 'first contact' }, 'POST /chat/Message {recipient_id}');
      const [auto] = (await c.dialog.list({ type: 3 })).items.filter((x) => x.occupants_ids.includes(b.id));
      assert.ok(auto, 'C lists the private dialog the message created');
      assert.equal(auto._id, first.chat_dialog_id);
      assert.equal(auto.last_message, 'first contact');
      assert.equal((await c.dialog.create({ type: 3, occupants_ids: [b.id] }))._id, first.chat_dialog_id, 'creating it afterwards returns that dialog');
    });

    test('create group dialog (type 2): name, photo, description, occupants + creator, admins, room JID {app}_{id}@muc.{chat}', async () => {
      const [a, b, c] = await actors(['ga', 'gb', 'gc']);
      const d = await a.dialog.create({ type: 2, name: 'Night party', occupants_ids: [b.id, c.id], admins_ids: [b.id], description: 'at 9', photo: 'party.png', permissions: { allow_preview: true }, extensions: { location: 'Sun bar', seats: 5 } });
      assertDialog(d, { type: 2, user_id: a.id, name: 'Night party', description: 'at 9', photo: 'party.png', occupants_ids: [a.id, b.id, c.id], admins_ids: [b.id], xmpp_room_jid: roomJid(d._id), last_message: null, unread_messages_count: 0 }, 'POST /chat/Dialog type 2');
      assert.deepEqual(d.permissions, { allow_preview: true }, 'permissions');
      assert.deepEqual(d.extensions, { location: 'Sun bar', seats: '5' }, 'extensions, values as strings');
      assert.deepEqual((await c.dialog.list({ extensions: { location: 'Sun bar' } })).items.map((x) => x._id), [d._id], 'list filter extensions[location]=Sun bar');
      assert.equal((await c.dialog.list({ extensions: { location: 'Moon' } })).total_entries, 0, 'extensions[location]=Moon');
      const [fromB] = (await b.dialog.list()).items;
      assert.equal(fromB._id, d._id, 'an occupant sees the group in its list');
      assert.equal(fromB.name, 'Night party');
      const err = await expectHttpError(a.dialog.create({ type: 2, occupants_ids: [b.id] }), 422, 'POST /chat/Dialog type 2 without a name (required for 1, 2, 4)');
      assert.ok(err.info && err.info.errors, JSON.stringify(err.info));
      await expectHttpError(a.dialog.create({ type: 2, name: 'alone', occupants_ids: [] }), 422, 'POST /chat/Dialog type 2 without occupants_ids (required for 2 and 3)');
      assert.equal((await a.dialog.list()).total_entries, 1, 'the refused creations made nothing');
    });

    test('create public dialog (type 4): no occupants, occupants_count, room JID; broadcast (type 1) is refused with 403', async () => {
      const [a, b] = await actors(['puba', 'pubb']);
      const d = await a.dialog.create({ type: 4, name: 'Town square', description: 'everyone' });
      assertDialog(d, { type: 4, user_id: a.id, name: 'Town square', occupants_ids: [], xmpp_room_jid: roomJid(d._id) }, 'POST /chat/Dialog type 4');
      assert.equal(typeof d.occupants_count, 'number', `public dialogs carry occupants_count: ${JSON.stringify(d)}`);
      await expectHttpError(b.dialog.create({ type: 1, name: 'Newsletter' }), 403, 'POST /chat/Dialog type 1 (admin panel only)');
      assert.equal((await b.dialog.list()).total_entries, 0, 'the refused broadcast dialog was not created, and B is not subscribed to the public one');
    });

    test('list dialogs: only the caller\'s, per-user unread counts, default order, type[in], updated_at[gt], _id[in], limit/skip, sort, count=1', async () => {
      const [a, b, c] = await actors(['la', 'lb', 'lc']);
      await Promise.all([a.connect()]);
      await a.smEnabled();
      const g1 = await group(a, [b]);
      const g2 = await group(a, [b]);
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      const foreign = await group(c, [a]); // B is not in it
      const base = nowSecs() - 1_000;
      // date_sent comes from the client's extension (docs/protocol.md#xmpp-dialog-id-date-sent), so the
      // order is deterministic
      const m1 = a.sendGroup(g1._id, 'older', { date_sent: base + 10 });
      const m2 = a.sendGroup(g2._id, 'newer', { date_sent: base + 20 });
      const m3 = a.sendGroup(g2._id, 'newest', { date_sent: base + 30 });
      await b.waitHistory(g2._id, (items) => items.length === 2, 'both messages stored');
      await b.waitHistory(g1._id, (items) => items.length === 1, 'the message stored');

      const all = await b.dialog.list();
      assert.equal(all.total_entries, 3, `B is in g1, g2 and the private dialog only: ${JSON.stringify(all.items.map((x) => x._id))}`);
      assert.equal(all.skip, 0);
      assert.equal(typeof all.limit, 'number');
      assert.ok(!all.items.some((x) => x._id === foreign._id), 'a dialog B is not in must not be listed');
      const ids = all.items.map((x) => x._id);
      assert.ok(ids.indexOf(g2._id) < ids.indexOf(g1._id), `default order: last_message_date_sent desc (g2 before g1), got ${JSON.stringify(ids)}`);
      const bg2 = all.items.find((x) => x._id === g2._id);
      assertDialog(bg2, { last_message: 'newest', last_message_id: m3, last_message_user_id: a.id, last_message_date_sent: base + 30, unread_messages_count: 2 }, "B's view of g2");
      assert.equal(bg2.last_message_status, null, 'last_message_status is null for a message somebody else sent');
      const ag2 = (await a.dialog.list({ _id: g2._id })).items[0];
      assert.equal(ag2.unread_messages_count, 0, "the sender's own messages are not unread for him");
      assert.equal(ag2.last_message_status, 'sent', 'the sender sees "sent" while nobody has received it (B is offline)');
      assert.equal(all.items.find((x) => x._id === g1._id).last_message_id, m1);
      assert.ok(m2);

      const typed = await b.dialog.list({ type: { in: [3] } });
      assert.deepEqual(typed.items.map((x) => x._id), [p._id], 'type[in]=3');
      const groups = await b.dialog.list({ type: 2, sort_asc: 'last_message_date_sent' });
      assert.deepEqual(groups.items.map((x) => x._id), [g1._id, g2._id], 'type=2 sort_asc=last_message_date_sent');
      const desc = await b.dialog.list({ type: 2, sort_desc: 'last_message_date_sent' });
      assert.deepEqual(desc.items.map((x) => x._id), [g2._id, g1._id], 'sort_desc=last_message_date_sent');
      const page = await b.dialog.list({ type: 2, sort_asc: 'last_message_date_sent', limit: 1, skip: 1 });
      assert.deepEqual(page.items.map((x) => x._id), [g2._id], 'limit=1 skip=1');
      assert.equal(page.total_entries, 2, 'total_entries counts every match, not the page');
      assert.equal(page.limit, 1);
      assert.equal(page.skip, 1);
      const fresh = await b.dialog.list({ updated_at: { gt: nowSecs() - 3_600 } });
      assert.equal(fresh.total_entries, 3, 'updated_at[gt]=<an hour ago> (the guide\'s incremental sync) matches all');
      const future = await b.dialog.list({ updated_at: { gt: nowSecs() + 3_600 } });
      assert.equal(future.total_entries, 0, 'updated_at[gt]=<in an hour> matches none');
      const byId = await b.dialog.list({ _id: { in: [g1._id, p._id] } });
      assert.deepEqual(byId.items.map((x) => x._id).sort(), [g1._id, p._id].sort(), '_id[in]');
      const named = await b.dialog.list({ name: { ctn: g1.name.slice(-4) } });
      assert.deepEqual(named.items.map((x) => x._id), [g1._id], 'name[ctn]');
      const count = await b.dialog.list({ count: 1 });
      assert.deepEqual(count, { items_count: 3 }, 'count=1');
    });

    test('update dialog: rename/photo/description/extensions, pins (admins), any occupant adds, only owner/admins remove others (403), anyone leaves, public rename is owner-only', async () => {
      const [a, b, c, d] = await actors(['ua', 'ub', 'uc', 'ud']);
      const g = await group(a, [b, c]);
      const renamed = await a.dialog.update(g._id, { name: 'Crossfit2', photo: 'gym2.jpeg', description: 'new desc' });
      assertDialog(renamed, { _id: g._id, name: 'Crossfit2', photo: 'gym2.jpeg', description: 'new desc', occupants_ids: [a.id, b.id, c.id] }, 'PUT name/photo/description');
      assert.deepEqual((await a.dialog.update(g._id, { extensions: { location: 'Gym' } })).extensions, { location: 'Gym' }, 'PUT extensions');
      assert.equal((await a.dialog.update(g._id, { extensions: null })).extensions, null, 'PUT extensions: null resets them');
      const pin = await a.message.create({ chat_dialog_id: g._id, message: 'pin me' });
      await expectHttpError(c.dialog.update(g._id, { push_all: { pinned_messages_ids: [pin._id] } }), 403, 'pinning by a plain occupant (admins only)');
      assert.deepEqual((await a.dialog.update(g._id, { push_all: { pinned_messages_ids: [pin._id] } })).pinned_messages_ids, [pin._id], 'the owner pins');
      assert.deepEqual((await a.dialog.update(g._id, { pull_all: { pinned_messages_ids: [pin._id] } })).pinned_messages_ids, [], 'and unpins');
      const byB = await b.dialog.update(g._id, { name: 'Renamed by B' });
      assert.equal(byB.name, 'Renamed by B', 'any occupant may rename a group');
      const added = await b.dialog.update(g._id, { push_all: { occupants_ids: [d.id] } });
      assert.deepEqual(sortedIds(added.occupants_ids), sortedIds([a.id, b.id, c.id, d.id]), 'an occupant adds D');
      assert.ok((await d.dialog.list()).items.some((x) => x._id === g._id), 'the added user sees the dialog');

      await expectHttpError(b.dialog.update(g._id, { pull_all: { occupants_ids: [c.id] } }), 403, 'PUT pull_all another occupant by a non-owner');
      assert.deepEqual(sortedIds((await a.listed(g._id)).occupants_ids), sortedIds([a.id, b.id, c.id, d.id]), 'the refused removal changed nothing');
      await expectHttpError(d.dialog.update(g._id, { name: 'x', pull_all: { occupants_ids: [a.id] } }), 403, 'PUT pull_all the owner by a non-owner');
      assert.equal((await a.listed(g._id)).name, 'Renamed by B', 'a refused update changes nothing, not even the name sent with it');

      const left = await d.dialog.update(g._id, { pull_all: { occupants_ids: [d.id] } });
      assert.deepEqual(sortedIds(left.occupants_ids), sortedIds([a.id, b.id, c.id]), 'anyone may remove himself');
      assert.ok(!(await d.dialog.list()).items.some((x) => x._id === g._id), 'after leaving, the dialog is not in his list');
      const removed = await a.dialog.update(g._id, { pull_all: { occupants_ids: [c.id] } });
      assert.deepEqual(sortedIds(removed.occupants_ids), sortedIds([a.id, b.id]), 'the owner removes C');
      const late = await c.dialog.update(g._id, { name: 'after removal' }).then((v) => ({ ok: v }), (e) => e);
      assert.ok(late.code === 403 || late.code === 404, `PUT /chat/Dialog/{id} by a removed user: 403 or 404 expected, got ${JSON.stringify(late)}`);

      const pub = await a.dialog.create({ type: 4, name: 'Public' });
      await b.dialog.subscribe(pub._id);
      await expectHttpError(b.dialog.update(pub._id, { name: 'mine now' }), 403, 'PUT name of a public dialog by a subscriber (owner & admins only)');
      assert.equal((await a.listed(pub._id)).name, 'Public');
      assert.equal((await a.dialog.update(pub._id, { name: 'Public 2' })).name, 'Public 2', 'the owner renames the public dialog');
    });

    test('remove dialog: for me only, force by non-owner refused, force by owner for everyone, several ids → {SuccessfullyDeleted, NotFound, WrongPermissions}', async () => {
      const [a, b, c] = await actors(['da', 'db', 'dc']);
      const g = await group(a, [b, c]);
      await a.message.create({ chat_dialog_id: g._id, message: 'still here' });
      await b.dialog.delete(g._id);
      assert.ok(!(await b.dialog.list()).items.some((x) => x._id === g._id), 'B deleted the dialog for himself: gone from his list');
      assert.ok((await a.dialog.list()).items.some((x) => x._id === g._id), 'A still has it');
      assert.ok((await c.dialog.list()).items.some((x) => x._id === g._id), 'C still has it');
      assert.equal((await a.history(g._id)).length, 1, "A's history is intact");

      // force by a non-owner: C is an occupant but not the owner
      let forced;
      try {
        forced = await c.dialog.delete([g._id], { force: 1 });
      } catch (e) {
        forced = e;
      }
      if (forced && typeof forced === 'object' && 'code' in forced) {
        assert.equal(forced.code, 403, `DELETE /chat/Dialog/{id} force=1 by a non-owner: 403 or WrongPermissions, got ${JSON.stringify(forced)}`);
      } else if (typeof forced === 'string' && forced.trim().startsWith('{')) {
        assert.deepEqual(bulkResult(forced, 'force delete by non-owner').denied, [g._id], 'a non-owner\'s force delete is WrongPermissions');
      } else {
        assert.fail(`DELETE /chat/Dialog/${g._id} force=1 by a non-owner succeeded: ${JSON.stringify(forced)}`);
      }
      assert.ok((await a.dialog.list()).items.some((x) => x._id === g._id), 'the refused force delete removed nothing');

      await a.dialog.delete(g._id, { force: 1 });
      for (const who of [a, b, c]) {
        assert.ok(!(await who.dialog.list()).items.some((x) => x._id === g._id), `${who.label}: gone for everyone after the owner's force delete`);
      }

      // a private dialog deleted "for me" comes back with the next message (docs/protocol.md#rest-dialogs)
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      await b.dialog.delete(p._id);
      assert.ok(!(await b.dialog.list()).items.some((x) => x._id === p._id), 'private dialog deleted for B');
      await a.message.create({ chat_dialog_id: p._id, message: 'are you there?' });
      assert.ok((await b.dialog.list()).items.some((x) => x._id === p._id), 'and back in his list after a new message');
      assert.deepEqual((await b.history(p._id)).map((m) => m.message), ['are you there?']);

      const g2 = await group(a, [b]);
      const g3 = await group(b, [a]);
      const missing = '5c094c0ce588ce6856f87422';
      const res = bulkResult(await a.dialog.delete([g2._id, g3._id, missing], { force: 1 }), 'DELETE several ids');
      assert.deepEqual(res, { ok: [g2._id], notFound: [missing], denied: [g3._id] }, 'owner of g2 only; the unknown id is NotFound');
      assert.ok((await b.dialog.list()).items.some((x) => x._id === g3._id), "B's own dialog survived A's force attempt");
      assert.ok(!(await b.dialog.list()).items.some((x) => x._id === g2._id));
    });

    test('clear history: hides the messages from the caller only; later messages show again', async () => {
      const [a, b] = await actors(['cha', 'chb']);
      const g = await group(a, [b]);
      for (const body of ['one', 'two']) await a.message.create({ chat_dialog_id: g._id, message: body });
      const r = await b.dialog.clearHistory(g._id);
      assert.ok(r === '' || typeof r === 'string' || typeof r === 'object', 'clearHistory settles');
      assert.deepEqual(await b.history(g._id), [], "B's history is empty after clearHistory");
      assert.deepEqual((await a.history(g._id)).map((m) => m.message), ['one', 'two'], "A's history is untouched");
      await a.message.create({ chat_dialog_id: g._id, message: 'three' });
      assert.deepEqual((await b.history(g._id)).map((m) => m.message), ['three'], 'a message after the clear is visible to B');
      assert.equal((await b.unread([g._id]))[g._id], 1, 'cleared messages no longer count as unread');
    });

    test('subscribe / unsubscribe a public dialog; getPublicOccupants lists the subscribers', async () => {
      const [a, b, c] = await actors(['sa', 'sb', 'sc'], { online: true });
      const pub = await a.dialog.create({ type: 4, name: 'Open' });
      const count0 = pub.occupants_count;
      const s1 = await b.dialog.subscribe(pub._id);
      assertDialog(s1, { _id: pub._id, type: 4, occupants_ids: [] }, 'POST /chat/Dialog/{id}/subscribe');
      assert.equal(s1.occupants_count, count0 + 1, 'subscribe increments occupants_count');
      const s2 = await c.dialog.subscribe(pub._id);
      assert.equal(s2.occupants_count, count0 + 2);
      assert.ok((await b.dialog.list()).items.some((x) => x._id === pub._id), 'a subscriber lists the public dialog');

      const occ = await a.dialog.getPublicOccupants(pub._id);
      assert.ok(occ && Array.isArray(occ.items), `{"items":[User]}: ${JSON.stringify(occ)}`);
      const ids = occ.items.map((u) => u.id);
      assert.ok(ids.includes(b.id) && ids.includes(c.id), `subscribers B and C are listed: ${JSON.stringify(ids)}`);
      const bUser = occ.items.find((u) => u.id === b.id);
      assert.equal(bUser.login, b.user.login, 'bare User objects');
      const page = await a.dialog.getPublicOccupants(pub._id, { limit: 1, skip: 0 });
      assert.equal(page.items.length, 1, 'limit=1');

      // subscribers send and receive the public room's messages (docs/protocol.md#rest-dialog-roles)
      const hi = b.sendGroup(pub._id, 'hi subscribers');
      const [atC] = await c.waitMessages(1, { filter: (x) => x.message.id === hi });
      assert.equal(atC.userId, b.id);
      assert.equal(atC.message.dialog_id, pub._id);

      assert.equal(typeof (await c.dialog.unsubscribe(pub._id)), 'string', 'unsubscribe answers 200 (read as text)');
      const after = (await a.dialog.getPublicOccupants(pub._id)).items.map((u) => u.id);
      assert.ok(!after.includes(c.id), `C is gone from the occupants: ${JSON.stringify(after)}`);
      assert.ok(after.includes(b.id));
      assert.ok(!(await c.dialog.list()).items.some((x) => x._id === pub._id), 'no longer in the list after unsubscribing');
      assert.equal((await a.listed(pub._id)).occupants_count, count0 + 1, 'unsubscribe decrements occupants_count');
      const bye = b.sendGroup(pub._id, 'C has left');
      await a.waitMessages(1, { filter: (x) => x.message.id === bye });
      await sleep(SETTLE_MS);
      assert.ok(!c.messages.some((x) => x.message.id === bye), `an unsubscribed user gets no more messages of the public dialog\n${c.dump()}`);
    });

    test('add / remove admins: owner only (403 otherwise), an admin may remove occupants, at most 5 admins (422)', async () => {
      const [a, b, c, ...more] = await actors(['ada', 'adb', 'adc', 'ad1', 'ad2', 'ad3', 'ad4', 'ad5']);
      const g = await group(a, [b, c, ...more]);
      const withB = await a.dialog.addAdmins(g._id, [b.id]);
      assertDialog(withB, { _id: g._id, admins_ids: [b.id] }, 'PUT /chat/Dialog/{id}/admins push_all');
      await expectHttpError(b.dialog.addAdmins(g._id, [c.id]), 403, 'addAdmins by an admin who is not the owner');
      await expectHttpError(c.dialog.removeAdmins(g._id, [b.id]), 403, 'removeAdmins by a plain occupant');
      const removed = await b.dialog.update(g._id, { pull_all: { occupants_ids: [c.id] } });
      assert.ok(!removed.occupants_ids.includes(c.id), 'an admin removes another occupant');
      const five = await a.dialog.addAdmins(g._id, more.slice(0, 4).map((x) => x.id));
      assert.deepEqual(sortedIds(five.admins_ids), sortedIds([b.id, ...more.slice(0, 4).map((x) => x.id)]), 'five admins');
      await expectHttpError(a.dialog.addAdmins(g._id, [more[4].id]), 422, 'a sixth admin');
      assert.equal((await a.listed(g._id)).admins_ids.length, 5, 'still five after the refusal');
      const fewer = await a.dialog.removeAdmins(g._id, [b.id]);
      assert.deepEqual(sortedIds(fewer.admins_ids), sortedIds(more.slice(0, 4).map((x) => x.id)), 'PUT pull_all admins_ids');
      await expectHttpError(b.dialog.update(g._id, { pull_all: { occupants_ids: [more[4].id] } }), 403, 'a former admin removing an occupant');
    });

    test('notification settings: default enabled=1, per user and dialog, update returns the new value', async () => {
      const [a, b] = await actors(['na', 'nb']);
      const g = await group(a, [b]);
      assert.deepEqual(await b.dialog.getNotificationsSettings(g._id), { notifications: { enabled: 1 } }, 'default');
      assert.deepEqual(await b.dialog.updateNotificationsSettings(g._id, false), { notifications: { enabled: 0 } }, 'PUT {"enabled":0}');
      assert.deepEqual(await b.dialog.getNotificationsSettings(g._id), { notifications: { enabled: 0 } }, 'GET after disabling');
      assert.deepEqual(await a.dialog.getNotificationsSettings(g._id), { notifications: { enabled: 1 } }, "another user's setting is untouched");
      assert.deepEqual(await b.dialog.updateNotificationsSettings(g._id, true), { notifications: { enabled: 1 } }, 'PUT {"enabled":1}');
      assert.deepEqual(await b.dialog.getNotificationsSettings(g._id), { notifications: { enabled: 1 } });
    });

    test('broadcast dialog (admin API): every user of the app lists it and receives the owner\'s messages; others cannot send', async () => {
      // an app of its own: a broadcast dialog is in every list of its app
      const app = await ctx.server.createApp(`broadcast-${uniq(4)}`);
      const [owner, reader] = await actors(['bro', 'brr'], { online: true, app });
      const res = await fetch(`${ctx.server.httpUrl}/admin/apps/${app.id}/dialogs`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'News', user_id: owner.id }),
      });
      const body = await res.json();
      assert.equal(res.status, 201, `POST /admin/apps/${app.id}/dialogs: ${JSON.stringify(body)}`);
      assertDialog(body, { type: 1, user_id: owner.id, name: 'News', xmpp_room_jid: `${app.id}_${body._id}@muc.${ctx.server.domain}` }, 'broadcast dialog');
      const seen = await reader.listed(body._id);
      assert.ok(seen, 'a user who never joined lists the broadcast dialog');
      const id = owner.sendGroup(body._id, 'breaking news');
      const [got] = await reader.waitMessages(1, { filter: (g) => g.message.id === id });
      assert.equal(got.userId, owner.id);
      assert.equal(got.message.dialog_id, body._id);
      assert.equal(got.message.body, 'breaking news');
      const stored = await reader.waitHistory(body._id, (items) => items.length === 1, 'the broadcast message');
      assertHistoryMessage(stored[0], { _id: id, sender_id: owner.id, message: 'breaking news', chat_dialog_id: body._id });
      const denied = reader.sendGroup(body._id, 'me too');
      const [e] = await reader.waitEvents('error', 1, (x) => x.messageId === denied, 'an error for a reader sending to a broadcast dialog');
      assert.ok(e.error && e.error.code >= 400, `error with a code: ${JSON.stringify(e.error)}`);
      await sleep(SETTLE_MS);
      assert.ok(!owner.messages.some((g) => g.message.id === denied), 'the refused message reached nobody');
      assert.equal((await owner.history(body._id)).length, 1, 'and was not stored');
    });
  });

  // ------------------------------------------------------------------------------------------
  describe('Chat history and messaging', () => {
    test('chat history: ascending by date_sent, sort_desc, limit/skip, date_sent[lt] pagination, mark_as_read, not stored without save_to_history, non-member 403', async () => {
      const [a, b, c] = await actors(['ha', 'hb', 'hc'], { online: true });
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      const base = nowSecs() - 600;
      const ids = [];
      // sent out of date order; the history must come back ordered by date_sent
      for (const i of [2, 0, 4, 1, 3]) ids[i] = a.sendPrivate(b, p._id, `m${i}`, { date_sent: base + i * 10, topic: `t${i}` });
      const ghost = a.chat.send(b.id, { type: 'chat', body: 'not saved', extension: { dialog_id: p._id } });
      await b.waitMessages(6);
      const items = await b.waitHistory(p._id, (x) => x.length >= 5, '5 saved messages');
      assert.deepEqual(items.map((m) => m.message), ['m0', 'm1', 'm2', 'm3', 'm4'], 'default: ascending by date_sent');
      assert.deepEqual(items.map((m) => m._id), ids, 'history _id = the stanza id chat.send() returned');
      assert.ok(!items.some((m) => m._id === ghost), 'a message without save_to_history is not stored');
      items.forEach((m, i) =>
        assertHistoryMessage(m, { chat_dialog_id: p._id, sender_id: a.id, recipient_id: b.id, date_sent: base + i * 10, attachments: [], topic: `t${i}` }, `history item ${i}`)
      );
      assert.ok(items.every((m) => m.read_ids.includes(a.id) && m.delivered_ids.includes(a.id)), 'the sender is in read_ids and delivered_ids');

      const desc = await b.history(p._id, { sort_desc: 'date_sent' });
      assert.deepEqual(desc.map((m) => m.message), ['m4', 'm3', 'm2', 'm1', 'm0'], 'sort_desc=date_sent');
      const page1 = await b.history(p._id, { sort_desc: 'date_sent', limit: 2 });
      assert.deepEqual(page1.map((m) => m.message), ['m4', 'm3'], 'first page (limit=2)');
      const page2 = await b.history(p._id, { sort_desc: 'date_sent', limit: 2, date_sent: { lt: page1[page1.length - 1].date_sent } });
      assert.deepEqual(page2.map((m) => m.message), ['m2', 'm1'], 'next page with date_sent[lt] = the oldest loaded (the guide\'s pagination)');
      const skipped = await b.history(p._id, { limit: 2, skip: 3 });
      assert.deepEqual(skipped.map((m) => m.message), ['m3', 'm4'], 'skip=3 limit=2');
      const gt = await b.history(p._id, { date_sent: { gt: base + 25 } });
      assert.deepEqual(gt.map((m) => m.message), ['m3', 'm4'], 'date_sent[gt]');

      assert.equal((await b.unread([p._id]))[p._id], 5, 'nothing read yet (every list so far used mark_as_read=0)');
      assert.ok(items.every((m) => m.read === 0 && !m.read_ids.includes(b.id)), "B's view: read=0 before reading");
      const read = await b.message.list({ chat_dialog_id: p._id, limit: 2 });
      assert.deepEqual(read.items.map((m) => m.message), ['m0', 'm1']);
      assert.equal((await b.unread([p._id]))[p._id], 3, 'a plain list marks the returned messages read (mark_as_read defaults to 1)');
      const after = await b.history(p._id);
      assert.deepEqual(after.map((m) => m.read), [1, 1, 0, 0, 0], "B's read flags");
      assert.ok(after[0].read_ids.includes(b.id), 'read_ids gained the reader');

      await expectHttpError(c.message.list({ chat_dialog_id: p._id }), 403, 'GET /chat/Message of a dialog the caller is not in');
    });

    test('send/receive in group chat without joining: every member (sender included) gets it once with dialog_id; stored; non-members neither get nor may send', async () => {
      const [a, b, c, d] = await actors(['ma', 'mb', 'mc', 'md'], { online: true });
      const g = await group(a, [b, c]);
      const t0 = nowSecs();
      const ids = [0, 1, 2].map((i) => a.sendGroup(g._id, `hello ${i}`, { mood: 'ok' }));
      for (const who of [a, b, c]) {
        const got = await who.waitMessages(3, { filter: (x) => x.message.dialog_id === g._id });
        assert.deepEqual(got.map((x) => x.message.id), ids, `${who.label}: the three messages in order, with the ids chat.send() returned`);
        for (const [i, x] of got.entries()) {
          assert.equal(x.userId, a.id, `${who.label}: onMessageListener userId = the sender (the room nick)`);
          assert.equal(x.message.type, 'groupchat');
          assert.equal(x.message.body, `hello ${i}`);
          assert.equal(x.message.dialog_id, g._id, `${who.label}: dialog_id (from the room JID)`);
          assert.equal(x.message.recipient_id, null, 'recipient_id is null for groupchat');
          assert.equal(x.message.extension.mood, 'ok');
          assert.equal(x.message.extension.dialog_id, g._id);
          assert.ok(Number(x.message.extension.date_sent) >= t0 - 2, `server-added date_sent: ${x.message.extension.date_sent}`);
        }
      }
      const fromB = b.sendGroup(g._id, 'reply from B');
      for (const who of [a, b, c]) await who.waitMessages(1, { filter: (x) => x.message.id === fromB });
      assert.deepEqual(a.inDialog(g._id).find((x) => x.message.id === fromB).userId, b.id, 'the reply is from B');

      const stored = await c.waitHistory(g._id, (x) => x.length === 4, 'four messages');
      assert.deepEqual(stored.map((m) => m._id), [...ids, fromB]);
      assertHistoryMessage(stored[0], { sender_id: a.id, recipient_id: 0, message: 'hello 0', chat_dialog_id: g._id, mood: 'ok' }, 'stored group message');
      const listed = await c.listed(g._id);
      assert.equal(listed.last_message, 'reply from B');
      assert.equal(listed.last_message_user_id, b.id);
      assert.equal(listed.unread_messages_count, 4, "C's unread count");

      const denied = d.sendGroup(g._id, 'let me in');
      const [e] = await d.waitEvents('error', 1, (x) => x.messageId === denied, 'a message error for a non-member sending to the room');
      assert.ok(e.error && e.error.code >= 400, `the error carries a code: ${JSON.stringify(e.error)}`);
      await sleep(SETTLE_MS);
      for (const who of [a, b, c]) {
        assert.equal(who.inDialog(g._id).length, 4, `${who.label}: exactly the 4 messages, once each, and not the non-member's\n${who.dump()}`);
      }
      assert.equal(d.messages.length, 0, `the non-member received nothing\n${d.dump()}`);
      assert.equal((await a.history(g._id)).length, 4, "the non-member's message was not stored");
      if (sdk.autoDelivered) {
        // v6 sends a 'received' marker back to the sender for every group message
        // (docs/protocol.md#quirk-automatic-received-markers)
        const withMarkers = await a.waitHistory(g._id, (x) => x.slice(0, 3).every((m) => m.delivered_ids.length === 3), 'automatic received markers of B and C applied');
        assert.deepEqual(sortedIds(withMarkers[0].delivered_ids), sortedIds([a.id, b.id, c.id]));
        await a.waitEvents('delivered', 6, (x) => ids.includes(x.messageId), 'onDeliveredStatusListener from B and C for each of the 3 messages');
      }
    });

    test('MUC join/leave: join resolves, occupants see onJoinOccupant/onLeaveOccupant, listOnlineUsers, removal kicks (onKickOccupant with the initiator)', async () => {
      const [a, b, c, d] = await actors(['ja', 'jb', 'jc', 'jd'], { online: true });
      const g = await group(a, [b, c]);
      const refused = await within(d, d.chat.muc.join(g._id).then((v) => ({ resolved: v }), (e) => e), 'muc.join() by a non-member');
      assert.equal(String(refused.code), '407', `a non-member's join is refused with the presence error code (docs/protocol.md#xmpp-muc): ${JSON.stringify(refused)}`);
      assert.equal(typeof refused.code, 'string', 'the SDK hands the code attribute over as a string');
      assert.ok(typeof refused.message === 'string' && refused.message.length > 0, `and the <text>: ${JSON.stringify(refused)}`);
      const joined = (who) => within(who, who.chat.muc.join(g._id), `muc.join() (needs status 110 first${sdk.version === 'v6' ? ' and the <xmlns><code>110</code></xmlns> shim' : ''})`);
      await joined(a);
      await joined(b);
      const [aSawB] = await a.waitEvents('join', 1, (x) => x.userId === b.id, 'onJoinOccupant for B');
      assert.equal(aSawB.dialogId, g._id);
      const [bSawA] = await b.waitEvents('join', 1, (x) => x.userId === a.id, 'onJoinOccupant for the occupant already present');
      assert.equal(bSawA.dialogId, g._id);
      assert.ok(!a.events.join.some((x) => x.userId === a.id), 'no onJoinOccupant for oneself');

      const online = await within(a, a.chat.muc.listOnlineUsers(g._id), 'muc.listOnlineUsers()');
      assert.ok(online.includes(a.id) && online.includes(b.id), `listOnlineUsers has the joined occupants A and B: ${JSON.stringify(online)}`);
      assert.ok(online.every((x) => [a.id, b.id, c.id].includes(x)), `only members: ${JSON.stringify(online)}`);

      await within(b, b.chat.muc.leave(g._id), `muc.leave() (needs the unavailable self-presence with 110${sdk.version === 'v6' ? ' and the shim' : ''})`);
      const [left] = await a.waitEvents('leave', 1, (x) => x.userId === b.id, 'onLeaveOccupant for B');
      assert.equal(left.dialogId, g._id);

      await joined(c);
      await a.waitEvents('join', 1, (x) => x.userId === c.id, 'onJoinOccupant for C');
      await a.dialog.update(g._id, { pull_all: { occupants_ids: [c.id] } });
      const [kick] = await c.waitEvents('kick', 1, () => true, 'onKickOccupant after the owner removed C (status 301)');
      assert.equal(kick.dialogId, g._id, 'kick: dialog id');
      assert.equal(kick.initiatorId, a.id, 'kick: the initiator is the owner who removed C (<item><actor jid/>)');
      await a.waitEvents('leave', 1, (x) => x.userId === c.id, 'onLeaveOccupant for the removed C');
      await sleep(SETTLE_MS);
      assert.deepEqual(a.events.kick, [], `the remaining occupant must not think he was kicked (plain unavailable, no status)\n${a.dump()}`);
      assert.equal(c.events.kick.length, 1, 'one kick');

      const after = a.sendGroup(g._id, 'without C');
      await a.waitMessages(1, { filter: (x) => x.message.id === after });
      await b.waitMessages(1, { filter: (x) => x.message.id === after });
      const denied = c.sendGroup(g._id, 'still here?');
      await c.waitEvents('error', 1, (x) => x.messageId === denied, 'an error for the removed user sending to the room');
      await sleep(SETTLE_MS);
      assert.ok(!c.messages.some((x) => x.message.id === after), `the removed user gets no more room messages\n${c.dump()}`);
    });

    test("'delivered' status: sendDeliveredStatus → onDeliveredStatusListener(messageId, dialogId, userId), delivered_ids, last_message_status", async () => {
      const [a, b] = await actors(['dla', 'dlb'], { online: true });
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      // markable: v3 adds <markable/> and then answers with a 'received' marker by itself; v6 always does
      const id = a.sendPrivate(b, p._id, 'did you get it?', {}, { markable: 1 });
      const [got] = await b.waitMessages(1);
      assert.equal(got.message.id, id);
      if (sdk.version === 'v3') assert.equal(got.message.markable, 1, 'v3 reports markable: 1 for a message with <markable/> (kept by the server)');
      const [auto] = await a.waitEvents('delivered', 1, (x) => x.messageId === id, "the automatic 'received' marker");
      assert.deepEqual(auto, { messageId: id, dialogId: p._id, userId: b.id }, 'onDeliveredStatusListener(messageId, dialogId, userId)');
      b.chat.sendDeliveredStatus({ messageId: id, userId: a.id, dialogId: p._id });
      const both = await a.waitEvents('delivered', 2, (x) => x.messageId === id, 'the manual sendDeliveredStatus marker too');
      assert.deepEqual(both[1], { messageId: id, dialogId: p._id, userId: b.id });
      const [m] = await a.waitHistory(p._id, (x) => x.length === 1 && x[0].delivered_ids.includes(b.id), 'delivered_ids gained B');
      assertHistoryMessage(m, { _id: id, delivered_ids: [a.id, b.id], read_ids: [a.id] }, 'after the delivered marker');
      assert.equal((await a.listed(p._id)).last_message_status, 'delivered', "the sender's last_message_status");
      assert.equal((await b.unread([p._id]))[p._id], 1, 'delivered is not read');
      await sleep(SETTLE_MS);
      assert.equal(b.events.delivered.length, 0, `the marker is not echoed to B\n${b.dump()}`);
      assert.equal(a.messages.length, 0, 'markers never reach onMessageListener');

      // REST: PUT /chat/Message/{id} {"delivered":1}
      const m2 = await a.message.create({ chat_dialog_id: p._id, message: 'history only' });
      await b.message.update(m2._id, { delivered: 1, chat_dialog_id: p._id });
      const h2 = (await a.history(p._id)).find((x) => x._id === m2._id);
      assertHistoryMessage(h2, { delivered_ids: [a.id, b.id], read_ids: [a.id] }, 'after PUT delivered=1');
    });

    test("'read' status: sendReadStatus → onReadStatusListener, read_ids, unread count; REST read sends the marker too", async () => {
      const [a, b] = await actors(['rda', 'rdb'], { online: true });
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      const m1 = a.sendPrivate(b, p._id, 'first');
      const m2 = a.sendPrivate(b, p._id, 'second');
      await b.waitMessages(2);
      await b.waitHistory(p._id, (x) => x.length === 2, 'both stored');
      assert.equal((await b.unread([p._id]))[p._id], 2);
      b.chat.sendReadStatus({ messageId: m1, userId: a.id, dialogId: p._id });
      const [r1] = await a.waitEvents('read', 1, (x) => x.messageId === m1, 'onReadStatusListener for the first message');
      assert.deepEqual(r1, { messageId: m1, dialogId: p._id, userId: b.id }, 'onReadStatusListener(messageId, dialogId, userId)');
      const h = await a.waitHistory(p._id, (x) => x[0].read_ids.includes(b.id), 'read_ids of the first message gained B');
      assertHistoryMessage(h[0], { _id: m1, read_ids: [a.id, b.id] }, 'first after the read marker');
      assert.ok(h[0].delivered_ids.includes(b.id), 'a read message is also delivered');
      assert.ok(!h[1].read_ids.includes(b.id), 'the second is not read yet');
      assert.equal((await b.unread([p._id]))[p._id], 1, 'the read marker decremented the unread count');
      assert.equal((await b.listed(p._id)).unread_messages_count, 1);

      await b.message.update(m2, { read: 1, chat_dialog_id: p._id });
      const [r2] = await a.waitEvents('read', 1, (x) => x.messageId === m2, 'the displayed marker caused by PUT /chat/Message/{id} read=1');
      assert.deepEqual(r2, { messageId: m2, dialogId: p._id, userId: b.id });
      assert.equal((await b.unread([p._id]))[p._id], 0);
      assert.equal((await a.listed(p._id)).last_message_status, 'read', "the sender's last_message_status");
      assert.equal((await a.history(p._id))[1].read, 1);
      await sleep(SETTLE_MS);
      assert.equal(a.events.read.length, 2, `exactly two read events\n${a.dump()}`);
      assert.equal(b.events.read.length, 0, 'no read event for the reader himself');

      // group dialog: the marker still goes to the sender's user JID as a 1-1 chat message
      const g = await group(a, [b]);
      const gm = a.sendGroup(g._id, 'group news');
      await b.waitMessages(1, { filter: (x) => x.message.id === gm });
      await b.waitHistory(g._id, (x) => x.length === 1, 'stored');
      b.chat.sendReadStatus({ messageId: gm, userId: a.id, dialogId: g._id });
      const [r3] = await a.waitEvents('read', 1, (x) => x.messageId === gm, 'the read marker for a group message');
      assert.deepEqual(r3, { messageId: gm, dialogId: g._id, userId: b.id });
      const [gh] = await a.waitHistory(g._id, (x) => x[0].read_ids.includes(b.id), 'read_ids of the group message gained B');
      assert.deepEqual(sortedIds(gh.read_ids), sortedIds([a.id, b.id]));
      assert.equal((await b.unread([g._id]))[g._id], 0);
    });

    test("'is typing' status: composing/paused in 1-1 and in a group reach onMessageTypingListener, nothing is stored", async () => {
      const [a, b, c] = await actors(['ta', 'tb', 'tc'], { online: true });
      const [off] = await actors(['toff']);
      const g = await group(a, [b, c]);
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      a.chat.sendIsTypingStatus(off.id); // offline: must not be stored for later
      a.chat.sendIsTypingStatus(b.id);
      const [t1] = await b.waitEvents('typing', 1, () => true, '1-1 composing');
      assert.equal(t1.isTyping, true);
      assert.equal(t1.userId, a.id);
      assert.ok(t1.dialogId === null || t1.dialogId === p._id, `1-1 typing: dialogId null (no extraParams) or the private dialog, got ${t1.dialogId}`);
      a.chat.sendIsStopTypingStatus(b.id);
      const [, t2] = await b.waitEvents('typing', 2, () => true, '1-1 paused');
      assert.equal(t2.isTyping, false);
      assert.equal(t2.userId, a.id);

      a.chat.sendIsTypingStatus(g._id);
      a.chat.sendIsStopTypingStatus(g._id);
      for (const who of [b, c]) {
        const got = await who.waitEvents('typing', 2, (x) => x.dialogId === g._id, 'group composing + paused');
        assert.deepEqual(got, [
          { isTyping: true, userId: a.id, dialogId: g._id },
          { isTyping: false, userId: a.id, dialogId: g._id },
        ]);
      }
      await sleep(SETTLE_MS);
      assert.equal(c.events.typing.length, 2, 'C got only the group notifications');
      for (const who of [a, b, c]) assert.equal(who.messages.length, 0, `typing never reaches onMessageListener\n${who.dump()}`);
      assert.deepEqual(await b.history(p._id), [], 'typing is not stored (1-1)');
      assert.deepEqual(await b.history(g._id), [], 'typing is not stored (group)');
      assert.equal((await b.unread([p._id, g._id])).total, 0, 'typing does not count as unread');
      await off.connect();
      await sleep(SETTLE_MS);
      assert.deepEqual(off.events.typing, [], `typing to an offline user is not kept for later (docs/protocol.md#xmpp-typing)\n${off.dump()}`);
      assert.equal(off.messages.length, 0);
    });

    test('edit message: editMessage → onMessageUpdateListener and the stored body; REST update own only (403); another user cannot edit over XMPP', async () => {
      const [a, b, c] = await actors(['ea', 'eb', 'ec'], { online: true });
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      const m = a.sendPrivate(b, p._id, 'helo');
      await b.waitMessages(1);
      a.chat.editMessage({ to: b.id, dialogId: p._id, body: 'hello', originMessageId: m, last: true, extension: { edited_by: 'author' } });
      const [u] = await b.waitEvents('update', 1, () => true, '1-1 edit');
      assert.equal(u.messageId, m, 'onMessageUpdateListener: the original message id');
      assert.equal(u.isLast, true);
      assert.equal(u.body, 'hello');
      assert.equal(u.dialogId, p._id);
      assert.equal(u.userId, a.id);
      assert.deepEqual(u.extension, { dialog_id: p._id, edited_by: 'author' }, 'editMessage({extension}) is appended to extraParams');
      const [stored] = await b.waitHistory(p._id, (x) => x[0]?.message === 'hello', 'the stored body replaced');
      assert.equal(stored._id, m, 'the edit did not create a new message');
      assert.equal((await b.history(p._id)).length, 1);
      assert.equal(b.messages.length, 1, 'the edit is not a new message for the app');

      const g = await group(a, [b, c]);
      const gm = a.sendGroup(g._id, 'group typo');
      await c.waitMessages(1, { filter: (x) => x.message.id === gm });
      a.chat.editMessage({ to: g._id, dialogId: g._id, body: 'group fixed', originMessageId: gm, last: false });
      for (const who of [b, c]) {
        const [gu] = await who.waitEvents('update', 1, (x) => x.dialogId === g._id, 'group edit');
        assert.deepEqual({ ...gu, extension: undefined }, { messageId: gm, isLast: false, body: 'group fixed', dialogId: g._id, userId: a.id, extension: undefined });
      }
      await c.waitHistory(g._id, (x) => x[0]?.message === 'group fixed', 'the stored group body replaced');

      // someone else's message: over XMPP the history must not change
      b.chat.editMessage({ to: g._id, dialogId: g._id, body: 'hijacked', originMessageId: gm, last: true });
      await sleep(SETTLE_MS);
      assert.equal((await c.history(g._id))[0].message, 'group fixed', "B's edit of A's message must not change the history");

      await a.message.update(gm, { message: 'fixed via REST' });
      assert.equal((await c.history(g._id))[0].message, 'fixed via REST', 'PUT /chat/Message/{id} {"message"} by the sender');
      await expectHttpError(b.message.update(gm, { message: 'not mine' }), 403, 'PUT /chat/Message/{id} {"message"} by someone else');
      assert.equal((await c.history(g._id))[0].message, 'fixed via REST');
      await expectHttpError(a.message.update('5c094c0ce588ce6856f87422', { message: 'x' }), 404, 'PUT an unknown message id');
    });

    test('delete messages: deleteMessage → onMessageDeleteListener + gone for all; REST delete for me; REST force (own / WrongPermissions / NotFound) sends <remove>', async () => {
      const [a, b, c] = await actors(['xa', 'xb', 'xc'], { online: true });
      const g = await group(a, [b, c]);
      const ids = [0, 1, 2, 3].map((i) => a.sendGroup(g._id, `m${i}`));
      await c.waitMessages(4);
      await c.waitHistory(g._id, (x) => x.length === 4, 'four stored');

      a.chat.deleteMessage({ to: g._id, dialogId: g._id, messageId: ids[0] });
      for (const who of [b, c]) {
        const [r] = await who.waitEvents('remove', 1, (x) => x.messageId === ids[0], 'XMPP delete of m0');
        assert.deepEqual(r, { messageId: ids[0], dialogId: g._id, userId: a.id }, 'onMessageDeleteListener(messageId, dialogId, userId)');
      }
      await c.waitHistory(g._id, (x) => !x.some((m) => m._id === ids[0]), 'm0 gone from C\'s history');
      assert.ok(!(await a.history(g._id)).some((m) => m._id === ids[0]), "and from the sender's");

      // B (not the author, not an admin) tries over XMPP: no effect on history
      b.chat.deleteMessage({ to: g._id, dialogId: g._id, messageId: ids[1] });
      await sleep(SETTLE_MS);
      assert.ok((await c.history(g._id)).some((m) => m._id === ids[1]), "B's XMPP delete of A's message must not remove it");

      // REST, for me only
      const mine = bulkResult(await b.message.delete(ids[1]), 'DELETE /chat/Message/{id} (no force)');
      assert.deepEqual(mine, { ok: [ids[1]], notFound: [], denied: [] });
      assert.ok(!(await b.history(g._id)).some((m) => m._id === ids[1]), 'gone for B');
      assert.ok((await c.history(g._id)).some((m) => m._id === ids[1]), 'still there for C');

      // REST force: B may not delete A's message for everyone
      const missing = '5c094c0ce588ce6856f87422';
      const refused = bulkResult(await b.message.delete([ids[2], missing].join(','), { force: 1 }), 'DELETE force=1 by a non-author');
      assert.deepEqual(refused, { ok: [], notFound: [missing], denied: [ids[2]] });
      assert.ok((await c.history(g._id)).some((m) => m._id === ids[2]));

      const c0 = c.events.remove.length;
      const forced = bulkResult(await a.message.delete(sdk.version === 'v6' ? [ids[2]] : ids[2], { force: 1 }), 'DELETE force=1 by the author');
      assert.deepEqual(forced, { ok: [ids[2]], notFound: [], denied: [] });
      for (const who of [b, c]) {
        const [r] = await who.waitEvents('remove', 1, (x) => x.messageId === ids[2], 'the <remove> the server sends after a REST force delete');
        assert.equal(r.dialogId, g._id);
        assert.equal(r.userId, a.id, 'from the deleting user');
      }
      assert.deepEqual((await c.history(g._id)).map((m) => m._id), [ids[1], ids[3]], "C's history after all deletes");
      assert.deepEqual((await b.history(g._id)).map((m) => m._id), [ids[3]], "B's history after all deletes");
      await sleep(SETTLE_MS);
      assert.equal(c.events.remove.length, c0 + 1, 'one <remove> per REST force delete');
      assert.equal(c.messages.length, 4, 'delete notifications are not messages');

      // 1-1
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      const pm = a.sendPrivate(b, p._id, 'oops');
      await b.waitMessages(1, { filter: (x) => x.message.id === pm });
      await b.waitHistory(p._id, (x) => x.length === 1, 'stored');
      a.chat.deleteMessage({ to: b.id, dialogId: p._id, messageId: pm });
      const [pr] = await b.waitEvents('remove', 1, (x) => x.messageId === pm, '1-1 XMPP delete');
      assert.deepEqual(pr, { messageId: pm, dialogId: p._id, userId: a.id });
      await b.waitHistory(p._id, (x) => x.length === 0, 'the 1-1 message gone');
    });

    test('unread messages count: total and per dialog (chat_dialog_ids, and the guide\'s dialogs_ids), reading lowers it', async () => {
      const [a, b] = await actors(['una', 'unb']);
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      const g = await group(a, [b]);
      const quiet = await group(a, [b]);
      for (const body of ['p1', 'p2']) await a.message.create({ chat_dialog_id: p._id, message: body });
      for (const body of ['g1', 'g2', 'g3']) await a.message.create({ chat_dialog_id: g._id, message: body });
      await b.message.create({ chat_dialog_id: g._id, message: 'own' });
      const expected = { total: 5, [p._id]: 2, [g._id]: 3, [quiet._id]: 0 };
      assert.deepEqual(await b.unread([p._id, g._id, quiet._id]), expected, 'GET /chat/Message/unread?chat_dialog_ids=a, b, c');
      assert.deepEqual(await b.message.unreadCount({ dialogs_ids: [p._id, g._id, quiet._id] }), expected, "the guide's dialogs_ids (docs/protocol.md#quirk-dialogs-ids-alias)");
      const one = await b.message.unreadCount({ chat_dialog_ids: [g._id] });
      assert.equal(one[g._id], 3, `one dialog asked: ${JSON.stringify(one)}`);
      assert.ok(!(p._id in one), 'per-dialog keys only for the dialogs asked for');
      assert.deepEqual(await b.message.unreadCount(), { total: 5 }, 'without ids: the total only');
      assert.deepEqual(await a.unread([p._id, g._id]), { total: 1, [p._id]: 0, [g._id]: 1 }, "A: only B's message is unread");
      const counts = Object.fromEntries((await b.dialog.list()).items.map((d) => [d._id, d.unread_messages_count]));
      assert.deepEqual(counts, { [p._id]: 2, [g._id]: 3, [quiet._id]: 0 }, 'unread_messages_count in the dialog list');
      await b.message.list({ chat_dialog_id: p._id });
      assert.deepEqual(await b.unread([p._id, g._id]), { total: 3, [p._id]: 0, [g._id]: 3 }, 'reading the history zeroes that dialog');
    });

    test('mark as read all chat messages: update("", {read: 1, chat_dialog_id}) reads the whole dialog for the caller only', async () => {
      const [a, b, c] = await actors(['ra', 'rb', 'rc']);
      const g = await group(a, [b, c]);
      const other = await group(a, [b]);
      for (const body of ['1', '2', '3']) await a.message.create({ chat_dialog_id: g._id, message: body });
      await a.message.create({ chat_dialog_id: other._id, message: 'elsewhere' });
      assert.equal((await b.unread([g._id]))[g._id], 3);
      const r = await b.message.update('', { read: 1, chat_dialog_id: g._id });
      assert.equal(typeof r, 'string', 'PUT /chat/Message.json answers 200 (read as text)');
      assert.deepEqual(await b.unread([g._id, other._id]), { total: 1, [g._id]: 0, [other._id]: 1 }, 'the whole dialog is read, the other one untouched');
      const items = await b.history(g._id);
      assert.ok(items.every((m) => m.read === 1 && m.read_ids.includes(b.id)), `every message read by B: ${JSON.stringify(items.map((m) => m.read_ids))}`);
      assert.ok(items.every((m) => !m.read_ids.includes(c.id)), 'not read by C');
      assert.equal((await c.unread([g._id]))[g._id], 3, "C's unread count is untouched");
      assert.equal((await b.listed(g._id)).unread_messages_count, 0);
    });

    test('search: messages and dialogs of the caller\'s dialogs matching the text, within chat_dialog_ids and dates', async () => {
      const [a, b, d] = await actors(['sea', 'seb', 'sed']);
      const word = `Needle${uniq(6)}`;
      const g = await group(a, [b], { name: `Room ${word}` });
      const g2 = await group(a, [b]);
      const hit = await a.message.create({ chat_dialog_id: g._id, message: `a ${word} in the haystack` });
      const hit2 = await b.message.create({ chat_dialog_id: g2._id, message: `another ${word}` });
      await a.message.create({ chat_dialog_id: g._id, message: 'nothing to see' });
      const window = { start_date: Date.now() + 3_600_000, end_date: Date.now() - 3_600_000 }; // start = upper bound, end = lower bound (docs/protocol.md#quirk-search-date-bounds)

      const r = await b.chat.search({ search_text: word, limit: 10, ...window });
      assert.ok(r && r.results, `{"results":{dialogs, messages, users}}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.results.messages.map((m) => m._id).sort(), [hit._id, hit2._id].sort(), 'both matching messages');
      assertHistoryMessage(r.results.messages.find((m) => m._id === hit._id), { chat_dialog_id: g._id, sender_id: a.id, message: `a ${word} in the haystack` }, 'search hit');
      assert.deepEqual(r.results.dialogs.map((x) => x._id), [g._id], 'the dialog whose name matches');
      assert.ok(Array.isArray(r.results.users), 'results.users is an array');

      const only = await b.chat.search({ search_text: word, chat_dialog_ids: [g2._id], ...window });
      assert.deepEqual(only.results.messages.map((m) => m._id), [hit2._id], 'chat_dialog_ids restricts the search');
      const past = await b.chat.search({ search_text: word, start_date: Date.now() - 3_600_000, end_date: Date.now() - 7_200_000 });
      assert.deepEqual(past.results.messages, [], 'a date window an hour ago finds nothing');
      await expectHttpError(b.chat.search({ search_text: 'Need' }), 422, 'GET /chat/search with a search_text of 4 characters (must be longer)');
      const stranger = await d.chat.search({ search_text: word, ...window });
      assert.deepEqual(stranger.results.messages, [], 'a user outside the dialogs finds none of their messages');
      assert.deepEqual(stranger.results.dialogs, [], 'nor the dialogs');
    });

    test('system messages: sendSystemMessage and REST createSystem reach onSystemMessageListener only, with the sender id; nothing is stored', async () => {
      const [a, b] = await actors(['sya', 'syb'], { online: true });
      const [off] = await actors(['syoff']);
      a.chat.sendSystemMessage(off.id, { body: 'while offline', extension: { k: 'v' } });
      const id = a.chat.sendSystemMessage(b.id, { body: 'dialog/UPDATE_DIALOG', extension: { photo_uid: 'abc', flag: true, nested: { k: 'v' } } });
      assert.match(id, OBJECT_ID, 'sendSystemMessage returns the message id');
      const [s1] = await b.waitEvents('system', 1, () => true, 'the XMPP system message');
      assert.deepEqual(s1, { id, userId: a.id, body: 'dialog/UPDATE_DIALOG', extension: { photo_uid: 'abc', flag: 'true', nested: { k: 'v' } } }, 'onSystemMessageListener({id, userId, body, extension}) without moduleIdentifier');

      const r = await a.message.createSystem({ recipientId: b.id, userExt: { name: 'Smith' }, nickname: 'neo' });
      assert.match(String(r.messageId), OBJECT_ID, `POST /chat/Message/system: messageId: ${JSON.stringify(r)}`);
      assert.equal(Number(r.recipientId), b.id);
      assert.deepEqual(r.extensionParams, { userExt: { name: 'Smith' }, nickname: 'neo' });
      const [, s2] = await b.waitEvents('system', 2, () => true, 'the REST system message');
      assert.equal(s2.id, r.messageId, 'the stanza id is the returned messageId');
      assert.equal(s2.userId, a.id, 'from the caller');
      assert.deepEqual(s2.extension, { userExt: { name: 'Smith' }, nickname: 'neo' });

      // to a dialog: group chat is not supported for system messages (docs/protocol.md#xmpp-system-messages: 400)
      const g = await group(a, [b]);
      const toRoom = a.chat.sendSystemMessage(g._id, { body: 'to the room', extension: { k: 'v' } });
      await sleep(SETTLE_MS);
      assert.equal(b.events.system.length, 2, `a system message addressed to a room reaches nobody\n${b.dump()}`);
      const roomErr = a.events.error.find((x) => x.messageId === toRoom);
      if (roomErr) assert.equal(roomErr.error.code, 400, `a refused system message to a room: 400 bad-request, got ${JSON.stringify(roomErr.error)}`);
      assert.equal(b.messages.length, 0, 'system messages never reach onMessageListener');
      assert.equal(a.events.system.length, 0, 'not echoed to the sender');
      assert.deepEqual((await b.dialog.list()).items.map((x) => x._id), [g._id], 'no dialog was created by the system messages');
      assert.equal((await b.message.unreadCount()).total, 0, 'nothing unread');
      await off.connect();
      await sleep(SETTLE_MS);
      assert.deepEqual(off.events.system, [], `system messages are live only, never kept for an offline user (docs/protocol.md#xmpp-system-messages)\n${off.dump()}`);
    });

    test('reactions: add/update/remove over REST → onMessageReactionsListener for the others, listReactions, reactions in history', async () => {
      const [a, b, c] = await actors(['rea', 'reb', 'rec'], { online: true });
      const g = await group(a, [b, c]);
      const m = await a.message.create({ chat_dialog_id: g._id, message: 'react to me' });
      await b.message.addReaction(m._id, '👍');
      for (const who of [a, c]) {
        const [r] = await who.waitEvents('reactions', 1, () => true, 'the reaction notification');
        assert.equal(r.messageId, m._id);
        assert.equal(r.userId, b.id);
        assert.equal(r.dialogId, g._id);
        assert.equal(r.add, '👍');
        assert.equal(r.remove, undefined);
      }
      await c.message.addReaction(m._id, '👍');
      await c.message.updateReaction(m._id, '🔥', '👍');
      const [, , upd] = await a.waitEvents('reactions', 3, () => true, 'three reaction notifications');
      assert.deepEqual(upd, { messageId: m._id, userId: c.id, dialogId: g._id, add: '🔥', remove: '👍' }, 'updateReaction(add, remove) → one notification with both');
      const list = await a.message.listReactions(m._id);
      assert.deepEqual(list, { '👍': [b.id], '🔥': [c.id] }, 'GET /chat/Message/{id}/reactions');
      const [asB] = await b.history(g._id);
      assert.deepEqual(asB.reactions, { own: ['👍'], total: { '👍': 1, '🔥': 1 } }, "B's view of the reactions in history");
      await b.message.removeReaction(m._id, '👍');
      const [removal] = await c.waitEvents('reactions', 1, (x) => x.userId === b.id && x.remove === '👍', "the notification of B's removal");
      assert.deepEqual(removal, { messageId: m._id, userId: b.id, dialogId: g._id, add: undefined, remove: '👍' });
      assert.deepEqual(await a.message.listReactions(m._id), { '🔥': [c.id] });

      // 1-1: the dialog id travels in extraParams
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      const pm = await a.message.create({ chat_dialog_id: p._id, message: 'private' });
      await b.message.addReaction(pm._id, '❤️');
      const [pr] = await a.waitEvents('reactions', 1, (x) => x.messageId === pm._id, 'the reaction to a 1-1 message');
      assert.deepEqual(pr, { messageId: pm._id, userId: b.id, dialogId: p._id, add: '❤️', remove: undefined });
    });

    test('REST create with send_to_chat=1: stored (201) and delivered over XMPP like a message from the caller, 1-1 and group', async () => {
      const [a, b, c] = await actors(['sta', 'stb', 'stc'], { online: true });
      const g = await group(a, [b, c]);
      const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
      const gm = await a.message.create({ chat_dialog_id: g._id, message: 'via REST', send_to_chat: 1, country: 'USA' });
      assertHistoryMessage(gm, { chat_dialog_id: g._id, sender_id: a.id, message: 'via REST', country: 'USA' }, 'POST /chat/Message');
      for (const who of [b, c]) {
        const [got] = await who.waitMessages(1, { filter: (x) => x.message.id === gm._id });
        assert.equal(got.userId, a.id);
        assert.equal(got.message.type, 'groupchat');
        assert.equal(got.message.body, 'via REST');
        assert.equal(got.message.dialog_id, g._id);
        assert.equal(got.message.extension.country, 'USA', 'custom fields travel in extraParams');
      }
      const pm = await a.message.create({ chat_dialog_id: p._id, message: 'private via REST', send_to_chat: 1, markable: 1 });
      const [got] = await b.waitMessages(1, { filter: (x) => x.message.id === pm._id });
      assert.equal(got.userId, a.id);
      assert.equal(got.message.type, 'chat');
      assert.equal(got.message.recipient_id, b.id);
      assert.equal(got.message.dialog_id, p._id);
      if (sdk.version === 'v3') assert.equal(got.message.markable, 1, 'markable=1 → <markable/>');
      const quiet = await a.message.create({ chat_dialog_id: p._id, message: 'history only' });
      await sleep(SETTLE_MS);
      assert.ok(!b.messages.some((x) => x.message.id === quiet._id), 'without send_to_chat nothing is delivered');
      assert.equal(c.messages.filter((x) => x.message.dialog_id === g._id).length, 1, 'once');
      assert.deepEqual((await b.history(p._id)).map((x) => x.message), ['private via REST', 'history only']);
    });
  });

  /** Settles `promise` within 5 s or fails with the actor's frames (join/leave/listOnlineUsers never reject on their own). */
  async function within(actor, promise, what) {
    let timer;
    try {
      return await Promise.race([
        promise,
        new Promise((_, rej) => {
          timer = setTimeout(() => rej(new Error(`${actor.label}: ${what} did not settle within 5 s\n${actor.dump()}`)), 5_000);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
  return ctx;
}
