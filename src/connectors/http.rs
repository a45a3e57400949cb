//! The `http` connector: GET a URL made from a template for the run, with a bearer token or
//! an API-key header read from the environment or a file. When the period's current version
//! came with an ETag, it is sent back as If-None-Match, and a 304 means nothing new lands. CSV is saved as it streams in;
//! a JSON array of objects is turned into CSV with a column per key. Any status but 200, a
//! time-out or a body cut short fails the run with the reason.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::{Fetch, Fetched, Format, secret};
use crate::domain::RunKey;
use crate::store::redact;

/// The most an extract may be: a bound on disk, and on memory for JSON.
const MOST_BYTES: u64 = 4 << 30;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    #[default]
    Csv,
    Json,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `{provider}`, `{period}`, `{collection}`, `{from}` (the period's first day) and `{to}`
    /// (the day after its last) are filled in.
    pub url: String,
    #[serde(default)]
    pub format: BodyFormat,
    /// A bearer token, from an environment variable or a file (relative to the sources file).
    pub bearer_env: Option<String>,
    pub bearer_file: Option<PathBuf>,
    /// Or an API key sent in this header, from an environment variable or a file.
    pub api_key_header: Option<String>,
    pub api_key_env: Option<String>,
    pub api_key_file: Option<PathBuf>,
    /// Seconds the whole request may take (default 120).
    pub timeout_seconds: Option<u64>,
}

/// One client for every HTTP source: building one reads the whole store of root
/// certificates, which cost more than a small extract's pull, and a shared one keeps its
/// connections to a provider's server open between pulls. Time-outs are set per request.
fn client() -> anyhow::Result<&'static reqwest::Client> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let built = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    Ok(CLIENT.get_or_init(|| built))
}

impl HttpConfig {
    pub fn url_for(&self, key: &RunKey) -> String {
        self.url
            .replace("{provider}", &key.provider)
            .replace("{period}", &key.period.to_string())
            .replace("{collection}", &key.collection)
            .replace("{from}", &key.period.first_day().to_string())
            .replace("{to}", &key.period.end().to_string())
    }

    pub async fn fetch(
        &self,
        key: &RunKey,
        base: &Path,
        work: &Path,
        etag: Option<&str>,
    ) -> anyhow::Result<Fetch> {
        let url = self.url_for(key);
        let shown = redact(&url);
        let mut request = client()?
            .get(&url)
            .timeout(Duration::from_secs(self.timeout_seconds.unwrap_or(120)));
        if let Some(token) = secret(
            &self.bearer_env,
            &self.bearer_file,
            base,
            "the bearer token",
        )? {
            request = request.bearer_auth(token);
        }
        if let Some(key) = secret(&self.api_key_env, &self.api_key_file, base, "the API key")? {
            let header = self
                .api_key_header
                .as_deref()
                .context("api_key_header names the header the API key goes in")?;
            request = request.header(header, key);
        }
        if let Some(etag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", describe(&e)))
            .with_context(|| format!("GET {shown}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetch::Unchanged);
        }
        if status != reqwest::StatusCode::OK {
            bail!("GET {shown} answered {status}");
        }
        // Only a strong or weak validator as HTTP writes one is kept to send back.
        let response_etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 200 && v.ends_with('"'))
            .map(str::to_owned);
        std::fs::create_dir_all(work)?;
        let path = work.join(format!(
            "{}_{}_{}.download",
            key.collection, key.provider, key.period
        ));
        let mut file = std::fs::File::create(&path)?;
        let mut bytes = 0u64;
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe(&e)))
                .with_context(|| {
                    format!("GET {shown}: the body was cut short after {bytes} bytes")
                })?;
            let Some(chunk) = chunk else { break };
            bytes += chunk.len() as u64;
            if bytes > MOST_BYTES {
                let _ = std::fs::remove_file(&path);
                bail!(
                    "GET {shown}: the body is larger than {} GiB",
                    MOST_BYTES >> 30
                );
            }
            file.write_all(&chunk)?;
        }
        file.sync_all()?;
        drop(file);
        let etag = response_etag;
        Ok(Fetch::Got(Fetched {
            path,
            format: match self.format {
                BodyFormat::Csv => Format::Csv,
                BodyFormat::Json => Format::Json,
            },
            temporary: true,
            receipt: None,
            etag,
        }))
    }
}

/// A reqwest error in plain words: the kind of failure, without the URL (which may hold a
/// secret in its query; the caller names the URL, redacted).
pub(super) fn describe(e: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(e);
    let mut cause = String::new();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the body could not be read"
    } else {
        "the request failed"
    };
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}
