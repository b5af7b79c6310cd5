//! 1-1 stanzas for users without a session: kept until the user's next session takes them.

use crate::model::OfflineMessage;
use crate::{Core, CoreError, CoreResult};

/// How many stored stanzas one user may accumulate: past it new ones are refused (the sender gets an
/// error) rather than growing the table without bound.
pub const MAX_OFFLINE_PER_USER: i64 = 10_000;

pub struct OfflineService {
    core: Core,
}

impl OfflineService {
    pub(crate) fn new(core: Core) -> OfflineService {
        OfflineService { core }
    }

    /// Keeps a serialized stanza for later delivery.
    pub async fn store(&self, app_id: i64, user_id: i64, payload: &str) -> CoreResult<()> {
        let now = self.core.clock.now_millis();
        let kept = self
            .core
            .store
            .push_offline(app_id, user_id, payload, now, MAX_OFFLINE_PER_USER)
            .await?;
        match kept {
            Some(_) => Ok(()),
            None => Err(CoreError::OfflineStorageFull),
        }
    }

    /// The oldest waiting stanzas (a batch); delete them with `acknowledge` once handed to a session.
    pub async fn pending(&self, app_id: i64, user_id: i64, limit: i64) -> CoreResult<Vec<OfflineMessage>> {
        Ok(self.core.store.offline_messages(app_id, user_id, limit).await?)
    }

    pub async fn acknowledge(&self, app_id: i64, user_id: i64, seqs: &[i64]) -> CoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        Ok(self.core.store.delete_offline(app_id, user_id, seqs).await?)
    }
}
