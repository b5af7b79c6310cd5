//! Keeps the project self-contained: no source, test, script or README may cite the protocol reference
//! that lives outside the repository (its "quirk #N" numbers, its file names, its bare "§" sections),
//! and every `docs/protocol.md#anchor` the tree points at must exist in `docs/protocol.md`.
//!
//! The whole text of each file is checked, not only comments: test messages cite the wire behaviour
//! too. Section signs are fine after an RFC or XEP number (public documents). This file itself is left
//! out of the scan, since it has to spell the citations it forbids.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Text that only makes sense next to the outside reference.
const FORBIDDEN: [&str; 8] = [
    "quirk #",
    "quirks #",
    "xmpp.md",
    "rest-api.md",
    "objects.md",
    "quirks.md",
    "checklist.md",
    "shared/protocol",
];

/// How code points at the in-repository description.
const DOC_LINK: &str = "docs/protocol.md#";

/// Top-level folders and files that are scanned.
const SCANNED: [&str; 5] = ["crates", "tests", "scripts", "README.md", "ARCHITECTURE.md"];

/// Folders never scanned: dependencies and build output.
const SKIPPED_DIRS: [&str; 3] = ["node_modules", "target", ".git"];

/// File kinds scanned; files without an extension are scanned under `scripts/`.
const EXTENSIONS: [&str; 7] = ["rs", "mjs", "js", "cjs", "md", "sh", "toml"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn this_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/protocol_references.rs")
}

/// The scanned files, sorted.
fn scanned_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in SCANNED {
        collect(&root.join(entry), &mut files);
    }
    let me = fs::canonicalize(this_file()).expect("this test file exists");
    files.retain(|f| fs::canonicalize(f).map(|c| c != me).unwrap_or(true));
    files.sort();
    files
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if SKIPPED_DIRS.contains(&name) {
            return;
        }
        let entries = fs::read_dir(path).unwrap_or_else(|e| panic!("cannot list {}: {e}", path.display()));
        for entry in entries {
            collect(&entry.expect("directory entry").path(), files);
        }
    } else if path.is_file() {
        let wanted = match path.extension().and_then(|e| e.to_str()) {
            Some(ext) => EXTENSIONS.contains(&ext),
            None => path.components().any(|c| c.as_os_str() == "scripts"),
        };
        if wanted {
            files.push(path.to_owned());
        }
    }
}

/// Problems with citations on one line: forbidden names, and section signs not after an RFC or XEP.
fn outside_citations(line: &str) -> Vec<String> {
    let lower = line.to_lowercase();
    let mut problems: Vec<String> = FORBIDDEN
        .iter()
        .filter(|needle| lower.contains(*needle))
        .map(|needle| format!("cites `{needle}`"))
        .collect();
    for (at, _) in line.match_indices('§') {
        let before = &line[..at];
        if !before.contains("RFC") && !before.contains("XEP") {
            problems.push("a `§` section that is not an RFC's or XEP's".to_owned());
        }
    }
    problems
}

/// The anchors `docs/protocol.md#…` references on one line.
fn doc_links(line: &str) -> Vec<&str> {
    line.match_indices(DOC_LINK)
        .map(|(at, _)| {
            let rest = &line[at + DOC_LINK.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

/// The explicit anchors (`<a id="…"></a>`) of a Markdown text, in order (repeats included).
fn anchors(markdown: &str) -> Vec<&str> {
    const OPEN: &str = "<a id=\"";
    markdown
        .match_indices(OPEN)
        .filter_map(|(at, _)| {
            let rest = &markdown[at + OPEN.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// In-page links (`](#…)`) of a Markdown text.
fn internal_links(markdown: &str) -> Vec<&str> {
    markdown
        .match_indices("](#")
        .filter_map(|(at, _)| {
            let rest = &markdown[at + 3..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

#[test]
fn nothing_cites_the_reference_outside_the_repository() {
    let root = repo_root();
    let files = scanned_files(&root);
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("crates/xmpp/src/modules/message.rs")),
        "the scan must reach the sources (found {} files)",
        files.len()
    );
    let mut problems = Vec::new();
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for problem in outside_citations(line) {
                problems.push(format!("{}:{}: {problem}", relative(&root, file), n + 1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "describe the behaviour in docs/protocol.md and point at its anchor instead:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_protocol_link_names_an_existing_anchor() {
    let root = repo_root();
    let doc = fs::read_to_string(root.join("docs/protocol.md")).expect("docs/protocol.md exists");
    let all = anchors(&doc);
    let known: BTreeSet<&str> = all.iter().copied().collect();
    assert!(
        known.len() > 50,
        "docs/protocol.md has only {} anchors",
        known.len()
    );
    let repeated: BTreeSet<&str> = all
        .iter()
        .copied()
        .filter(|a| all.iter().filter(|b| b == &a).count() > 1)
        .collect();
    assert!(
        repeated.is_empty(),
        "anchors defined twice in docs/protocol.md: {repeated:?}"
    );
    let dangling: Vec<&str> = internal_links(&doc)
        .into_iter()
        .filter(|l| !known.contains(l))
        .collect();
    assert!(
        dangling.is_empty(),
        "in-page links of docs/protocol.md without an anchor: {dangling:?}"
    );

    let mut links = 0;
    let mut unknown = Vec::new();
    for file in scanned_files(&root) {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for anchor in doc_links(line) {
                links += 1;
                if !known.contains(anchor) {
                    unknown.push(format!("{}:{}: #{anchor}", relative(&root, &file), n + 1));
                }
            }
        }
    }
    assert!(
        links > 50,
        "only {links} links to docs/protocol.md found: is the scan working?"
    );
    assert!(
        unknown.is_empty(),
        "links to anchors docs/protocol.md does not have:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_are_for() {
    assert_eq!(
        outside_citations("// SDKs drop it (quirk #3)"),
        ["cites `quirk #`"]
    );
    assert_eq!(outside_citations("/// see Quirks #31"), ["cites `quirks #`"]);
    assert_eq!(outside_citations("//! (`objects.md` §5)").len(), 2);
    assert_eq!(outside_citations("// as xmpp.md says").len(), 1);
    assert_eq!(outside_citations("// a real message (§9.6)").len(), 1);
    assert!(outside_citations("// RFC 6121 §3.2.2, §3.3.2 and XEP-0045 §7.2").is_empty());
    assert!(outside_citations("// docs/protocol.md#quirk-resource-substring").is_empty());

    assert_eq!(
        doc_links("// see docs/protocol.md#xmpp-login, then docs/protocol.md#quirk-v3-ping-error)."),
        ["xmpp-login", "quirk-v3-ping-error"]
    );
    assert_eq!(doc_links("`docs/protocol.md#rest-blobs`"), ["rest-blobs"]);

    let markdown = "<a id=\"one\"></a>\n## One\nSee [two](#two).\n<a id=\"two\"></a>\n";
    assert_eq!(anchors(markdown), ["one", "two"]);
    assert_eq!(internal_links(markdown), ["two"]);
}
