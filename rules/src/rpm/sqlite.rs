//! The SQLite package database of rpm 4.16 and later (RHEL 9+: `rpmdb.sqlite`).
//!
//! rpm keeps one header blob per row of `Packages (hnum INTEGER PRIMARY KEY, blob BLOB)` and runs
//! the database in WAL mode, so committed transactions may still sit in `rpmdb.sqlite-wal` until
//! a checkpoint. The reader takes both files as bytes (so an offline image is read through the
//! same seam as everything else), replays the committed frames of the WAL onto the main image as
//! SQLite's recovery would (frames whose salts match the WAL header and whose running checksum
//! holds, up to the last commit frame), and opens the result read-only in memory. SQLite checks the
//! image itself; nothing here trusts a length or page number it did not check.

use rusqlite::{Connection, OpenFlags};

/// Calls `each(hnum, blob)` for every row of the `Packages` table.
///
/// # Errors
/// A message when the bytes are not a SQLite database or have no readable `Packages` table.
pub(crate) fn visit(
    db: Vec<u8>,
    wal: Option<&[u8]>,
    mut each: impl FnMut(i64, &[u8]),
) -> Result<(), String> {
    let mut image = db;
    if image.len() < 100 || !image.starts_with(b"SQLite format 3\0") {
        return Err("not a SQLite database".into());
    }
    if let Some(wal) = wal {
        apply_wal(&mut image, wal);
    }
    // Bytes 18 and 19 say WAL mode; the in-memory copy has no WAL, so mark it a rollback database
    // (what a checkpointed copy would say).
    image[18] = 1;
    image[19] = 1;
    let mut conn = Connection::open_with_flags(
        ":memory:",
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("opening SQLite: {e}"))?;
    let len = image.len();
    conn.deserialize_read_exact(rusqlite::MAIN_DB, image.as_slice(), len, true)
        .map_err(|e| format!("loading the database: {e}"))?;
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages")
        .map_err(|e| format!("no Packages table: {e}"))?;
    let mut rows = stmt
        .query([])
        .map_err(|e| format!("reading Packages: {e}"))?;
    while let Some(row) = rows.next().map_err(|e| format!("reading Packages: {e}"))? {
        let hnum: i64 = row.get(0).map_err(|e| format!("Packages.hnum: {e}"))?;
        let blob = row
            .get_ref(1)
            .map_err(|e| format!("Packages.blob: {e}"))?
            .as_blob()
            .map_err(|e| format!("Packages.blob of row {hnum}: {e}"))?;
        each(hnum, blob);
    }
    Ok(())
}

/// Replays the committed frames of a WAL file onto the database image. A WAL that does not belong
/// to the image (other page size, bad header checksum) is ignored, as SQLite ignores it.
fn apply_wal(image: &mut Vec<u8>, wal: &[u8]) {
    let Some(page_size) = db_page_size(image) else {
        return;
    };
    let Some(header) = wal.get(..32) else { return };
    let magic = be32(header, 0);
    if magic & !1 != 0x377f_0682 || be32(header, 8) as usize != page_size {
        return;
    }
    let big_endian = magic & 1 == 1;
    let mut sum = checksum((0, 0), &header[..24], big_endian);
    if sum != (be32(header, 24), be32(header, 28)) {
        return;
    }
    let salts = (be32(header, 16), be32(header, 20));
    let mut pending: Vec<(usize, &[u8])> = Vec::new();
    let mut committed: Vec<(usize, &[u8])> = Vec::new();
    let mut db_pages = None;
    let frame = 24 + page_size;
    let mut at = 32;
    while let Some(f) = wal.get(at..at + frame) {
        if (be32(f, 8), be32(f, 12)) != salts {
            break;
        }
        sum = checksum(sum, &f[..8], big_endian);
        sum = checksum(sum, &f[24..], big_endian);
        if sum != (be32(f, 16), be32(f, 20)) {
            break;
        }
        let pgno = be32(f, 0) as usize;
        if pgno == 0 {
            break;
        }
        pending.push((pgno, &f[24..]));
        let size = be32(f, 4) as usize;
        if size != 0 {
            committed.append(&mut pending);
            db_pages = Some(size);
        }
        at += frame;
    }
    let Some(pages) = db_pages else { return };
    // The committed size bounds the image; a hostile size cannot make it grow past the frames.
    let max_page = committed.iter().map(|(p, _)| *p).max().unwrap_or(0);
    let pages = pages.min(max_page.max(image.len() / page_size));
    image.resize(pages * page_size, 0);
    for (pgno, data) in committed {
        if pgno <= pages {
            let off = (pgno - 1) * page_size;
            image[off..off + page_size].copy_from_slice(data);
        }
    }
}

fn db_page_size(image: &[u8]) -> Option<usize> {
    let raw = u16::from_be_bytes([*image.get(16)?, *image.get(17)?]);
    match raw {
        1 => Some(65536),
        n if n >= 512 && n.is_power_of_two() => Some(usize::from(n)),
        _ => None,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// SQLite's WAL checksum: over pairs of 32-bit words, `s0 += x0 + s1; s1 += x1 + s0`.
fn checksum(mut s: (u32, u32), data: &[u8], big_endian: bool) -> (u32, u32) {
    for w in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let a = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        };
        s.0 = s.0.wrapping_add(word(&w[..4]).wrapping_add(s.1));
        s.1 = s.1.wrapping_add(word(&w[4..]).wrapping_add(s.0));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(db: Vec<u8>, wal: Option<&[u8]>) -> Result<Vec<(i64, Vec<u8>)>, String> {
        let mut out = Vec::new();
        visit(db, wal, |h, b| out.push((h, b.to_vec())))?;
        Ok(out)
    }

    /// A WAL-mode database with `n` committed rows still in its WAL (no checkpoint), as the two
    /// files a crash or a running transaction leaves.
    fn wal_db(dir: &std::path::Path, n: i64) -> (Vec<u8>, Vec<u8>) {
        let p = dir.join("rpmdb.sqlite");
        let c = Connection::open(&p).expect("open");
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
             CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
        )
        .expect("schema");
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .expect("checkpoint the schema");
        for i in 0..n {
            c.execute(
                "INSERT INTO Packages (blob) VALUES (?1)",
                [vec![i as u8; 5000]],
            )
            .expect("insert");
        }
        // An uncommitted transaction's frames must not be replayed.
        c.execute_batch("BEGIN; INSERT INTO Packages (blob) VALUES (x'00');")
            .expect("open transaction");
        let db = std::fs::read(&p).expect("db");
        let wal = std::fs::read(dir.join("rpmdb.sqlite-wal")).expect("wal");
        (db, wal)
    }

    #[test]
    fn committed_wal_frames_are_read_and_others_ignored() {
        let d = tempfile::tempdir().expect("tempdir");
        let (db, wal) = wal_db(d.path(), 3);
        assert!(wal.len() > 32, "the rows are in the WAL");
        assert!(rows(db.clone(), None).expect("main file alone").is_empty());
        let got = rows(db.clone(), Some(&wal)).expect("with the WAL");
        assert_eq!(got.len(), 3, "the open transaction's row is not committed");
        assert_eq!(got[2], (3, vec![2u8; 5000]));
        // A damaged frame ends the replay at the last commit before it.
        let mut bad = wal.clone();
        let frame = 24 + 4096;
        bad[32 + frame + 100] ^= 0xff;
        assert!(rows(db.clone(), Some(&bad)).expect("damaged WAL").len() < 3);
        assert!(
            rows(db, Some(&wal[..40]))
                .expect("truncated WAL")
                .is_empty()
        );
    }

    #[test]
    fn not_a_database_is_an_error() {
        assert!(rows(b"hello".to_vec(), None).is_err());
        let mut junk = b"SQLite format 3\0".to_vec();
        junk.resize(4096, 0xab);
        assert!(rows(junk, None).is_err());
    }

    /// One WAL database for all proptest cases (building it is the slow part).
    fn sample() -> &'static (Vec<u8>, Vec<u8>) {
        static SAMPLE: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
        SAMPLE.get_or_init(|| {
            let d = tempfile::tempdir().expect("tempdir");
            wal_db(d.path(), 2)
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn mutated_databases_never_panic(i in 0usize..20000, v in proptest::num::u8::ANY, in_wal in proptest::bool::ANY) {
            let (mut db, mut wal) = sample().clone();
            if in_wal {
                let n = wal.len();
                wal[i % n] = v;
            } else {
                let n = db.len();
                db[i % n] = v;
            }
            let _ = rows(db, Some(&wal));
        }
    }
}
