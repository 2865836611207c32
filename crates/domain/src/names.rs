//! Validated names: accounts, datasets, samples, labelsets, releases.

use crate::{Error, Result};

/// Longest account or dataset name we accept.
pub const MAX_NAME_LEN: usize = 100;
/// Longest sample, labelset or release name we accept.
pub const MAX_OBJECT_NAME_LEN: usize = 255;

/// Checks an account (user or organization) name: 1–100 of `[A-Za-z0-9_.-]`, not starting with
/// `.` or `-`. Account names appear in URLs and in `owner/name`, so no `/` or spaces.
pub fn account_name(s: &str) -> Result<String> {
    slug(s, "account")
}

/// Checks a dataset name, with the same rules as account names.
pub fn dataset_name(s: &str) -> Result<String> {
    slug(s, "dataset")
}

fn slug(s: &str, what: &str) -> Result<String> {
    if s.is_empty() {
        return Err(Error::invalid(
            "invalid_name",
            format!("The {what} name may not be empty."),
        ));
    }
    if s.chars().count() > MAX_NAME_LEN {
        return Err(Error::invalid(
            "invalid_name",
            format!("The {what} name may be at most {MAX_NAME_LEN} characters long."),
        ));
    }
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if !ok_chars || s.starts_with('.') || s.starts_with('-') {
        return Err(Error::invalid(
            "invalid_name",
            format!(
                "The {what} name {s:?} is invalid: use letters, digits, '_', '-' and '.', not starting with '.' or '-'."
            ),
        ));
    }
    Ok(s.to_owned())
}

/// Checks a sample, labelset or release name: 1–255 characters, no control characters.
/// Sample names are often file names (`rose.png`, `dir/rose.png`), so `/` is allowed here.
pub fn object_name(s: &str, what: &str) -> Result<String> {
    if s.trim().is_empty() {
        return Err(Error::invalid(
            "invalid_name",
            format!("The {what} name may not be empty."),
        ));
    }
    if s.chars().count() > MAX_OBJECT_NAME_LEN {
        return Err(Error::invalid(
            "invalid_name",
            format!("The {what} name may be at most {MAX_OBJECT_NAME_LEN} characters long."),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_name",
            format!("The {what} name may not contain control characters."),
        ));
    }
    Ok(s.to_owned())
}

/// Checks a labelset or release name, which appear as one URL path segment: no `/`.
pub fn path_segment_name(s: &str, what: &str) -> Result<String> {
    let s = object_name(s, what)?;
    if s.contains('/') {
        return Err(Error::invalid(
            "invalid_name",
            format!("The {what} name may not contain '/'."),
        ));
    }
    Ok(s)
}

/// Splits `owner/name` into its two validated parts.
pub fn full_name(owner: &str, name: &str) -> String {
    format!("{owner}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names() {
        assert!(account_name("jane").is_ok());
        assert!(account_name("jane.doe-2_x").is_ok());
        for bad in ["", "a/b", "a b", ".x", "-x", &"x".repeat(101), "é"] {
            assert!(account_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn object_names() {
        assert!(object_name("dir/rose.png", "sample").is_ok());
        assert!(object_name(" ", "sample").is_err());
        assert!(object_name("a\nb", "sample").is_err());
        assert!(object_name(&"x".repeat(256), "sample").is_err());
        assert!(path_segment_name("v1.0", "release").is_ok());
        assert!(path_segment_name("a/b", "release").is_err());
    }
}
