//! Compiles `style/main.scss` and embeds it with the files of `public/` into
//! the binary, each with a content hash for cache-busting URLs and ETags.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn content_type(name: &str) -> &'static str {
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("workspace root").to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed={}", root.join("style").display());
    println!("cargo:rerun-if-changed={}", root.join("public").display());
    // `embed_migrations!` reads this folder but cannot tell Cargo so.
    println!(
        "cargo:rerun-if-changed={}",
        root.join("migrations").display()
    );

    let options = grass::Options::default().style(grass::OutputStyle::Compressed);
    let css = grass::from_path(root.join("style/main.scss"), &options)
        .unwrap_or_else(|e| panic!("style/main.scss: {e}"));
    let css_path = out.join("main.css");
    std::fs::write(&css_path, css).expect("write main.css");

    let mut files: Vec<(String, PathBuf)> = vec![("main.css".to_owned(), css_path)];
    let mut public: Vec<_> = std::fs::read_dir(root.join("public"))
        .expect("public/")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    public.sort();
    files.extend(public);

    let mut code = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (name, path) in files {
        let bytes = std::fs::read(&path).expect("read asset");
        let digest = hex::encode(Sha256::digest(&bytes));
        let (stem, ext) = name.rsplit_once('.').unwrap_or((name.as_str(), ""));
        let hashed = format!("{stem}.{}.{ext}", &digest[..12]);
        writeln!(
            code,
            "    Asset {{ name: {name:?}, hashed_name: {hashed:?}, content_type: {ct:?}, etag: {etag:?}, bytes: include_bytes!({path:?}) }},",
            ct = content_type(&name),
            etag = format!("\"{}\"", &digest[..32]),
            path = path.display().to_string(),
        )
        .expect("write");
    }
    code.push_str("];\n");
    std::fs::write(out.join("assets.rs"), code).expect("write assets.rs");
}
