use vigil_proto::{FileEventKind, Finding, Severity};

use super::*;

fn rec(text: &str) -> ValueRecord {
    ValueRecord::new("REG_SZ".into(), text, text.as_bytes())
}

fn snap(keys: &[(&str, &str)], values: &[(&str, &str, &str)]) -> Snapshot {
    Snapshot {
        keys: keys
            .iter()
            .map(|(k, g)| (k.to_string(), g.to_string()))
            .collect(),
        values: values
            .iter()
            .map(|(k, v, d)| ((k.to_string(), v.to_string()), rec(d)))
            .collect(),
    }
}

const RUN: &str = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run";
const SVC: &str = r"HKLM\SYSTEM\CurrentControlSet\Services";

#[test]
fn a_new_run_value_is_a_high_created_event_with_its_command() {
    let old = snap(&[(RUN, "autostart")], &[(RUN, "OneDrive", "C:\\od.exe")]);
    let new = snap(
        &[(RUN, "autostart")],
        &[
            (RUN, "OneDrive", "C:\\od.exe"),
            (RUN, "Updater", "C:\\Users\\a\\AppData\\evil.exe"),
        ],
    );
    let ev = diff(&old, &new, MAX_EVENTS);
    assert_eq!(ev.len(), 1, "{ev:#?}");
    let e = &ev[0];
    assert_eq!(
        (e.key.as_str(), e.value.as_deref(), e.kind, e.severity),
        (RUN, Some("Updater"), FileEventKind::Created, Severity::High)
    );
    let data = e.new.as_ref().expect("new data");
    assert_eq!(data.data, "C:\\Users\\a\\AppData\\evil.exe");
    assert!(data.hash.starts_with("sha256:"));
    assert!(e.old.is_none());
    assert!(
        diff(&new, &new, MAX_EVENTS).is_empty(),
        "no change, no event"
    );
}

#[test]
fn modified_and_deleted_values_carry_old_and_new_data() {
    let old = snap(
        &[(RUN, "autostart")],
        &[(RUN, "A", "a.exe"), (RUN, "B", "b.exe")],
    );
    let new = snap(&[(RUN, "autostart")], &[(RUN, "A", "a2.exe")]);
    let ev = diff(&old, &new, MAX_EVENTS);
    let m = ev
        .iter()
        .find(|e| e.kind == FileEventKind::Modified)
        .expect("modified");
    assert_eq!(m.old.as_ref().map(|d| d.data.as_str()), Some("a.exe"));
    assert_eq!(m.new.as_ref().map(|d| d.data.as_str()), Some("a2.exe"));
    let d = ev
        .iter()
        .find(|e| e.kind == FileEventKind::Deleted)
        .expect("deleted");
    assert_eq!(
        (d.value.as_deref(), d.severity),
        (Some("B"), Severity::Medium)
    );
}

#[test]
fn services_new_service_and_image_path_are_high_other_settings_medium() {
    let evil = format!(r"{SVC}\evilsvc");
    let spool = format!(r"{SVC}\Spooler");
    let old = snap(
        &[(SVC, "services"), (&spool, "services")],
        &[(&spool, "Start", "2"), (&spool, "ImagePath", "spoolsv.exe")],
    );
    let new = snap(
        &[(SVC, "services"), (&spool, "services"), (&evil, "services")],
        &[
            (&spool, "Start", "4"),
            (&spool, "ImagePath", "C:\\x.exe"),
            (&evil, "ImagePath", "C:\\evil.exe"),
        ],
    );
    let ev = diff(&old, &new, MAX_EVENTS);
    let find = |k: &str, v: Option<&str>| {
        ev.iter()
            .find(|e| e.key == k && e.value.as_deref() == v)
            .unwrap_or_else(|| panic!("{k} {v:?} in {ev:#?}"))
    };
    assert_eq!(find(&evil, None).severity, Severity::High);
    assert_eq!(find(&evil, None).kind, FileEventKind::Created);
    assert_eq!(find(&spool, Some("Start")).severity, Severity::Medium);
    assert_eq!(find(&spool, Some("ImagePath")).severity, Severity::High);
    // A deleted key is one event, not one per value.
    let gone = diff(&new, &old, MAX_EVENTS);
    assert_eq!(
        gone.iter().filter(|e| e.key == evil).count(),
        1,
        "{gone:#?}"
    );
}

#[test]
fn floods_are_capped_with_one_summary() {
    let old = snap(&[(RUN, "autostart")], &[]);
    let values: Vec<(String, String)> = (0..500)
        .map(|i| (format!("v{i}"), format!("x{i}.exe")))
        .collect();
    let vref: Vec<(&str, &str, &str)> = values
        .iter()
        .map(|(v, d)| (RUN, v.as_str(), d.as_str()))
        .collect();
    let new = snap(&[(RUN, "autostart")], &vref);
    let ev = diff(&old, &new, 50);
    assert_eq!(ev.len(), 50);
    let s = ev.last().expect("summary");
    assert_eq!(s.kind, FileEventKind::Summary);
    assert!(
        s.summary.as_deref().is_some_and(|t| t.contains("451 more")),
        "{s:?}"
    );
}

#[test]
fn long_and_binary_values_are_cut_but_hashed_whole() {
    let long = "x".repeat(5000);
    let r = ValueRecord::new("REG_SZ".into(), &long, long.as_bytes());
    assert!(r.truncated);
    assert_eq!(r.text.chars().count(), vigil_proto::RegistryData::MAX_TEXT);
    let other = ValueRecord::new("REG_SZ".into(), &format!("{long}y"), b"different");
    assert_ne!(r.hash, other.hash);
    let mut a = snap(&[(RUN, "autostart")], &[]);
    a.values.insert((RUN.into(), "big".into()), r);
    let mut b = a.clone();
    b.values.insert((RUN.into(), "big".into()), other);
    assert_eq!(
        diff(&a, &b, MAX_EVENTS).len(),
        1,
        "a change past the cut is seen"
    );
}

#[test]
fn first_poll_is_a_baseline_then_changes_are_reported_and_saved() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = snapshot_path(dir.path());
    let mut last = load(&path);
    assert!(last.is_none());
    let mut out: Vec<Finding> = Vec::new();
    let s1 = snap(&[(RUN, "autostart")], &[(RUN, "A", "a.exe")]);
    poll_once(&mut last, s1.clone(), &path, &mut out);
    assert!(matches!(&out[..], [Finding::Registry(e)] if e.kind == FileEventKind::Rescan));
    assert_eq!(load(&path), Some(s1.clone()), "baseline saved");
    out.clear();
    let s2 = snap(
        &[(RUN, "autostart")],
        &[(RUN, "A", "a.exe"), (RUN, "B", "b.exe")],
    );
    // A restarted agent (reloading the saved snapshot) reports what changed meanwhile.
    let mut reloaded = load(&path);
    poll_once(&mut reloaded, s2.clone(), &path, &mut out);
    assert!(
        matches!(&out[..], [Finding::Registry(e)] if e.kind == FileEventKind::Created && e.value.as_deref() == Some("B")),
        "{out:#?}"
    );
    assert_eq!(
        Finding::Registry(match &out[0] {
            Finding::Registry(e) => e.clone(),
            _ => unreachable!(),
        })
        .kind_name(),
        "registry"
    );
    assert_eq!(load(&path), Some(s2));
}

#[test]
fn default_keys_cover_the_issue_list() {
    let keys = default_keys();
    for (needle, group) in [
        (r"CurrentVersion\Run", "autostart"),
        (r"CurrentVersion\RunOnce", "autostart"),
        (r"CurrentControlSet\Services", "services"),
        (r"CurrentVersion\Winlogon", "winlogon"),
        ("Image File Execution Options", "ifeo"),
        (r"Control\Lsa", "lsa"),
    ] {
        assert!(
            keys.iter()
                .any(|k| k.path.ends_with(needle) && k.group == group),
            "{needle}"
        );
    }
    assert!(
        keys.iter().any(|k| k.path.starts_with(r"HKU\*\")),
        "per-user Run keys"
    );
}

/// The live reader under Windows (Wine in CI): a key created under HKLM\SOFTWARE is read with
/// its subkeys, and a value added there is one `created` event.
#[cfg(windows)]
#[test]
fn reads_and_diffs_the_live_registry() {
    use winreg::RegKey;
    use winreg::enums::HKEY_LOCAL_MACHINE;
    let name = format!("VigilTest{}", std::process::id());
    let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
    let (root, _) = hklm
        .create_subkey(format!(r"SOFTWARE\{name}"))
        .expect("create test key");
    root.set_value("Existing", &"C:\\ok.exe").expect("set");
    let (sub, _) = root.create_subkey("svc").expect("subkey");
    sub.set_value("Start", &2u32).expect("set");
    let watched = vec![WatchedKey {
        path: format!(r"HKLM\SOFTWARE\{name}"),
        depth: 1,
        wow32: false,
        group: "autostart",
    }];
    let s1 = read_snapshot(&watched).expect("read");
    let shown = format!(r"HKLM\SOFTWARE\{name}");
    assert_eq!(
        s1.values
            .get(&(shown.clone(), "Existing".into()))
            .map(|r| r.text.as_str()),
        Some("C:\\ok.exe")
    );
    assert_eq!(
        s1.values
            .get(&(format!(r"{shown}\svc"), "Start".into()))
            .map(|r| (r.reg_type.as_str(), r.text.as_str())),
        Some(("REG_DWORD", "2"))
    );
    root.set_value("Dropper", &"C:\\Users\\Public\\x.exe")
        .expect("set");
    let s2 = read_snapshot(&watched).expect("read");
    let ev = diff(&s1, &s2, MAX_EVENTS);
    hklm.delete_subkey_all(format!(r"SOFTWARE\{name}"))
        .expect("cleanup");
    assert_eq!(ev.len(), 1, "{ev:#?}");
    assert_eq!(ev[0].value.as_deref(), Some("Dropper"));
    assert_eq!(ev[0].kind, FileEventKind::Created);
}
