//! `palaver export` and `palaver import`: the whole database as JSON lines (`palaver_store::portable`),
//! to move from SQLite to PostgreSQL (or back), or to bring data over from elsewhere.

use crate::cli::print_json;
use crate::config::Config;
use anyhow::Context;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

/// Writes the database to `file` (`-`: stdout). Prints the rows per table as JSON (on stderr when the
/// export itself goes to stdout).
pub async fn export(config: &Config, file: &Path) -> anyhow::Result<()> {
    let store = palaver_store::open(&config.database_url()).await?;
    let to_stdout = file.as_os_str() == "-";
    let mut out: Box<dyn Write> = if to_stdout {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        anyhow::ensure!(!file.exists(), "{} already exists", file.display());
        let created = std::fs::File::create(file).with_context(|| format!("creating {}", file.display()))?;
        Box::new(BufWriter::new(created))
    };
    let counts = palaver_store::portable::export(&store, &mut out).await;
    drop(out);
    store.close().await;
    let summary = serde_json::json!({ "exported": counts? });
    if to_stdout {
        eprintln!("{summary}");
        Ok(())
    } else {
        print_json(&summary)
    }
}

/// Reads an export from `file` (`-`: stdin) into the configured database, which must be new.
pub async fn import(config: &Config, file: &Path) -> anyhow::Result<()> {
    let store = palaver_store::open(&config.database_url()).await?;
    let result = if file.as_os_str() == "-" {
        palaver_store::portable::import(&store, &mut std::io::stdin().lock()).await
    } else {
        let opened = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        palaver_store::portable::import(&store, &mut BufReader::new(opened)).await
    };
    store.close().await;
    print_json(&serde_json::json!({ "imported": result? }))
}
