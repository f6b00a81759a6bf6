//! Facts rules ask about, derived from the primitives of [`WindowsFacts`].
//!
//! Each derivation applies Windows' precedence: a Group Policy value (`SOFTWARE\Policies\...`)
//! wins over the local setting, which wins over the built-in default; a disabled service turns
//! its feature off whatever the settings say. Where the running system can answer through the
//! feature's own interface (Defender's status, the firewall's profiles, Security Center), that
//! answer is used first and the registry is the fallback. Every fact comes with evidence naming
//! the value that decided it.

use std::time::SystemTime;

use serde::Deserialize;

use super::{Data, Profile, RegPath, RegRoot, RegView, WindowsFacts, find};

/// A fact and how it was established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The value comparisons see: `true`/`false`, a number, or a word (`block`, `archive`).
    pub value: String,
    /// What decided it.
    pub evidence: String,
}

fn seen(value: impl ToString, evidence: impl Into<String>) -> Observed {
    Observed {
        value: value.to_string(),
        evidence: evidence.into(),
    }
}

/// Derived facts a `windows` check can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WinFact {
    /// A firewall profile is on (`profile` required): `true`/`false`.
    FirewallEnabled,
    /// Default action for unsolicited inbound traffic of a profile: `block`/`allow`.
    FirewallInbound,
    /// Microsoft Defender real-time protection is on.
    DefenderRealtime,
    /// Age in days of Defender's antivirus signatures.
    DefenderSignatureAge,
    /// Defender tamper protection is on.
    TamperProtection,
    /// Real-time anti-malware protects the host: Defender, or a product registered with
    /// Security Center that is on and up to date.
    AntivirusActive,
    /// BitLocker protects the system volume (live only).
    Bitlocker,
    /// Days since the last update package was installed.
    LastUpdateDays,
    /// A reboot is pending to finish installing updates.
    RebootPending,
    /// The SMBv1 server is installed and enabled.
    Smb1Server,
    /// The SMBv1 client driver is installed and enabled.
    Smb1Client,
    /// Remote Desktop connections are allowed.
    RdpEnabled,
    /// Remote Desktop requires Network Level Authentication.
    RdpNla,
    /// Windows LAPS (or legacy LAPS) manages the local administrator password.
    Laps,
    /// Maximum size in KiB of an event log (`log` required).
    EventlogMaxKb,
    /// What an event log does when full (`log` required): `overwrite`, `archive` or `stop`.
    EventlogRetention,
    /// Events are forwarded to a collector (Windows Event Forwarding subscription manager).
    EventForwarding,
    /// The Windows Time service synchronises the clock from a time source.
    TimeSync,
    /// A time source is configured (NTP servers, or the domain hierarchy).
    TimeSource,
    /// The machine is joined to a domain.
    DomainMember,
}

impl WinFact {
    /// Whether the fact needs `profile`.
    pub fn needs_profile(self) -> bool {
        matches!(self, Self::FirewallEnabled | Self::FirewallInbound)
    }

    /// Whether the fact needs `log`.
    pub fn needs_log(self) -> bool {
        matches!(self, Self::EventlogMaxKb | Self::EventlogRetention)
    }
}

/// An event log whose settings rules check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventLog {
    /// Application.
    Application,
    /// Security.
    Security,
    /// System.
    System,
    /// Setup.
    Setup,
}

impl EventLog {
    fn key(self) -> &'static str {
        match self {
            Self::Application => "Application",
            Self::Security => "Security",
            Self::System => "System",
            Self::Setup => "Setup",
        }
    }
}

/// Arguments of a derived fact.
#[derive(Debug, Clone, Copy, Default)]
pub struct Args {
    /// Firewall profile.
    pub profile: Option<Profile>,
    /// Event log.
    pub log: Option<EventLog>,
}

fn hklm(path: &str) -> RegPath {
    RegPath {
        root: RegRoot::LocalMachine,
        path: path.to_string(),
    }
}

fn value<W: WindowsFacts + ?Sized>(w: &W, key: &str, name: &str) -> Result<Option<Data>, String> {
    let vals = w.reg_values(&hklm(key), RegView::Native)?;
    Ok(vals.and_then(|v| find(&v, name).map(|x| x.data.clone())))
}

fn number<W: WindowsFacts + ?Sized>(w: &W, key: &str, name: &str) -> Result<Option<u64>, String> {
    Ok(match value(w, key, name)? {
        Some(Data::Text(t)) => t.trim().parse().ok(),
        Some(d) => d.number(),
        None => None,
    })
}

fn key_exists<W: WindowsFacts + ?Sized>(w: &W, key: &str) -> Result<bool, String> {
    Ok(w.reg_values(&hklm(key), RegView::Native)?.is_some())
}

/// `Start` of a service: 0 boot, 1 system, 2 automatic, 3 manual, 4 disabled; `None` when the
/// service is not installed.
fn start<W: WindowsFacts + ?Sized>(w: &W, service: &str) -> Result<Option<u64>, String> {
    number(
        w,
        &format!(r"SYSTEM\CurrentControlSet\Services\{service}"),
        "Start",
    )
}

/// The first of (policy key, local key) that sets `name`, with where it came from.
fn layered<W: WindowsFacts + ?Sized>(
    w: &W,
    layers: &[(&str, &str)],
    name: &str,
) -> Result<Option<(u64, String)>, String> {
    for (key, label) in layers {
        if let Some(n) = number(w, key, name)? {
            return Ok(Some((n, format!("{name}={n} {label} (HKLM\\{key})"))));
        }
    }
    Ok(None)
}

/// Establishes `fact` at time `now`.
///
/// # Errors
/// The reason the fact is unknown.
pub fn observe<W: WindowsFacts + ?Sized>(
    w: &W,
    fact: WinFact,
    args: Args,
    now: SystemTime,
) -> Result<Observed, String> {
    match fact {
        WinFact::FirewallEnabled | WinFact::FirewallInbound => {
            let p = args.profile.ok_or("a firewall fact needs `profile`")?;
            firewall(w, p, fact == WinFact::FirewallEnabled)
        }
        WinFact::DefenderRealtime => defender_realtime(w),
        WinFact::DefenderSignatureAge => signature_age(w, now),
        WinFact::TamperProtection => tamper(w),
        WinFact::AntivirusActive => antivirus(w),
        WinFact::Bitlocker => w
            .bitlocker_system_volume()
            .map(|on| seen(on, format!("BitLocker on the system volume: {on}"))),
        WinFact::LastUpdateDays => last_update(w, now),
        WinFact::RebootPending => reboot_pending(w),
        WinFact::Smb1Server => smb1(w, "srv", true),
        WinFact::Smb1Client => smb1(w, "mrxsmb10", false),
        WinFact::RdpEnabled => rdp_enabled(w),
        WinFact::RdpNla => rdp_nla(w),
        WinFact::Laps => laps(w),
        WinFact::EventlogMaxKb => eventlog_size(w, args.log.ok_or("needs `log`")?),
        WinFact::EventlogRetention => eventlog_retention(w, args.log.ok_or("needs `log`")?),
        WinFact::EventForwarding => forwarding(w),
        WinFact::TimeSync => time_sync(w),
        WinFact::TimeSource => time_source(w),
        WinFact::DomainMember => w.domain_member().map(|m| {
            seen(
                m,
                if m {
                    "joined to a domain"
                } else {
                    "not joined to a domain"
                },
            )
        }),
    }
}

fn firewall<W: WindowsFacts + ?Sized>(
    w: &W,
    p: Profile,
    enabled: bool,
) -> Result<Observed, String> {
    let pname = p.as_str();
    if w.is_live()
        && let Ok(s) = w.firewall_status(p)
    {
        return Ok(if enabled {
            seen(
                s.enabled,
                format!("{pname} profile on: {} (firewall API)", s.enabled),
            )
        } else {
            let a = if s.inbound_blocked { "block" } else { "allow" };
            seen(
                a,
                format!("{pname} profile inbound default: {a} (firewall API)"),
            )
        });
    }
    let (pol, local) = match p {
        Profile::Domain => ("DomainProfile", "DomainProfile"),
        Profile::Private => ("PrivateProfile", "StandardProfile"),
        Profile::Public => ("PublicProfile", "PublicProfile"),
    };
    let pol = format!(r"SOFTWARE\Policies\Microsoft\WindowsFirewall\{pol}");
    let local = format!(
        r"SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\{local}"
    );
    let layers = [(pol.as_str(), "by policy"), (local.as_str(), "locally")];
    match start(w, "MpsSvc")? {
        // Without its service the profile settings decide nothing (Windows always has it).
        None => {
            return Err(format!(
                "the Windows Defender Firewall service (MpsSvc) is not installed: the {pname} \
                 profile's state cannot be established"
            ));
        }
        Some(4) if enabled => {
            return Ok(seen(
                false,
                "the Windows Defender Firewall service (MpsSvc) is disabled",
            ));
        }
        Some(_) => {}
    }
    if enabled {
        return Ok(match layered(w, &layers, "EnableFirewall")? {
            Some((n, how)) => seen(n != 0, format!("{pname} profile: {how}")),
            None => seen(
                true,
                format!("{pname} profile: EnableFirewall unset, Windows default on"),
            ),
        });
    }
    Ok(match layered(w, &layers, "DefaultInboundAction")? {
        Some((n, how)) => seen(
            if n == 0 { "allow" } else { "block" },
            format!("{pname} profile: {how}"),
        ),
        None => seen(
            "block",
            format!("{pname} profile: DefaultInboundAction unset, Windows default block"),
        ),
    })
}

const DEFENDER_POLICY: &str = r"SOFTWARE\Policies\Microsoft\Windows Defender";
const DEFENDER: &str = r"SOFTWARE\Microsoft\Windows Defender";

fn defender_realtime<W: WindowsFacts + ?Sized>(w: &W) -> Result<Observed, String> {
    if w.is_live()
        && let Ok(s) = w.defender_status()
    {
        return Ok(seen(
            s.realtime,
            format!("real-time protection {} (Defender status)", s.realtime),
        ));
    }
    if number(w, DEFENDER_POLICY, "DisableAntiSpyware")? == Some(1) {
        return Ok(seen(
            false,
            format!("DisableAntiSpyware=1 by policy (HKLM\\{DEFENDER_POLICY})"),
        ));
    }
    match start(w, "WinDefend")? {
        // Removed (Windows Server) or never there: its settings' defaults describe nothing.
        None => {
            return Err(
                "the Microsoft Defender Antivirus service (WinDefend) is not installed".into(),
            );
        }
        Some(4) => {
            return Ok(seen(
                false,
                "the Microsoft Defender Antivirus service (WinDefend) is disabled",
            ));
        }
        Some(_) => {}
    }
    let rtp_pol = format!(r"{DEFENDER_POLICY}\Real-Time Protection");
    let rtp = format!(r"{DEFENDER}\Real-Time Protection");
    let layers = [(rtp_pol.as_str(), "by policy"), (rtp.as_str(), "locally")];
    Ok(match layered(w, &layers, "DisableRealtimeMonitoring")? {
        Some((n, how)) => seen(n == 0, how),
        None => seen(true, "DisableRealtimeMonitoring unset: Defender default on"),
    })
}

/// An 8-byte FILETIME value as a time.
fn filetime_value<W: WindowsFacts + ?Sized>(
    w: &W,
    key: &str,
    name: &str,
) -> Result<Option<SystemTime>, String> {
    Ok(match value(w, key, name)? {
        Some(Data::Bytes(b)) if b.len() == 8 => {
            super::sam::filetime(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        }
        Some(Data::Qword(n)) => super::sam::filetime(n),
        _ => None,
    })
}

fn days_since(t: SystemTime, now: SystemTime) -> u64 {
    now.duration_since(t).map_or(0, |d| d.as_secs() / 86_400)
}

fn signature_age<W: WindowsFacts + ?Sized>(w: &W, now: SystemTime) -> Result<Observed, String> {
    if w.is_live()
        && let Ok(s) = w.defender_status()
    {
        return Ok(seen(
            s.signature_age_days,
            "signature age from Defender status",
        ));
    }
    let key = format!(r"{DEFENDER}\Signature Updates");
    for name in ["AVSignatureApplied", "SignaturesLastUpdated"] {
        if let Some(t) = filetime_value(w, &key, name)? {
            let d = days_since(t, now);
            return Ok(seen(d, format!("{name} is {d} day(s) old (HKLM\\{key})")));
        }
    }
    Err(format!("no Defender signature timestamp in HKLM\\{key}"))
}

fn tamper<W: WindowsFacts + ?Sized>(w: &W) -> Result<Observed, String> {
    if w.is_live()
        && let Ok(s) = w.defender_status()
    {
        return Ok(seen(
            s.tamper_protected,
            "tamper protection from Defender status",
        ));
    }
    let key = format!(r"{DEFENDER}\Features");
    Ok(match number(w, &key, "TamperProtection")? {
        // Bit 0 is the state: 1 and 5 are on, 0 and 4 off.
        Some(n) => seen(n & 1 == 1, format!("TamperProtection={n} (HKLM\\{key})")),
        None => seen(false, format!("TamperProtection not set (HKLM\\{key})")),
    })
}

fn antivirus<W: WindowsFacts + ?Sized>(w: &W) -> Result<Observed, String> {
    // Defender not installed is no verdict: another product may protect the host.
    let def = match defender_realtime(w) {
        Ok(d) if d.value == "true" => {
            return Ok(seen(true, format!("Microsoft Defender: {}", d.evidence)));
        }
        Ok(d) => d,
        Err(e) => seen(false, e),
    };
    match w.antivirus_products() {
        Ok(list) => {
            let good: Vec<&str> = list
                .iter()
                .filter(|p| p.enabled && p.up_to_date)
                .map(|p| p.name.as_str())
                .collect();
            Ok(if good.is_empty() {
                seen(
                    false,
                    format!(
                        "Defender off ({}) and no other product on and up to date",
                        def.evidence
                    ),
                )
            } else {
                seen(
                    true,
                    format!("registered with Security Center: {}", good.join(", ")),
                )
            })
        }
        Err(e) => Err(format!(
            "no Microsoft Defender protection ({}); another product: {e}",
            def.evidence
        )),
    }
}

const CBS: &str = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing";
const WU_RESULTS: &str =
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\Results\Install";

fn last_update<W: WindowsFacts + ?Sized>(w: &W, now: SystemTime) -> Result<Observed, String> {
    let mut best: Option<(SystemTime, String)> = None;
    let mut consider = |t: SystemTime, what: String| {
        if best.as_ref().is_none_or(|(b, _)| t > *b) {
            best = Some((t, what));
        }
    };
    let packages = format!(r"{CBS}\Packages");
    for name in w
        .reg_subkeys(&hklm(&packages), RegView::Native)?
        .unwrap_or_default()
        .iter()
        .filter(|n| n.len() >= 12 && n[..12].eq_ignore_ascii_case("Package_for_"))
    {
        let key = format!(r"{packages}\{name}");
        // 112 (0x70) is "installed"; superseded and staged packages do not count.
        if number(w, &key, "CurrentState")? != Some(112) {
            continue;
        }
        let (hi, lo) = (
            number(w, &key, "InstallTimeHigh")?,
            number(w, &key, "InstallTimeLow")?,
        );
        if let (Some(hi), Some(lo)) = (hi, lo)
            && let Some(t) = super::sam::filetime((hi << 32) | (lo & 0xFFFF_FFFF))
        {
            consider(t, name.clone());
        }
    }
    if let Some(Data::Text(s)) = value(w, WU_RESULTS, "LastSuccessTime")?
        && let Some(t) = parse_wu_time(&s)
    {
        consider(t, format!("Windows Update LastSuccessTime {s}"));
    }
    match best {
        Some((t, what)) => {
            let d = days_since(t, now);
            Ok(seen(
                d,
                format!("last update installed {d} day(s) ago: {what}"),
            ))
        }
        None => Err(format!(
            "no installed update package under HKLM\\{packages} and no LastSuccessTime"
        )),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC), as Windows Update writes it.
fn parse_wu_time(s: &str) -> Option<SystemTime> {
    let (date, time) = s.trim().split_once(' ')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, m, day], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    if !(1..=12).contains(m) || !(1..=31).contains(day) {
        return None;
    }
    // Days from civil date (Howard Hinnant's algorithm).
    let (y, m) = if *m <= 2 { (y - 1, m + 9) } else { (*y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s))
}

fn reboot_pending<W: WindowsFacts + ?Sized>(w: &W) -> Result<Observed, String> {
    let keys = [
        format!(r"{CBS}\RebootPending"),
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired"
            .into(),
    ];
    for k in &keys {
        if key_exists(w, k)? {
            return Ok(seen(true, format!("HKLM\\{k} exists")));
        }
    }
    Ok(seen(
        false,
        "neither servicing nor Windows Update asks for a reboot",
    ))
}

fn smb1<W: WindowsFacts + ?Sized>(w: &W, driver: &str, server: bool) -> Result<Observed, String> {
    match start(w, driver)? {
        None => {
            return Ok(seen(
                false,
                format!("the SMBv1 driver {driver} is not installed"),
            ));
        }
        Some(4) => {
            return Ok(seen(
                false,
                format!("the SMBv1 driver {driver} is disabled (Start=4)"),
            ));
        }
        Some(_) => {}
    }
    if server {
        let key = r"SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters";
        return Ok(match number(w, key, "SMB1")? {
            Some(0) => seen(false, format!("SMB1=0 (HKLM\\{key})")),
            Some(n) => seen(true, format!("{driver} installed and SMB1={n}")),
            None => seen(true, format!("{driver} installed and SMB1 unset (enabled)")),
        });
    }
    Ok(seen(
        true,
        format!("the SMBv1 client driver {driver} is installed and enabled"),
    ))
}

const TS_POLICY: &str = r"SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services";
const TS: &str = r"SYSTEM\CurrentControlSet\Control\Terminal Server";

fn rdp_enabled<W: WindowsFacts + ?Sized>(w: &W) -> Result<Observed, String> {
    let layers = [(TS_POLICY, "by policy"), (TS, "locally")];
    Ok(match layered(w, &layers, "fDenyTSConnections")? {
        Some((n, how)) => seen(n == 0, how),
        None => seen(
            false,
            "fDenyTSConnections unset: Remote Desktop is off by default",
        ),
    })
}

fn rdp_nla<W: WindowsFacts + ?Sized>(w: &W) -> Result<Observed, String> {
    let local = format!(r"{TS}\WinStations\RDP-Tcp");
    let layers = [(TS_POLICY, "by policy"), (local.as_str(), "locally")];
    Ok(match layered(w, &layers, "UserAuthentication")? {
        Some((n, how)) => seen(n == 1, how),
        None => seen(
            true,
            "UserAuthentication unset: Windows requires NLA by default",
        ),
    })
}

fn laps<W: WindowsFacts + ?Sized>(w: &W) -> Result<Observed, String> {
    // Windows LAPS reads its settings from the first of these roots that exists.
    let roots = [
        r"SOFTWARE\Microsoft\Policies\LAPS",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\LAPS",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\LAPS\Config",
    ];
    for r in roots {
        if key_exists(w, r)? {
            let dir = number(w, r, "BackupDirectory")?;
            let on = matches!(dir, Some(1 | 2));
            let shown = dir.map_or_else(|| "unset".into(), |d| d.to_string());
            return Ok(seen(
                on,
                format!("Windows LAPS BackupDirectory={shown} (HKLM\\{r})"),
            ));
        }
    }
    let legacy = r"SOFTWARE\Policies\Microsoft Services\AdmPwd";
    Ok(match number(w, legacy, "AdmPwdEnabled")? {
        Some(1) => seen(
            true,
            format!("legacy LAPS AdmPwdEnabled=1 (HKLM\\{legacy})"),
        ),
        _ => seen(false, "neither Windows LAPS nor legacy LAPS is configured"),
    })
}

const EVENTLOG_POLICY: &str = r"SOFTWARE\Policies\Microsoft\Windows\EventLog";
const EVENTLOG: &str = r"SYSTEM\CurrentControlSet\Services\EventLog";

fn eventlog_size<W: WindowsFacts + ?Sized>(w: &W, log: EventLog) -> Result<Observed, String> {
    let pol = format!(r"{EVENTLOG_POLICY}\{}", log.key());
    if let Some(kb) = number(w, &pol, "MaxSize")? {
        return Ok(seen(
            kb,
            format!("MaxSize={kb} KiB by policy (HKLM\\{pol})"),
        ));
    }
    let local = format!(r"{EVENTLOG}\{}", log.key());
    Ok(match number(w, &local, "MaxSize")? {
        Some(bytes) => seen(
            bytes / 1024,
            format!("MaxSize={bytes} bytes (HKLM\\{local})"),
        ),
        None => seen(20_480, "MaxSize unset: Windows default 20,480 KiB"),
    })
}

fn eventlog_retention<W: WindowsFacts + ?Sized>(w: &W, log: EventLog) -> Result<Observed, String> {
    let pol = format!(r"{EVENTLOG_POLICY}\{}", log.key());
    let local = format!(r"{EVENTLOG}\{}", log.key());
    // Policy values are strings "0"/"1"; the service key stores Retention as a number where
    // 0 overwrites as needed and 0xFFFFFFFF (or any non-zero) never overwrites.
    let layers = [(pol.as_str(), "by policy"), (local.as_str(), "locally")];
    let keep = layered(w, &layers, "Retention")?;
    let backup = layered(w, &layers, "AutoBackupLogFiles")?;
    let no_overwrite = keep.as_ref().is_some_and(|(n, _)| *n != 0);
    let archive = backup.as_ref().is_some_and(|(n, _)| *n != 0);
    let how: Vec<String> = [keep, backup]
        .into_iter()
        .flatten()
        .map(|(_, h)| h)
        .collect();
    let how = if how.is_empty() {
        "Retention and AutoBackupLogFiles unset: overwrite as needed".to_string()
    } else {
        how.join("; ")
    };
    Ok(match (no_overwrite, archive) {
        (true, true) => seen("archive", how),
        (true, false) => seen("stop", how),
        _ => seen("overwrite", how),
    })
}

fn forwarding<W: WindowsFacts + ?Sized>(w: &W) -> Result<Observed, String> {
    let key = format!(r"{EVENTLOG_POLICY}\EventForwarding\SubscriptionManager");
    let vals = w
        .reg_values(&hklm(&key), RegView::Native)?
        .unwrap_or_default();
    let targets: Vec<String> = vals
        .iter()
        .map(|v| v.data.text())
        .filter(|t| !t.trim().is_empty())
        .collect();
    Ok(if targets.is_empty() {
        seen(false, format!("no subscription manager in HKLM\\{key}"))
    } else {
        seen(true, format!("subscription manager {}", targets.join(", ")))
    })
}

const W32TIME_POLICY: &str = r"SOFTWARE\Policies\Microsoft\W32time";
const W32TIME: &str = r"SYSTEM\CurrentControlSet\Services\W32Time";

fn time_sync<W: WindowsFacts + ?Sized>(w: &W) -> Result<Observed, String> {
    match start(w, "W32Time")? {
        None => return Ok(seen(false, "the Windows Time service is not installed")),
        Some(4) => {
            return Ok(seen(
                false,
                "the Windows Time service is disabled (Start=4)",
            ));
        }
        Some(_) => {}
    }
    if w.is_live()
        && let Ok(false) = w.service_running("W32Time")
        && start(w, "W32Time")? == Some(2)
    {
        return Ok(seen(
            false,
            "the Windows Time service is set to start but does not run",
        ));
    }
    let pol = format!(r"{W32TIME_POLICY}\TimeProviders\NtpClient");
    let local = format!(r"{W32TIME}\TimeProviders\NtpClient");
    let layers = [(pol.as_str(), "by policy"), (local.as_str(), "locally")];
    if let Some((0, how)) = layered(w, &layers, "Enabled")? {
        return Ok(seen(false, format!("the NTP client is off: {how}")));
    }
    let ty = time_type(w)?;
    Ok(if ty.eq_ignore_ascii_case("NoSync") {
        seen(false, "Windows Time Type=NoSync")
    } else {
        seen(true, format!("Windows Time service enabled, Type={ty}"))
    })
}

fn time_type<W: WindowsFacts + ?Sized>(w: &W) -> Result<String, String> {
    for key in [
        format!(r"{W32TIME_POLICY}\Parameters"),
        format!(r"{W32TIME}\Parameters"),
    ] {
        if let Some(Data::Text(t)) = value(w, &key, "Type")? {
            return Ok(t);
        }
    }
    Ok("NT5DS".into())
}

fn time_source<W: WindowsFacts + ?Sized>(w: &W) -> Result<Observed, String> {
    let ty = time_type(w)?;
    if ty.eq_ignore_ascii_case("NT5DS") || ty.eq_ignore_ascii_case("AllSync") {
        if w.domain_member()? {
            return Ok(seen(
                true,
                format!("Type={ty}: time from the domain hierarchy"),
            ));
        }
        if ty.eq_ignore_ascii_case("NT5DS") {
            return Ok(seen(
                false,
                "Type=NT5DS on a machine that is not in a domain",
            ));
        }
    }
    for key in [
        format!(r"{W32TIME_POLICY}\Parameters"),
        format!(r"{W32TIME}\Parameters"),
    ] {
        if let Some(Data::Text(s)) = value(w, &key, "NtpServer")?
            && !s.trim().is_empty()
        {
            return Ok(seen(true, format!("NtpServer={s} (HKLM\\{key})")));
        }
    }
    Ok(seen(false, "no NtpServer configured"))
}

/// Role of a Windows system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Windows 10/11 and other client editions.
    Workstation,
    /// Windows Server that is not a domain controller.
    Server,
    /// A domain controller.
    DomainController,
}

/// What identifies a Windows system for applicability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `10`, `11`, `2012`, `2012r2`, `2016`, `2019`, `2022`, `2025`, or the build number.
    pub version_id: String,
    /// `EditionID` (`Enterprise`, `Professional`, `ServerStandard`, ...).
    pub edition: String,
    /// Role.
    pub role: Role,
    /// Build number.
    pub build: u32,
}

/// The platform of a Windows system from its registry.
///
/// # Errors
/// When the version keys cannot be read.
pub fn platform<W: WindowsFacts + ?Sized>(w: &W) -> Result<Platform, String> {
    let cv = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";
    let build = ["CurrentBuild", "CurrentBuildNumber"]
        .iter()
        .find_map(|n| match value(w, cv, n) {
            Ok(Some(Data::Text(t))) => t.trim().parse::<u32>().ok(),
            _ => None,
        })
        .ok_or_else(|| format!("no CurrentBuild in HKLM\\{cv}"))?;
    let edition = match value(w, cv, "EditionID")? {
        Some(Data::Text(t)) => t,
        _ => String::new(),
    };
    let po = r"SYSTEM\CurrentControlSet\Control\ProductOptions";
    let role = match value(w, po, "ProductType")? {
        Some(Data::Text(t)) if t.eq_ignore_ascii_case("WinNT") => Role::Workstation,
        Some(Data::Text(t)) if t.eq_ignore_ascii_case("LanmanNT") => Role::DomainController,
        Some(Data::Text(t)) if t.eq_ignore_ascii_case("ServerNT") => Role::Server,
        other => return Err(format!("HKLM\\{po}\\ProductType is {other:?}")),
    };
    let version_id = match (role, build) {
        (Role::Workstation, b) if b >= 22_000 => "11".to_string(),
        (Role::Workstation, b) if b >= 10_240 => "10".to_string(),
        (Role::Server | Role::DomainController, 9_200) => "2012".to_string(),
        (Role::Server | Role::DomainController, 9_600) => "2012r2".to_string(),
        (_, 14_393) => "2016".to_string(),
        (_, 17_763) => "2019".to_string(),
        (_, 20_348) => "2022".to_string(),
        (Role::Server | Role::DomainController, b) if b >= 26_100 => "2025".to_string(),
        (_, b) => b.to_string(),
    };
    Ok(Platform {
        version_id,
        edition,
        role,
        build,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windows::{AccountPolicy, AuditPolicy, LocalUser, RegValue, UserRights};
    use std::collections::BTreeMap;

    /// Registry keys in memory (HKLM paths, lower-case), nothing else known.
    #[derive(Debug, Default)]
    struct Mem(BTreeMap<String, Vec<RegValue>>);

    impl Mem {
        fn with(mut self, key: &str, name: &str, n: u32) -> Mem {
            self.0
                .entry(key.to_ascii_lowercase())
                .or_default()
                .push(RegValue {
                    name: name.into(),
                    data: Data::Dword(n),
                });
            self
        }
    }

    impl WindowsFacts for Mem {
        fn reg_values(&self, k: &RegPath, _: RegView) -> Result<Option<Vec<RegValue>>, String> {
            Ok(self.0.get(&k.path.to_ascii_lowercase()).cloned())
        }
        fn reg_subkeys(&self, _: &RegPath, _: RegView) -> Result<Option<Vec<String>>, String> {
            Ok(None)
        }
        fn account_policy(&self) -> Result<AccountPolicy, String> {
            Err("unknown".into())
        }
        fn local_users(&self) -> Result<Vec<LocalUser>, String> {
            Err("unknown".into())
        }
        fn audit_policy(&self) -> Result<AuditPolicy, String> {
            Err("unknown".into())
        }
        fn user_rights(&self) -> Result<UserRights, String> {
            Err("unknown".into())
        }
        fn domain_member(&self) -> Result<bool, String> {
            Err("unknown".into())
        }
    }

    const SVC: &str = r"SYSTEM\CurrentControlSet\Services";

    fn fact(w: &Mem, f: WinFact) -> Result<Observed, String> {
        let args = Args {
            profile: Some(Profile::Public),
            log: None,
        };
        observe(w, f, args, SystemTime::now())
    }

    #[test]
    fn a_missing_firewall_or_defender_service_is_unknown_not_a_default_pass() {
        let bare = Mem::default();
        for f in [
            WinFact::FirewallEnabled,
            WinFact::FirewallInbound,
            WinFact::DefenderRealtime,
            WinFact::AntivirusActive,
        ] {
            let e = fact(&bare, f).expect_err("no service, no verdict");
            assert!(e.contains("not installed"), "{f:?}: {e}");
        }
        let installed = Mem::default()
            .with(&format!(r"{SVC}\MpsSvc"), "Start", 2)
            .with(&format!(r"{SVC}\WinDefend"), "Start", 2);
        assert_eq!(
            fact(&installed, WinFact::FirewallEnabled)
                .expect("known")
                .value,
            "true"
        );
        assert_eq!(
            fact(&installed, WinFact::FirewallInbound)
                .expect("known")
                .value,
            "block"
        );
        assert_eq!(
            fact(&installed, WinFact::DefenderRealtime)
                .expect("known")
                .value,
            "true"
        );
        let disabled = Mem::default()
            .with(&format!(r"{SVC}\MpsSvc"), "Start", 4)
            .with(&format!(r"{SVC}\WinDefend"), "Start", 4);
        assert_eq!(
            fact(&disabled, WinFact::FirewallEnabled)
                .expect("known")
                .value,
            "false"
        );
        assert_eq!(
            fact(&disabled, WinFact::DefenderRealtime)
                .expect("known")
                .value,
            "false"
        );
        // Defender off and no Security Center answer (offline): unknown, not a fail or a pass.
        let e = fact(&disabled, WinFact::AntivirusActive).expect_err("unknown");
        assert!(e.contains("Security Center"), "{e}");
    }

    #[test]
    fn windows_update_times_parse() {
        let t = parse_wu_time("2026-11-30 08:15:02").expect("parses");
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs(),
            1_796_026_502
        );
        assert!(parse_wu_time("2026-13-01 00:00:00").is_none());
        assert!(parse_wu_time("yesterday").is_none());
    }
}
