//! `palaver user import`: bulk provisioning from a CSV file (header `login,password[,full_name,email]`)
//! or JSON lines (`{"login": ..., "password": ..., "full_name": ..., "email": ...}`). Users are created
//! through core's bulk import (validated as in sign-up, hashed on every core, inserted in batches) and
//! printed as JSON lines `{"login", "id"}` as each wave is done; failures go to stderr.

use anyhow::{bail, Context};
use palaver_core::model::Profile;
use palaver_core::users::{ImportOptions, NewUser};
use palaver_core::Core;
use serde::Deserialize;
use std::io::Write;
use std::path::Path;

/// Users read, hashed and written per wave (then printed).
const WAVE: usize = 5000;

#[derive(Debug, Deserialize, PartialEq)]
struct Record {
    login: Option<String>,
    password: String,
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// Imports `file` (`-` for stdin) into application `app`; fails if any user could not be created.
pub async fn run(core: &Core, app: i64, file: &Path, options: ImportOptions) -> anyhow::Result<()> {
    core.apps()
        .get(app)
        .await
        .with_context(|| format!("no application {app}"))?;
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let records = parse(&text)?;
    let started = std::time::Instant::now();
    let (mut created, mut failed) = (0usize, 0usize);
    let stdout = std::io::stdout();
    for wave in records.chunks(WAVE) {
        let users = wave
            .iter()
            .map(|r| NewUser {
                profile: Profile {
                    login: r.login.clone(),
                    email: r.email.clone(),
                    full_name: r.full_name.clone(),
                    ..Profile::default()
                },
                password: r.password.clone(),
            })
            .collect();
        let results = core.users().import(app, users, options).await;
        let mut out = stdout.lock();
        for (record, result) in wave.iter().zip(results) {
            let login = record
                .login
                .as_deref()
                .or(record.email.as_deref())
                .unwrap_or_default();
            match result {
                Ok(user) => {
                    created += 1;
                    writeln!(out, "{}", serde_json::json!({"login": login, "id": user.id}))?;
                }
                Err(error) => {
                    failed += 1;
                    eprintln!(
                        "{}",
                        serde_json::json!({"login": login, "error": crate::cli::describe(error).to_string()})
                    );
                }
            }
        }
        out.flush()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "created {created} users in {seconds:.1} s ({:.0}/s){}",
        created as f64 / seconds.max(1e-9),
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        }
    );
    if failed > 0 {
        bail!("{failed} of {} users were not created", records.len());
    }
    Ok(())
}

/// CSV with a header row, or JSON objects one per line.
fn parse(text: &str) -> anyhow::Result<Vec<Record>> {
    if text.trim_start().starts_with('{') {
        return text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| serde_json::from_str(line).with_context(|| format!("line {}", n + 1)))
            .collect();
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    if !headers.iter().any(|h| h == "password") || !headers.iter().any(|h| h == "login" || h == "email") {
        bail!("the CSV header must name login (or email) and password, e.g. login,password,full_name,email");
    }
    reader
        .deserialize::<Record>()
        .enumerate()
        .map(|(n, record)| {
            let mut record = record.with_context(|| format!("CSV record {}", n + 1))?;
            // Empty optional cells mean "not set".
            for field in [&mut record.login, &mut record.full_name, &mut record.email] {
                if field.as_deref() == Some("") {
                    *field = None;
                }
            }
            Ok(record)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_optional_columns() {
        let records = parse(
            "login,password,full_name,email\nann,secret-one,Ann A,\n\"b,en\",secret-two,,ben@example.com\n",
        )
        .unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].full_name.as_deref(), Some("Ann A"));
        assert_eq!(records[0].email, None);
        assert_eq!(records[1].login.as_deref(), Some("b,en"));
        assert_eq!(records[1].email.as_deref(), Some("ben@example.com"));
        let short = parse("login,password\ncid,secret-333\n").unwrap();
        assert_eq!(short[0].password, "secret-333");
    }

    #[test]
    fn json_lines_and_bad_headers() {
        let records = parse("{\"login\":\"a\",\"password\":\"pppppppp\"}\n\n{\"login\":\"b\",\"password\":\"qqqqqqqq\",\"email\":\"b@x.io\"}").unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].email.as_deref(), Some("b@x.io"));
        assert!(parse("name,secret\nx,y\n").is_err());
    }
}
