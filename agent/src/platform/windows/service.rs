//! The `VigilAgent` Windows service: install, uninstall, start, stop, status, and the service
//! entry point the service control manager (SCM) starts.
//!
//! The service runs `vigil-agent.exe service run --state-dir DIR [--config FILE]` as
//! LocalSystem, starts automatically at boot, and is restarted by the SCM 5 s, 30 s and 60 s
//! after a failure (crash or non-zero exit; the count resets after a day). `install` also
//! creates the state directory with its protected ACL and registers the Event Log source;
//! installing over an existing service updates its command line and recovery settings, so an
//! upgrade keeps the service and the state.

use std::ffi::OsString;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

use crate::platform::{AgentBody, InstallOptions, ServiceError, ServiceReport};

/// The service name (`sc query VigilAgent`).
pub const SERVICE_NAME: &str = "VigilAgent";
const DISPLAY_NAME: &str = "Vigil agent";
const DESCRIPTION: &str = "Vigil host-security agent: hardening checks, file and registry \
                           integrity, network watch, reported to the province's collector.";
/// How long `start` and `stop` wait for the service to get there.
const WAIT: Duration = Duration::from_secs(60);

/// Registers (or updates) the service and prepares the state directory.
///
/// # Errors
/// Not elevated, or an SCM call failed.
pub fn install(opts: &InstallOptions) -> Result<ServiceReport, ServiceError> {
    // LocalSystem will run this file: anyone who may replace it or write its directory would
    // own the machine.
    for p in [Some(opts.exe.as_path()), opts.exe.parent()]
        .into_iter()
        .flatten()
    {
        super::acl::check_not_world_writable(p).map_err(|e| {
            ServiceError::Failed(format!(
                "{e}; install vigil-agent.exe where only administrators can write, e.g. \
                 %ProgramFiles%\\Vigil"
            ))
        })?;
    }
    super::create_private_dir(&opts.state_dir).map_err(|e| {
        ServiceError::Failed(format!(
            "{}: creating the state directory: {e}",
            opts.state_dir.display()
        ))
    })?;
    super::eventlog::register_source()
        .map_err(|e| scm_error("registering the Event Log source", e))?;
    let mut args: Vec<OsString> = vec![
        "service".into(),
        "run".into(),
        "--state-dir".into(),
        opts.state_dir.clone().into(),
    ];
    if let Some(c) = &opts.config {
        args.push("--config".into());
        args.push(c.clone().into());
    }
    let info = ServiceInfo {
        name: SERVICE_NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: opts.exe.clone(),
        launch_arguments: args,
        dependencies: vec![],
        account_name: None, // LocalSystem
        account_password: None,
    };
    let manager = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let access = ServiceAccess::CHANGE_CONFIG | ServiceAccess::QUERY_STATUS | ServiceAccess::START;
    let (service, updated) = match manager.create_service(&info, access) {
        Ok(s) => (s, false),
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_EXISTS) => {
            let s = manager
                .open_service(SERVICE_NAME, access)
                .map_err(|e| scm_error("opening the existing service", e))?;
            s.change_config(&info)
                .map_err(|e| scm_error("updating the service", e))?;
            (s, true)
        }
        Err(e) => return Err(scm_error("creating the service", e)),
    };
    service
        .set_description(DESCRIPTION)
        .map_err(|e| scm_error("setting the description", e))?;
    let actions = service
        .update_failure_actions(ServiceFailureActions {
            reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
            reboot_msg: None,
            command: None,
            actions: Some(
                [5, 30, 60]
                    .into_iter()
                    .map(|s| ServiceAction {
                        action_type: ServiceActionType::Restart,
                        delay: Duration::from_secs(s),
                    })
                    .collect(),
            ),
        })
        .map_err(ScmCause::from);
    // A clean exit with an error code (e.g. the state directory became unsafe) is a failure too.
    let on_exit = actions.and_then(|()| {
        service
            .set_failure_actions_on_non_crash_failures(true)
            .map_err(ScmCause::from)
    });
    // An SCM without these settings (Wine's answers ERROR_INVALID_LEVEL) still runs the service:
    // install it and say plainly that it will not be restarted after a failure.
    let restart = match on_exit {
        Ok(()) => "restart on failure".to_owned(),
        Err(c) if c.code == Some(ERROR_INVALID_LEVEL) => {
            format!(
                "WITHOUT restart on failure: this service manager refused it ({})",
                c.text
            )
        }
        Err(c) => return Err(scm_error("setting the recovery actions", c)),
    };
    Ok(ServiceReport {
        message: format!(
            "service {SERVICE_NAME} {} (LocalSystem, automatic start, {restart}); state in {}",
            if updated { "updated" } else { "installed" },
            opts.state_dir.display()
        ),
    })
}

/// Stops the service if it runs, then deletes it and the Event Log source. Without a service
/// (already removed, e.g. by the MSI, which runs this after deleting it) only the source goes.
///
/// # Errors
/// Not elevated, or an SCM call failed.
pub fn uninstall() -> Result<ServiceReport, ServiceError> {
    let manager = manager(ServiceManagerAccess::CONNECT)?;
    let service = match manager.open_service(
        SERVICE_NAME,
        ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
    ) {
        Ok(s) => s,
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => {
            super::eventlog::unregister_source()
                .map_err(|e| scm_error("removing the Event Log source", e))?;
            return Ok(ServiceReport {
                message: format!("service {SERVICE_NAME} is not installed; nothing to remove"),
            });
        }
        Err(e) => return Err(scm_error("opening the service", e)),
    };
    let status = service
        .query_status()
        .map_err(|e| scm_error("querying the service", e))?;
    if status.current_state != ServiceState::Stopped {
        if let Err(e) = service.stop() {
            if os_code(&e) != Some(ERROR_SERVICE_NOT_ACTIVE) {
                return Err(scm_error("stopping the service", e));
            }
        }
        wait_for(&service, ServiceState::Stopped)?;
    }
    service
        .delete()
        .map_err(|e| scm_error("deleting the service", e))?;
    super::eventlog::unregister_source()
        .map_err(|e| scm_error("removing the Event Log source", e))?;
    Ok(ServiceReport {
        message: format!(
            "service {SERVICE_NAME} removed; the state directory (identity, spool) is kept"
        ),
    })
}

/// Starts the service and waits until it runs.
///
/// # Errors
/// Not installed, not elevated, or the service stopped during start (its exit code is named).
pub fn start() -> Result<ServiceReport, ServiceError> {
    let service = open(ServiceAccess::START | ServiceAccess::QUERY_STATUS)?;
    match service.start::<&str>(&[]) {
        Ok(()) => {}
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_ALREADY_RUNNING) => {
            return Ok(ServiceReport {
                message: format!("service {SERVICE_NAME} is already running"),
            });
        }
        Err(e) => return Err(scm_error("starting the service", e)),
    }
    wait_for(&service, ServiceState::Running)?;
    Ok(ServiceReport {
        message: format!("service {SERVICE_NAME} running"),
    })
}

/// Stops the service and waits until it has stopped.
///
/// # Errors
/// Not installed, not elevated, or it did not stop in time.
pub fn stop() -> Result<ServiceReport, ServiceError> {
    let service = open(ServiceAccess::STOP | ServiceAccess::QUERY_STATUS)?;
    match service.stop() {
        Ok(_) => {}
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => {
            return Ok(ServiceReport {
                message: format!("service {SERVICE_NAME} is not running"),
            });
        }
        Err(e) => return Err(scm_error("stopping the service", e)),
    }
    wait_for(&service, ServiceState::Stopped)?;
    Ok(ServiceReport {
        message: format!("service {SERVICE_NAME} stopped"),
    })
}

/// The service's state (`running`, `stopped`, …).
///
/// # Errors
/// Not installed, or the query failed.
pub fn status() -> Result<ServiceReport, ServiceError> {
    let service = open(ServiceAccess::QUERY_STATUS)?;
    let s = service
        .query_status()
        .map_err(|e| scm_error("querying the service", e))?;
    Ok(ServiceReport {
        message: format!("service {SERVICE_NAME}: {}", state_name(s.current_state)),
    })
}

/// The body the service runs, handed over from `run_dispatcher` to the SCM's thread.
static BODY: Mutex<Option<AgentBody>> = Mutex::new(None);

/// Runs `body` as the service: connects to the SCM (which started this process), reports the
/// service running, hands `body` a shutdown receiver that flips on Stop or system shutdown, and
/// reports the exit (a failed body is a service-specific exit code 1, so recovery restarts it).
///
/// # Errors
/// This process was not started by the SCM.
pub fn run_dispatcher(body: AgentBody) -> Result<(), ServiceError> {
    *BODY.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).map_err(|e| {
        ServiceError::Failed(format!(
            "not started by the service control manager ({e}); use `vigil-agent run` in a \
             console, or `vigil-agent service start`"
        ))
    })
}

define_windows_service!(ffi_service_main, service_main);

fn service_main(_args: Vec<OsString>) {
    let Some(body) = BODY.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let (tx, rx) = watch::channel(false);
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            let _ = tx.send(true);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let Ok(handle) = service_control_handler::register(SERVICE_NAME, handler) else {
        return;
    };
    let report = |state, accept, exit: ServiceExitCode| {
        let _ = handle.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accept,
            exit_code: exit,
            checkpoint: 0,
            wait_hint: Duration::from_secs(30),
            process_id: None,
        });
    };
    report(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        ServiceExitCode::Win32(0),
    );
    let exit = match body(rx) {
        Ok(()) => ServiceExitCode::Win32(0),
        Err(e) => {
            tracing::error!(error = %e, "Agent service failed.");
            ServiceExitCode::ServiceSpecific(1)
        }
    };
    report(ServiceState::Stopped, ServiceControlAccept::empty(), exit);
}

const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_INVALID_LEVEL: i32 = 124;
const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
const ERROR_SERVICE_EXISTS: i32 = 1073;

fn manager(access: ServiceManagerAccess) -> Result<ServiceManager, ServiceError> {
    ServiceManager::local_computer(None::<&str>, access)
        .map_err(|e| scm_error("connecting to the service control manager", e))
}

fn open(access: ServiceAccess) -> Result<windows_service::service::Service, ServiceError> {
    manager(ServiceManagerAccess::CONNECT)?
        .open_service(SERVICE_NAME, access)
        .map_err(|e| scm_error("opening the service", e))
}

fn wait_for(
    service: &windows_service::service::Service,
    want: ServiceState,
) -> Result<(), ServiceError> {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = service
            .query_status()
            .map_err(|e| scm_error("querying the service", e))?;
        if s.current_state == want {
            return Ok(());
        }
        if want == ServiceState::Running && s.current_state == ServiceState::Stopped {
            return Err(ServiceError::Failed(format!(
                "service {SERVICE_NAME} stopped while starting (exit code {:?}); see the \
                 Application event log (source {}) and the log in the state directory",
                s.exit_code,
                super::eventlog::SOURCE
            )));
        }
        if Instant::now() >= deadline {
            return Err(ServiceError::Failed(format!(
                "service {SERVICE_NAME} is still {} after {} s",
                state_name(s.current_state),
                WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn state_name(s: ServiceState) -> &'static str {
    match s {
        ServiceState::Stopped => "stopped",
        ServiceState::StartPending => "starting",
        ServiceState::StopPending => "stopping",
        ServiceState::Running => "running",
        ServiceState::ContinuePending => "continuing",
        ServiceState::PausePending => "pausing",
        ServiceState::Paused => "paused",
    }
}

fn os_code(e: &windows_service::Error) -> Option<i32> {
    match e {
        windows_service::Error::Winapi(io) => io.raw_os_error(),
        _ => None,
    }
}

fn scm_error(what: &str, e: impl Into<ScmCause>) -> ServiceError {
    let cause = e.into();
    match cause.code {
        Some(ERROR_ACCESS_DENIED) => ServiceError::NotElevated(format!(
            "{what}: access denied; run this from an elevated prompt (Run as administrator)"
        )),
        Some(ERROR_SERVICE_DOES_NOT_EXIST) => ServiceError::NotInstalled(format!(
            "{what}: service {SERVICE_NAME} is not installed; run `vigil-agent service install`"
        )),
        _ => ServiceError::Failed(format!("{what}: {}", cause.text)),
    }
}

/// An SCM or registry error with its Windows error code.
struct ScmCause {
    code: Option<i32>,
    text: String,
}

impl From<windows_service::Error> for ScmCause {
    fn from(e: windows_service::Error) -> Self {
        Self {
            code: os_code(&e),
            text: match &e {
                windows_service::Error::Winapi(io) => io.to_string(),
                other => other.to_string(),
            },
        }
    }
}

impl From<std::io::Error> for ScmCause {
    fn from(e: std::io::Error) -> Self {
        Self {
            code: e.raw_os_error(),
            text: e.to_string(),
        }
    }
}
