// Push notifications (chat guide "Chat alerts", "Mark a client as Active/Inactive") shared by v6 and v3:
// device subscriptions and push events through `pushnotifications.*`, and the chat alerts the server
// sends for messages that reach a user without an active chat session. The server gets
// PALAVER_PUSH_WEBHOOK_URL pointing at a small HTTP server in this process, which records every
// notification (one JSON POST per notification and device).

import { describe as nodeDescribe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, uniq } from './server.mjs';
import { newChatUser, waitFor } from './chat-util.mjs';
import { Actor } from './dialogs-suite.mjs';

/** How long to keep listening after the expected notifications arrived, to catch extra ones. */
const SETTLE_MS = 800;

/** A webhook receiver on 127.0.0.1: {url, posts, close()}. */
async function webhook() {
  const posts = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      try {
        posts.push(JSON.parse(body));
      } catch {
        posts.push({ unreadable: body });
      }
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    });
  });
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  return {
    url: `http://127.0.0.1:${server.address().port}/push`,
    posts,
    close: () => new Promise((res) => server.close(res)),
  };
}

export function pushSuite(sdk) {
  const describe = (title, fn) => nodeDescribe(`${sdk.version}: ${title}`, fn);
  const ctx = { server: null, app: null, hook: null };
  const open = [];

  before(async () => {
    ctx.hook = await webhook();
    ctx.server = await startServer({ name: `push-${sdk.version}`, env: { PALAVER_PUSH_WEBHOOK_URL: ctx.hook.url } });
    ctx.app = await ctx.server.createApp(`push-${sdk.version}-${uniq(4)}`);
  });
  const closeAll = async () => {
    for (const c of open.splice(0)) if (c.everConnected) await c.close();
  };
  after(async () => {
    await closeAll();
    await ctx.server?.stop();
    await ctx.hook?.close();
  });
  afterEach(closeAll);

  async function actors(prefixes) {
    const users = await Promise.all(prefixes.map((p) => newChatUser(ctx.server, ctx.app, p)));
    const list = users.map((u) => {
      const a = new Actor(sdk, ctx.server, ctx.app, u);
      open.push(a);
      return a;
    });
    await Promise.all(list.map((a) => a.login()));
    return list;
  }

  async function online(actor) {
    await actor.connect();
    await actor.smEnabled();
  }

  /** `subscriptions.create` for an Android device of the actor, as an app sends it. */
  async function subscribe(actor, udid = `${actor.user.login}-phone`) {
    const created = await actor.cb.pushnotifications.subscriptions.create({
      notification_channel: 'gcm',
      push_token: { environment: 'development', client_identification_sequence: `fcm-${udid}` },
      device: { platform: 'android', udid },
    });
    assert.ok(Array.isArray(created) && created.length === 1, `POST /subscriptions answers an array of one: ${JSON.stringify(created)}`);
    return created[0].subscription;
  }

  /** The webhook posts about one chat message. */
  const alertsFor = (messageId) => ctx.hook.posts.filter((p) => p.message_id === messageId);

  /** Waits for `n` alerts about a message, then a little longer, and returns all of them. */
  async function expectAlerts(messageId, n, what) {
    if (n > 0) {
      await waitFor(`${what}: ${n} webhook post(s) for ${messageId} (have ${alertsFor(messageId).length})`, () => alertsFor(messageId).length >= n, {
        timeoutMs: 8_000,
      });
    }
    await sleep(SETTLE_MS);
    const got = alertsFor(messageId);
    assert.equal(got.length, n, `${what}: exactly ${n} chat alert(s) for ${messageId}: ${JSON.stringify(got)}`);
    return got;
  }

  function assertAlert(post, { to, from, messageId, dialogId, body }) {
    assert.equal(post.kind, 'chat_alert');
    assert.equal(post.app_id, ctx.app.id);
    assert.equal(post.user_id, to.id, 'the alert is for the recipient');
    assert.equal(post.sender_id, from.id);
    assert.equal(post.message_id, messageId);
    assert.equal(post.dialog_id, dialogId);
    assert.equal(post.title, from.user.login, 'default title: the sender (no full name: the login)');
    assert.equal(post.body, body);
    assert.equal(post.text, body);
    assert.equal(post.device.platform, 'android');
    assert.equal(post.device.udid, `${to.user.login}-phone`);
    assert.equal(post.device.token, `fcm-${to.user.login}-phone`);
  }

  /** A private dialog between two actors and a sender for it. */
  async function pair() {
    const [a, b] = await actors(['pa', 'pb']);
    const dialog = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
    const send = (body, extension = {}) => a.sendPrivate(b, dialog._id, body, extension);
    return { a, b, dialog, send };
  }

  describe('Push notifications', () => {
    test('subscriptions: create (array of one), list (bare array), re-subscribe updates, delete; events reach the device', async () => {
      const [a, b] = await actors(['sa', 'sb']);
      const sub = await subscribe(a);
      assert.equal(typeof sub.id, 'number');
      assert.deepEqual(sub.notification_channel, { name: 'gcm' });
      assert.deepEqual(sub.device, { udid: `${a.user.login}-phone`, platform: { name: 'android' } });
      const again = await subscribe(a);
      assert.equal(again.id, sub.id, 'the same device and channel again is the same subscription');
      const web = await a.cb.pushnotifications.subscriptions.create({
        notification_channel: 'web',
        push_token: { environment: 'production', web_endpoint: 'https://push.example/endpoint', web_auth: 'auth', web_p256dh: 'key' },
        device: { platform: 'web', udid: `${a.user.login}-browser` },
      });
      assert.equal(web[0].subscription.notification_channel.name, 'web');

      const listed = await a.cb.pushnotifications.subscriptions.list();
      assert.ok(Array.isArray(listed), `GET /subscriptions answers a bare array: ${JSON.stringify(listed)}`);
      assert.deepEqual(listed.map((s) => s.subscription.id).sort(), [sub.id, web[0].subscription.id].sort());
      assert.deepEqual(await b.cb.pushnotifications.subscriptions.list(), [], 'another user sees none of them');

      await a.cb.pushnotifications.subscriptions.delete(web[0].subscription.id);
      assert.deepEqual((await a.cb.pushnotifications.subscriptions.list()).map((s) => s.subscription.id), [sub.id]);
      await assert.rejects(b.cb.pushnotifications.subscriptions.delete(sub.id), (e) => e.code === 404, 'deleting another user\'s subscription is 404');

      // events.create as the guide shows it: a Base64 payload, recipients as a comma-separated string.
      const payload = a.cb.pushnotifications.base64Encode(JSON.stringify({ message: `hello ${uniq(4)}`, ios_badge: 4 }));
      const events = await b.cb.pushnotifications.events.create({
        notification_type: 'push',
        push_type: 'gcm',
        environment: 'development',
        message: payload,
        user: { ids: String(a.id) },
      });
      assert.ok(Array.isArray(events) && events[0].event, `POST /events answers an array of one {"event"}: ${JSON.stringify(events)}`);
      const event = events[0].event;
      assert.equal(event.message, payload);
      assert.equal(event.user_id, b.id);
      assert.equal(event.application_id, ctx.app.id);
      const text = JSON.parse(Buffer.from(payload, 'base64').toString()).message;
      await waitFor(`the event's push for ${a.label}`, () => ctx.hook.posts.some((p) => p.event_id === event.id), { timeoutMs: 8_000 });
      await sleep(SETTLE_MS);
      const pushed = ctx.hook.posts.filter((p) => p.event_id === event.id);
      assert.equal(pushed.length, 1, `one device, one push: ${JSON.stringify(pushed)}`);
      assert.equal(pushed[0].user_id, a.id);
      assert.equal(pushed[0].body, text);
      assert.equal(pushed[0].badge, 4);
      assert.equal(pushed[0].device.token, `fcm-${a.user.login}-phone`);
    });

    test('an offline recipient gets exactly one chat alert; silent=1 gets none', async () => {
      const { a, b, dialog, send } = await pair();
      await subscribe(b);
      await online(a);
      const loud = send('Are you there?');
      const [alert] = await expectAlerts(loud, 1, 'offline recipient');
      assertAlert(alert, { to: b, from: a, messageId: loud, dialogId: dialog._id, body: 'Are you there?' });
      assert.equal(alert.badge, 1, 'badge: the recipient\'s unread messages');

      const quiet = send('shh', { silent: 1 });
      await expectAlerts(quiet, 0, 'silent=1');
      const second = send('Still there?');
      const [next] = await expectAlerts(second, 1, 'the next message');
      assert.equal(next.badge, 3, 'the silent message is unread too');
    });

    test('notifications turned off for the dialog: no chat alert', async () => {
      const { a, b, dialog, send } = await pair();
      await subscribe(b);
      await online(a);
      const r = await b.dialog.updateNotificationsSettings(dialog._id, false);
      assert.equal(Number(r.notifications.enabled), 0, `PUT notifications: ${JSON.stringify(r)}`);
      await expectAlerts(send('muted dialog'), 0, 'notifications off');
      await b.dialog.updateNotificationsSettings(dialog._id, true);
      await expectAlerts(send('unmuted again'), 1, 'notifications on again');
    });

    test('an active connected user gets no chat alert; after markInactive() one, after markActive() none again', async () => {
      const { a, b, dialog, send } = await pair();
      await subscribe(b);
      await Promise.all([online(a), online(b)]);

      const whileActive = send('you are here');
      await b.waitMessages(1, { filter: (g) => g.message.id === whileActive });
      await expectAlerts(whileActive, 0, 'active recipient');

      assert.equal(b.chat.markInactive(), undefined);
      await waitFor(`${b.label}: result of markInactive`, () => b.received(/type=["']result["'][^>]*:markActive|:markActive["'][^>]*type=["']result["']/).length >= 1, {
        timeoutMs: 5_000,
        dump: b.dump,
      });
      const whileInactive = send('you look away');
      await b.waitMessages(1, { filter: (g) => g.message.id === whileInactive, what: 'an inactive session still receives messages' });
      const [alert] = await expectAlerts(whileInactive, 1, 'inactive but connected recipient');
      assertAlert(alert, { to: b, from: a, messageId: whileInactive, dialogId: dialog._id, body: 'you look away' });

      b.chat.markActive();
      await waitFor(`${b.label}: result of markActive`, () => b.received(/type=["']result["'][^>]*:markActive|:markActive["'][^>]*type=["']result["']/).length >= 2, {
        timeoutMs: 5_000,
        dump: b.dump,
      });
      const back = send('welcome back');
      await b.waitMessages(1, { filter: (g) => g.message.id === back });
      await expectAlerts(back, 0, 'active again');
    });
  });
}
