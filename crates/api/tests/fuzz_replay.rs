//! Replays every REST parameter fuzz seed and every input that once broke the target
//! (`fuzz/seeds/rest_params/`, `fuzz/regressions/rest_params/`), so a fixed crash stays fixed in the
//! normal test run. The long coverage-guided runs are `scripts/fuzz` (docs/reliability.md#fuzzing).

use std::path::PathBuf;

#[test]
fn rest_params_inputs_replay_cleanly() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join("rest_params")) else {
            continue;
        };
        for entry in dir {
            let path = entry.expect("a directory entry").path();
            let data = std::fs::read(&path).expect("a readable input");
            let result = std::panic::catch_unwind(|| palaver_api::fuzzing::rest_params(&data));
            assert!(result.is_ok(), "{} fails", path.display());
            count += 1;
        }
    }
    assert!(count >= 3, "expected seeds in fuzz/seeds/rest_params");
}
