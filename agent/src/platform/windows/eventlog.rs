//! Warnings and errors of the agent in the Windows Event Log (Application log, source
//! `VigilAgent`).
//!
//! The source is registered by `vigil-agent service install` with `EventCreate.exe`'s message
//! table, whose ids 1–1000 are the bare text `%1`: Event Viewer then shows our message as is
//! without a message DLL of our own. [`EventLogLayer`] is a `tracing` layer that reports events
//! at WARN and above (the rotating file keeps everything); one `ReportEventW` per event.
#![allow(
    unsafe_code,
    reason = "the Event Log API takes raw handles and string pointers"
)]

use std::fmt::Write as _;
use std::ptr;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
    RegisterEventSourceW, ReportEventW,
};

use super::wide;

/// The Event Log source name.
pub const SOURCE: &str = "VigilAgent";
/// Where the source is registered.
const SOURCE_KEY: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application\VigilAgent";
/// Event ids (all map to `%1` in EventCreate.exe's message table).
const ID_ERROR: u32 = 1;
const ID_WARNING: u32 = 2;
const ID_INFO: u32 = 3;
/// Longest message sent (the Event Log limit is 31,839 characters per string).
const MAX_MESSAGE: usize = 8_000;

/// Registers the `VigilAgent` source (administrators only; done at `service install`).
///
/// # Errors
/// The registry write failed.
pub fn register_source() -> std::io::Result<()> {
    use winreg::RegKey;
    use winreg::enums::{HKEY_LOCAL_MACHINE, RegType};
    let (key, _) = RegKey::predef(HKEY_LOCAL_MACHINE).create_subkey(SOURCE_KEY)?;
    let file = r"%SystemRoot%\System32\EventCreate.exe";
    let bytes: Vec<u8> = file
        .encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect();
    key.set_raw_value(
        "EventMessageFile",
        &winreg::RegValue {
            bytes: bytes.into(),
            vtype: RegType::REG_EXPAND_SZ,
        },
    )?;
    key.set_value("TypesSupported", &7u32)
}

/// Removes the source registration (at `service uninstall`); absent is fine.
///
/// # Errors
/// The registry delete failed for another reason than absence.
pub fn unregister_source() -> std::io::Result<()> {
    use winreg::RegKey;
    use winreg::enums::HKEY_LOCAL_MACHINE;
    match RegKey::predef(HKEY_LOCAL_MACHINE).delete_subkey_all(SOURCE_KEY) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A `tracing` layer writing WARN and ERROR events to the Event Log.
#[derive(Debug)]
pub struct EventLogLayer {
    handle: Source,
}

/// An event source handle, deregistered on drop.
#[derive(Debug)]
struct Source(HANDLE);

// SAFETY: an event source handle may be used from any thread (ReportEventW is thread-safe).
unsafe impl Send for Source {}
// SAFETY: as above; the handle is never mutated after creation.
unsafe impl Sync for Source {}

impl Drop for Source {
    fn drop(&mut self) {
        // SAFETY: the handle came from RegisterEventSourceW and is closed once.
        unsafe { DeregisterEventSource(self.0) };
    }
}

impl EventLogLayer {
    /// Opens the `VigilAgent` source.
    ///
    /// # Errors
    /// The source could not be opened.
    pub fn new() -> std::io::Result<Self> {
        let name = wide(SOURCE);
        // SAFETY: NUL-terminated name; NULL server means the local computer.
        let h = unsafe { RegisterEventSourceW(ptr::null(), name.as_ptr()) };
        if h.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { handle: Source(h) })
    }

    /// Reports one message (also used for the service's start and stop lines).
    pub fn report(&self, level: Level, message: &str) {
        let (kind, id) = match level {
            Level::ERROR => (EVENTLOG_ERROR_TYPE, ID_ERROR),
            Level::WARN => (EVENTLOG_WARNING_TYPE, ID_WARNING),
            _ => (EVENTLOG_INFORMATION_TYPE, ID_INFO),
        };
        let mut text: String = message.chars().take(MAX_MESSAGE).collect();
        text.retain(|c| c != '\0');
        let w = wide(&text);
        let strings = [w.as_ptr()];
        // SAFETY: one NUL-terminated string, no binary data; the handle is open.
        unsafe {
            ReportEventW(
                self.handle.0,
                kind,
                0,
                id,
                ptr::null_mut(),
                1,
                0,
                strings.as_ptr(),
                ptr::null(),
            )
        };
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for EventLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut v = Message::default();
        event.record(&mut v);
        self.report(level, &v.text());
    }
}

/// The message of an event followed by its fields as `key=value`.
#[derive(Default)]
struct Message {
    message: String,
    fields: String,
}

impl Message {
    fn text(&self) -> String {
        if self.fields.is_empty() {
            self.message.clone()
        } else {
            format!("{} ({})", self.message, self.fields.trim_start())
        }
    }
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}
