//! What the operating system asks of a running server: stop (SIGTERM and SIGINT on Unix;
//! Ctrl-C, closing the console and system shutdown on Windows) or reload (SIGHUP on Unix,
//! Ctrl-Break on Windows, which has no SIGHUP).

/// A request from the operating system.
pub enum Request {
    Stop,
    Reload,
}

#[cfg(unix)]
pub use unix::Signals;
#[cfg(windows)]
pub use windows::Signals;

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
