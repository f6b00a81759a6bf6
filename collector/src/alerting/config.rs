//! The `[alerts]` section of collector.toml, as written; [`super::AlertSettings::from_raw`]
//! validates it.

use serde::{Deserialize, Serialize};

/// `[alerts]` and each `[[alerts.subtree]]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertRules {
    /// An agent silent for this long raises `agent_silent` (default `24h`).
    pub silent_after: Option<String>,
    /// A client certificate expiring within this raises `cert_expiring` (default `30d`).
    pub cert_expiry_warning: Option<String>,
    /// Alert kinds not raised at all (e.g. `new_listener_on_server`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled: Vec<String>,
}

/// `[alerts]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// Settings for the whole organisation.
    #[serde(flatten)]
    pub rules: RawAlertRules,
    /// Settings for one agency subtree; the deepest matching subtree wins, key by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtree: Vec<RawSubtreeAlerts>,
}

/// `[[alerts.subtree]]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubtreeAlerts {
    /// Agency path the settings apply to (and everything below it).
    pub agency: String,
    /// The settings.
    #[serde(flatten)]
    pub rules: RawAlertRules,
}
