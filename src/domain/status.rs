//! Where a run stands in the ledger, and where a collection stands in the register: each an
//! enum with one text form, the one the store writes, the API serves and the pages show.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A status text the store did not write: a register from a newer Tally, or a hand edit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a {kind} status (one of: {known})")]
pub struct UnknownStatus {
    pub kind: &'static str,
    pub text: String,
    pub known: String,
}

/// Defines a status enum with its text forms, parsing, `Display` and serde as that text.
macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every status, in the order the ledger's story tells them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The one text form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // `pad`, not `write_str`: the CLI's tables align statuses with `{:<9}`.
                f.pad(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownStatus;

            fn from_str(text: &str) -> Result<Self, UnknownStatus> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownStatus {
                        kind: $kind,
                        text: text.to_owned(),
                        known: $name::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownStatus;

            fn try_from(text: String) -> Result<Self, UnknownStatus> {
                text.parse()
            }
        }

        impl PartialEq<&str> for $name {
            /// Compares with the text form, as the API and the ledger show it (for tests and
            /// for what comes in from outside; code matches the variants).
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

status_enum!(
    /// Where one attempt to pull a (collection, provider, period) stands in the run ledger.
    RunStatus, "run", {
        /// Claimed by an instance, which holds it under a lease while it pulls.
        Running => "running",
        /// Landed on time.
        Landed => "landed",
        /// The first version, landed after the deadline, inside the amendment window.
        Late => "late",
        /// A further version of a period that had landed: a correction, which is never late.
        Amended => "amended",
        /// The extract failed validation as a whole.
        Rejected => "rejected",
        /// The pull failed (no source, source down, time-out); the runner tries again after
        /// a backoff until the period closes.
        Failed => "failed",
        /// The collection is not listed and unexpired (rule 1).
        Refused => "refused",
        /// Let go: its instance shut down, or stopped renewing its lease and another let it
        /// go; it is pulled again.
        Due => "due",
    }
);

impl RunStatus {
    /// A version landed: on time, late or as a correction.
    pub fn landed(self) -> bool {
        matches!(
            self,
            RunStatus::Landed | RunStatus::Late | RunStatus::Amended
        )
    }
}

status_enum!(
    /// One step in a collection's decision log: a proposal, or what DAP decided about it.
    Step, "decision", {
        /// A definition was proposed for listing.
        Propose => "propose",
        /// DAP listed it under a licence.
        List => "list",
        /// DAP refused the proposal.
        Reject => "reject",
        /// DAP took it out of force for a while.
        Suspend => "suspend",
        /// DAP brought a suspended collection back into force.
        Reinstate => "reinstate",
        /// DAP took it out of force for good.
        Retire => "retire",
        /// A pending proposal was made moot by another step.
        Withdraw => "withdraw",
    }
);

impl Step {
    /// The steps that change what is in force, and so the burden.
    pub fn changes_force(self) -> bool {
        matches!(
            self,
            Step::List | Step::Retire | Step::Suspend | Step::Reinstate
        )
    }
}

status_enum!(
    /// What came of a request the audit log records.
    AuditOutcome, "audit outcome", {
        /// It was done.
        Done => "done",
        /// It was refused: no right to it, or it broke a rule.
        Refused => "refused",
        /// A file was read and rejected by its checks.
        Rejected => "rejected",
        /// It was tried and failed on the service's side.
        Failed => "failed",
    }
);

status_enum!(
    /// How a run's extract arrived.
    Arrival, "arrival", {
        /// Pulled from the provider's source by the scheduler or `tally pull`.
        Pulled => "pulled",
        /// Uploaded by hand: on the provider's page, through the API or `tally upload`.
        Uploaded => "uploaded",
        /// Declared a nil return by the provider: nothing to report for the period.
        Nil => "nil",
    }
);

status_enum!(
    /// What one pull came to: how its run ended, or skipped.
    PullStatus, "pull", {
        Landed => "landed",
        Late => "late",
        Amended => "amended",
        Rejected => "rejected",
        Failed => "failed",
        Refused => "refused",
        /// Not pulled: another instance holds the run, or the period has landed already.
        Skipped => "skipped",
    }
);

status_enum!(
    /// What an upload came to, as the provider is told.
    UploadStatus, "upload", {
        /// The period's first version, on time.
        Landed => "landed",
        /// The period's first version, after its deadline.
        Late => "late",
        /// A further version: a correction.
        Amended => "amended",
        /// The same file as the current version: nothing new is stored.
        Unchanged => "unchanged",
        /// The validation report says why.
        Rejected => "rejected",
        Failed => "failed",
        Refused => "refused",
    }
);

impl From<RunStatus> for PullStatus {
    fn from(s: RunStatus) -> PullStatus {
        match s {
            RunStatus::Landed => PullStatus::Landed,
            RunStatus::Late => PullStatus::Late,
            RunStatus::Amended => PullStatus::Amended,
            RunStatus::Rejected => PullStatus::Rejected,
            RunStatus::Refused => PullStatus::Refused,
            // A pull always ends its run; one that could not is failed.
            RunStatus::Failed | RunStatus::Running | RunStatus::Due => PullStatus::Failed,
        }
    }
}

impl PullStatus {
    /// A version landed: on time, late or as a correction.
    pub fn landed(self) -> bool {
        matches!(
            self,
            PullStatus::Landed | PullStatus::Late | PullStatus::Amended
        )
    }

    /// What the provider who uploaded is told: `unchanged` when nothing new landed.
    pub fn uploaded(self, unchanged: bool) -> UploadStatus {
        match self {
            _ if unchanged => UploadStatus::Unchanged,
            PullStatus::Landed => UploadStatus::Landed,
            PullStatus::Late => UploadStatus::Late,
            PullStatus::Amended => UploadStatus::Amended,
            PullStatus::Rejected => UploadStatus::Rejected,
            PullStatus::Refused => UploadStatus::Refused,
            PullStatus::Failed | PullStatus::Skipped => UploadStatus::Failed,
        }
    }
}

impl UploadStatus {
    /// The file was dealt with: a new version, or the same as the current one.
    pub fn done(self) -> bool {
        matches!(
            self,
            UploadStatus::Landed
                | UploadStatus::Late
                | UploadStatus::Amended
                | UploadStatus::Unchanged
        )
    }
}

status_enum!(
    /// Where a collection, or one version of its definition, stands in the register.
    CollectionStatus, "collection", {
        /// Waiting for DAP's decision.
        Proposed => "proposed",
        /// In force under its licence.
        Listed => "listed",
        /// Out of force for a while by DAP's decision; it may be reinstated.
        Suspended => "suspended",
        /// Listed once, but its licence has run out (never stored: read from the expiry).
        Expired => "expired",
        /// A version replaced by a newer one under the same licence.
        Superseded => "superseded",
        /// Taken out of force for good.
        Retired => "retired",
        /// DAP refused the proposal.
        Rejected => "rejected",
        /// A proposal that was still pending when another decision made it moot.
        Withdrawn => "withdrawn",
    }
);

impl CollectionStatus {
    /// Still on the register's current list: listed, suspended or expired awaiting renewal.
    pub fn current(self) -> bool {
        matches!(
            self,
            CollectionStatus::Listed | CollectionStatus::Suspended | CollectionStatus::Expired
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_reads_back_from_its_one_text_form() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in CollectionStatus::ALL {
            assert_eq!(s.as_str().parse::<CollectionStatus>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        // Tables in the CLI pad their status column.
        assert_eq!(format!("{:<9}|", RunStatus::Late), "late     |");
        assert_eq!(format!("{:>10}|", CollectionStatus::Listed), "    listed|");
        let e = "lost".parse::<RunStatus>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"lost\" is not a run status (one of: running, landed, late, amended, rejected, failed, refused, due)"
        );
    }
}
