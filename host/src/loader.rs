//! Finds, probes and loads a plugin library.
//!
//! Two steps, so that every failure is one clear line: a cheap probe with libloading of the
//! plain C symbol that carries the plugin ABI major ("not a pop3host plugin", "built for ABI
//! 2"), then the typed, layout-checked load in `pop3_plugin_api::host`. This file holds the
//! host's only `unsafe`.

use pop3_plugin_api::ffi::{ABI_MAJOR, ABI_SYMBOL};
use pop3_plugin_api::host::{self, Plugin};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod file_name;

/// Turns `--plugin` into a path: a value with a directory separator or ending in the
/// platform's library suffix is a path; a NAME is the platform's library file for it
/// (`libNAME.so`, `libNAME.dylib`, `NAME.dll`: see `file_name`) next to the running binary (a
/// build tree), then in `../lib/pop3host` from it (the package: `/usr/sbin/pop3host` and
/// `/usr/lib/pop3host/`, wherever the tree is unpacked), then in `plugin_dir`.
pub fn resolve(spec: &str, plugin_dir: Option<&Path>) -> Result<PathBuf, String> {
    if file_name::NATIVE.is_path(spec) {
        let path = PathBuf::from(spec);
        return if path.exists() {
            Ok(path)
        } else {
            Err(format!("plugin {spec}: no such file"))
        };
    }
    let file = file_name::NATIVE.file_for(spec);
    let binary = std::env::current_exe().ok();
    let beside_binary = binary.as_deref().and_then(Path::parent);
    let packaged = beside_binary
        .and_then(Path::parent)
        .map(|prefix| prefix.join("lib/pop3host"));
    let candidates: Vec<PathBuf> = beside_binary
        .map(Path::to_path_buf)
        .into_iter()
        .chain(packaged)
        .chain(plugin_dir.map(Path::to_path_buf))
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

/// A plugin library as loaded: the plugin and the SHA-256 of the file's content, which names
/// the build that serves.
pub struct Loaded {
    pub plugin: &'static Plugin,
    pub sha256: String,
}

/// Probes and loads the library at `path`, by content: the bytes are copied to a private file
/// named by their hash and that copy is loaded. The dynamic loader keeps the first mapping of
/// a path for the life of the process, so loading the file itself would make a rebuild at
/// the same path load the old code again; and the original can be replaced at any time
/// without touching the code that serves. The same content is loaded once per process.
pub fn load(path: &Path) -> Result<Loaded, String> {
    static LOADED: Mutex<Vec<(String, &'static Plugin)>> = Mutex::new(Vec::new());
    let name = path.display();
    let dir = copy_dir().map_err(|why| format!("plugin {name}: {why}"))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    let suffix = path.extension().and_then(|s| s.to_str()).unwrap_or("so");
    let temporary = dir.join(format!(".{stem}-{}.tmp", std::process::id()));
    let _ = fs::remove_file(&temporary);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o700);
    let copying = options
        .open(&temporary)
        .map_err(|e| format!("plugin {name}: cannot copy it to {}: {e}", dir.display()))?;
    let sha256 = copy_hashed(path, copying).inspect_err(|_| {
        let _ = fs::remove_file(&temporary);
    })?;
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(&(_, plugin)) = loaded.iter().find(|(hash, _)| *hash == sha256) {
        let _ = fs::remove_file(&temporary);
        return Ok(Loaded { plugin, sha256 });
    }
    // Every pop3host of this user shares `dir`, so one at a time swaps its copies: another
    // cleaning up must not remove this copy between its rename and its load.
    let _turn = lock_dir(&dir).map_err(|e| format!("plugin {name}: {e}"))?;
    remove_old_copies(&dir, stem);
    let copy = dir.join(format!("{stem}-{}.{suffix}", &sha256[..16]));
    fs::rename(&temporary, &copy)
        .map_err(|e| format!("plugin {name}: cannot copy it to {}: {e}", dir.display()))?;
    let plugin: &'static Plugin = Box::leak(Box::new(load_file(&copy, path)?));
    loaded.push((sha256.clone(), plugin));
    Ok(Loaded { plugin, sha256 })
}

/// The SHA-256 of the file at `path`, to tell whether a reload changes anything.
pub fn sha256_of(path: &Path) -> Result<String, String> {
    copy_hashed(path, std::io::sink())
}

/// Streams the file at `path` into `sink` and returns the SHA-256 of its content; a plugin
/// (tens of MB with debug info) is never held in memory whole.
fn copy_hashed(path: &Path, mut sink: impl Write) -> Result<String, String> {
    let failed = |e: std::io::Error| format!("plugin {}: cannot read it: {e}", path.display());
    let mut file = fs::File::open(path).map_err(failed)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(failed)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
        sink.write_all(&buf[..n]).map_err(failed)?;
    }
}

fn load_file(file: &Path, shown_as: &Path) -> Result<Plugin, String> {
    let name = shown_as.display();
    let abi = probe_abi_major(file).map_err(|why| format!("plugin {name}: {why}"))?;
    if abi != ABI_MAJOR {
        return Err(format!(
            "plugin {name}: built for plugin ABI {abi}, but this pop3host speaks ABI {ABI_MAJOR}; \
             use a pop3host and plugin built for the same ABI"
        ));
    }
    host::load(file).map_err(|err| {
        tracing::debug!(plugin = %name, "full load error:\n{}", err.detail);
        format!("plugin {name}: {}", err.summary)
    })
}

/// The plugin's ABI major, from its `pop3host_plugin_abi_major` function. The library stays
/// loaded: the typed load that follows finds it so, and its initialisers run once.
fn probe_abi_major(path: &Path) -> Result<u32, String> {
    // SAFETY: loading a library runs its initialisers. The operator chose this file as the
    // plugin, and the typed load that follows would run them anyway.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot load it: {e}"))?;
    // SAFETY: every pop3host plugin exports this symbol as `extern "C" fn() -> u32` (written
    // by `export_plugin!`); a library without it is rejected here before any call.
    let abi_major = unsafe { library.get::<extern "C" fn() -> u32>(ABI_SYMBOL.as_bytes()) }
        .map_err(|_| format!("it is not a pop3host plugin (it has no {ABI_SYMBOL} symbol)"))?;
    let abi_major = abi_major();
    // Never unloaded: unloading would run the library's finalisers between two loads, which
    // a C dependency that started threads may not survive.
    std::mem::forget(library);
    Ok(abi_major)
}

/// Where private copies live: systemd's `RUNTIME_DIRECTORY`, else `$XDG_RUNTIME_DIR/pop3host`,
/// else `pop3host-UID` in the temporary directory. It must belong to this user and be
/// writable by no one else, or a local user could swap the code the server loads.
#[cfg(unix)]
fn copy_dir() -> Result<PathBuf, String> {
    let runtime = std::env::var_os("RUNTIME_DIRECTORY")
        .and_then(|dirs| std::env::split_paths(&dirs).next())
        .or_else(|| {
            std::env::var_os("XDG_RUNTIME_DIR").map(|dir| Path::new(&dir).join("pop3host"))
        });
    let uid = nix::unistd::geteuid().as_raw();
    let dir = runtime.unwrap_or_else(|| std::env::temp_dir().join(format!("pop3host-{uid}")));
    let shown = dir.display();
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {shown} for its private copy: {e}")),
    }
    let meta = fs::symlink_metadata(&dir).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{shown}, where its private copy goes, must be a directory of uid {uid} that no one \
             else can write to"
        ));
    }
    Ok(dir)
}

/// Windows: `pop3host` in the user's temporary directory (`%TEMP%`, under the profile, which
/// only that user and the administrators may write to).
#[cfg(windows)]
fn copy_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join("pop3host");
    match fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(dir),
        Err(e) => Err(format!(
            "cannot create {} for its private copy: {e}",
            dir.display()
        )),
    }
}

/// An exclusive lock on `dir`'s `.lock` file, held until the file is dropped (and by no one
/// once its process dies).
fn lock_dir(dir: &Path) -> Result<fs::File, String> {
    let path = dir.join(".lock");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    options.mode(0o600);
    let file = options
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.lock()
        .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    Ok(file)
}

/// Removes `<stem>-<16 hex digits>.*` files: copies made by earlier runs or reloads.
fn remove_old_copies(dir: &Path, stem: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(hash) = name
            .to_str()
            .and_then(|n| n.strip_prefix(stem)?.strip_prefix('-'))
            .and_then(|rest| rest.split('.').next())
        else {
            continue;
        };
        if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `--describe`: what the plugin says of itself, without initialising it.
pub fn describe(loaded: &Loaded, path: &Path) -> serde_json::Value {
    let info = loaded.plugin.describe();
    serde_json::json!({
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "config_help": info.config_help,
        "abi_major": ABI_MAJOR,
        "path": path.display().to_string(),
        "sha256": loaded.sha256,
    })
}
