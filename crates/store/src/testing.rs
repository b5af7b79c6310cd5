//! Throw-away databases for tests: each call gets a schema of its own on the PostgreSQL server named by
//! `PALAVER_TEST_POSTGRES_URL` (default: the local `test` database), so concurrent runs never collide.

use crate::SqlStore;
use sqlx::Connection;
use std::future::Future;

pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn test_postgres_url() -> String {
    std::env::var("PALAVER_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_owned())
}

/// Creates an empty schema and returns a URL whose connections use it, plus the schema's name.
pub async fn fresh_postgres_schema() -> Result<(String, String), sqlx::Error> {
    let base = test_postgres_url();
    let schema = format!("palaver_test_{}", palaver_core_free_token());
    let mut conn = sqlx::PgConnection::connect(&base).await?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok((
        format!("{base}{separator}options=-c%20search_path%3D{schema}"),
        schema,
    ))
}

/// Drops a schema made by `fresh_postgres_schema`.
pub async fn drop_postgres_schema(schema: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(&test_postgres_url()).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

fn palaver_core_free_token() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}

/// Runs `test` on a fresh embedded SQLite database, then on a fresh PostgreSQL schema (dropped after):
/// the one set of behaviour tests both backends must pass.
pub async fn with_both_stores<F, Fut>(test: F)
where
    F: Fn(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("a temporary directory");
    let sqlite = crate::open(&crate::sqlite_url(dir.path()))
        .await
        .expect("open sqlite");
    test(sqlite.clone()).await;
    sqlite.close().await;

    let (url, schema) = fresh_postgres_schema()
        .await
        .expect("PostgreSQL at PALAVER_TEST_POSTGRES_URL");
    let postgres = crate::open(&url).await.expect("open postgres");
    test(postgres.clone()).await;
    postgres.close().await;
    drop_postgres_schema(&schema).await.expect("drop the test schema");
}

/// An application named `name` and `n` users in it (logins `{name}-user{i}`, password `password1`).
pub async fn app_with_users(core: &palaver_core::Core, name: &str, n: usize) -> (i64, Vec<i64>) {
    let app = core.apps().create(name).await.expect("an application");
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let profile = palaver_core::model::Profile {
            login: Some(format!("{name}-user{i}")),
            ..Default::default()
        };
        let user = core
            .users()
            .signup(app.id, profile, Some("password1".into()))
            .await;
        ids.push(user.expect("a user").id);
    }
    (app.id, ids)
}

/// The first page (100) of a user's dialog list, in the list's own order.
pub fn dialog_list(app_id: i64, user_id: i64) -> palaver_core::dialogs::DialogQuery {
    palaver_core::dialogs::DialogQuery {
        app_id,
        user_id,
        conditions: Vec::new(),
        sort: None,
        limit: 100,
        skip: 0,
    }
}
