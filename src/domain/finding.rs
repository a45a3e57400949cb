//! What the creep checks find: the rule, how much it weighs, the words for DAP, and DAP's
//! written overrides, as the register keeps them with each proposal and decision.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Licence,
    Duplicate,
    Derivable,
    Budget,
    Frequency,
    Scope,
    /// Providers are given notice before a new collection is owed.
    Notice,
}

impl Rule {
    pub const ALL: [Rule; 7] = [
        Rule::Licence,
        Rule::Duplicate,
        Rule::Derivable,
        Rule::Budget,
        Rule::Frequency,
        Rule::Scope,
        Rule::Notice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Licence => "licence",
            Rule::Duplicate => "duplicate",
            Rule::Derivable => "derivable",
            Rule::Budget => "budget",
            Rule::Frequency => "frequency",
            Rule::Scope => "scope",
            Rule::Notice => "notice",
        }
    }

    pub fn parse(s: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The proposal cannot be listed unless DAP overrides this with a written reason.
    Blocking,
    /// DAP should read this before deciding.
    Warning,
    Pass,
}

/// DAP's written reason for listing despite a blocking finding. Overrides are public.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Override {
    pub rule: Rule,
    pub reason: String,
}

impl Override {
    /// Reads `rule=reason`, as the CLI takes it.
    pub fn parse(s: &str) -> Result<Override, Invalid> {
        let (rule, reason) = s.split_once('=').unwrap_or((s, ""));
        let rule = Rule::parse(rule.trim()).ok_or_else(|| {
            let rules: Vec<_> = Rule::ALL.iter().map(|r| r.as_str()).collect();
            Invalid::new(
                "override",
                format!(
                    "\"{}\" is not a rule (expected one of: {})",
                    rule.trim(),
                    rules.join(", ")
                ),
            )
        })?;
        Ok(Override {
            rule,
            reason: reason.trim().to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// Plain words for DAP and the proposer.
    pub message: String,
    /// Slugs of the listed collections the finding is about.
    pub related: Vec<String>,
}

impl Finding {
    pub fn new(rule: Rule, severity: Severity, message: String, related: Vec<String>) -> Finding {
        Finding {
            rule,
            severity,
            message,
            related,
        }
    }

    pub fn is_blocking(&self) -> bool {
        self.severity == Severity::Blocking
    }
}
