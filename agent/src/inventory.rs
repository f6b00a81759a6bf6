//! Host inventory from sysinfo: OS, kernel, CPUs, memory, disks, uptime.

use sysinfo::{Disks, System};
use vigil_proto::{DiskInfo, Inventory};

/// Collects the inventory of the running host.
///
/// Best effort: a part the OS will not tell (sysinfo error) is left empty rather than failing the
/// whole inventory.
pub fn collect() -> Inventory {
    let sys = System::new().ok().map(|mut s| {
        s.refresh_memory();
        s.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
        s
    });
    let disks = Disks::new_with_refreshed_list().ok();
    let mut disk_list: Vec<DiskInfo> = disks
        .iter()
        .flatten()
        .map(|d| DiskInfo {
            mount: d.mount_point().to_string_lossy().into_owned(),
            fs: d.file_system().to_string_lossy().into_owned(),
            total: d.total_space(),
            available: d.available_space(),
        })
        .collect();
    disk_list.sort_by(|a, b| a.mount.cmp(&b.mount));
    let mut inv = Inventory {
        hostname: System::host_name().unwrap_or_default(),
        os: System::name().unwrap_or_default(),
        os_version: System::os_version().unwrap_or_default(),
        kernel: System::kernel_version().unwrap_or_default(),
        arch: System::cpu_arch(),
        cpus: sys
            .as_ref()
            .map_or(0, |s| u32::try_from(s.cpus().len()).unwrap_or(u32::MAX)),
        cpu_brand: sys
            .as_ref()
            .and_then(|s| s.cpus().first())
            .map(|c| c.brand().trim().to_string())
            .unwrap_or_default(),
        memory_bytes: sys.as_ref().map_or(0, System::total_memory),
        disks: disk_list,
        uptime_s: System::uptime().unwrap_or(0),
        packages: Vec::new(),
        packages_hash: None,
    };
    // Installed packages (Debian family); absent elsewhere.
    if let Ok(pkgs) = crate::packages::read_dpkg(std::path::Path::new("/")) {
        inv.packages_hash = Some(crate::packages::packages_hash(&pkgs));
        inv.packages = pkgs;
    }
    inv
}

/// A fingerprint of the parts of an inventory that matter for change detection (not uptime or
/// free space, which change all the time).
pub fn fingerprint(inv: &Inventory) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for s in [
        &inv.hostname,
        &inv.os,
        &inv.os_version,
        &inv.kernel,
        &inv.arch,
        &inv.cpu_brand,
    ] {
        h.update(s.as_bytes());
        h.update([0]);
    }
    h.update(inv.cpus.to_le_bytes());
    h.update(inv.memory_bytes.to_le_bytes());
    for d in &inv.disks {
        h.update(d.mount.as_bytes());
        h.update(d.total.to_le_bytes());
    }
    if let Some(p) = &inv.packages_hash {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_this_host() {
        let inv = collect();
        assert!(inv.cpus >= 1);
        assert!(inv.memory_bytes > 0);
        assert!(!inv.kernel.is_empty());
        let mut other = inv.clone();
        other.uptime_s += 100;
        assert_eq!(
            fingerprint(&inv),
            fingerprint(&other),
            "uptime is not a change"
        );
        if std::path::Path::new("/var/lib/dpkg/status").exists() {
            assert!(
                !inv.packages.is_empty(),
                "dpkg packages are part of the inventory"
            );
            assert!(inv.packages_hash.is_some());
        }
        other.kernel.push('x');
        assert_ne!(fingerprint(&inv), fingerprint(&other));
    }
}
