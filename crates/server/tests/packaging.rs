//! The files an operator installs from: the licence matches Cargo.toml, the container image is
//! multi-stage, runs as a non-root user with its data on a volume, and the systemd unit runs the
//! server as its own user, reloads with SIGHUP and keeps first-run secrets out of the journal.
//! (The example configuration is checked against the settings by the config module's tests.)

use std::path::PathBuf;

fn repository_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_licence_file_is_the_licence_cargo_toml_names() {
    let manifest: toml::Table = repository_file("Cargo.toml").parse().unwrap();
    let license = manifest["workspace"]["package"]["license"].as_str().unwrap();
    assert_eq!(license, "Apache-2.0");
    let text = repository_file("LICENSE");
    assert!(text.contains("Apache License") && text.contains("Version 2.0, January 2004"));
    assert!(text.contains("END OF TERMS AND CONDITIONS"));
}

/// The instruction lines of a Dockerfile (comments and continuations left out).
fn instructions(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter(|(word, _)| word.chars().all(|c| c.is_ascii_uppercase()))
        .map(|(word, rest)| (word.to_owned(), rest.trim().to_owned()))
        .collect()
}

#[test]
fn the_container_image_is_multi_stage_non_root_with_data_on_a_volume() {
    let dockerfile = instructions(&repository_file("Dockerfile"));
    let all = |word: &str| -> Vec<&str> {
        dockerfile
            .iter()
            .filter(|(w, _)| w == word)
            .map(|(_, rest)| rest.as_str())
            .collect()
    };
    assert_eq!(all("FROM").len(), 2, "a build stage and a runtime stage");
    let user = all("USER");
    assert_eq!(user.len(), 1);
    assert!(
        !user[0].starts_with('0') && !user[0].starts_with("root"),
        "{user:?}"
    );
    let data = all("ENV")
        .into_iter()
        .find_map(|e| e.strip_prefix("PALAVER_DATA_DIR="))
        .expect("PALAVER_DATA_DIR set");
    assert_eq!(all("VOLUME"), [data]);
    assert_eq!(all("CMD"), ["[\"serve\"]"]);
    for port in ["8080", "8443", "5280", "5291", "5222", "5223"] {
        assert!(all("EXPOSE")[0].split(' ').any(|p| p == port), "{port}");
    }
    let ignored = repository_file(".dockerignore");
    assert!(ignored.lines().any(|l| l.trim() == "target/"));
}

#[test]
fn the_systemd_unit_runs_as_its_own_user_and_reloads_on_sighup() {
    let unit = repository_file("packaging/palaver.service");
    let setting = |key: &str| -> Vec<&str> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .collect()
    };
    assert_eq!(setting("User"), ["palaver"]);
    assert_eq!(setting("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert!(setting("ExecStart")[0].ends_with(" serve"));
    assert_eq!(setting("StateDirectory"), ["palaver"]);
    assert_eq!(setting("StandardOutput"), ["null"]);
    for hardening in ["NoNewPrivileges", "ProtectSystem", "PrivateTmp", "ProtectHome"] {
        assert!(!setting(hardening).is_empty(), "{hardening}");
    }
    assert_eq!(setting("CapabilityBoundingSet"), [""]);
}
