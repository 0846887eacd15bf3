//! Reading the config JSON with serde, with the path of every value at hand, so that each
//! error names the field it is about (`users.alice.messages[1].file: ...`): serde's derive
//! alone reports type errors by line and column, which says little about a one-line
//! `--plugin-config`; `serde_path_to_error` adds the path, as in the host's own config.

use pop3_plugin_api::PopError;
use serde::de::{DeserializeOwned, Deserializer, Error};
use serde::Deserialize;
use serde_json::Value;
use std::fmt::Display;

/// The init error for a bad config value at `path` (empty for the whole config).
pub fn invalid(path: &str, problem: impl Display) -> PopError {
    match path {
        "" => PopError::permanent(format!("static-messages config: {problem}")),
        path => PopError::permanent(format!("static-messages config: {path}: {problem}")),
    }
}

/// `value` as a `T`; an error names the path of the value that does not fit.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, PopError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        invalid(if path == "." { "" } else { &path }, err.into_inner())
    })
}

/// A string that must be one of `names`, as the value it names; an error lists them.
pub fn one_of<'de, D: Deserializer<'de>, T: Copy>(
    deserializer: D,
    names: &[(&str, T)],
) -> Result<T, D::Error> {
    let name = String::deserialize(deserializer)?;
    let found = names.iter().find(|(n, _)| *n == name);
    found.map(|&(_, value)| value).ok_or_else(|| {
        let known = names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        D::Error::custom(format!("unknown value {name:?} (known: {known})"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: Option<u32>,
        #[serde(default, deserialize_with = "letter")]
        c: Option<u8>,
    }

    fn letter<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u8>, D::Error> {
        one_of(deserializer, &[("a", 1), ("b", 2)]).map(Some)
    }

    fn error(value: Value) -> String {
        from_value::<Outer>(value).unwrap_err().message
    }

    #[test]
    fn errors_name_the_path() {
        assert_eq!(
            error(json!({"inner": [{}, {"m": 1}]})),
            "static-messages config: inner[1].m: unknown field `m`, expected `n` or `c`"
        );
        let err = error(json!({"inner": [{"n": "ten"}]}));
        assert!(
            err.starts_with("static-messages config: inner[0].n: invalid type"),
            "{err}"
        );
        let err = error(json!({}));
        assert_eq!(err, "static-messages config: missing field `inner`");
    }

    #[test]
    fn one_of_lists_the_known_values() {
        let ok: Outer = from_value(json!({"inner": [{"c": "b", "n": 7}]})).unwrap();
        assert_eq!((ok.inner[0].c, ok.inner[0].n), (Some(2), Some(7)));
        assert_eq!(
            error(json!({"inner": [{"c": "z"}]})),
            "static-messages config: inner[0].c: unknown value \"z\" (known: a, b)"
        );
    }
}
