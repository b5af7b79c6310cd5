// Attachments (the chat guide's "Attachments (photo/video)" and "Attachments (location)") through the
// SDKs' own calls, shared by v6 and v3: the file goes up with storage.createAndUpload (create, the
// multipart upload to the URL in blob_object_access.params, complete), its uid travels in a chat
// message's attachments, the receiver downloads the very same bytes from storage.privateUrl /
// publicUrl, and storage.delete removes it. A location attachment round-trips through chat and history.
//
// The adapter is the chat suite's ({version, newInstance, init}); REST goes where init() points it
// (v6: http://, v3: https:// with the runner's certificate), chat to ws://127.0.0.1:WS.

import { describe as nodeDescribe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { startServer, uniq } from './server.mjs';
import { waitFor, newChatUser } from './chat-util.mjs';
import { SdkChatClient } from './chat-suite.mjs';
import { expectHttpError } from './flows.mjs';

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** A "photo": the PNG signature, then noise (with CR/LF and dashes, which multipart bodies must survive). */
function photoBytes(size) {
  const bytes = randomBytes(size);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes, 0);
  Buffer.from('\r\n--\r\n').copy(bytes, 100);
  return bytes;
}

/** GET a file URL the way an app's <img src> or fetch() would: {status, type, bytes}. */
async function fetchFile(url, headers = {}) {
  const res = await fetch(url, { headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, type: res.headers.get('content-type'), length: res.headers.get('content-length'), etag: res.headers.get('etag'), bytes };
}

/** Checks a Blob as createAndUpload resolves it / getInfo returns it (docs/protocol.md#object-blob). */
function assertBlob(blob, expected, what) {
  assert.ok(blob && typeof blob === 'object', `${what}: expected a Blob, got ${JSON.stringify(blob)}`);
  assert.equal(typeof blob.id, 'number', `${what}: id is a number`);
  assert.match(String(blob.uid), /^[0-9a-f]*[a-f][0-9a-f]*$/, `${what}: uid is hex with a letter`);
  for (const [k, v] of Object.entries(expected)) assert.deepEqual(blob[k], v, `${what}: ${k} (${JSON.stringify(blob)})`);
}

export function attachmentsSuite(sdk) {
  const describe = (title, fn) => nodeDescribe(`${sdk.version}: ${title}`, fn);
  const ctx = { server: null, app: null };
  const open = [];

  before(async () => {
    ctx.server = await startServer({ name: `attachments-${sdk.version}` });
    ctx.app = await ctx.server.createApp(`attachments-${sdk.version}-${uniq(4)}`);
  });
  const closeAll = async () => {
    for (const c of open.splice(0)) if (c.connected) await c.close();
  };
  after(async () => {
    await closeAll();
    await ctx.server?.stop();
  });
  afterEach(closeAll);

  /** A user with an SDK object of its own, logged in for REST (and, with `chat`, connected). */
  const actor = async (prefix, { chat = false } = {}) => {
    const user = await newChatUser(ctx.server, ctx.app, prefix);
    const c = new SdkChatClient(sdk, ctx.server, ctx.app, user);
    open.push(c);
    const session = await c.cb.createSession({ login: user.login, password: user.password });
    assert.equal(session.user_id, user.id, `${c.label}: session of the right user`);
    if (chat) {
      await c.connect();
      await c.smEnabled();
      c.connected = true;
    }
    return c;
  };

  describe('Attachments (photo)', () => {
    test('createAndUpload a photo, send its uid in a message, the receiver downloads identical bytes (privateUrl), rules, update, list, delete', async () => {
      const a = await actor('sender', { chat: true });
      const b = await actor('receiver', { chat: true });
      const stranger = await actor('stranger');
      const photo = photoBytes(180_000);

      // The guide's call; private (v6 defaults `public` to true, so the app says false).
      const blob = await a.cb.storage.createAndUpload({ file: photo, name: 'photo.png', type: 'image/png', size: photo.length, public: false });
      assertBlob(blob, { name: 'photo.png', content_type: 'image/png', size: photo.length, public: false }, 'createAndUpload');
      const info = await a.cb.storage.getInfo(blob.id);
      assertBlob(info.blob, { uid: blob.uid, size: photo.length, blob_status: 'complete' }, 'getInfo after createAndUpload');

      // The guide's message: attachments [{uid, id, type}] in the extension.
      const msgId = a.send(b.user.id, { type: 'chat', body: 'Photo', extension: { save_to_history: 1, attachments: [{ uid: blob.uid, id: String(blob.id), type: 'photo', name: 'photo.png', size: photo.length }] } });
      const [got] = await b.waitMessages(1);
      assert.equal(got.message.id, msgId);
      const att = got.message.extension.attachments;
      assert.ok(Array.isArray(att) && att.length === 1, `one attachment: ${JSON.stringify(got.message.extension)}`);
      assert.deepEqual(att[0], { uid: blob.uid, id: String(blob.id), type: 'photo', name: 'photo.png', size: photo.length }, 'the attachment as sent (size as an integer)');

      // The receiver builds the URL with the SDK and downloads the very same bytes.
      const url = b.cb.storage.privateUrl(att[0].uid);
      assert.ok(url.endsWith(`/blobs/${blob.uid}?token=${b.cb.service.getSession().token}`), `privateUrl: ${url}`);
      const file = await fetchFile(url);
      assert.equal(file.status, 200, `GET ${url}`);
      assert.equal(file.type, 'image/png');
      assert.equal(file.length, String(photo.length));
      assert.equal(file.etag, `"${sha256(photo)}"`, 'ETag = SHA-256 of the content');
      assert.ok(file.bytes.equals(photo), 'downloaded bytes are identical to the uploaded photo');
      const part = await fetchFile(url, { Range: 'bytes=0-7' });
      assert.equal(part.status, 206);
      assert.ok(part.bytes.equals(photo.subarray(0, 8)), 'a range: the PNG signature');
      // getFile(uid): the description, for the receiver too.
      const described = await b.cb.storage.getFile(att[0].uid);
      assertBlob(described.blob, { id: blob.id, uid: blob.uid, size: photo.length }, 'getFile by the receiver');

      // Someone the uid was never sent to: no access; nobody without a token.
      assert.equal((await fetchFile(stranger.cb.storage.privateUrl(blob.uid))).status, 403, 'a stranger gets 403');
      assert.equal((await fetchFile(b.cb.storage.publicUrl(blob.uid))).status, 401, 'a private file needs a token');
      await expectHttpError(stranger.cb.storage.getInfo(blob.id), 403, 'getInfo by a stranger');

      // The history keeps the attachment verbatim.
      const history = await b.chat.message.list({ chat_dialog_id: got.message.dialog_id, mark_as_read: 0 });
      const stored = history.items.find((m) => m._id === msgId);
      assert.ok(stored, `the message is in history: ${JSON.stringify(history.items)}`);
      assert.equal(stored.attachments[0].uid, blob.uid);
      assert.equal(stored.attachments[0].type, 'photo');

      // storage.update (sent as GET with blob[name]) and list.
      const renamed = await a.cb.storage.update({ id: blob.id, name: 'holiday.png' });
      assert.equal(renamed.blob.name, 'holiday.png', `update: ${JSON.stringify(renamed)}`);
      const list = await a.cb.storage.list();
      assert.equal(list.total_entries, 1, `list: ${JSON.stringify(list)}`);
      assert.equal(list.items[0].blob.uid, blob.uid);

      // A public file: publicUrl, no token needed.
      const doc = photoBytes(5_000);
      const pub = await a.cb.storage.createAndUpload({ file: doc, name: 'public.png', type: 'image/png', size: doc.length, public: true });
      assertBlob(pub, { public: true, size: doc.length }, 'public createAndUpload');
      const pubFile = await fetchFile(stranger.cb.storage.publicUrl(pub.uid));
      assert.equal(pubFile.status, 200);
      assert.ok(pubFile.bytes.equals(doc), 'public file bytes');

      // storage.delete: gone for everyone.
      await a.cb.storage.delete(blob.id);
      assert.equal((await fetchFile(url)).status, 404, 'the deleted file is gone');
      await expectHttpError(a.cb.storage.getInfo(blob.id), 404, 'getInfo after delete');
      await a.cb.storage.delete(pub.id);
      assert.equal((await a.cb.storage.list()).total_entries, 0, 'nothing left in the list');
    });
  });

  describe('Attachments (location)', () => {
    test('a location attachment (type "location", data = JSON {lat, lng}) reaches the receiver and history verbatim', async () => {
      const a = await actor('here', { chat: true });
      const b = await actor('there', { chat: true });
      const where = { lat: 50.4501, lng: 30.5234 };
      const location = { type: 'location', data: JSON.stringify(where) };
      const msgId = a.send(b.user.id, { type: 'chat', body: 'I am here', extension: { save_to_history: 1, attachments: [location] } });
      const [got] = await b.waitMessages(1);
      assert.equal(got.message.id, msgId);
      assert.deepEqual(got.message.extension.attachments, [location], 'the attachment as sent');
      assert.deepEqual(JSON.parse(got.message.extension.attachments[0].data), where);
      let stored;
      await waitFor('the location message in history', async () => {
        const history = await a.chat.message.list({ chat_dialog_id: got.message.dialog_id, mark_as_read: 0 });
        stored = history.items.find((m) => m._id === msgId);
        return stored;
      });
      assert.deepEqual(stored.attachments, [location], 'history keeps the attachment verbatim');
      // And the REST filter on attachment type finds it.
      const filtered = await b.chat.message.list({ chat_dialog_id: got.message.dialog_id, 'attachments.type': 'location', mark_as_read: 0 });
      assert.deepEqual(filtered.items.map((m) => m._id), [msgId]);
    });
  });
}
