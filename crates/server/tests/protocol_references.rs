//! Keeps the project self-contained: no source, test, script or README may cite a document that is not
//! in the repository, and every anchor of `docs/protocol.md` the tree points at must exist there.
//! Three rules, none of which names an outside document:
//!
//! * every Markdown file a line names is one the repository has;
//! * a relative path (`../…`) never climbs out of the repository;
//! * quirks are named anchors in `docs/protocol.md`, never numbers from some outside list, and a bare
//!   section sign only follows an RFC or XEP number (public documents).
//!
//! The whole text of each file is checked, not only comments: test messages cite the wire behaviour too.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

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

/// The scanned files, sorted.
fn scanned_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in SCANNED {
        collect(&root.join(entry), &mut files);
    }
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

/// The file names of every Markdown document in the repository.
fn markdown_names(root: &Path) -> BTreeSet<String> {
    let mut files = Vec::new();
    collect(root, &mut files);
    files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
        .filter_map(|f| f.file_name().and_then(|n| n.to_str()).map(str::to_lowercase))
        .collect()
}

/// The Markdown file names a line mentions (made of letters, digits, `-` and `_`, then the extension).
fn named_markdown(line: &str) -> Vec<String> {
    let lower = line.to_lowercase();
    lower
        .match_indices(".md")
        .filter(|(at, _)| {
            // `.md` ends the name: not `.mdx`, not `.mjs`.
            !lower[at + 3..].starts_with(|c: char| c.is_ascii_alphanumeric())
        })
        .filter_map(|(at, _)| {
            let before = &lower[..at];
            let start = before
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .map_or(0, |i| i + 1);
            (start < at).then(|| format!("{}.md", &lower[start..at]))
        })
        .collect()
}

/// Whether a relative path written in `file` (`../x/y`) resolves outside `root`.
fn leaves_repository(root: &Path, file: &Path, relative: &str) -> bool {
    let mut at: Vec<Component> = file.parent().unwrap_or(root).components().collect();
    let floor = root.components().count();
    for part in Path::new(relative).components() {
        match part {
            Component::ParentDir => {
                if at.len() <= floor {
                    return true;
                }
                at.pop();
            }
            Component::Normal(_) => at.push(part),
            _ => {}
        }
    }
    false
}

/// The relative paths that start with `../` on a line, up to the first character that cannot be in one.
fn parent_paths(line: &str) -> Vec<&str> {
    line.match_indices("../")
        .filter(|(at, _)| *at == 0 || !line[..*at].ends_with(['.', '/']))
        .map(|(at, _)| {
            let rest = &line[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-_./".contains(c)))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

/// A quirk cited by a number (`quirk`, an optional `s`, spaces, `#` and a digit).
fn numbered_quirk(line: &str) -> bool {
    let lower = line.to_lowercase();
    lower.match_indices("quirk").any(|(at, word)| {
        let rest = lower[at + word.len()..].trim_start_matches('s').trim_start();
        rest.strip_prefix('#')
            .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// Problems with citations on one line of `file`.
fn outside_citations(root: &Path, file: &Path, known_markdown: &BTreeSet<String>, line: &str) -> Vec<String> {
    let mut problems: Vec<String> = named_markdown(line)
        .into_iter()
        .filter(|name| !known_markdown.contains(name))
        .map(|name| format!("names `{name}`, which the repository does not have"))
        .collect();
    for path in parent_paths(line) {
        if leaves_repository(root, file, path) {
            problems.push(format!("`{path}` points outside the repository"));
        }
    }
    if numbered_quirk(line) {
        problems.push("a quirk cited by number, not by its docs/protocol.md anchor".to_owned());
    }
    // The section sign, written as an escape so that this file passes its own scan.
    for (at, _) in line.match_indices('\u{a7}') {
        let before = &line[..at];
        if !before.contains("RFC") && !before.contains("XEP") {
            problems.push("a bare section sign, not an RFC's or XEP's section".to_owned());
        }
    }
    problems
}

/// The anchors of `docs/protocol.md` that links on one line name (empty ones left out).
fn doc_links(line: &str) -> Vec<&str> {
    line.match_indices(DOC_LINK)
        .map(|(at, _)| {
            let rest = &line[at + DOC_LINK.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|anchor| !anchor.is_empty())
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
    let known_markdown = markdown_names(&root);
    assert!(known_markdown.contains("protocol.md"), "{known_markdown:?}");
    let mut problems = Vec::new();
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for problem in outside_citations(&root, file, &known_markdown, line) {
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
    let root = Path::new("/repo");
    let file = root.join("crates/x/src/lib.rs");
    let known: BTreeSet<String> = ["readme.md", "protocol.md"].map(str::to_owned).into();
    let check = |line: &str| outside_citations(root, &file, &known, line);
    // Examples are assembled, so that this file does not trip its own scan.
    let missing = format!("// as {}.md says", "notes-elsewhere");
    assert_eq!(check(&missing).len(), 1, "{missing}");
    assert!(check("// see README.md and docs/protocol.md#xmpp-login").is_empty());
    assert!(check("import x from './lib/world.mjs'").is_empty());
    let numbered = format!("// SDKs drop it (quirk {}3)", '#');
    assert_eq!(check(&numbered).len(), 1);
    let numbered = format!("/// see Quirks {}31", '#');
    assert_eq!(check(&numbered).len(), 1);
    assert!(check("// docs/protocol.md#quirk-resource-substring").is_empty());
    let section = '\u{a7}';
    assert_eq!(check(&format!("// a real message ({section}9.6)")).len(), 1);
    let public = format!("// RFC 6121 {section}3.2.2, {section}3.3.2 and XEP-0045 {section}7.2");
    assert!(check(&public).is_empty());
    // Paths: inside the repository is fine, climbing out of it is not.
    assert!(check("// ../../tests/sdk/run.mjs").is_empty());
    let outside = format!("// {}/elsewhere/doc.txt", [".."; 4].join("/"));
    assert_eq!(check(&outside).len(), 1, "{outside}");
    assert!(check(r#"Path::new(dir).join("../..")"#).is_empty());

    assert_eq!(
        doc_links("// see docs/protocol.md#xmpp-login, then docs/protocol.md#quirk-v3-ping-error)."),
        ["xmpp-login", "quirk-v3-ping-error"]
    );
    assert_eq!(doc_links("`docs/protocol.md#rest-blobs`"), ["rest-blobs"]);

    let markdown = "<a id=\"one\"></a>\n## One\nSee [two](#two).\n<a id=\"two\"></a>\n";
    assert_eq!(anchors(markdown), ["one", "two"]);
    assert_eq!(internal_links(markdown), ["two"]);
}
