// Small helpers for asserting on the XMPP frames an SdkChatClient tapped (lib/chat-util.mjs
// tapFrames) and on the SDK callbacks it fired. Over the WebSocket transport every frame is one
// top-level element (RFC 7395), so the first start tag of a frame is the stanza's own tag.

import { waitFor } from './chat-util.mjs';

const ENTITIES = { '&quot;': '"', '&apos;': "'", '&lt;': '<', '&gt;': '>', '&amp;': '&' };
const unescape = (s) => s.replace(/&(quot|apos|lt|gt|amp);/g, (m) => ENTITIES[m]);

/** {name, attrs} of the first start tag of `text` (either quote style), or null. */
export function topTag(text) {
  const m = /^\s*<([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*\/?>/.exec(text);
  if (!m) return null;
  const attrs = {};
  for (const a of m[2].matchAll(/([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) attrs[a[1]] = unescape(a[2] ?? a[3]);
  return { name: m[1], attrs };
}

/** {name, attrs} of the first start tag named `name` anywhere in `text` (e.g. a child), or null. */
export function findTag(text, name) {
  const i = text.search(new RegExp(`<${name.replace(/[.:]/g, '\\$&')}[\\s/>]`));
  return i < 0 ? null : topTag(text.slice(i));
}

/**
 * Stanzas a client read ('R') or wrote ('W'): [{tag, attrs, data, t}] whose top-level element is
 * `name` and, if given, whose text matches `re`.
 */
export function stanzas(client, dir, name, re) {
  const out = [];
  for (const f of client.frames) {
    if (f.dir !== dir) continue;
    const tag = topTag(f.data);
    if (!tag || tag.name !== name) continue;
    if (re && !re.test(f.data)) continue;
    out.push({ tag: tag.name, attrs: tag.attrs, data: f.data, t: f.t });
  }
  return out;
}

/** Bare JID of `user` ({id, appId}) on `server`. */
export const bareJid = (server, user) => server.jid(user.id, user.appId);

/**
 * Replaces the SDK listeners `names` of `client.chat` with recorders. Adds to the client:
 * events [{name, args, at}], eventsOf(name) → [args…], waitEvent(name, pred, what, timeoutMs).
 */
export function listen(client, names) {
  client.events = [];
  for (const name of names) {
    client.chat[name] = (...args) => {
      client.events.push({ name, args, at: Date.now() });
    };
  }
  client.eventsOf = (name) => client.events.filter((e) => e.name === name).map((e) => e.args);
  client.waitEvent = (name, pred = () => true, what = `${client.label}: ${name}`, timeoutMs = 5_000) =>
    waitFor(what, () => client.eventsOf(name).find((args) => pred(...args)), {
      timeoutMs,
      dump: () => `events so far: ${JSON.stringify(client.events.map((e) => [e.name, ...e.args]))}\n${client.dump()}`,
    });
  return client;
}

/**
 * Closes SdkChatClients, latest first. v3 answers an `unavailable` presence of its own user by sending
 * its presence again and fails (an unhandled "Connection is closing") if it is closing itself at that
 * moment (NOTES.md #11), so after each close the still-open sessions of the same user are given up to
 * 1 s to receive the closed session's `unavailable` before the next close starts.
 */
export async function closeClients(list) {
  const order = [...list].reverse();
  for (const [i, c] of order.entries()) {
    const full = c.jid;
    await c.close();
    if (!full) continue;
    for (const s of order.slice(i + 1).filter((o) => o.user.id === c.user.id && o.chat.isConnected)) {
      await waitFor('unavailable of a closed sibling session', () => stanzas(s, 'R', 'presence').some((p) => p.attrs.type === 'unavailable' && p.attrs.from === full), {
        timeoutMs: 1_000,
      }).catch(() => {});
      // v3 answers that unavailable by sending its own presence again; let it go out before this
      // sibling is closed in turn, or the send fails on a closing connection (NOTES.md #11).
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/**
 * Last resort for an `after` hook: stops automatic reconnection and the XMPP client of every
 * SdkChatClient ever made, so that a client created by a test body still running after its test
 * failed (node:test does not cancel it) cannot keep the process alive by reconnecting to a stopped server.
 */
export async function forceStop(clients) {
  for (const c of clients) {
    const x = c.chat.xmppClient;
    try {
      x.reconnect?.stop?.();
      if (x.status !== 'offline') await Promise.race([x.stop(), new Promise((r) => setTimeout(r, 2_000).unref())]);
    } catch {
      // best effort
    }
  }
}
