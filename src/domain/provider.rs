//! Organisations that must report: their kinds, their codes, and what the register keeps of
//! each.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Invalid;

/// Kinds of provider a collection can ask to respond.
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
pub enum ProviderKind {
    AcuteTrust,
    MentalHealthTrust,
    CommunityTrust,
    AmbulanceTrust,
    CareHome,
    GpPractice,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 6] = [
        ProviderKind::AcuteTrust,
        ProviderKind::MentalHealthTrust,
        ProviderKind::CommunityTrust,
        ProviderKind::AmbulanceTrust,
        ProviderKind::CareHome,
        ProviderKind::GpPractice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::AcuteTrust => "acute_trust",
            ProviderKind::MentalHealthTrust => "mental_health_trust",
            ProviderKind::CommunityTrust => "community_trust",
            ProviderKind::AmbulanceTrust => "ambulance_trust",
            ProviderKind::CareHome => "care_home",
            ProviderKind::GpPractice => "gp_practice",
        }
    }

    /// As people say it of one: `acute trust`, `care home`.
    pub fn singular(self) -> &'static str {
        match self {
            ProviderKind::AcuteTrust => "acute trust",
            ProviderKind::MentalHealthTrust => "mental health trust",
            ProviderKind::CommunityTrust => "community trust",
            ProviderKind::AmbulanceTrust => "ambulance trust",
            ProviderKind::CareHome => "care home",
            ProviderKind::GpPractice => "GP practice",
        }
    }

    /// As people say it of many: `acute trusts`, `care homes`.
    pub fn plural(self) -> &'static str {
        match self {
            ProviderKind::AcuteTrust => "acute trusts",
            ProviderKind::MentalHealthTrust => "mental health trusts",
            ProviderKind::CommunityTrust => "community trusts",
            ProviderKind::AmbulanceTrust => "ambulance trusts",
            ProviderKind::CareHome => "care homes",
            ProviderKind::GpPractice => "GP practices",
        }
    }

    pub fn parse(s: &str) -> Result<ProviderKind, Invalid> {
        ProviderKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
                Invalid::new(
                    "provider kind",
                    format!(
                        "unknown provider kind \"{s}\" (expected one of: {})",
                        known.join(", ")
                    ),
                )
            })
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ODS code (`RXX`, `R0A`) or CQC location id (`1-123456789`): upper-case letters, digits
/// and hyphens, 3 to 16 characters. Codes appear in paths and URLs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderCode(String);

impl ProviderCode {
    pub fn parse(s: &str) -> Result<ProviderCode, Invalid> {
        let ok = (3..=16).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-');
        if ok {
            Ok(ProviderCode(s.to_owned()))
        } else {
            Err(Invalid::new(
                "provider code",
                format!(
                    "\"{s}\" is not an ODS code or CQC location id (3 to 16 upper-case letters, digits or hyphens)"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderCode {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        ProviderCode::parse(&s)
    }
}

impl From<ProviderCode> for String {
    fn from(c: ProviderCode) -> String {
        c.0
    }
}

impl fmt::Display for ProviderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Provider {
    /// ODS code or CQC location id.
    #[schema(value_type = String)]
    pub code: ProviderCode,
    pub name: String,
    pub kind: ProviderKind,
    pub region: String,
    pub icb: Option<String>,
    pub local_authority: Option<String>,
    pub opened_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    #[schema(value_type = Option<String>)]
    pub successor: Option<ProviderCode>,
}

impl Provider {
    /// Open on `day`: opened on or before it, and not closed on or before it.
    pub fn is_open_on(&self, day: NaiveDate) -> bool {
        self.opened_on.is_none_or(|o| o <= day) && self.closed_on.is_none_or(|c| c > day)
    }
}
