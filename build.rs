//! Builds the dashboard (assets/) when its output is missing or older than its sources,
//! so that `cargo build` alone yields a binary that serves it. Set
//! CORERECON_SKIP_UI_BUILD=1 to embed whatever assets/dist holds (or nothing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

const INPUTS: &[&str] = &[
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_dir() {
        std::fs::read_dir(path)
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| newest(&e.path()))
            .max()
    } else {
        meta.modified().ok()
    }
}

fn npm(assets: &Path, args: &[&str]) -> bool {
    match Command::new("npm").args(args).current_dir(assets).status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            println!("cargo:warning=`npm {}` failed ({s})", args.join(" "));
            false
        }
        Err(e) => {
            println!(
                "cargo:warning=npm not found ({e}); the dashboard is not built into this binary"
            );
            false
        }
    }
}

fn main() {
    let assets = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("assets");
    for input in INPUTS {
        println!("cargo:rerun-if-changed=assets/{input}");
    }
    println!("cargo:rerun-if-env-changed=CORERECON_SKIP_UI_BUILD");
    let dist = assets.join("dist");
    let index = dist.join("index.html");
    let skip = std::env::var_os("CORERECON_SKIP_UI_BUILD").is_some_and(|v| v != "0");
    let built = newest(&index);
    let sources = INPUTS.iter().filter_map(|i| newest(&assets.join(i))).max();
    let stale = match (built, sources) {
        (Some(b), Some(s)) => s > b,
        (None, _) => true,
        (Some(_), None) => false,
    };
    if stale && !skip && assets.join("package.json").exists() {
        let lock = newest(&assets.join("package-lock.json"));
        let installed = newest(&assets.join("node_modules/.package-lock.json"));
        let need_install = match (lock, installed) {
            (Some(l), Some(i)) => l > i,
            _ => true,
        };
        if (!need_install || npm(&assets, &["ci", "--no-audit", "--no-fund"]))
            && npm(&assets, &["run", "build"])
        {
            println!("cargo:warning=dashboard built into assets/dist");
        }
    }
    // rust-embed needs the folder to exist even when the dashboard could not be built.
    let _ = std::fs::create_dir_all(&dist);
}
