//! The JSON configuration file (`--config`) and `--plugin-config`. The file may carry `//`
//! and `/* */` comments (stripped by `json_comments`, which keeps line and column numbers),
//! so that a shipped default can explain itself.

use super::Settings;
use std::path::Path;

/// Reads a JSON config file; `plugin_config` is taken out first because there it is any JSON
/// value, not text.
pub fn read(path: &Path) -> Result<(Settings, Option<serde_json::Value>), String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("--config {name}: {e}"))?;
    let mut value: serde_json::Value =
        serde_json::from_reader(json_comments::StripComments::new(text.as_bytes()))
            .map_err(|e| format!("{name}: not valid JSON: {e}"))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| format!("{name}: must be a JSON object"))?;
    let plugin_config = object.remove("plugin_config");
    for skipped in ["config", "describe", "check_config"] {
        if object.contains_key(skipped) {
            return Err(format!(
                "{name}: field `{skipped}` is only a command-line flag"
            ));
        }
    }
    let settings = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("{name}: field `{path}`: {}", e.into_inner())
    })?;
    Ok((settings, plugin_config))
}

/// `--plugin-config`: JSON text, or `@FILE`.
pub fn plugin_config_arg(arg: &str) -> Result<serde_json::Value, String> {
    let (text, source) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| format!("--plugin-config @{path}: {e}"))?,
            format!("--plugin-config @{path}"),
        ),
        None => (arg.to_string(), "--plugin-config".to_string()),
    };
    serde_json::from_str(&text).map_err(|e| format!("{source}: not valid JSON: {e}"))
}
