//! The generic half of reading a definition: a walker over a TOML table that records a
//! problem for anything missing, mistyped or unknown, so that one pass finds everything.

use toml::{Table, Value};

use super::PROSE_KEYS;
use crate::domain::Problem;

/// Walks a TOML table, recording a problem for anything missing, mistyped or unknown.
/// Getters return `None` after recording why, so one pass finds everything.
pub(super) struct Reader<'a> {
    pub(super) file: &'a str,
    pub(super) problems: Vec<Problem>,
}

impl Reader<'_> {
    pub(super) fn problem(&mut self, field: &str, reason: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.into(),
            field: field.into(),
            reason: reason.into(),
        });
    }

    pub(super) fn path(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.into()
        } else {
            format!("{prefix}.{key}")
        }
    }

    pub(super) fn unknown_keys(&mut self, t: &Table, prefix: &str, allowed: &[&str]) {
        for key in t.keys() {
            if !allowed.contains(&key.as_str()) {
                self.problem(&Self::path(prefix, key), "unknown field");
            }
        }
    }

    pub(super) fn opt_str(&mut self, t: &Table, prefix: &str, key: &str) -> Option<String> {
        match t.get(key) {
            None => None,
            // Text is printed on the register and in terminals: no escape sequences, and
            // line breaks only where prose may have them.
            Some(Value::String(s)) if s.chars().any(|c| c.is_control() && c != '\n') => {
                self.problem(&Self::path(prefix, key), "must not hold control characters");
                None
            }
            Some(Value::String(s)) if s.trim().contains('\n') && !PROSE_KEYS.contains(&key) => {
                self.problem(&Self::path(prefix, key), "must be on one line");
                None
            }
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(v) => {
                self.problem(
                    &Self::path(prefix, key),
                    format!("expected text, found {}", v.type_str()),
                );
                None
            }
        }
    }

    pub(super) fn str(&mut self, t: &Table, prefix: &str, key: &str) -> Option<String> {
        match t.get(key) {
            None => {
                self.problem(&Self::path(prefix, key), "is required");
                None
            }
            Some(_) => match self.opt_str(t, prefix, key) {
                Some(s) if s.is_empty() => {
                    self.problem(&Self::path(prefix, key), "must not be empty");
                    None
                }
                other => other,
            },
        }
    }

    pub(super) fn parsed<T, E: Into<String>>(
        &mut self,
        t: &Table,
        prefix: &str,
        key: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        let s = self.str(t, prefix, key)?;
        parse(&s)
            .map_err(|e| self.problem(&Self::path(prefix, key), e))
            .ok()
    }

    pub(super) fn opt_number(&mut self, t: &Table, prefix: &str, key: &str) -> Option<f64> {
        match t.get(key)? {
            Value::Integer(i) => Some(*i as f64),
            Value::Float(f) if f.is_finite() => Some(*f),
            Value::Float(f) => {
                self.problem(
                    &Self::path(prefix, key),
                    format!("{f} is not a finite number"),
                );
                None
            }
            v => {
                self.problem(
                    &Self::path(prefix, key),
                    format!("expected a number, found {}", v.type_str()),
                );
                None
            }
        }
    }

    pub(super) fn number(
        &mut self,
        t: &Table,
        prefix: &str,
        key: &str,
        min: f64,
        max: f64,
    ) -> Option<f64> {
        if !t.contains_key(key) {
            self.problem(&Self::path(prefix, key), "is required");
            return None;
        }
        let n = self.opt_number(t, prefix, key)?;
        if !(min..=max).contains(&n) {
            self.problem(
                &Self::path(prefix, key),
                format!("must be from {min} to {max}"),
            );
            return None;
        }
        Some(n)
    }

    pub(super) fn integer(&mut self, t: &Table, prefix: &str, key: &str) -> Option<i64> {
        match t.get(key) {
            None => {
                self.problem(&Self::path(prefix, key), "is required");
                None
            }
            Some(Value::Integer(i)) => Some(*i),
            Some(v) => {
                self.problem(
                    &Self::path(prefix, key),
                    format!("expected a whole number, found {}", v.type_str()),
                );
                None
            }
        }
    }

    pub(super) fn str_list(&mut self, t: &Table, prefix: &str, key: &str) -> Vec<String> {
        let field = Self::path(prefix, key);
        match t.get(key) {
            None => Vec::new(),
            Some(Value::Array(a)) => {
                let mut out = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    match v {
                        Value::String(s) => out.push(s.trim().to_owned()),
                        v => self.problem(
                            &format!("{field}[{i}]"),
                            format!("expected text, found {}", v.type_str()),
                        ),
                    }
                }
                out
            }
            Some(v) => {
                self.problem(&field, format!("expected a list, found {}", v.type_str()));
                Vec::new()
            }
        }
    }

    pub(super) fn table<'t>(&mut self, t: &'t Table, key: &str) -> Option<&'t Table> {
        match t.get(key) {
            None => {
                self.problem(key, "is required");
                None
            }
            Some(Value::Table(inner)) => Some(inner),
            Some(v) => {
                self.problem(key, format!("expected a table, found {}", v.type_str()));
                None
            }
        }
    }

    /// A true-or-false field, `default` when absent.
    pub(super) fn flag(&mut self, t: &Table, prefix: &str, key: &str, default: bool) -> bool {
        match t.get(key) {
            None => default,
            Some(Value::Boolean(b)) => *b,
            Some(v) => {
                self.problem(
                    &Self::path(prefix, key),
                    format!("expected true or false, found {}", v.type_str()),
                );
                default
            }
        }
    }
}
