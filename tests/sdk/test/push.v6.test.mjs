// Push notifications through connectycube@6.1.2 (v6), against a real palaver server: device
// subscriptions and push events (`pushnotifications.*`), and chat alerts for offline or inactive
// recipients, observed through PALAVER_PUSH_WEBHOOK_URL. REST goes to the plain-HTTP listener, chat to
// ws://127.0.0.1:WS.

import CB from 'connectycube';
import { pushSuite } from '../lib/push-suite.mjs';

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

pushSuite(sdk);
