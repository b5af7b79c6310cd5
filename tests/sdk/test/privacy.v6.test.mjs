// Privacy (black) lists through connectycube@6.1.2 (v6) against a real palaver server
// (lib/privacy-suite.mjs): chat.privacylist.create/getList/getNames/setAsDefault/update/delete and
// what blocked users see in 1-1 and group chats.

import CB from 'connectycube';
import { privacySuite } from '../lib/privacy-suite.mjs';
import { v6Sdk } from '../lib/sdk-adapters.mjs';

privacySuite(v6Sdk(CB));
