//! Palaver's domain core: applications, users and sessions, the rules about who may do what, and the
//! storage traits (one per domain, `Store` for all of them) that the storage crate implements. It knows
//! nothing of HTTP or XML: the REST API and the XMPP server call the same services here.

pub mod accounts;
pub mod admin;
pub mod admin_store;
pub mod apps;
pub mod blobs;
pub mod chat_auth;
pub mod clock;
pub mod cluster;
pub mod contacts;
pub mod credentials;
pub mod dialogs;
pub mod error;
pub mod events;
pub mod history;
pub mod messages;
pub mod metrics;
pub mod model;
pub mod offline;
pub mod online;
pub mod passwords;
pub mod privacy;
pub mod push;
pub mod query;
mod salted_password;
pub mod sessions;
pub mod signature;
pub mod store;
pub mod throttle;
pub mod token_seal;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

pub use clock::{Clock, SystemClock};
pub use error::{CoreError, CoreResult, Denial, StoreError, StoreResult};
pub use store::Store;

/// Tunables of the domain rules.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// How long a session token lives without use; every use extends it again (ConnectyCube: 2 hours).
    pub session_ttl: Duration,
    /// How long a guest's session lives; the guest account goes with it.
    pub guest_session_ttl: Duration,
    /// How far a signed session request's `timestamp` may be from now.
    pub signature_window: Duration,
    /// PBKDF2 iterations for the SCRAM keys derived from passwords and tokens.
    pub scram_iterations: u32,
    /// The most contacts a user keeps.
    pub max_contacts: i64,
}

impl Default for CoreSettings {
    fn default() -> Self {
        CoreSettings {
            session_ttl: Duration::from_secs(2 * 60 * 60),
            guest_session_ttl: Duration::from_secs(24 * 60 * 60),
            signature_window: Duration::from_secs(60 * 60),
            scram_iterations: 4096,
            max_contacts: contacts::DEFAULT_MAX_CONTACTS,
        }
    }
}

/// Everything a service needs: the store, the clock and the settings. One shared allocation: a clone
/// (each service holds one, made per call) is one reference count, not one per part.
#[derive(Clone)]
pub struct Core(Arc<CoreParts>);

impl std::ops::Deref for Core {
    type Target = CoreParts;

    fn deref(&self) -> &CoreParts {
        &self.0
    }
}

/// What a `Core` is made of.
#[derive(Clone)]
pub struct CoreParts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<CoreSettings>,
    pub events: events::EventBus,
    /// Compiled default privacy lists, shared by every clone (see `privacy`).
    pub privacy_rules: Arc<privacy::RulesCache>,
    /// File storage: where blobs' bytes go, and the limits.
    pub blob_config: Arc<blobs::BlobConfig>,
    /// Who has a chat session (filled in by the chat server).
    pub online: Arc<online::Online>,
    /// The queue in front of password checks, and the login failure throttle (REST and XMPP).
    pub password_gate: Arc<passwords::PasswordGate>,
    /// Seals session tokens so their SCRAM keys are derived on first use (see `token_seal`); None derives
    /// them when the session is made.
    pub token_sealer: Option<Arc<token_seal::TokenSealer>>,
}

impl Core {
    pub fn new(store: Arc<dyn Store>, settings: CoreSettings) -> Core {
        Core(Arc::new(CoreParts {
            store,
            clock: Arc::new(SystemClock),
            settings: Arc::new(settings),
            events: events::EventBus::default(),
            privacy_rules: Arc::default(),
            blob_config: Arc::new(blobs::BlobConfig::default()),
            online: Arc::default(),
            password_gate: Arc::default(),
            token_sealer: None,
        }))
    }

    /// The parts, to set one up before the core is shared (a shared core is copied first).
    fn parts(&mut self) -> &mut CoreParts {
        Arc::make_mut(&mut self.0)
    }

    /// Gives the core its file storage (without one, every file operation fails).
    pub fn with_blobs(mut self, config: blobs::BlobConfig) -> Core {
        self.parts().blob_config = Arc::new(config);
        self
    }

    pub fn with_token_sealer(mut self, sealer: token_seal::TokenSealer) -> Core {
        self.parts().token_sealer = Some(Arc::new(sealer));
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Core {
        self.parts().clock = clock;
        self
    }

    pub fn apps(&self) -> apps::AppService {
        apps::AppService::new(self.clone())
    }

    pub fn sessions(&self) -> sessions::SessionService {
        sessions::SessionService::new(self.clone())
    }

    pub fn users(&self) -> users::UserService {
        users::UserService::new(self.clone())
    }

    pub fn contacts(&self) -> contacts::ContactService {
        contacts::ContactService::new(self.clone())
    }

    pub fn chat_auth(&self) -> chat_auth::ChatAuthService {
        chat_auth::ChatAuthService::new(self.clone())
    }

    /// Password checks: bounded, throttled, against the SCRAM keys.
    pub fn passwords(&self) -> passwords::PasswordService {
        passwords::PasswordService::new(self.clone())
    }

    pub fn messages(&self) -> messages::MessageService {
        messages::MessageService::new(self.clone())
    }

    pub fn offline(&self) -> offline::OfflineService {
        offline::OfflineService::new(self.clone())
    }

    /// Privacy lists (XEP-0016) and their enforcement.
    pub fn privacy(&self) -> privacy::PrivacyService {
        privacy::PrivacyService::new(self.clone())
    }

    /// Messages REST API: history, marks, edits, deletes, reactions, unread counts, search.
    pub fn history(&self) -> history::HistoryService {
        history::HistoryService::new(self.clone())
    }

    /// Dialogs REST API and the dialog rules the XMPP server asks about.
    pub fn dialogs(&self) -> dialogs::DialogService {
        dialogs::DialogService::new(self.clone())
    }

    /// Push subscriptions, push events, the chat-alert template and provider credentials.
    pub fn push(&self) -> push::PushService {
        push::PushService::new(self.clone())
    }

    /// File storage (blobs): create, upload, complete, read, rename, delete, list.
    pub fn blobs(&self) -> blobs::BlobService {
        blobs::BlobService::new(self.clone())
    }

    /// Operators' actions (admin API and command line), each written to the audit log with its origin
    /// (`api` or `cli`).
    pub fn admin(&self, origin: &'static str) -> admin::AdminService {
        admin::AdminService::new(self.clone(), origin)
    }
}
