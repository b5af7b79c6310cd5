//! Embeds the admin panel's built files (`admin-ui/dist`, committed, so no npm is needed here): writes a
//! table of (path, content type, bytes) that `panel.rs` serves. Cargo reruns this when anything under
//! the folder changes, so a rebuilt panel (new hashed file names) is always what the binary serves.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found);
        } else {
            found.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../../admin-ui/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    walk(&dist, &mut files);
    files.sort();
    let mut table =
        String::from("/// (path under /admin/, content type, bytes) of every built panel file.\n");
    table.push_str("pub static ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&dist).expect("under dist");
        let name = relative.to_string_lossy().replace('\\', "/");
        let absolute = file.canonicalize().expect("a readable file");
        writeln!(
            table,
            "    ({name:?}, {:?}, include_bytes!({:?})),",
            content_type(file),
            absolute.display().to_string()
        )
        .unwrap();
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("panel_assets.rs");
    std::fs::write(out, table).expect("writing the asset table");
}
