//! Builds the web app (TypeScript in `src/`, bundled by Vite) into this build's output and
//! writes `web_assets.rs`, the table of its files that `embed.rs` puts in the binary.
//!
//! `npm ci` runs when `web/node_modules` is missing or older than `web/package-lock.json`;
//! `npm run build` (type check, bundle, size budget) runs whenever the web app changed. With
//! `RATEGATE_WEB_DIST` set to a directory already built, both are skipped and its files are
//! embedded instead (for builders without Node.js).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    let web = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for input in [
        "src",
        "scripts",
        "index.html",
        "docs.html",
        "package.json",
        "package-lock.json",
        "tsconfig.json",
        "vite.config.ts",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=RATEGATE_WEB_DIST");

    let dist = match env::var_os("RATEGATE_WEB_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dist = out.join("web");
            build_web(&web, &dist);
            dist
        }
    };
    let table = embed_table(&dist);
    fs::write(out.join("web_assets.rs"), table).expect("write web_assets.rs in OUT_DIR");
}

/// Fails the build with one line saying what is missing.
fn fail(line: &str) -> ! {
    eprintln!("error: {line}");
    std::process::exit(1);
}

fn npm(web: &Path, args: &[&str], dist: &Path) {
    let status = Command::new("npm")
        .args(args)
        .current_dir(web)
        .env("RATEGATE_WEB_OUT", dist)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "`npm {}` in web/ failed ({s}); its output is above",
            args.join(" ")
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail(
            "the web app needs Node.js (20.19 or newer) and npm to build: install them \
             (https://nodejs.org), or set RATEGATE_WEB_DIST to a web app built elsewhere",
        ),
        Err(e) => fail(&format!("could not run npm: {e}")),
    }
}

fn build_web(web: &Path, dist: &Path) {
    let installed = web.join("node_modules/.package-lock.json");
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (
        modified(&installed),
        modified(&web.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    };
    if stale {
        npm(
            web,
            &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
            dist,
        );
    }
    npm(web, &["run", "--silent", "build"], dist);
}

/// `pub static WEB_ASSETS: &[(&str, &[u8])]`: every file of the built web app by its path
/// under the root (`index.html`, `assets/index-3f9a.js`, …).
fn embed_table(dist: &Path) -> String {
    let mut files = Vec::new();
    collect(dist, dist, &mut files);
    if !files.iter().any(|(name, _)| name == "index.html") {
        fail(&format!(
            "no index.html in the web app's build at {}",
            dist.display()
        ));
    }
    files.sort();
    let mut table = String::from("pub static WEB_ASSETS: &[(&str, &[u8])] = &[\n");
    for (name, path) in files {
        let _ = writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    table.push_str("];\n");
    table
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        fail(&format!(
            "cannot read the web app's build at {}",
            dir.display()
        ));
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let name = rel.to_string_lossy().replace('\\', "/");
            files.push((name, path));
        }
    }
}
