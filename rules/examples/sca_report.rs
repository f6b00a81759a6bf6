//! Temporary: prints every untranslated check of the policies under a directory.
use vigil_rules::sca::{ImportOptions, import_sca};
fn main() {
    let root = std::env::args().nth(1).expect("dir");
    let mut files = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("e").path();
            if p.is_dir() {
                stack.push(p)
            } else if p.extension().is_some_and(|x| x == "yml") {
                files.push(p)
            }
        }
    }
    files.sort();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let imp =
            import_sca(&text, &f.display().to_string(), &ImportOptions::default()).expect("imp");
        println!(
            "== {} native {}/{} = {:.1}% (translated {})",
            f.display(),
            imp.native,
            imp.checks,
            100.0 * imp.native as f64 / imp.checks as f64,
            imp.translated
        );
        for u in &imp.untranslated {
            println!("   {u}");
        }
    }
}
