// Real-time chat (XMPP over WebSocket) through connectycube@3.35.3 (v3), against a real
// palaver server. v3's REST goes to https://{endpoints.api} (the runner's trusted
// certificate), its chat to chatProtocol.websocket (v3 has no chat_url,
// docs/protocol.md#quirk-stream-domain-vs-jid-domain):
// ws://127.0.0.1:WS, and wss://localhost:WSS in one test.

import '../lib/v3-nonces.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import CB from 'connectycube-v3';
import { chatSuite } from '../lib/chat-suite.mjs';

const sdk = {
  version: 'v3',
  // The default export is an instance; its class makes independent SDK objects.
  newInstance: () => new CB.constructor(),
  init(instance, server, app, { chatUrl }) {
    instance.init(
      { appId: app.id, authKey: app.auth_key, authSecret: app.auth_secret },
      {
        endpoints: { api: server.httpsHost, chat: server.domain },
        chatProtocol: { websocket: chatUrl },
        chat: { streamManagement: { enable: true }, reconnect: { enable: true, timeInterval: 1 } },
        debug: { mode: 0 },
      }
    );
  },
  mechanism: 'PLAIN', // v3 knows only PLAIN and ANONYMOUS
  authElement: 'auth', // legacy SASL
  connectResolvesWith: undefined,
  canUseTls: true,
};

// Without the runner's certificate v3's REST calls hang (NOTES.md #4): fail fast instead.
if (!process.env.PALAVER_TLS_CERT) {
  test('v3 needs a trusted certificate', () => {
    assert.fail('v3 only speaks HTTPS: run this file through `node run.mjs`, which provides a trusted certificate');
  });
} else {
  chatSuite(sdk);
}
