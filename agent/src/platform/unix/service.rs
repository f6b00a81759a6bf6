//! On Linux systemd runs the agent (`packaging/systemd/vigil-agent.service`); the `service`
//! commands say so instead of doing anything.

use crate::platform::{AgentBody, InstallOptions, ServiceError, ServiceReport};

fn unsupported() -> ServiceError {
    ServiceError::Unsupported(
        "`vigil-agent service` manages the Windows service; on Linux systemd runs the agent: \
         systemctl enable --now vigil-agent (stop, status, disable likewise)"
            .to_string(),
    )
}

/// Unsupported on Linux.
///
/// # Errors
/// Always [`ServiceError::Unsupported`].
pub fn install(_opts: &InstallOptions) -> Result<ServiceReport, ServiceError> {
    Err(unsupported())
}

/// Unsupported on Linux.
///
/// # Errors
/// Always [`ServiceError::Unsupported`].
pub fn uninstall() -> Result<ServiceReport, ServiceError> {
    Err(unsupported())
}

/// Unsupported on Linux.
///
/// # Errors
/// Always [`ServiceError::Unsupported`].
pub fn start() -> Result<ServiceReport, ServiceError> {
    Err(unsupported())
}

/// Unsupported on Linux.
///
/// # Errors
/// Always [`ServiceError::Unsupported`].
pub fn stop() -> Result<ServiceReport, ServiceError> {
    Err(unsupported())
}

/// Unsupported on Linux.
///
/// # Errors
/// Always [`ServiceError::Unsupported`].
pub fn status() -> Result<ServiceReport, ServiceError> {
    Err(unsupported())
}

/// Unsupported on Linux.
///
/// # Errors
/// Always [`ServiceError::Unsupported`].
pub fn run_dispatcher(_body: AgentBody) -> Result<(), ServiceError> {
    Err(unsupported())
}
