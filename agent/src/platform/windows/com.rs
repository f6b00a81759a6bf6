//! Security state the running system reports through COM, for the rule evaluator's live facts:
//! - Microsoft Defender: WMI `ROOT\Microsoft\Windows\Defender` `MSFT_MpComputerStatus`
//!   (real-time protection, signature age, tamper protection);
//! - anti-malware registered with Security Center: WMI `ROOT\SecurityCenter2` `AntiVirusProduct`
//!   (workstations only: servers have no Security Center);
//! - BitLocker: WMI `ROOT\CIMV2\Security\MicrosoftVolumeEncryption` `Win32_EncryptableVolume`,
//!   the system drive's `ProtectionStatus` (LocalSystem and administrators may read it);
//! - firewall profiles: `INetFwPolicy2` (`FirewallEnabled`, `DefaultInboundAction`).
//!
//! Each read runs on a thread of its own in the multithreaded apartment, so the caller's thread
//! (a runtime worker) never gets a COM apartment, and is given up after [`TIMEOUT`]: a provider
//! that hangs makes the fact unknown, not the agent stuck. Every failure is an error naming the
//! interface and the HRESULT, and the rule is then decided from the registry or reported
//! unverified (Wine 8 has none of these WMI namespaces, and its firewall object implements
//! neither property). The values are decoded by `vigil_rules::windows::status`.
#![allow(
    unsafe_code,
    reason = "COM calls through the windows crate are unsafe; each wrapper below owns the \
              interfaces it creates and clears every VARIANT it receives"
)]

use std::sync::Once;
use std::sync::mpsc;
use std::time::Duration;

use ::windows::Win32::NetworkManagement::WindowsFirewall::{
    INetFwPolicy2, NET_FW_PROFILE_TYPE2, NET_FW_PROFILE2_DOMAIN, NET_FW_PROFILE2_PRIVATE,
    NET_FW_PROFILE2_PUBLIC, NetFwPolicy2,
};
use ::windows::Win32::System::Com::{
    CLSCTX_INPROC_SERVER, COINIT_MULTITHREADED, CoCreateInstance, CoInitializeEx,
    CoInitializeSecurity, CoSetProxyBlanket, CoUninitialize, EOAC_NONE, RPC_C_AUTHN_LEVEL_CALL,
    RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_IMP_LEVEL_IMPERSONATE,
};
use ::windows::Win32::System::Variant::{
    VARIANT, VT_BOOL, VT_BSTR, VT_EMPTY, VT_I1, VT_I2, VT_I4, VT_I8, VT_INT, VT_NULL, VT_UI1,
    VT_UI2, VT_UI4, VT_UI8, VT_UINT, VariantClear,
};
use ::windows::Win32::System::Wmi::{
    IEnumWbemClassObject, IWbemClassObject, IWbemContext, IWbemLocator, WBEM_FLAG_FORWARD_ONLY,
    WBEM_FLAG_RETURN_IMMEDIATELY, WBEM_GENERIC_FLAG_TYPE, WbemLocator,
};
use ::windows::core::{BSTR, IUnknown, PCWSTR, Param};
use vigil_rules::windows::status::{av_product, bitlocker_protection, inbound_blocked};
use vigil_rules::windows::{AvProduct, DefenderStatus, FirewallStatus, Profile};

/// How long one read may take, COM start-up included.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Rows read of one query at most (a system has a handful of volumes and products).
const MAX_ROWS: usize = 64;
/// `IEnumWbemClassObject::Next` waits this long for a row (ms).
const NEXT_WAIT_MS: i32 = 10_000;
/// `RPC_C_AUTHN_WINNT` and `RPC_C_AUTHZ_NONE` (rpcdce.h).
const AUTHN_WINNT: u32 = 10;
const AUTHZ_NONE: u32 = 0;

/// A property value as WMI hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
}

impl Value {
    fn int(&self, what: &str) -> Result<i64, String> {
        match self {
            Value::Int(n) => Ok(*n),
            other => Err(format!("{what} is {other:?}, not a number")),
        }
    }

    fn boolean(&self, what: &str) -> Result<bool, String> {
        match self {
            Value::Bool(b) => Ok(*b),
            other => Err(format!("{what} is {other:?}, not a boolean")),
        }
    }
}

/// Microsoft Defender's own status report.
///
/// # Errors
/// Defender's WMI provider is absent (another product took over, Windows Server without it,
/// Wine) or did not answer.
pub(super) fn defender_status() -> Result<DefenderStatus, String> {
    let what = r"Defender's status (WMI ROOT\Microsoft\Windows\Defender MSFT_MpComputerStatus)";
    let rows = on_com_thread(what, || {
        query(
            r"ROOT\Microsoft\Windows\Defender",
            "SELECT RealTimeProtectionEnabled, AntivirusSignatureAge, IsTamperProtected \
             FROM MSFT_MpComputerStatus",
            &[
                "RealTimeProtectionEnabled",
                "AntivirusSignatureAge",
                "IsTamperProtected",
            ],
        )
    })?;
    let row = rows.first().ok_or_else(|| format!("{what}: no instance"))?;
    let age = row[1].int("AntivirusSignatureAge")?;
    Ok(DefenderStatus {
        realtime: row[0].boolean("RealTimeProtectionEnabled")?,
        signature_age_days: u32::try_from(age)
            .map_err(|_| format!("{what}: AntivirusSignatureAge {age} is out of range"))?,
        // Versions before tamper protection existed lack the property: not protected.
        tamper_protected: match &row[2] {
            Value::Null => false,
            v => v.boolean("IsTamperProtected")?,
        },
    })
}

/// Anti-malware products registered with Security Center.
///
/// # Errors
/// No Security Center (Windows Server, Wine) or it did not answer.
pub(super) fn antivirus_products() -> Result<Vec<AvProduct>, String> {
    let what = r"products registered with Security Center (WMI ROOT\SecurityCenter2)";
    let rows = on_com_thread(what, || {
        query(
            r"ROOT\SecurityCenter2",
            "SELECT displayName, productState FROM AntiVirusProduct",
            &["displayName", "productState"],
        )
    })?;
    rows.iter()
        .map(|r| {
            let name = match &r[0] {
                Value::Text(t) => t.clone(),
                other => return Err(format!("{what}: displayName is {other:?}")),
            };
            let state = r[1].int("productState")?;
            let state = u32::try_from(state)
                .map_err(|_| format!("{what}: productState {state} is out of range"))?;
            Ok(av_product(&name, state))
        })
        .collect()
}

/// Whether BitLocker protects the system drive (`%SystemDrive%`).
///
/// # Errors
/// No BitLocker provider (Home editions, Wine), no entry for the system drive, access denied, or
/// a status that establishes nothing.
pub(super) fn bitlocker_system_volume() -> Result<bool, String> {
    let what =
        r"BitLocker (WMI ROOT\CIMV2\Security\MicrosoftVolumeEncryption Win32_EncryptableVolume)";
    let drive = std::env::var("SystemDrive").unwrap_or_else(|_| "C:".into());
    let rows = on_com_thread(what, || {
        query(
            r"ROOT\CIMV2\Security\MicrosoftVolumeEncryption",
            "SELECT DriveLetter, ProtectionStatus FROM Win32_EncryptableVolume",
            &["DriveLetter", "ProtectionStatus"],
        )
    })?;
    let row = rows
        .iter()
        .find(|r| matches!(&r[0], Value::Text(d) if d.eq_ignore_ascii_case(drive.trim_end_matches('\\'))))
        .ok_or_else(|| format!("{what}: no entry for the system drive {drive}"))?;
    bitlocker_protection(row[1].int("ProtectionStatus")?).map_err(|e| format!("{what}: {e}"))
}

/// A firewall profile's state from the firewall's own interface.
///
/// # Errors
/// No firewall object, or it does not report the profile (Wine implements neither property).
pub(super) fn firewall_status(profile: Profile) -> Result<FirewallStatus, String> {
    let what = format!(
        "the firewall's {} profile (INetFwPolicy2)",
        profile.as_str()
    );
    let kind: NET_FW_PROFILE_TYPE2 = match profile {
        Profile::Domain => NET_FW_PROFILE2_DOMAIN,
        Profile::Private => NET_FW_PROFILE2_PRIVATE,
        Profile::Public => NET_FW_PROFILE2_PUBLIC,
    };
    let (enabled, action) = on_com_thread(&what, move || {
        // SAFETY: COM is initialised on this thread; the policy object lives for this closure.
        unsafe {
            let fw: INetFwPolicy2 = CoCreateInstance(&NetFwPolicy2, None, CLSCTX_INPROC_SERVER)
                .map_err(|e| format!("creating the policy object: {e}"))?;
            let enabled = fw
                .get_FirewallEnabled(kind)
                .map_err(|e| format!("FirewallEnabled: {e}"))?;
            let action = fw
                .get_DefaultInboundAction(kind)
                .map_err(|e| format!("DefaultInboundAction: {e}"))?;
            Ok((enabled.0 != 0, action.0))
        }
    })?;
    Ok(FirewallStatus {
        enabled,
        inbound_blocked: inbound_blocked(action).map_err(|e| format!("{what}: {e}"))?,
    })
}

/// Runs `f` on a new thread in the multithreaded apartment and waits at most [`TIMEOUT`].
fn on_com_thread<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("vigil-com".into())
        .spawn(move || {
            let _ = tx.send(with_com(f));
        })
        .map_err(|e| format!("{what}: starting a thread: {e}"))?;
    match rx.recv_timeout(TIMEOUT) {
        Ok(r) => r.map_err(|e| format!("{what}: {e}")),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(format!("{what}: no answer within {} s", TIMEOUT.as_secs()))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!("{what}: the reader failed")),
    }
}

/// Initialises COM on this (new) thread for `f`, and the process's COM security once.
fn with_com<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    static SECURITY: Once = Once::new();
    // SAFETY: this thread was created for this call and has no apartment yet.
    let hr = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
    if hr.is_err() {
        return Err(format!("starting COM: {hr:?}"));
    }
    SECURITY.call_once(|| {
        // Impersonation lets WMI providers check the caller's rights. Best effort: a process
        // whose security is already set (RPC_E_TOO_LATE) keeps its own, and the proxy blankets
        // below ask for impersonation per interface anyway.
        // SAFETY: plain values; COM is initialised on this thread.
        let _ = unsafe {
            CoInitializeSecurity(
                None,
                -1,
                None,
                None,
                RPC_C_AUTHN_LEVEL_DEFAULT,
                RPC_C_IMP_LEVEL_IMPERSONATE,
                None,
                EOAC_NONE,
                None,
            )
        };
    });
    let r = f();
    // SAFETY: balances the successful CoInitializeEx above; every interface of `f` is dropped.
    unsafe { CoUninitialize() };
    r
}

/// Asks a WMI proxy to impersonate (an in-process object, as under Wine, is no proxy and
/// refuses, harmlessly).
fn blanket(i: impl Param<IUnknown>) {
    // SAFETY: `i` is a live interface; the other arguments are plain values.
    let _ = unsafe {
        CoSetProxyBlanket(
            i,
            AUTHN_WINNT,
            AUTHZ_NONE,
            PCWSTR::null(),
            RPC_C_AUTHN_LEVEL_CALL,
            RPC_C_IMP_LEVEL_IMPERSONATE,
            None,
            EOAC_NONE,
        )
    };
}

/// Runs a WQL query in `namespace`; each row holds `props` in order (`Null` where absent).
fn query(namespace: &str, wql: &str, props: &[&str]) -> Result<Vec<Vec<Value>>, String> {
    // SAFETY: COM is initialised on this thread (`with_com`); every interface is owned here.
    unsafe {
        let locator: IWbemLocator = CoCreateInstance(&WbemLocator, None, CLSCTX_INPROC_SERVER)
            .map_err(|e| format!("creating the WMI locator: {e}"))?;
        let empty = BSTR::new();
        let services = locator
            .ConnectServer(
                &BSTR::from(namespace),
                &empty,
                &empty,
                &empty,
                0,
                &empty,
                None::<&IWbemContext>,
            )
            .map_err(|e| format!("connecting to the namespace: {e}"))?;
        blanket(&services);
        let flags =
            WBEM_GENERIC_FLAG_TYPE(WBEM_FLAG_FORWARD_ONLY.0 | WBEM_FLAG_RETURN_IMMEDIATELY.0);
        let rows: IEnumWbemClassObject = services
            .ExecQuery(
                &BSTR::from("WQL"),
                &BSTR::from(wql),
                flags,
                None::<&IWbemContext>,
            )
            .map_err(|e| format!("the query: {e}"))?;
        blanket(&rows);
        let mut out = Vec::new();
        while out.len() < MAX_ROWS {
            let mut one = [None];
            let mut got = 0u32;
            let hr = rows.Next(NEXT_WAIT_MS, &mut one, &mut got);
            if hr.is_err() {
                return Err(format!("reading the results: {hr:?}"));
            }
            let Some(obj) = one[0].take().filter(|_| got == 1) else {
                // WBEM_S_FALSE: no more rows; WBEM_S_TIMEDOUT: none in time.
                if hr.0 == 0x4_0004 {
                    return Err("reading the results: timed out".into());
                }
                break;
            };
            out.push(
                props
                    .iter()
                    .map(|p| get(&obj, p))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(out)
    }
}

/// One property of a WMI object.
fn get(obj: &IWbemClassObject, name: &str) -> Result<Value, String> {
    let wide: Vec<u16> = name.encode_utf16().chain([0]).collect();
    let mut v = VARIANT::default();
    // SAFETY: `wide` is NUL-terminated and outlives the call; `v` is cleared below whatever it
    // holds.
    unsafe {
        obj.Get(PCWSTR(wide.as_ptr()), 0, &mut v, None, None)
            .map_err(|e| format!("property {name}: {e}"))?;
        let r = decode(&v).map_err(|t| format!("property {name}: unexpected VARIANT type {t}"));
        let _ = VariantClear(&mut v);
        r
    }
}

/// The scalar a VARIANT holds (WMI hands `uint32` over as `VT_I4`).
///
/// # Safety
/// `v` must be a VARIANT initialised by its producer.
unsafe fn decode(v: &VARIANT) -> Result<Value, u16> {
    // SAFETY: the caller's contract; each arm reads the union member its type tag names.
    unsafe {
        let inner = &v.Anonymous.Anonymous;
        let u = &inner.Anonymous;
        Ok(match inner.vt {
            t if t == VT_EMPTY || t == VT_NULL => Value::Null,
            t if t == VT_BOOL => Value::Bool(u.boolVal.0 != 0),
            t if t == VT_I1 => Value::Int(i64::from(u.cVal)),
            t if t == VT_UI1 => Value::Int(i64::from(u.bVal)),
            t if t == VT_I2 => Value::Int(i64::from(u.iVal)),
            t if t == VT_UI2 => Value::Int(i64::from(u.uiVal)),
            t if t == VT_I4 || t == VT_INT => Value::Int(i64::from(u.lVal)),
            t if t == VT_UI4 || t == VT_UINT => Value::Int(i64::from(u.ulVal)),
            t if t == VT_I8 => Value::Int(u.llVal),
            t if t == VT_UI8 => Value::Int(i64::try_from(u.ullVal).map_err(|_| VT_UI8.0)?),
            t if t == VT_BSTR => Value::Text(u.bstrVal.to_string()),
            t => return Err(t.0),
        })
    }
}
