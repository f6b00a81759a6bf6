//! Parsing of the TOML config files of both binaries: every problem of a file at once.
//!
//! Each message starts with the file and names the key (`section.key: what was expected`).

use std::path::Path;

use serde::de::DeserializeOwned;

/// Parses a TOML config file into `T`, reporting every unknown or mistyped key at once rather
/// than the first one serde meets: when the whole file does not fit `T`, each key of each section is
/// tried alone, the bad ones are named and left out, and the rest is parsed so that
/// the caller's validation can report its own problems too. A TOML syntax error stops there.
pub fn parse_all<T: DeserializeOwned + Default>(text: &str, path: &Path) -> (T, Vec<String>) {
    let f = path.display();
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            return (
                T::default(),
                vec![format!("{f}: {}", e.to_string().trim_end())],
            );
        }
    };
    if let Ok(raw) = fits::<T>(table.clone()) {
        return (raw, Vec::new());
    }
    let mut errs = Vec::new();
    let mut good = toml::Table::new();
    for (section, value) in table {
        let alone = toml::Table::from_iter([(section.clone(), value.clone())]);
        let message = match fits::<T>(alone) {
            Ok(_) => {
                good.insert(section, value);
                continue;
            }
            Err(e) => e.message().to_owned(),
        };
        let empty = toml::Table::from_iter([(section.clone(), toml::Table::new().into())]);
        let toml::Value::Table(keys) = value else {
            errs.push(format!("{f}: {section}: {message}"));
            continue;
        };
        if fits::<T>(empty).is_err() {
            // Not a section of this file at all.
            errs.push(format!("{f}: {message}"));
            continue;
        }
        let mut kept = toml::Table::new();
        for (key, v) in keys {
            let one = toml::Table::from_iter([(key.clone(), v.clone())]);
            let alone = toml::Table::from_iter([(section.clone(), toml::Value::Table(one))]);
            match fits::<T>(alone) {
                Ok(_) => {
                    kept.insert(key, v);
                }
                Err(e) => errs.push(format!("{f}: {section}.{key}: {}", e.message())),
            }
        }
        good.insert(section, toml::Value::Table(kept));
    }
    // Every key left fits on its own; together they fit too unless keys depend on each other.
    match fits::<T>(good) {
        Ok(raw) => (raw, errs),
        Err(e) => {
            errs.push(format!("{f}: {}", e.message()));
            (T::default(), errs)
        }
    }
}

fn fits<T: DeserializeOwned>(t: toml::Table) -> Result<T, toml::de::Error> {
    toml::Value::Table(t).try_into()
}
