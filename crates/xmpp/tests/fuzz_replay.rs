//! Replays every fuzz seed and every input that once broke a fuzz target (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) through the target's function, so a fixed crash stays fixed in the normal
//! test run. The long coverage-guided runs are `scripts/fuzz` (docs/reliability.md#fuzzing).

use std::path::PathBuf;

use palaver_xmpp::fuzzing;

/// The inputs of one target: (file name, bytes), seeds first.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut out = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = dir
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        files.sort();
        for file in files {
            let name = format!("{kind}/{target}/{}", file.file_name().unwrap().to_string_lossy());
            out.push((name, std::fs::read(&file).expect("a readable input")));
        }
    }
    out
}

fn replay(target: &str, run: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(
        inputs.len() >= 3,
        "{target}: expected seeds in fuzz/seeds/{target}"
    );
    for (name, data) in inputs {
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "{name} fails");
    }
}

#[test]
fn stream_parser_inputs_replay_cleanly() {
    replay("stream_parser", fuzzing::stream_parser);
}

#[test]
fn extra_params_inputs_replay_cleanly() {
    replay("extra_params", fuzzing::extra_params);
}

#[test]
fn sasl_inputs_replay_cleanly() {
    replay("sasl", fuzzing::sasl);
}

#[test]
fn websocket_inputs_replay_cleanly() {
    replay("websocket", fuzzing::websocket);
}
