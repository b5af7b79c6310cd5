// Dialogs, chat history and group chat through connectycube@6.1.2 (v6), against a real palaver
// server: one test per section of the chat guide (REST /chat/Dialog and /chat/Message, group
// messages, MUC join/leave/kick, delivered/read/typing, edit/delete, unread, search, system
// messages, reactions). REST goes to the plain-HTTP listener, chat to ws://127.0.0.1:WS.

import CB from 'connectycube';
import { dialogsSuite } from '../lib/dialogs-suite.mjs';

const sdk = {
  version: 'v6',
  newInstance: () => new CB.ConnectyCube(),
  init(instance, server, app, { chatUrl }) {
    instance.init(
      { appId: app.id, authKey: app.auth_key },
      {
        // endpoints.chat is the JID domain (and makes muc.{chat} the room domain)
        endpoints: { api_url: server.httpUrl, chat: server.domain, chat_url: chatUrl },
        chat: { streamManagement: { enable: true }, reconnect: { enable: true, timeInterval: 1 } },
        debug: { mode: 0 },
      }
    );
  },
  autoDelivered: true, // a 'received' marker for every incoming chat/groupchat message
};

dialogsSuite(sdk);
