//! The fuzz targets (`fuzz/fuzz_targets/`), each run for 30 s by `scripts/fuzz` as CI's share of
//! fuzzing: any crash, panic, hang or runaway allocation found fails this test, with the input
//! kept under `target/fuzz/artifacts/`. Long runs are done by hand (README, "Fuzzing").

use std::path::Path;
use std::process::Command;

#[test]
fn every_fuzz_target_survives_thirty_seconds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let targets: Vec<String> = std::fs::read_dir(root.join("fuzz/fuzz_targets"))
        .expect("fuzz/fuzz_targets exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(targets.len() >= 5, "fuzz targets: {targets:?}");
    let output = Command::new(root.join("scripts/fuzz"))
        .args(["--time", "30"])
        .current_dir(root)
        .output()
        .expect("scripts/fuzz runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "scripts/fuzz failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for target in &targets {
        assert!(
            stdout.contains(&format!("fuzz {target}: ok")),
            "{target} did not report a run:\n{stdout}"
        );
    }
}
