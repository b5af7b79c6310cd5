// Real-time chat (XMPP over WebSocket) through connectycube@6.1.2 (v6), against a real
// palaver server: connect/disconnect, reconnection after a server restart, 1-1 messages,
// 'sent' status, offline delivery, ping. REST goes to the plain-HTTP listener; chat to
// ws://127.0.0.1:WS (one test uses wss://localhost:WSS with the runner's certificate).

import CB from 'connectycube';
import { chatSuite } from '../lib/chat-suite.mjs';

const sdk = {
  version: 'v6',
  newInstance: () => new CB.ConnectyCube(),
  init(instance, server, app, { chatUrl }) {
    instance.init(
      { appId: app.id, authKey: app.auth_key },
      {
        // endpoints.chat is the JID domain; chat_url is only read when chat is set (docs/protocol.md#quirk-stream-domain-vs-jid-domain)
        endpoints: { api_url: server.httpUrl, chat: server.domain, chat_url: chatUrl },
        chat: { streamManagement: { enable: true }, reconnect: { enable: true, timeInterval: 1 } },
        debug: { mode: 0 },
      }
    );
  },
  mechanism: 'SCRAM-SHA-1', // the Node build prefers SCRAM-SHA-1 (it has no SCRAM-SHA-256)
  authElement: 'authenticate', // SASL2
  connectResolvesWith: true,
  canUseTls: !!(process.env.PALAVER_TLS_CERT && process.env.NODE_EXTRA_CA_CERTS),
};

chatSuite(sdk);
