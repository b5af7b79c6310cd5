//! `PushStore` for `SqlStore`: device subscriptions, push events, per-app push settings, the durable send
//! queue (`push_queue`) and the record of every notification queued (`push_sent`), which keeps one
//! notification from reaching a device twice.
//!
//! Writes that read first (enqueueing checks the queue's size) start with a write, so SQLite takes its
//! write lock up front, as the rest of the store does.

use crate::SqlStore;
use async_trait::async_trait;
use palaver_core::push::{
    ClaimedJob, EnqueueOutcome, NewPushEvent, NewSubscription, PushEvent, PushJob, PushStats, PushStore,
    Subscription,
};
use palaver_core::StoreResult;
use sqlx::any::AnyRow;
use sqlx::Row;

const SUBSCRIPTION_COLUMNS: &str = "id, app_id, user_id, channel, platform, udid, environment, token, \
    bundle_identifier, web_auth, web_p256dh, created_at, updated_at";

const EVENT_COLUMNS: &str =
    "id, app_id, user_id, push_type, environment, event_type, name, message, recipients, created_at, updated_at";

fn subscription(row: &AnyRow, prefix: &str) -> sqlx::Result<Subscription> {
    let col = |name: &str| format!("{prefix}{name}");
    Ok(Subscription {
        id: row.try_get(col("id").as_str())?,
        app_id: row.try_get(col("app_id").as_str())?,
        user_id: row.try_get(col("user_id").as_str())?,
        channel: row.try_get(col("channel").as_str())?,
        platform: row.try_get(col("platform").as_str())?,
        udid: row.try_get(col("udid").as_str())?,
        environment: row.try_get(col("environment").as_str())?,
        token: row.try_get(col("token").as_str())?,
        bundle_identifier: row.try_get(col("bundle_identifier").as_str())?,
        web_auth: row.try_get(col("web_auth").as_str())?,
        web_p256dh: row.try_get(col("web_p256dh").as_str())?,
        created_at: row.try_get(col("created_at").as_str())?,
        updated_at: row.try_get(col("updated_at").as_str())?,
    })
}

fn event(row: &AnyRow) -> sqlx::Result<PushEvent> {
    let recipients: String = row.try_get("recipients")?;
    Ok(PushEvent {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        user_id: row.try_get("user_id")?,
        push_type: row.try_get("push_type")?,
        environment: row.try_get("environment")?,
        event_type: row.try_get("event_type")?,
        name: row.try_get("name")?,
        message: row.try_get("message")?,
        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// `$first, $first+1, …` for `count` bound values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl PushStore for SqlStore {
    async fn put_push_subscription(&self, s: &NewSubscription, now: i64) -> StoreResult<Subscription> {
        let mut tx = self.writer.begin().await?;
        // A device moving to another user drops what was queued for the previous one. (A new token for the
        // same user keeps it: jobs read the device's token when they are sent.)
        sqlx::query(
            "UPDATE push_sent SET status = 'cancelled', updated_at = $4 WHERE status = 'queued' AND subscription_id IN \
             (SELECT id FROM push_subscriptions WHERE app_id = $1 AND udid = $2 AND channel = $3 AND user_id <> $5)",
        )
        .bind(s.app_id)
        .bind(&s.udid)
        .bind(&s.channel)
        .bind(now)
        .bind(s.user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM push_queue WHERE subscription_id IN (SELECT id FROM push_subscriptions \
             WHERE app_id = $1 AND udid = $2 AND channel = $3 AND user_id <> $4)",
        )
        .bind(s.app_id)
        .bind(&s.udid)
        .bind(&s.channel)
        .bind(s.user_id)
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "INSERT INTO push_subscriptions (app_id, user_id, channel, platform, udid, environment, token, \
             bundle_identifier, web_auth, web_p256dh, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
             ON CONFLICT (app_id, udid, channel) DO UPDATE SET user_id = excluded.user_id, \
             platform = excluded.platform, environment = excluded.environment, token = excluded.token, \
             bundle_identifier = excluded.bundle_identifier, web_auth = excluded.web_auth, \
             web_p256dh = excluded.web_p256dh, updated_at = excluded.updated_at \
             RETURNING {SUBSCRIPTION_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(s.app_id)
            .bind(s.user_id)
            .bind(&s.channel)
            .bind(&s.platform)
            .bind(&s.udid)
            .bind(&s.environment)
            .bind(&s.token)
            .bind(s.bundle_identifier.clone())
            .bind(s.web_auth.clone())
            .bind(s.web_p256dh.clone())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let stored = subscription(&row, "")?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn push_subscriptions(&self, app_id: i64, user_ids: &[i64]) -> StoreResult<Vec<Subscription>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE app_id = $1 AND user_id IN ({}) \
             ORDER BY id",
            placeholders(2, user_ids.len())
        );
        let mut query = sqlx::query(&sql).bind(app_id);
        for id in user_ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| subscription(r, ""))
            .collect::<sqlx::Result<_>>()?)
    }

    /// Deletes a subscription with its queued jobs, marking their records cancelled. Rows are locked in the
    /// order `finish` locks them (`push_sent`, then `push_queue`), and the subscription last: removing a dead
    /// token while another job of the same device finishes must not deadlock (PostgreSQL would abort one of
    /// the two, losing the removal or the other job's outcome).
    async fn delete_push_subscription(
        &self,
        app_id: i64,
        user_id: Option<i64>,
        id: i64,
    ) -> StoreResult<bool> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        const OWNED: &str = "EXISTS (SELECT 1 FROM push_subscriptions WHERE id = $1 AND app_id = $2 \
                             AND ($3 < 0 OR user_id = $3))";
        let mut tx = self.writer.begin().await?;
        // A write first, so SQLite takes its write lock up front.
        sqlx::query(&format!(
            "UPDATE push_sent SET status = 'cancelled', updated_at = $4 \
             WHERE subscription_id = $1 AND status = 'queued' AND {OWNED}"
        ))
        .bind(id)
        .bind(app_id)
        .bind(user_id.unwrap_or(-1))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "DELETE FROM push_queue WHERE subscription_id = $1 AND {OWNED}"
        ))
        .bind(id)
        .bind(app_id)
        .bind(user_id.unwrap_or(-1))
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query(
            "DELETE FROM push_subscriptions WHERE id = $1 AND app_id = $2 AND ($3 < 0 OR user_id = $3)",
        )
        .bind(id)
        .bind(app_id)
        .bind(user_id.unwrap_or(-1))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn create_push_event(&self, e: &NewPushEvent) -> StoreResult<PushEvent> {
        let sql = format!(
            "INSERT INTO push_events (app_id, user_id, push_type, environment, event_type, name, message, \
             recipients, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9) \
             RETURNING {EVENT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(e.app_id)
            .bind(e.user_id)
            .bind(e.push_type.clone())
            .bind(e.environment.clone())
            .bind(&e.event_type)
            .bind(e.name.clone())
            .bind(&e.message)
            .bind(serde_json::to_string(&e.recipients).unwrap_or_else(|_| "[]".into()))
            .bind(e.now)
            .fetch_one(&self.writer)
            .await?;
        Ok(event(&row)?)
    }

    async fn pending_push_events(&self, limit: i64) -> StoreResult<Vec<PushEvent>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM push_events WHERE state = 0 ORDER BY id LIMIT $1");
        let rows = sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(event).collect::<sqlx::Result<_>>()?)
    }

    async fn finish_push_event(&self, id: i64, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE push_events SET state = 1, updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn push_setting(&self, app_id: i64, name: &str) -> StoreResult<Option<String>> {
        let key = (app_id, name.to_owned());
        if let Some(value) = self.cache.push_settings.get(&key) {
            return Ok(value);
        }
        let seen = self.cache.push_settings.generation();
        let row = sqlx::query("SELECT value FROM push_settings WHERE app_id = $1 AND name = $2")
            .bind(app_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let value = row.map(|r| r.try_get::<String, _>("value")).transpose()?;
        self.cache.push_settings.fill(seen, key, value.clone());
        Ok(value)
    }

    async fn set_push_setting(
        &self,
        app_id: i64,
        name: &str,
        value: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let written = match value {
            Some(value) => sqlx::query(
                "INSERT INTO push_settings (app_id, name, value, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (app_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(app_id)
            .bind(name)
            .bind(value)
            .bind(now),
            None => sqlx::query("DELETE FROM push_settings WHERE app_id = $1 AND name = $2")
                .bind(app_id)
                .bind(name),
        }
        .execute(&self.writer)
        .await;
        // Forgotten whatever the outcome: an entry dropped for nothing costs a read, a stale one would be
        // wrong.
        self.cache.push_setting_changed(app_id, name);
        written?;
        Ok(())
    }

    async fn enqueue_push(&self, jobs: &[PushJob], max_queue: i64, now: i64) -> StoreResult<EnqueueOutcome> {
        let mut outcome = EnqueueOutcome::default();
        if jobs.is_empty() {
            return Ok(outcome);
        }
        let mut tx = self.writer.begin().await?;
        // The records first: that write takes SQLite's lock before the queue's size is read.
        let mut fresh = Vec::new();
        for job in jobs {
            let inserted = sqlx::query(
                "INSERT INTO push_sent (dedupe_key, subscription_id, provider, app_id, user_id, status, attempts, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&job.dedupe_key)
            .bind(job.subscription_id)
            .bind(&job.provider)
            .bind(job.app_id)
            .bind(job.user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                fresh.push(job);
            } else {
                outcome.duplicates += 1;
            }
        }
        let queued: i64 = sqlx::query("SELECT COUNT(*) AS n FROM push_queue")
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get("n"))?;
        let room = (max_queue - queued).max(0) as usize;
        for (i, job) in fresh.into_iter().enumerate() {
            if i < room {
                sqlx::query(
                    "INSERT INTO push_queue (app_id, user_id, subscription_id, provider, dedupe_key, payload, \
                     attempts, next_attempt_at, leased_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 0, $7)",
                )
                .bind(job.app_id)
                .bind(job.user_id)
                .bind(job.subscription_id)
                .bind(&job.provider)
                .bind(&job.dedupe_key)
                .bind(&job.payload)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                outcome.queued += 1;
            } else {
                sqlx::query(
                    "UPDATE push_sent SET status = 'dropped', detail = 'queue full' \
                     WHERE dedupe_key = $1 AND subscription_id = $2 AND provider = $3",
                )
                .bind(&job.dedupe_key)
                .bind(job.subscription_id)
                .bind(&job.provider)
                .execute(&mut *tx)
                .await?;
                outcome.dropped += 1;
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn claim_push_jobs(&self, now: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<ClaimedJob>> {
        let leased = sqlx::query(
            "UPDATE push_queue SET leased_until = $1 WHERE leased_until <= $2 AND id IN \
             (SELECT id FROM push_queue WHERE next_attempt_at <= $2 AND leased_until <= $2 \
              ORDER BY next_attempt_at, id LIMIT $3) RETURNING id",
        )
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.writer)
        .await?;
        let ids: Vec<i64> = leased
            .iter()
            .map(|r| r.try_get::<i64, _>("id"))
            .collect::<sqlx::Result<_>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sub_columns = SUBSCRIPTION_COLUMNS
            .split(',')
            .map(|c| format!("s.{0} AS s_{0}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT q.id, q.provider, q.dedupe_key, q.payload, q.attempts, q.created_at, {sub_columns} \
             FROM push_queue q JOIN push_subscriptions s ON s.id = q.subscription_id \
             WHERE q.id IN ({}) ORDER BY q.next_attempt_at, q.id",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.writer).await?;
        let jobs = rows
            .iter()
            .map(|r| {
                Ok(ClaimedJob {
                    id: r.try_get("id")?,
                    provider: r.try_get("provider")?,
                    dedupe_key: r.try_get("dedupe_key")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                    created_at: r.try_get("created_at")?,
                    subscription: subscription(r, "s_")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
        Ok(jobs)
    }

    async fn retry_push_job(&self, id: i64, next_attempt_at: i64, error: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE push_queue SET attempts = attempts + 1, next_attempt_at = $2, leased_until = 0, last_error = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(next_attempt_at)
        .bind(error)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE push_sent SET attempts = attempts + 1, detail = $2 WHERE (dedupe_key, subscription_id, provider) IN \
             (SELECT dedupe_key, subscription_id, provider FROM push_queue WHERE id = $1)",
        )
        .bind(id)
        .bind(error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_push_job(
        &self,
        id: i64,
        status: &str,
        detail: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE push_sent SET status = $2, attempts = attempts + 1, detail = $3, updated_at = $4 \
             WHERE (dedupe_key, subscription_id, provider) IN \
             (SELECT dedupe_key, subscription_id, provider FROM push_queue WHERE id = $1)",
        )
        .bind(id)
        .bind(status)
        .bind(detail.map(str::to_owned))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM push_queue WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn release_push_jobs(&self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE push_queue SET leased_until = 0 WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        query.execute(&self.writer).await?;
        Ok(())
    }

    async fn push_stats(&self, now: i64) -> StoreResult<PushStats> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS queued, \
             COALESCE(SUM(CASE WHEN next_attempt_at <= $1 THEN 1 ELSE 0 END), 0) AS due, \
             COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) AS retrying FROM push_queue",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let mut stats = PushStats {
            queued: row.try_get("queued")?,
            due: row.try_get("due")?,
            retrying: row.try_get("retrying")?,
            records: Vec::new(),
        };
        let rows = sqlx::query(
            "SELECT provider, status, COUNT(*) AS n FROM push_sent GROUP BY provider, status ORDER BY provider, status",
        )
        .fetch_all(&self.pool)
        .await?;
        for r in rows {
            stats
                .records
                .push((r.try_get("provider")?, r.try_get("status")?, r.try_get("n")?));
        }
        Ok(stats)
    }

    async fn purge_push_records(&self, before: i64) -> StoreResult<u64> {
        let mut tx = self.writer.begin().await?;
        let purged = sqlx::query("DELETE FROM push_sent WHERE created_at < $1 AND status <> 'queued'")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM push_events WHERE state = 1 AND created_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(purged)
    }
}
