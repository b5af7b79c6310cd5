// A three-node cluster (one PostgreSQL schema, the NATS server on this machine under a subject prefix
// of its own) through connectycube@6.1.2: users connected to different nodes chat 1-1 with 'sent' and
// 'read' statuses, in a group, and get a REST-sent message, as on one server. Runs in the postgres pass
// only (a cluster shares one PostgreSQL database); skipped, saying so, when no NATS server answers.

import CB from 'connectycube';
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, uniq, testDb } from '../lib/server.mjs';
import { newChatUser, waitFor } from '../lib/chat-util.mjs';
import { Actor } from '../lib/dialogs-suite.mjs';
import { closeClients } from '../lib/wire.mjs';

const NATS = process.env.PALAVER_TEST_NATS_URL || 'nats://127.0.0.1:4222';

const sdk = {
  version: 'v6',
  newInstance: () => new CB.ConnectyCube(),
  init(instance, server, app, { chatUrl }) {
    instance.init(
      { appId: app.id, authKey: app.auth_key },
      {
        endpoints: { api_url: server.httpUrl, chat: server.domain, chat_url: chatUrl },
        chat: { streamManagement: { enable: true }, reconnect: { enable: true, timeInterval: 1 } },
        debug: { mode: 0 },
      }
    );
  },
};

function reachable(url) {
  const [host, port] = url.replace('nats://', '').split(':');
  return new Promise((res) => {
    const socket = net.connect({ host, port: Number(port) }, () => {
      socket.destroy();
      res(true);
    });
    socket.on('error', () => res(false));
  });
}

const skip =
  testDb() !== 'postgres'
    ? 'a cluster shares one PostgreSQL database (runs in the postgres pass)'
    : !(await reachable(NATS))
      ? `SKIPPED: no NATS at ${NATS}`
      : false;

/** The ids GET /users/online lists on `node`. */
async function onlineIds(node, token) {
  const res = await fetch(`${node.httpUrl}/users/online.json?limit=100`, { headers: { 'CB-Token': token } });
  const body = await res.json();
  return body.users.map((u) => u.user?.id ?? u.id).sort((a, b) => a - b);
}

describe('v6: three nodes behave as one server', { skip }, () => {
  const nodes = [];
  const open = [];
  let app;

  before(async () => {
    const prefix = `sdk${uniq(8)}`;
    const clusterEnv = (n) => ({
      PALAVER_NATS_URL: NATS,
      PALAVER_NATS_PREFIX: prefix,
      PALAVER_NODE_NAME: `node${n}`,
      PALAVER_CLUSTER_NODE_TIMEOUT_MS: '2000',
    });
    nodes.push(await startServer({ name: 'cluster-node0', env: clusterEnv(0) }));
    for (const n of [1, 2]) {
      nodes.push(await startServer({ name: `cluster-node${n}`, env: clusterEnv(n), databaseUrl: nodes[0].env.PALAVER_DATABASE_URL }));
    }
    app = await nodes[0].createApp(`cluster-${uniq(4)}`);
  });

  after(async () => {
    await closeClients(open.splice(0));
    // The first node owns the schema: it goes last.
    for (const node of [...nodes].reverse()) await node.stop();
  });

  /** One user per node, connected there, and every node seeing all of them online. */
  async function actorsOnNodes(prefix) {
    const actors = [];
    for (const [n, node] of nodes.entries()) {
      const user = await newChatUser(nodes[0], app, `${prefix}${n}`);
      const actor = new Actor(sdk, node, app, user, { chatUrl: node.wsUrl });
      open.push(actor);
      await actor.connect();
      await actor.smEnabled();
      actors.push(actor);
    }
    const { token } = await actors[0].login();
    const want = actors.map((a) => a.id).sort((a, b) => a - b);
    for (const node of nodes) {
      await waitFor(`node ${node.httpUrl} lists ${want} online`, async () => {
        const ids = await onlineIds(node, token);
        return want.every((id) => ids.includes(id));
      }, { timeoutMs: 30_000 });
    }
    return actors;
  }

  test("1-1 across nodes: delivered once, 'sent' to the sender, 'read' back; a group and a REST-sent message reach every node", async () => {
    const [a, b, c] = await actorsOnNodes("cl");
    await a.login();
    const p = await a.dialog.create({ type: 3, occupants_ids: [b.id] });
    const m1 = a.sendPrivate(b, p._id, 'hello from node 0', {}, { markable: 1 });
    const [got] = await b.waitMessages(1);
    assert.equal(got.userId, a.id);
    assert.equal(got.message.id, m1);
    assert.equal(got.message.body, 'hello from node 0');
    assert.equal(got.message.dialog_id, p._id);
    await waitFor("'sent' callback for the 1-1 message", () => a.sent.some((s) => s.id === m1), { dump: a.dump });
    b.chat.sendReadStatus({ messageId: m1, userId: a.id, dialogId: p._id });
    const [read] = await a.waitEvents('read', 1, (x) => x.messageId === m1, 'the read marker from node 1');
    assert.deepEqual(read, { messageId: m1, dialogId: p._id, userId: b.id });

    const g = await a.dialog.create({ type: 2, name: 'Cluster', occupants_ids: [b.id, c.id] });
    const gid = a.sendGroup(g._id, 'hello group');
    for (const x of [b, c]) {
      await x.waitMessages(1, { filter: (m) => m.message.dialog_id === g._id });
      const [m] = x.inDialog(g._id);
      assert.equal(m.message.id, gid);
      assert.equal(m.message.type, 'groupchat');
      assert.equal(m.userId, a.id);
    }
    await c.login();
    await c.message.create({ chat_dialog_id: g._id, message: 'sent over REST on node 2', send_to_chat: 1 });
    for (const x of [a, b]) {
      await x.waitMessages(1, { filter: (m) => m.message.body === 'sent over REST on node 2' });
    }
    await sleep(400);
    assert.equal(b.messages.filter((m) => m.message.id === m1).length, 1, 'the 1-1 message arrived once');
    for (const x of [b, c]) assert.equal(x.inDialog(g._id).filter((m) => m.message.id === gid).length, 1, 'the group message arrived once');
    await b.login();
    const history = await b.message.list({ chat_dialog_id: g._id, sort_asc: 'date_sent' });
    assert.deepEqual(history.items.map((m) => m.message), ['hello group', 'sent over REST on node 2'], 'group history: each message once');
  });
});
