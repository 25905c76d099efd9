//! Keeps the committed generated code in `src/gen/` in step with `proto/`.
//!
//! Every `.proto` file under `proto/` is compiled with the protoc shipped in
//! the `protoc-bin-vendored` crate, into a temporary directory, and compared
//! byte for byte with `src/gen/`. Run with `LANYARD_REGENERATE_PROTO=1` to
//! write the fresh output into `src/gen/` instead.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use prost::Message;
use tonic_prost_build::{Config, FileDescriptorSet};

const REGENERATE_ENV: &str = "LANYARD_REGENERATE_PROTO";
const DESCRIPTOR_SET_FILE: &str = "file_descriptor_set.bin";

#[test]
fn committed_generated_code_matches_proto_sources() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gen_dir = crate_dir.join("src").join("gen");
    let scratch = tempfile::tempdir().unwrap();
    let fresh_dir = scratch.path().join("gen");
    fs::create_dir(&fresh_dir).unwrap();

    generate(&crate_dir.join("proto"), &fresh_dir, scratch.path());
    let fresh = read_generated(&fresh_dir);

    if std::env::var_os(REGENERATE_ENV).is_some_and(|v| v == "1") {
        replace_generated(&gen_dir, &fresh);
        return;
    }

    let committed = read_generated(&gen_dir);
    let problems = differences(&committed, &fresh);
    assert!(
        problems.is_empty(),
        "src/gen is out of date with proto/:\n  {}\nrun `{REGENERATE_ENV}=1 cargo test -p lanyard-proto --test regenerate` and commit the result",
        problems.join("\n  ")
    );
}

#[test]
fn every_generated_module_is_included_by_lib_rs() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib_rs = fs::read_to_string(crate_dir.join("src").join("lib.rs")).unwrap();
    let generated = read_generated(&crate_dir.join("src").join("gen"));
    assert!(!generated.is_empty(), "src/gen holds no generated files");

    let missing: Vec<String> = generated
        .into_keys()
        .filter(|name| !lib_rs.contains(&format!("\"gen/{name}\"")))
        .collect();

    assert!(
        missing.is_empty(),
        "src/lib.rs does not include these generated files (add a module for each package): {missing:?}"
    );
}

/// Compiles every `.proto` under `proto_dir` into `out_dir`, plus a descriptor
/// set without source info (smaller, and stable when only comments change).
fn generate(proto_dir: &Path, out_dir: &Path, scratch: &Path) {
    let protos = proto_files(proto_dir);
    assert!(
        !protos.is_empty(),
        "no .proto files under {}",
        proto_dir.display()
    );
    let raw_descriptor_set = scratch.join("raw_descriptor_set.bin");

    let mut config = Config::new();
    config
        .protoc_executable(protoc_bin_vendored::protoc_bin_path().unwrap())
        .file_descriptor_set_path(&raw_descriptor_set)
        .enable_type_names()
        // `Any` type URLs on the wire use this domain (for example SDS secrets).
        .type_name_domain(["."], "type.googleapis.com");
    let includes = [
        proto_dir.to_path_buf(),
        protoc_bin_vendored::include_path().unwrap(),
    ];
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(out_dir)
        .compile_with_config(config, &protos, &includes)
        .unwrap();

    let mut descriptor_set =
        FileDescriptorSet::decode(fs::read(&raw_descriptor_set).unwrap().as_slice()).unwrap();
    for file in &mut descriptor_set.file {
        file.source_code_info = None;
    }
    fs::write(
        out_dir.join(DESCRIPTOR_SET_FILE),
        descriptor_set.encode_to_vec(),
    )
    .unwrap();
}

/// All `.proto` files below `dir`, sorted so the output does not depend on
/// directory order.
fn proto_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "proto") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The generated files of a directory (`*.rs` and the descriptor set), by name.
fn read_generated(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| is_generated(path))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect()
}

fn is_generated(path: &Path) -> bool {
    path.is_file()
        && (path.extension().is_some_and(|ext| ext == "rs")
            || path
                .file_name()
                .is_some_and(|name| name == DESCRIPTOR_SET_FILE))
}

fn differences(
    committed: &BTreeMap<String, Vec<u8>>,
    fresh: &BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, content) in fresh {
        match committed.get(name) {
            None => problems.push(format!("src/gen/{name}: missing")),
            Some(old) if old != content => problems.push(format!("src/gen/{name}: differs")),
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|name| !fresh.contains_key(*name)) {
        problems.push(format!("src/gen/{name}: stale (no longer generated)"));
    }
    problems
}

fn replace_generated(gen_dir: &Path, fresh: &BTreeMap<String, Vec<u8>>) {
    fs::create_dir_all(gen_dir).unwrap();
    for name in read_generated(gen_dir).keys() {
        if !fresh.contains_key(name) {
            fs::remove_file(gen_dir.join(name)).unwrap();
        }
    }
    for (name, content) in fresh {
        fs::write(gen_dir.join(name), content).unwrap();
    }
}
