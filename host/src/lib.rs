//! One home for what several Vigil crates read from a host or write to their own disk.
//!
//! The agent, the rule evaluator and the collector each used to carry a copy of these, and the
//! copies drifted (two dpkg parsers disagreed on what "installed" means). Everything here is
//! either a pure parser over text the caller has already read (so the rules crate can keep reading
//! through its `HostFacts` seam and `--root` works on an offline image), or a small file helper
//! with one documented behaviour on Unix and on Windows.
//!
//! - [`dpkg`]: the dpkg status database and the one meaning of "installed".
//! - [`procnet`]: `/proc/net/{tcp,udp}[6]` socket tables.
//! - [`fs`]: atomic, durable file replacement with a mode.
//! - [`perm`]: who may write a file, from its mode.
//! - [`glob`]: shell-style file-name patterns (`*`, `?`, `[...]`).

pub mod dpkg;
pub mod fs;
pub mod glob;
pub mod perm;
pub mod procnet;
