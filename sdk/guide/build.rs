//! Writes `snippets.rs`: one module per Rust block of `sdk/README.md`, each
//! block in its context (see `src/lib.rs`). A block without a context, or
//! naming one that does not exist, fails the build with its line number.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme_path = root.join("../README.md");
    println!("cargo::rerun-if-changed={}", readme_path.display());
    println!(
        "cargo::rerun-if-changed={}",
        root.join("contexts").display()
    );
    let readme = std::fs::read_to_string(&readme_path).expect("sdk/README.md");
    let mut out = String::new();
    let mut lines = readme.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```rust") else {
            continue;
        };
        let line_number = number + 1;
        let block: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let words: Vec<&str> = info.split_whitespace().collect();
        if words.iter().any(|w| w.starts_with("file=")) {
            continue;
        }
        let Some(context) = words.iter().find_map(|w| w.strip_prefix("context=")) else {
            panic!(
                "sdk/README.md:{line_number}: a ```rust block without `context=NAME` (a file in \
                 sdk/guide/contexts/): every snippet of the guide is compiled"
            );
        };
        let path = root.join("contexts").join(format!("{context}.rs"));
        let template = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "sdk/README.md:{line_number}: context `{context}` ({}): {e}",
                path.display()
            )
        });
        assert!(
            template.contains("// snippet\n"),
            "{}: no `// snippet` line to put the block in",
            path.display()
        );
        // A test of the guide is compiled, not run: it would build a component.
        let snippet = block.join("\n").replace("#[test]", "#[allow(dead_code)]");
        writeln!(
            out,
            "/// sdk/README.md, line {line_number} (context `{context}`).\n\
             #[allow(dead_code, unused_imports, unused_variables, clippy::all)]\n\
             mod readme_line_{line_number} {{\n{}\n}}",
            template.replace("// snippet\n", &format!("{snippet}\n"))
        )
        .unwrap();
    }
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(Path::new(&out_dir).join("snippets.rs"), out).expect("snippets.rs");
}
