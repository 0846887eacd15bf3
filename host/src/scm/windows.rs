//! The Service Control Manager's side: registering the service, and serving under it, where
//! its controls take the place of the console's Ctrl-C and Ctrl-Break.

use crate::config::Settings;
use crate::server::{Request, State, Supervisor};
use std::ffi::OsString;
use std::sync::OnceLock;
use std::time::Duration;
use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_dispatcher;
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_sys::Win32::Foundation::ERROR_FAILED_SERVICE_CONTROLLER_CONNECT;

/// The controls a running service accepts; [`request`] says what each asks.
const ACCEPTED: ServiceControlAccept = ServiceControlAccept::STOP
    .union(ServiceControlAccept::SHUTDOWN)
    .union(ServiceControlAccept::PARAM_CHANGE);

/// How long starting may take (loading and initialising the plugin) before the Service
/// Control Manager may take the service for hung: its own default.
const START_WAIT: Duration = Duration::from_secs(30);

/// Registers the service NAME: it starts with Windows, as `account`, and runs pop3host.exe
/// with `arguments`.
pub fn install(name: &str, account: &str, arguments: &[String]) -> Result<(), String> {
    let what = format!("service install: {name}");
    let executable_path = std::env::current_exe().map_err(|e| format!("{what}: {e}"))?;
    let info = ServiceInfo {
        name: name.into(),
        display_name: format!("pop3host ({name})").into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path,
        launch_arguments: arguments.iter().map(OsString::from).collect(),
        dependencies: Vec::new(),
        account_name: Some(account.into()),
        account_password: None,
    };
    let manager = manager(ServiceManagerAccess::CREATE_SERVICE, &what)?;
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .map_err(|e| scm_error(&what, e))?;
    service
        .set_description("POP3 server whose mailboxes come from plugins")
        .map_err(|e| scm_error(&what, e))?;
    println!("installed service {name}, running as {account}; start it with: sc start {name}");
    Ok(())
}

/// Removes the service NAME; the Service Control Manager removes a running one when it stops.
pub fn uninstall(name: &str) -> Result<(), String> {
    let what = format!("service uninstall: {name}");
    let manager = manager(ServiceManagerAccess::empty(), &what)?;
    manager
        .open_service(name, ServiceAccess::DELETE)
        .and_then(|service| service.delete())
        .map_err(|e| scm_error(&what, e))?;
    println!("removed service {name}");
    Ok(())
}

/// What [`run`] hands to [`service_main`], which Windows calls without context.
static SERVICE: OnceLock<(String, Settings)> = OnceLock::new();
/// Why the service stopped, when it failed.
static FAILURE: OnceLock<String> = OnceLock::new();

/// Serves as the service NAME until the Service Control Manager stops it. Blocks: the Service
/// Control Manager calls [`service_main`] on a thread of its own.
pub fn run(name: String, settings: Settings) -> Result<(), String> {
    let what = format!("service run: {name}");
    if SERVICE.set((name.clone(), settings)).is_err() {
        return Err(format!("{what}: already running"));
    }
    service_dispatcher::start(&name, service_main).map_err(|e| match e {
        windows_service::Error::Winapi(error)
            if error.raw_os_error() == Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT as i32) =>
        {
            format!(
                "{what}: not started by the Service Control Manager (`sc start {name}`); \
                 in a console, run pop3host without `service run`"
            )
        }
        e => scm_error(&what, e),
    })?;
    FAILURE.get().map_or(Ok(()), |failure| Err(failure.clone()))
}

/// The service's entry point. The arguments of `sc start NAME ARGS` are not read: the service
/// runs with the options registered at install, on its command line.
extern "system" fn service_main(_argument_count: u32, _arguments: *mut *mut u16) {
    let Some((name, settings)) = SERVICE.get() else {
        return;
    };
    if let Err(failure) = serve(name, settings.clone()) {
        tracing::error!("{failure}");
        let _ = FAILURE.set(failure);
    }
}

/// Runs the server as a console run would, with the Service Control Manager as its
/// supervisor, and reports each state to it.
fn serve(name: &str, settings: Settings) -> Result<(), String> {
    let what = format!("service run: {name}");
    let (sender, requests) = tokio::sync::mpsc::unbounded_channel();
    let status = service_control_handler::register(name, move |control| match request(control) {
        Some(request) => {
            let _ = sender.send(request);
            ServiceControlHandlerResult::NoError
        }
        None if control == ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        None => ServiceControlHandlerResult::NotImplemented,
    })
    .map_err(|e| scm_error(&what, e))?;
    let set = move |current_state, wait_hint, exit_code| {
        let accepted = match current_state {
            ServiceState::Running => ACCEPTED,
            _ => ServiceControlAccept::empty(),
        };
        let result = status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state,
            controls_accepted: accepted,
            exit_code,
            checkpoint: 0,
            wait_hint,
            process_id: None,
        });
        if let Err(e) = result {
            tracing::warn!("{}", scm_error("cannot report the service state", e));
        }
    };
    set(
        ServiceState::StartPending,
        START_WAIT,
        ServiceExitCode::NO_ERROR,
    );
    let report = move |state| match state {
        State::Serving => set(
            ServiceState::Running,
            Duration::ZERO,
            ServiceExitCode::NO_ERROR,
        ),
        State::Stopping { within } => {
            set(ServiceState::StopPending, within, ServiceExitCode::NO_ERROR)
        }
    };
    let supervisor = Supervisor {
        requests,
        report: Box::new(report),
    };
    let served = crate::run(settings, Some(supervisor));
    let exit_code = match served {
        Ok(()) => ServiceExitCode::NO_ERROR,
        Err(_) => ServiceExitCode::ServiceSpecific(1),
    };
    set(ServiceState::Stopped, Duration::ZERO, exit_code);
    served
}

/// What a control asks of the server: stop and system shutdown stop it as Ctrl-C does,
/// "paramchange" reloads as Ctrl-Break does. `None` for the controls not in [`ACCEPTED`].
fn request(control: ServiceControl) -> Option<Request> {
    match control {
        ServiceControl::Stop | ServiceControl::Shutdown => Some(Request::Stop),
        ServiceControl::ParamChange => Some(Request::Reload),
        _ => None,
    }
}

fn manager(access: ServiceManagerAccess, what: &str) -> Result<ServiceManager, String> {
    ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT | access)
        .map_err(|e| scm_error(what, e))
}

/// The crate's error with the operating system's reason, which its own text leaves out.
fn scm_error(what: &str, error: windows_service::Error) -> String {
    match error {
        windows_service::Error::Winapi(error) => format!("{what}: {error}"),
        error => format!("{what}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_shutdown_stop_and_paramchange_reloads() {
        for (control, accepted, asks) in [
            (
                ServiceControl::Stop,
                ServiceControlAccept::STOP,
                Request::Stop,
            ),
            (
                ServiceControl::Shutdown,
                ServiceControlAccept::SHUTDOWN,
                Request::Stop,
            ),
            (
                ServiceControl::ParamChange,
                ServiceControlAccept::PARAM_CHANGE,
                Request::Reload,
            ),
        ] {
            assert_eq!(request(control), Some(asks), "{control:?}");
            assert!(ACCEPTED.contains(accepted), "{control:?}");
        }
        for other in [
            ServiceControl::Pause,
            ServiceControl::Continue,
            ServiceControl::Interrogate,
            ServiceControl::Preshutdown,
        ] {
            assert_eq!(request(other), None, "{other:?}");
        }
    }
}
