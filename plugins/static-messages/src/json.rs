//! Reading the config JSON one object at a time, with the path of every value at hand, so that
//! each error names the field it is about (`users.alice.messages[1].file: ...`). serde's
//! derive reports unknown fields by name but type errors only by line and column, which says
//! little about a one-line `--plugin-config`; this keeps serde for the leaf values and does the
//! `deny_unknown_fields` part with an explicit key list per object.

use pop3_plugin_api::PopError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::fmt::Display;

/// The init error for a bad config value at `path` (empty for the whole config).
pub fn invalid(path: &str, problem: impl Display) -> PopError {
    match path {
        "" => PopError::permanent(format!("static-messages config: {problem}")),
        path => PopError::permanent(format!("static-messages config: {path}: {problem}")),
    }
}

/// `path[index]`, for array elements.
pub fn element(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// A JSON object whose keys have been checked against the ones its reader knows.
pub struct Object<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    /// `value` as an object at `path` (empty for the top level) with no keys beyond `keys`.
    pub fn new(value: &'a Value, path: String, keys: &[&str]) -> Result<Self, PopError> {
        let Some(map) = value.as_object() else {
            return Err(invalid(&path, "expected an object"));
        };
        let object = Self { path, map };
        if let Some(unknown) = map.keys().find(|key| !keys.contains(&key.as_str())) {
            let expected = keys.join(", ");
            return Err(invalid(
                &object.path(unknown),
                format!("unknown key (known: {expected})"),
            ));
        }
        Ok(object)
    }

    /// The path of `key` in this object.
    pub fn path(&self, key: &str) -> String {
        match self.path.as_str() {
            "" => key.to_string(),
            path => format!("{path}.{key}"),
        }
    }

    /// The raw value of `key`, if present.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The value of `key` as a `T`, if present.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, PopError> {
        self.raw(key)
            .map(|value| T::deserialize(value).map_err(|err| invalid(&self.path(key), err)))
            .transpose()
    }

    /// The value of `key` as a `T`; an error if absent.
    pub fn require<T: DeserializeOwned>(&self, key: &str) -> Result<T, PopError> {
        self.get(key)?
            .ok_or_else(|| invalid(&self.path(key), "missing"))
    }

    /// The elements of the array at `key`; none if absent.
    pub fn array(&self, key: &str) -> Result<&'a [Value], PopError> {
        match self.raw(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(invalid(&self.path(key), "expected an array")),
        }
    }

    /// The value of `key` as the value of one of `names`, if present.
    pub fn choice<T: Copy>(&self, key: &str, names: &[(&str, T)]) -> Result<Option<T>, PopError> {
        let Some(name) = self.get::<String>(key)? else {
            return Ok(None);
        };
        let found = names
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, value)| value);
        let known = || names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        found.map(Some).ok_or_else(|| {
            invalid(
                &self.path(key),
                format!("unknown value {name:?} (known: {})", known()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let value = json!({"pasword": "x"});
        let err = Object::new(&value, "users.bob".into(), &["password"])
            .err()
            .unwrap();
        assert_eq!(
            err.message,
            "static-messages config: users.bob.pasword: unknown key (known: password)"
        );
    }

    #[test]
    fn type_error_names_the_key() {
        let value = json!({"n": "ten"});
        let object = Object::new(&value, String::new(), &["n"]).unwrap();
        let err = object.get::<u32>("n").unwrap_err();
        assert!(
            err.message
                .starts_with("static-messages config: n: invalid type"),
            "{err}"
        );
        assert!(object
            .require::<u32>("m")
            .unwrap_err()
            .message
            .ends_with("m: missing"));
    }

    #[test]
    fn choice_lists_the_known_values() {
        let value = json!({"c": "b", "d": "z"});
        let object = Object::new(&value, "x".into(), &["c", "d"]).unwrap();
        let names = [("a", 1), ("b", 2)];
        assert_eq!(object.choice("c", &names).unwrap(), Some(2));
        let err = object.choice("d", &names).unwrap_err();
        assert!(
            err.message
                .ends_with("x.d: unknown value \"z\" (known: a, b)"),
            "{err}"
        );
    }
}
