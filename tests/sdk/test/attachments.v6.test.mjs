// Attachments through connectycube@6.1.2 (v6), against a real palaver server: storage.createAndUpload
// of a photo, its uid in a chat message, the receiver's download from storage.privateUrl / publicUrl,
// storage.update / list / delete, and a location attachment through chat and history. REST goes to the
// plain-HTTP listener, chat to ws://127.0.0.1:WS.

import CB from 'connectycube';
import { attachmentsSuite } from '../lib/attachments-suite.mjs';

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

attachmentsSuite(sdk);
