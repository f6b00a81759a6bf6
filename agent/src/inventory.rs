//! Host inventory from sysinfo: OS, kernel, CPUs, memory, disks, network interfaces, uptime;
//! installed packages (dpkg); and on Windows what `platform` adds (edition, build, updates,
//! programs, accounts, Administrators, domain or workgroup).

use sysinfo::{Disks, Networks, System};
use vigil_proto::{DiskInfo, Inventory, NetInterface};

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
        interfaces: interfaces(),
        ..Inventory::default()
    };
    // Installed packages: dpkg (Debian family), else rpm (RHEL family); absent elsewhere.
    let mut pkgs = crate::packages::read_dpkg(std::path::Path::new("/")).unwrap_or_default();
    if pkgs.is_empty() {
        pkgs = rpm_packages();
    }
    if !pkgs.is_empty() {
        inv.packages_hash = Some(crate::packages::packages_hash(&pkgs));
        inv.packages = pkgs;
    }
    crate::platform::add_host_details(&mut inv);
    inv
}

/// The rpm database's packages as `name` and `[epoch:]version-release`, sorted; none when the
/// host has no rpm database or it cannot be read (the checks report that).
fn rpm_packages() -> Vec<vigil_proto::Package> {
    let facts = vigil_rules::facts::RootFacts::new("/", std::time::SystemTime::now());
    let Ok(Some(db)) = vigil_rules::rpm::read(&facts) else {
        return Vec::new();
    };
    let mut out: Vec<vigil_proto::Package> = db
        .packages
        .iter()
        .filter(|p| p.name != "gpg-pubkey")
        .map(|p| vigil_proto::Package {
            name: p.name.clone(),
            version: p.evr(),
            source: None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// How the host's OS is named at enrollment and in `hosts`: `Debian GNU/Linux 12`,
/// `Windows 11 Pro 23H2 (build 22631.4317)`.
pub fn os_line(inv: &Inventory) -> String {
    let mut s = format!("{} {}", inv.os, inv.os_version).trim().to_string();
    if !inv.build.is_empty() {
        s.push_str(&format!(" (build {})", inv.build));
    }
    s
}

/// Network interfaces with their MAC and addresses, sorted by name (loopback left out).
fn interfaces() -> Vec<NetInterface> {
    let Ok(nets) = Networks::new_with_refreshed_list() else {
        return Vec::new();
    };
    let mut out: Vec<NetInterface> = nets
        .iter()
        .filter(|(_, n)| {
            let ips = n.ip_networks();
            ips.is_empty() || !ips.iter().all(|ip| ip.addr.is_loopback())
        })
        .map(|(name, n)| {
            let mac = n.mac_address().to_string();
            let mut addrs: Vec<String> = n
                .ip_networks()
                .iter()
                .map(|ip| format!("{}/{}", ip.addr, ip.prefix))
                .collect();
            addrs.sort();
            NetInterface {
                name: name.to_string_lossy().into_owned(),
                mac: if mac == "00:00:00:00:00:00" {
                    String::new()
                } else {
                    mac
                },
                addrs,
            }
        })
        .collect();
    out.sort();
    out
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
    for s in [&inv.edition, &inv.build] {
        h.update(s.as_bytes());
        h.update([0]);
    }
    for s in inv.hotfixes.iter().chain(&inv.admins) {
        h.update(s.as_bytes());
        h.update([0]);
    }
    for u in &inv.users {
        h.update(u.name.as_bytes());
        h.update([u8::from(u.disabled)]);
    }
    for i in &inv.interfaces {
        h.update(i.name.as_bytes());
        h.update(i.mac.as_bytes());
        for a in &i.addrs {
            h.update(a.as_bytes());
        }
        h.update([0]);
    }
    if let Some(m) = &inv.membership {
        h.update(m.kind.as_bytes());
        h.update(m.name.as_bytes());
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
        if cfg!(unix) && std::path::Path::new("/var/lib/dpkg/status").exists() {
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
