//! What the operating system asks of a running server: stop (SIGTERM and SIGINT on Unix;
//! Ctrl-C, closing the console and system shutdown on Windows) or reload (SIGHUP on Unix,
//! Ctrl-Break on Windows, which has no SIGHUP); and, for a Windows service, what the Service
//! Control Manager asks, through a [`Supervisor`].

use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// A request from the operating system or the supervisor.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Stop,
    Reload,
}

/// A service manager that runs the server (the Windows Service Control Manager): its
/// requests come in beside the signals, and it hears when the server serves and when it
/// stops. A console run has none.
pub struct Supervisor {
    pub requests: UnboundedReceiver<Request>,
    pub report: Box<dyn Fn(State) + Send + Sync>,
}

/// What the server tells its supervisor.
pub enum State {
    /// Listening, with the plugin initialised.
    Serving,
    /// Shutting down; the process ends `within` this long at most.
    Stopping { within: Duration },
}

/// The signals and the supervisor's requests, whichever comes first.
pub struct Requests {
    signals: os::Signals,
    supervisor: Option<UnboundedReceiver<Request>>,
}

impl Requests {
    /// Installs the signal handlers; from then on those signals no longer end the process.
    pub fn install(supervisor: Option<UnboundedReceiver<Request>>) -> Result<Self, String> {
        Ok(Self {
            signals: os::Signals::install()?,
            supervisor,
        })
    }

    pub async fn next(&mut self) -> Request {
        let supervisor = async {
            match &mut self.supervisor {
                Some(requests) => requests.recv().await,
                None => None,
            }
        };
        tokio::select! {
            request = self.signals.next() => request,
            // Without a supervisor, or once it is gone, only the signals count.
            Some(request) = supervisor => request,
        }
    }
}

#[cfg(unix)]
use unix as os;
#[cfg(windows)]
use windows as os;

fn cannot_handle(name: &str, error: std::io::Error) -> String {
    format!("cannot handle {name}: {error}")
}

#[cfg(unix)]
mod unix {
    use super::{cannot_handle, Request};
    use tokio::signal::unix::{signal, Signal, SignalKind};

    pub struct Signals {
        terminate: Signal,
        interrupt: Signal,
        hangup: Signal,
    }

    impl Signals {
        /// Installs the handlers; from then on those signals no longer kill the process.
        pub fn install() -> Result<Self, String> {
            let handle =
                |kind, name| signal(kind).map_err(|e: std::io::Error| cannot_handle(name, e));
            Ok(Self {
                terminate: handle(SignalKind::terminate(), "SIGTERM")?,
                interrupt: handle(SignalKind::interrupt(), "SIGINT")?,
                hangup: handle(SignalKind::hangup(), "SIGHUP")?,
            })
        }

        pub async fn next(&mut self) -> Request {
            tokio::select! {
                _ = self.terminate.recv() => Request::Stop,
                _ = self.interrupt.recv() => Request::Stop,
                _ = self.hangup.recv() => Request::Reload,
            }
        }
    }
}

#[cfg(windows)]
mod windows {
    use super::{cannot_handle, Request};
    use tokio::signal::windows::{
        ctrl_break, ctrl_c, ctrl_close, ctrl_shutdown, CtrlBreak, CtrlC, CtrlClose, CtrlShutdown,
    };

    pub struct Signals {
        ctrl_c: CtrlC,
        close: CtrlClose,
        shutdown: CtrlShutdown,
        ctrl_break: CtrlBreak,
    }

    impl Signals {
        /// Installs the console control handlers; from then on Ctrl-C no longer kills the
        /// process.
        pub fn install() -> Result<Self, String> {
            Ok(Self {
                ctrl_c: ctrl_c().map_err(|e| cannot_handle("Ctrl-C", e))?,
                close: ctrl_close().map_err(|e| cannot_handle("console close", e))?,
                shutdown: ctrl_shutdown().map_err(|e| cannot_handle("system shutdown", e))?,
                ctrl_break: ctrl_break().map_err(|e| cannot_handle("Ctrl-Break", e))?,
            })
        }

        pub async fn next(&mut self) -> Request {
            tokio::select! {
                _ = self.ctrl_c.recv() => Request::Stop,
                _ = self.close.recv() => Request::Stop,
                _ = self.shutdown.recv() => Request::Stop,
                _ = self.ctrl_break.recv() => Request::Reload,
            }
        }
    }
}
