//! Helpers shared by the fuzz targets: an in-memory host for the rule evaluator.

use std::collections::BTreeMap;
use std::io;
use std::time::{Duration, SystemTime};

use vigil_proto::FileType;
use vigil_rules::{CommandOutput, FileStat, HostFacts};

/// A host made of a few files held in memory; every directory above a file exists. Commands
/// "print" the file `!command` (or fail when it is absent). Nothing touches the real system.
#[derive(Debug, Default)]
pub struct MemFacts {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemFacts {
    /// A host with these files (absolute paths).
    pub fn new(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> MemFacts {
        MemFacts {
            files: files.into_iter().collect(),
        }
    }

    fn is_dir(&self, path: &str) -> bool {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        path == "/" || self.files.keys().any(|k| k.starts_with(&prefix))
    }

    fn stat_of(&self, path: &str) -> io::Result<FileStat> {
        let (file_type, size) = match self.files.get(path) {
            Some(b) => (FileType::File, b.len() as u64),
            None if self.is_dir(path) => (FileType::Dir, 4096),
            None => return Err(io::ErrorKind::NotFound.into()),
        };
        Ok(FileStat {
            file_type,
            mode: if file_type == FileType::Dir {
                0o755
            } else {
                0o640
            },
            uid: 0,
            gid: 0,
            size,
            mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        })
    }
}

impl HostFacts for MemFacts {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000)
    }

    fn is_live(&self) -> bool {
        false
    }

    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::ErrorKind::NotFound.into())
    }

    fn stat(&self, path: &str) -> io::Result<FileStat> {
        self.stat_of(path)
    }

    fn lstat(&self, path: &str) -> io::Result<FileStat> {
        self.stat_of(path)
    }

    fn read_link(&self, _path: &str) -> io::Result<String> {
        Err(io::ErrorKind::InvalidInput.into())
    }

    fn list_dir(&self, path: &str) -> io::Result<Vec<String>> {
        if !self.is_dir(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        names.dedup();
        Ok(names)
    }

    fn run(&self, argv: &[String], _: Duration, max: usize) -> Result<CommandOutput, String> {
        let out = self
            .files
            .get("!command")
            .ok_or_else(|| format!("{}: no output", argv.join(" ")))?;
        let kept = &out[..out.len().min(max)];
        Ok(CommandOutput {
            status: Some(0),
            stdout: String::from_utf8_lossy(kept).into_owned(),
            truncated: kept.len() < out.len(),
        })
    }
}

/// The parts of `data` between NUL bytes (text files never hold NUL), at most `n`.
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == 0).collect()
}
