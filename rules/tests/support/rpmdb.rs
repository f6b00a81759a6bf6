//! rpm databases for fixture roots, built with Debian's `rpm` tools.
//!
//! Stand-in packages (empty payloads, real headers) are built with `rpmbuild` and installed into a
//! root with `rpm --root ROOT --justdb`, which writes the SQLite `rpmdb.sqlite` of RHEL 9 and
//! later exactly as rpm does. Debian's rpm cannot write the Berkeley DB format of RHEL 8 and
//! older (its `bdb_ro` backend only reads), so [`write_bdb`] lays the same header blobs out as a
//! Berkeley DB hash file itself; [`rpm_lists`] then has rpm's own `bdb_ro` reader list it, so the
//! writer is checked against rpm rather than against our reader.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A package to stand in for a real one: only its identity matters.
#[derive(Debug, Clone)]
pub struct StandIn {
    pub name: &'static str,
    pub epoch: Option<u32>,
    pub version: &'static str,
    pub release: &'static str,
    pub arch: &'static str,
}

impl StandIn {
    pub const fn new(name: &'static str, version: &'static str, release: &'static str) -> Self {
        StandIn {
            name,
            epoch: None,
            version,
            release,
            arch: "x86_64",
        }
    }

    /// `name-version-release.arch`, as `rpm -qa` prints it.
    pub fn nvra(&self) -> String {
        format!(
            "{}-{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }
}

/// Whether `rpm` and `rpmbuild` can be used. Under `CI=true` they are required (scripts/setup.sh
/// installs them); elsewhere a test without them says it was skipped.
pub fn rpm_tools(test: &str) -> bool {
    let ok = ["rpm", "rpmbuild"].iter().all(|t| {
        Command::new(t)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: rpm and rpmbuild are required in CI (scripts/setup.sh installs Debian's rpm)"
        );
        let msg = format!("{test}: skipped (install Debian's rpm package to run it)\n");
        let shown = std::fs::OpenOptions::new()
            .append(true)
            .open("/dev/stderr")
            .and_then(|mut f| std::io::Write::write_all(&mut f, msg.as_bytes()));
        if shown.is_err() {
            eprint!("{msg}");
        }
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds one `.rpm` per stand-in under `work` and returns their paths.
pub fn build(work: &Path, pkgs: &[StandIn]) -> Vec<PathBuf> {
    let top = work.join("rpmbuild");
    std::fs::create_dir_all(&top).expect("mkdir");
    pkgs.iter()
        .map(|p| {
            let spec = top.join(format!("{}.spec", p.name));
            let epoch = p.epoch.map(|e| format!("Epoch: {e}\n")).unwrap_or_default();
            let arch = if p.arch == "noarch" {
                "BuildArch: noarch\n"
            } else {
                ""
            };
            std::fs::write(
                &spec,
                format!(
                    "Name: {}\n{epoch}Version: {}\nRelease: {}\nSummary: Vigil test stand-in\n\
                     License: Apache-2.0\n{arch}%description\nStand-in for a test fixture.\n\
                     %files\n",
                    p.name, p.version, p.release
                ),
            )
            .expect("spec");
            run(Command::new("rpmbuild")
                .arg("--quiet")
                .arg("--define")
                .arg(format!("_topdir {}", top.display()))
                .args([
                    "--define",
                    "_build_id_links none",
                    "--target",
                    "x86_64",
                    "-bb",
                ])
                .arg(&spec));
            let dir = top.join("RPMS").join(p.arch);
            let file = dir.join(format!("{}.rpm", p.nvra()));
            assert!(file.is_file(), "rpmbuild did not write {}", file.display());
            file
        })
        .collect()
}

/// Installs `rpms` into `root`'s database (`/var/lib/rpm`) without their payloads or scripts.
pub fn install(root: &Path, rpms: &[PathBuf]) {
    std::fs::create_dir_all(root.join("var/lib/rpm")).expect("mkdir");
    run(Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args([
            "--dbpath",
            "/var/lib/rpm",
            "-i",
            "--nodeps",
            "--justdb",
            "--noscripts",
            "--notriggers",
            "--ignorearch",
            "--ignoreos",
        ])
        .args(rpms));
}

/// What rpm itself lists in `root`'s database, sorted; `bdb` reads it with rpm's Berkeley DB
/// reader.
pub fn rpm_lists(root: &Path, bdb: bool) -> Vec<String> {
    let mut cmd = Command::new("rpm");
    cmd.arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm"]);
    if bdb {
        cmd.args(["--define", "_db_backend bdb_ro"]);
    }
    let out = run(cmd.args(["-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"]));
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// The header blobs of an rpm SQLite database, by instance number.
pub fn blobs(sqlite: &Path) -> Vec<(u32, Vec<u8>)> {
    let c =
        rusqlite::Connection::open_with_flags(sqlite, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open rpmdb.sqlite");
    let mut st = c
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .expect("prepare");
    st.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Replaces `root`'s SQLite database by a Berkeley DB `Packages` file with the same headers, as
/// RHEL 8 keeps it.
pub fn convert_to_bdb(root: &Path, layout: BdbLayout) {
    let dir = root.join("var/lib/rpm");
    let records = blobs(&dir.join("rpmdb.sqlite"));
    for f in ["rpmdb.sqlite", "rpmdb.sqlite-shm", "rpmdb.sqlite-wal"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    std::fs::write(dir.join("Packages"), write_bdb(&records, layout)).expect("write Packages");
}

/// Shape of a written Berkeley DB file.
#[derive(Debug, Clone, Copy)]
pub struct BdbLayout {
    pub page_size: usize,
    /// Number of hash buckets (a power of two).
    pub buckets: u32,
    /// Big-endian pages, as a database written on s390x or ppc64.
    pub big_endian: bool,
}

impl Default for BdbLayout {
    fn default() -> Self {
        BdbLayout {
            page_size: 4096,
            buckets: 4,
            big_endian: false,
        }
    }
}

const PAGE_HEADER: usize = 26;

/// Lays `(instance, header blob)` records out as a Berkeley DB hash database (version 9), the
/// format of rpm's `Packages` before rpm 4.16: a meta page, one page chain per bucket (records
/// placed by Berkeley DB's default hash of the key, so lookups work) and each blob in a chain of
/// overflow pages. Also writes record 0 (rpm's next-instance counter).
pub fn write_bdb(records: &[(u32, Vec<u8>)], layout: BdbLayout) -> Vec<u8> {
    let BdbLayout {
        page_size: ps,
        buckets,
        big_endian,
    } = layout;
    assert!(buckets.is_power_of_two());
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let key = |k: u32| u32b(k).to_vec();
    let next = records.iter().map(|r| r.0).max().unwrap_or(0) + 1;
    let mut all: Vec<(Vec<u8>, Vec<u8>)> = vec![(key(0), u32b(next).to_vec())];
    all.extend(records.iter().map(|(k, v)| (key(*k), v.clone())));
    // Buckets take pages 1..=buckets; overflow and chained pages follow.
    let mut pages: Vec<Vec<u8>> = vec![vec![0u8; ps]; buckets as usize + 1];
    let mut per_bucket: Vec<Vec<(Vec<u8>, Vec<u8>)>> = vec![Vec::new(); buckets as usize];
    for (k, v) in all {
        let h = k
            .iter()
            .fold(0u32, |h, b| h.wrapping_mul(16_777_619) ^ u32::from(*b));
        per_bucket[(h & (buckets - 1)) as usize].push((k, v));
    }
    for (b, items) in per_bucket.into_iter().enumerate() {
        let mut pg = b + 1;
        let mut used = 0usize; // bytes of items from the end of the page
        let mut n = 0usize;
        let init = |page: &mut Vec<u8>, pgno: usize| {
            page[8..12].copy_from_slice(&u32b(pgno as u32));
            page[25] = 13; // P_HASH
        };
        init(&mut pages[pg], pg);
        for (k, v) in items {
            // The key is stored on the page; the value off-page unless it is tiny.
            let kitem = [&[1u8][..], &k].concat();
            let vitem = if v.len() < 16 {
                [&[1u8][..], &v].concat()
            } else {
                let first = pages.len();
                let chunk = ps - PAGE_HEADER;
                let chunks: Vec<&[u8]> = v.chunks(chunk).collect();
                for (i, c) in chunks.iter().enumerate() {
                    let mut p = vec![0u8; ps];
                    let pgno = first + i;
                    p[8..12].copy_from_slice(&u32b(pgno as u32));
                    let nxt = if i + 1 < chunks.len() {
                        pgno as u32 + 1
                    } else {
                        0
                    };
                    p[16..20].copy_from_slice(&u32b(nxt));
                    p[22..24].copy_from_slice(&u16b(c.len() as u16));
                    p[25] = 7; // P_OVERFLOW
                    p[PAGE_HEADER..PAGE_HEADER + c.len()].copy_from_slice(c);
                    pages.push(p);
                }
                let mut it = vec![3u8, 0, 0, 0];
                it.extend(u32b(first as u32));
                it.extend(u32b(v.len() as u32));
                it
            };
            let need = kitem.len() + vitem.len();
            if PAGE_HEADER + 2 * (n + 2) + used + need > ps {
                // Chain a new page to this bucket.
                let new = pages.len();
                pages.push(vec![0u8; ps]);
                init(&mut pages[new], new);
                let link = u32b(new as u32);
                pages[pg][16..20].copy_from_slice(&link);
                pages[new][12..16].copy_from_slice(&u32b(pg as u32));
                pg = new;
                used = 0;
                n = 0;
            }
            for item in [kitem, vitem] {
                used += item.len();
                let off = ps - used;
                pages[pg][off..off + item.len()].copy_from_slice(&item);
                pages[pg][PAGE_HEADER + 2 * n..PAGE_HEADER + 2 * n + 2]
                    .copy_from_slice(&u16b(off as u16));
                n += 1;
            }
            pages[pg][20..22].copy_from_slice(&u16b(n as u16));
            pages[pg][22..24].copy_from_slice(&u16b((ps - used) as u16));
        }
    }
    // Meta page.
    let last = pages.len() as u32 - 1;
    let meta = &mut pages[0];
    meta[12..16].copy_from_slice(&u32b(0x0006_1561));
    meta[16..20].copy_from_slice(&u32b(9));
    meta[20..24].copy_from_slice(&u32b(ps as u32));
    meta[25] = 8; // P_HASHMETA
    meta[32..36].copy_from_slice(&u32b(last));
    meta[72..76].copy_from_slice(&u32b(buckets - 1)); // max_bucket
    meta[76..80].copy_from_slice(&u32b(buckets - 1)); // high_mask
    meta[80..84].copy_from_slice(&u32b((buckets / 2).saturating_sub(1))); // low_mask
    meta[84..88].copy_from_slice(&u32b(40)); // ffactor
    meta[88..92].copy_from_slice(&u32b(records.len() as u32 + 1)); // nelem
    // Bucket b is on page b + spares[bits(b)] = b + 1.
    let bits = 32 - (buckets - 1).leading_zeros() as usize;
    for i in 0..=bits {
        meta[96 + 4 * i..100 + 4 * i].copy_from_slice(&u32b(1));
    }
    pages.concat()
}
