//! Settings: defaults in code, then `tally.toml` (or the file `--config` names), then
//! `TALLY_*` environment variables. Built once in `main` and passed down, never global.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where the SQLite registry and the lake live by default.
    pub data_dir: PathBuf,
    /// `sqlite://…` (embedded) or `postgres://…` (several instances).
    pub database_url: String,
    /// The timezone cron expressions and dates are read in unless a collection says otherwise.
    pub timezone: chrono_tz::Tz,
    /// Where each provider's source for each collection is set up.
    pub sources_file: PathBuf,
    /// The folder of return queries (`queries/`).
    pub queries_dir: PathBuf,
    /// Mark session cookies `Secure`: set when the service is reached over HTTPS (behind a
    /// proxy that ends TLS), so browsers never send them in the clear.
    pub secure_cookies: bool,
    /// The largest upload the web takes, in bytes (`upload_limit_mb` in the file).
    pub upload_limit: Option<usize>,
    /// How notifications reach providers.
    pub mail: Mail,
    /// What an hour of each staff group's time costs, with the source of the figures:
    /// burden is priced in pounds only when these are set.
    pub staff_rates: Option<crate::domain::budget::StaffRates>,
}

/// Where notifications go: an SMTP server, a folder of `.eml` files (the demo's), or nowhere.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mail {
    /// `smtp://host:port` (`smtp_url` in the file, `TALLY_SMTP_URL`).
    pub smtp_url: Option<String>,
    /// A folder to write each message to instead of sending it (`mail_dir`, `TALLY_MAIL_DIR`).
    pub dir: Option<PathBuf>,
    /// Who the messages are from (`mail_from`, `TALLY_MAIL_FROM`).
    pub from: Option<String>,
}

impl Settings {
    /// The lake: landed extracts as Parquet, and the raw inputs kept for audit.
    pub fn lake_dir(&self) -> PathBuf {
        self.data_dir.join("lake")
    }

    /// Where built returns are kept.
    pub fn returns_dir(&self) -> PathBuf {
        self.data_dir.join("returns")
    }
}

/// What `tally.toml` may hold; every key is optional and unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    timezone: Option<String>,
    sources_file: Option<PathBuf>,
    queries_dir: Option<PathBuf>,
    secure_cookies: Option<bool>,
    upload_limit_mb: Option<usize>,
    smtp_url: Option<String>,
    mail_dir: Option<PathBuf>,
    mail_from: Option<String>,
    /// Pounds an hour by staff group (`default` for any other).
    staff_rates: Option<std::collections::BTreeMap<String, f64>>,
    /// Where those rates come from, said wherever a cost is shown.
    staff_rates_source: Option<String>,
}

impl Settings {
    /// Loads settings. `config` is the file `--config` named (it must exist); without it,
    /// `tally.toml` in the working folder is read if present. `env` looks up variables.
    pub fn load(
        config: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Settings> {
        let file = match config {
            Some(path) => Some(read_file(path)?),
            None if Path::new("tally.toml").exists() => Some(read_file(Path::new("tally.toml"))?),
            None => None,
        }
        .unwrap_or_default();
        // A variable that is set but empty is as good as unset, not "the current folder".
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let data_dir = env("TALLY_DATA_DIR")
            .map(PathBuf::from)
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = env("TALLY_DATABASE_URL")
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("tally.db").display()));
        let tz_name = env("TALLY_TIMEZONE")
            .or(file.timezone)
            .unwrap_or_else(|| "Europe/London".into());
        let Ok(timezone) = tz_name.parse::<chrono_tz::Tz>() else {
            bail!("timezone: unknown timezone \"{tz_name}\" (e.g. Europe/London)");
        };
        let sources_file = env("TALLY_SOURCES")
            .map(PathBuf::from)
            .or(file.sources_file)
            .unwrap_or_else(|| PathBuf::from("sources.toml"));
        let queries_dir = env("TALLY_QUERIES")
            .map(PathBuf::from)
            .or(file.queries_dir)
            .unwrap_or_else(|| PathBuf::from("queries"));
        let secure_cookies = match env("TALLY_SECURE_COOKIES").as_deref() {
            None => file.secure_cookies.unwrap_or(false),
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => bail!("TALLY_SECURE_COOKIES: \"{other}\" is not true or false"),
        };
        let upload_limit_mb = match env("TALLY_UPLOAD_LIMIT_MB") {
            Some(v) => Some(
                v.parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| {
                        format!("TALLY_UPLOAD_LIMIT_MB: \"{v}\" is not a whole number of megabytes")
                    })?,
            ),
            None => file.upload_limit_mb,
        };
        let mail = Mail {
            smtp_url: env("TALLY_SMTP_URL").or(file.smtp_url),
            dir: env("TALLY_MAIL_DIR").map(PathBuf::from).or(file.mail_dir),
            from: env("TALLY_MAIL_FROM").or(file.mail_from),
        };
        let staff_rates = match (file.staff_rates, file.staff_rates_source) {
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => bail!(
                "staff_rates and staff_rates_source go together: the rates, and where they come from"
            ),
            (Some(per_hour), Some(source)) => {
                for (group, rate) in &per_hour {
                    if group.is_empty()
                        || !group
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    {
                        bail!("staff_rates: \"{group}\" is not a staff group's name (a-z, 0-9, _)");
                    }
                    if !rate.is_finite() || *rate <= 0.0 || *rate > 10_000.0 {
                        bail!(
                            "staff_rates.{group}: {rate} is not pounds an hour (more than 0, at most 10,000)"
                        );
                    }
                }
                if source.trim().is_empty() {
                    bail!("staff_rates_source: say where the rates come from");
                }
                Some(crate::domain::budget::StaffRates {
                    source: source.trim().to_owned(),
                    per_hour,
                })
            }
        };
        Ok(Settings {
            staff_rates,
            mail,
            secure_cookies,
            upload_limit: upload_limit_mb.map(|mb| mb * 1024 * 1024),
            queries_dir,
            data_dir,
            database_url,
            timezone,
            sources_file,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the settings file {}", path.display()))?;
    // The error's own Display quotes the offending line, which may hold a database
    // password; say where and what, never the text.
    toml::from_str(&text).map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: ")
            })
            .unwrap_or_default();
        anyhow::anyhow!("{}: {at}{}", path.display(), e.message())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_file_then_environment() {
        let none = |_: &str| None;
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(None, none).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("data"));
        assert_eq!(s.database_url, "sqlite://data/tally.db");
        assert_eq!(s.timezone, chrono_tz::Europe::London);

        let file = dir.path().join("tally.toml");
        std::fs::write(&file, "data_dir = \"/srv/tally\"\ntimezone = \"UTC\"\n").unwrap();
        let s = Settings::load(Some(&file), none).unwrap();
        assert_eq!(s.database_url, "sqlite:///srv/tally/tally.db");
        assert_eq!(s.timezone, chrono_tz::UTC);

        let env = |k: &str| (k == "TALLY_DATABASE_URL").then(|| "postgres://db/tally".to_string());
        let s = Settings::load(Some(&file), env).unwrap();
        assert_eq!(s.database_url, "postgres://db/tally");
        assert_eq!(s.data_dir, PathBuf::from("/srv/tally"));
    }

    #[test]
    fn staff_rates_come_with_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tally.toml");
        std::fs::write(
            &file,
            "staff_rates_source = \"Our pay scales, 2026\"\n[staff_rates]\nbed_manager = 30.5\ndefault = 20\n",
        )
        .unwrap();
        let s = Settings::load(Some(&file), |_| None).unwrap();
        let r = s.staff_rates.unwrap();
        assert_eq!(r.source, "Our pay scales, 2026");
        assert_eq!(r.rate(Some("bed_manager")), Some(30.5));
        assert_eq!(r.rate(Some("porter")), Some(20.0));
        for bad in [
            "[staff_rates]\nbed_manager = 30\n",
            "staff_rates_source = \"x\"\n",
            "staff_rates_source = \"x\"\n[staff_rates]\nbed_manager = -1\n",
            "staff_rates_source = \"x\"\n[staff_rates]\n\"Bed Manager\" = 30\n",
        ] {
            std::fs::write(&file, bad).unwrap();
            assert!(Settings::load(Some(&file), |_| None).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_settings_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tally.toml");
        std::fs::write(&file, "databse_url = \"x\"\n").unwrap();
        let e = format!("{:#}", Settings::load(Some(&file), |_| None).unwrap_err());
        assert!(e.contains("databse_url"), "{e}");
        std::fs::write(&file, "database_url = \"postgres://u:Hunter2@db/tally\n").unwrap();
        let e = format!("{:#}", Settings::load(Some(&file), |_| None).unwrap_err());
        assert!(e.contains("line 1"), "{e}");
        assert!(!e.contains("Hunter2"), "{e}");
        let e = Settings::load(None, |k| {
            (k == "TALLY_TIMEZONE").then(|| "Mars/Base".into())
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("Mars/Base"), "{e}");
        assert!(Settings::load(Some(&dir.path().join("missing.toml")), |_| None).is_err());
    }
}
