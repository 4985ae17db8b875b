//! Keeps the interop matrix in `docs/interop.md` honest: every test it names as CI
//! coverage (`file::test` in backticks) exists as `fn test` in `tests/file.rs`, so a
//! renamed or removed test cannot leave a cell claiming coverage it no longer has.

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_test_the_interop_matrix_names_exists() {
    let doc = std::fs::read_to_string(repo().join("docs/interop.md")).unwrap();
    let matrix = doc
        .split("## Issue 4")
        .next()
        .expect("the matrix comes first");
    let mut named = Vec::new();
    for cell in matrix.split('`').skip(1).step_by(2) {
        let Some((file, test)) = cell.split_once("::") else {
            continue;
        };
        if file.is_empty()
            || test.is_empty()
            || !file.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            || !test.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        named.push((file.to_string(), test.to_string()));
    }
    assert!(named.len() >= 15, "the matrix names its tests: {named:?}");
    let mut missing = Vec::new();
    for (file, test) in &named {
        let source = std::fs::read_to_string(repo().join("tests").join(format!("{file}.rs")))
            .unwrap_or_default();
        if !source.contains(&format!("fn {test}(")) {
            missing.push(format!("{file}::{test}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/interop.md names tests that do not exist: {missing:?}"
    );
}
