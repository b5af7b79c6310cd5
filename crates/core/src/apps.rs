//! Applications: the tenants of a Palaver server. Everything else is scoped by one.

use crate::model::App;
use crate::{Core, CoreError, CoreResult};
use palaver_proto::random_hex_token;
use rand::distributions::{Alphanumeric, DistString};

pub struct AppService {
    core: Core,
}

impl AppService {
    pub(crate) fn new(core: Core) -> AppService {
        AppService { core }
    }

    /// Creates an application with fresh credentials: a 15-character auth key (the length ConnectyCube
    /// uses) and a 32-character secret for signed session requests.
    pub async fn create(&self, name: &str) -> CoreResult<App> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CoreError::invalid("name", "can't be blank"));
        }
        let (auth_key, auth_secret) = new_keys();
        let now = self.core.clock.now_millis();
        Ok(self
            .core
            .store
            .create_app(name, &auth_key, &auth_secret, now)
            .await?)
    }

    pub async fn get(&self, app_id: i64) -> CoreResult<App> {
        self.core.store.app(app_id).await?.ok_or(CoreError::NotFound)
    }

    /// The application whose auth key this is (v6 sign-up sends only `CB-AuthKey`).
    pub async fn by_auth_key(&self, auth_key: &str) -> CoreResult<App> {
        self.core
            .store
            .app_by_auth_key(auth_key)
            .await?
            .ok_or(CoreError::SessionRequired)
    }

    pub async fn list(&self) -> CoreResult<Vec<App>> {
        Ok(self.core.store.apps().await?)
    }
}

/// Fresh credentials: a 15-character auth key (the length ConnectyCube uses) and a 32-character secret for
/// signed session requests.
pub(crate) fn new_keys() -> (String, String) {
    (
        Alphanumeric.sample_string(&mut rand::rngs::OsRng, 15),
        random_hex_token(16),
    )
}
