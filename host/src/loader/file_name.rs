//! How `--plugin` names a library file on each platform: `libNAME.so` on Linux,
//! `libNAME.dylib` on macOS, `NAME.dll` on Windows (std's `DLL_PREFIX` and `DLL_SUFFIX`, the
//! names cargo gives a cdylib). The rule takes the prefix and suffix as arguments so that
//! every platform's rule is tested on any platform.

/// The platform's rule, for the running build.
pub const NATIVE: Naming = Naming {
    prefix: std::env::consts::DLL_PREFIX,
    suffix: std::env::consts::DLL_SUFFIX,
};

/// A platform's library naming: `prefix` (`lib` or empty) and `suffix` with its dot.
#[derive(Clone, Copy, Debug)]
pub struct Naming {
    pub prefix: &'static str,
    pub suffix: &'static str,
}

impl Naming {
    /// Whether `spec` is a path rather than a NAME: it holds a directory separator (`/`, and
    /// `\` too where libraries are `.dll`, so `C:\plugins\x.dll` and `plugins/x.dll` both
    /// are paths) or ends with the library suffix.
    pub fn is_path(self, spec: &str) -> bool {
        let backslash_separates = self.suffix.eq_ignore_ascii_case(".dll");
        spec.contains('/')
            || (backslash_separates && spec.contains('\\'))
            || spec.ends_with(self.suffix)
            || (backslash_separates && spec.to_ascii_lowercase().ends_with(self.suffix))
    }

    /// The file that holds plugin NAME: dashes become underscores, as cargo names libraries.
    pub fn file_for(self, name: &str) -> String {
        format!("{}{}{}", self.prefix, name.replace('-', "_"), self.suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: Naming = Naming {
        prefix: "lib",
        suffix: ".so",
    };
    const MACOS: Naming = Naming {
        prefix: "lib",
        suffix: ".dylib",
    };
    const WINDOWS: Naming = Naming {
        prefix: "",
        suffix: ".dll",
    };

    #[test]
    fn names_become_each_platforms_library_file() {
        assert_eq!(LINUX.file_for("static-messages"), "libstatic_messages.so");
        assert_eq!(
            MACOS.file_for("static-messages"),
            "libstatic_messages.dylib"
        );
        assert_eq!(WINDOWS.file_for("static-messages"), "static_messages.dll");
        assert_eq!(WINDOWS.file_for("static_messages"), "static_messages.dll");
    }

    #[test]
    fn the_native_rule_is_stds() {
        assert_eq!(
            NATIVE.file_for("maildir"),
            format!(
                "{}maildir{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            )
        );
    }

    #[test]
    fn slashes_and_suffixes_make_a_path() {
        assert!(LINUX.is_path("./plugins/libmaildir.so"));
        assert!(LINUX.is_path("libmaildir.so"));
        assert!(!LINUX.is_path("maildir"));
        assert!(!LINUX.is_path("maildir.dll"));
        assert!(MACOS.is_path("libmaildir.dylib"));
        assert!(!MACOS.is_path("libmaildir.so"));
        assert!(WINDOWS.is_path("maildir.dll"));
        assert!(WINDOWS.is_path("MAILDIR.DLL"));
        assert!(WINDOWS.is_path("plugins/maildir"));
        assert!(!WINDOWS.is_path("maildir"));
    }

    #[test]
    fn backslashes_and_drive_letters_are_paths_only_on_windows() {
        assert!(WINDOWS.is_path(r"C:\pop3host\plugins\maildir.dll"));
        assert!(WINDOWS.is_path(r"plugins\maildir"));
        assert!(WINDOWS.is_path("C:/pop3host/maildir.dll"));
        assert!(!LINUX.is_path(r"odd\name"));
        assert!(!MACOS.is_path(r"odd\name"));
    }
}
