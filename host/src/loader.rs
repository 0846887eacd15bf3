//! Finds, probes and loads a plugin library.
//!
//! Two steps, so that every failure is one clear line: a cheap probe with libloading of the
//! plain C symbol that carries the plugin ABI major ("not a pop3host plugin", "built for ABI
//! 2"), then the typed, layout-checked load in `pop3_plugin_api::host`. This file holds the
//! host's only `unsafe`.

use pop3_plugin_api::ffi::{ABI_MAJOR, ABI_SYMBOL};
use pop3_plugin_api::host::{self, Plugin};
use std::path::{Path, PathBuf};

/// Turns `--plugin` into a path: a value with a `/` or ending in `.so` is a path; a NAME is
/// `libNAME.so` (dashes as underscores, as cargo names libraries) next to the running binary,
/// then in `plugin_dir`.
pub fn resolve(spec: &str, plugin_dir: Option<&Path>) -> Result<PathBuf, String> {
    if spec.contains('/') || spec.ends_with(".so") {
        let path = PathBuf::from(spec);
        return if path.exists() {
            Ok(path)
        } else {
            Err(format!("plugin {spec}: no such file"))
        };
    }
    let file = format!("lib{}.so", spec.replace('-', "_"));
    let binary = std::env::current_exe().ok();
    let beside_binary = binary.as_deref().and_then(Path::parent);
    let candidates: Vec<PathBuf> = beside_binary
        .into_iter()
        .chain(plugin_dir)
        .map(|dir| dir.join(&file))
        .collect();
    candidates
        .iter()
        .find(|path| path.exists())
        .cloned()
        .ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            format!(
                "plugin {spec}: no {file} in {} (give a path, or --plugin-dir)",
                looked.join(" or ")
            )
        })
}

/// Probes and loads the library at `path`.
pub fn load(path: &Path) -> Result<Plugin, String> {
    let name = path.display();
    let abi = probe_abi_major(path).map_err(|why| format!("plugin {name}: {why}"))?;
    if abi != ABI_MAJOR {
        return Err(format!(
            "plugin {name}: built for plugin ABI {abi}, but this pop3host speaks ABI {ABI_MAJOR}; \
             use a pop3host and plugin built for the same ABI"
        ));
    }
    host::load(path).map_err(|err| {
        tracing::debug!(plugin = %name, "full load error:\n{}", err.detail);
        format!("plugin {name}: {}", err.summary)
    })
}

/// The plugin's ABI major, from its `pop3host_plugin_abi_major` function.
fn probe_abi_major(path: &Path) -> Result<u32, String> {
    // SAFETY: loading a library runs its initialisers. The operator chose this file as the
    // plugin, and the typed load that follows would run them anyway.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot load it: {e}"))?;
    // SAFETY: every pop3host plugin exports this symbol as `extern "C" fn() -> u32` (written
    // by `export_plugin!`); a library without it is rejected here before any call.
    let abi_major = unsafe { library.get::<extern "C" fn() -> u32>(ABI_SYMBOL.as_bytes()) }
        .map_err(|_| format!("it is not a pop3host plugin (it has no {ABI_SYMBOL} symbol)"))?;
    Ok(abi_major())
}

/// `--describe`: what the plugin says of itself, without initialising it.
pub fn describe(plugin: &Plugin, path: &Path) -> serde_json::Value {
    let info = plugin.describe();
    serde_json::json!({
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "config_help": info.config_help,
        "abi_major": ABI_MAJOR,
        "path": path.display().to_string(),
    })
}
