use std::os::unix::fs::PermissionsExt as _;

use super::*;

/// A data dir with a key, a config, a nested file and a SQLite database in WAL mode.
fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::create_dir(dir.join("pki")).expect("mkdir");
    std::fs::write(dir.join("pki/ca.key"), b"secret key").expect("key");
    std::fs::write(dir.join("collector.toml"), b"name = \"x\"\n").expect("toml");
    let conn = rusqlite::Connection::open(dir.join("vigil.db")).expect("db");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1),(2),(3);",
    )
    .expect("schema");
    (tmp, dir)
}

fn archive(tmp: &Path, dir: &Path) -> PathBuf {
    let snap = tmp.join("snap.db");
    snapshot_sqlite(&dir.join("vigil.db"), &snap).expect("snapshot");
    let out = tmp.join("b.vigilbak");
    let files = vec![
        (
            "collector.toml".to_owned(),
            Source::Bytes(std::fs::read(dir.join("collector.toml")).expect("read")),
        ),
        (
            "pki/ca.key".to_owned(),
            Source::Bytes(std::fs::read(dir.join("pki/ca.key")).expect("read")),
        ),
        ("vigil.db".to_owned(), Source::File(snap)),
    ];
    write(&out, 1_700_000_000, Some("vigil.db"), &files).expect("write");
    out
}

#[test]
fn an_archive_restores_every_file_owner_only_with_its_database() {
    let (tmp, dir) = data_dir();
    let out = archive(tmp.path(), &dir);
    let target = tmp.path().join("restored");
    let m = restore(&out, &target).expect("restore");
    assert_eq!(m.files.len(), 3);
    assert_eq!(
        std::fs::read(target.join("pki/ca.key")).expect("key"),
        b"secret key"
    );
    for f in ["collector.toml", "pki/ca.key", "vigil.db"] {
        let mode = std::fs::metadata(target.join(f))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    for d in ["", "pki"] {
        let mode = std::fs::metadata(target.join(d))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{d:?}");
    }
    let conn = rusqlite::Connection::open(target.join("vigil.db")).expect("db");
    let n: i64 = conn
        .query_row("SELECT sum(x) FROM t", [], |r| r.get(0))
        .expect("rows");
    assert_eq!(n, 6);
}

#[test]
fn a_truncated_or_altered_archive_is_refused_whole() {
    let (tmp, dir) = data_dir();
    let out = archive(tmp.path(), &dir);
    let bytes = std::fs::read(&out).expect("read");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() - 100].to_vec()),
        ("cut in the header", bytes[..10].to_vec()),
        ("empty", Vec::new()),
        ("one bit flipped in a body", {
            let mut b = bytes.clone();
            let i = b.len() - 200;
            b[i] ^= 1;
            b
        }),
        ("trailer altered", {
            let mut b = bytes.clone();
            let i = b.len() - 1;
            b[i] ^= 0x80;
            b
        }),
        ("bytes appended", {
            let mut b = bytes.clone();
            b.extend_from_slice(b"more");
            b
        }),
    ];
    for (what, b) in cases {
        let bad = tmp.path().join("bad.vigilbak");
        std::fs::write(&bad, &b).expect("write");
        let target = tmp.path().join("t");
        let e = restore(&bad, &target).expect_err(what);
        assert!(matches!(e, BackupError::Damaged(_)), "{what}: {e}");
        assert!(
            e.to_string().contains("nothing was restored"),
            "{what}: {e}"
        );
        assert!(!target.exists(), "{what}: nothing written");
    }
}

#[test]
fn a_forged_archive_with_a_valid_checksum_cannot_escape_the_target() {
    let tmp = tempfile::tempdir().expect("tmp");
    for path in ["../escape", "/etc/passwd", "a/../../b", "", "a//b", "./a"] {
        let out = tmp.path().join("forged.vigilbak");
        let _ = std::fs::remove_file(&out);
        // Write the archive by hand: `write` refuses these paths itself.
        let manifest = Manifest {
            created_at: 0,
            collector_version: "0".into(),
            database: None,
            files: vec![FileEntry {
                path: path.into(),
                size: 1,
                sha256: hex::encode(Sha256::digest(b"x")),
            }],
        };
        let json = serde_json::to_vec(&manifest).expect("json");
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_be_bytes());
        b.extend_from_slice(&(json.len() as u64).to_be_bytes());
        b.extend_from_slice(&json);
        b.push(b'x');
        let digest = Sha256::digest(&b);
        b.extend_from_slice(&digest);
        std::fs::write(&out, &b).expect("write");
        let target = tmp.path().join("t");
        let e = restore(&out, &target).expect_err(path);
        assert!(e.to_string().contains("unsafe path"), "{path}: {e}");
        assert!(!target.exists());
        assert!(!tmp.path().join("escape").exists());
        assert!(write(&out, 0, None, &[(path.into(), Source::Bytes(vec![1]))]).is_err());
    }
}

#[test]
fn restore_refuses_a_non_empty_target_and_write_an_existing_file() {
    let (tmp, dir) = data_dir();
    let out = archive(tmp.path(), &dir);
    let e = restore(&out, &dir).expect_err("non-empty");
    assert!(e.to_string().contains("not empty"), "{e}");
    assert_eq!(
        std::fs::read(dir.join("pki/ca.key")).expect("untouched"),
        b"secret key"
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    restore(&out, &empty).expect("an empty directory is fine");
    let e = write(&out, 0, None, &[]).expect_err("exists");
    assert!(e.to_string().contains("exists"), "{e}");
}
