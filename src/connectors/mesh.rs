//! The `mesh` connector: extracts sent to Tally's NHS MESH mailbox. Each provider's system
//! sends its extract as a MESH message with the collection's workflow id and a file name made
//! from the source's template (`{provider}_{period}.csv`). A pull lists the inbox, looks at
//! each message's headers, downloads the newest message for the run (every chunk of it), and
//! once the extract has landed or been rejected with a report, acknowledges it and any older
//! copies, which takes them out of the inbox. A message for the run under another workflow
//! id is never taken: the pull fails and says so, and the message stays for someone to look
//! at.
//!
//! Every request carries MESH's `NHSMESH` authorisation: the mailbox, a fresh nonce, a
//! count, a timestamp and an HMAC-SHA256 of those and the mailbox password under the
//! environment's shared key. Secrets come from environment variables or files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::Sha256;

use super::http::describe;
use super::{Fetched, Format, Receipt, secret};
use crate::domain::RunKey;
use crate::store::redact;

/// The most an extract may be, across all its chunks.
const MOST_BYTES: u64 = 4 << 30;

/// The most inbox pages read in one pull (MESH gives up to 500 ids a page).
const MOST_PAGES: usize = 200;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MeshConfig {
    /// The MESH API's base URL, such as `https://msg.intspineservices.nhs.uk`.
    pub url: String,
    /// Tally's own mailbox id.
    pub mailbox: String,
    /// The mailbox password, from an environment variable or a file.
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// The environment's shared key for the authorisation HMAC.
    pub shared_key_env: Option<String>,
    pub shared_key_file: Option<PathBuf>,
    /// The workflow id the collection's extracts are sent under.
    pub workflow_id: String,
    /// The file name each extract is sent as, with `{provider}`, `{period}` and
    /// `{collection}` filled in; its extension says the format.
    pub name: String,
    /// The client certificate and key (PEM) that MESH's TLS asks for, and the CA that signs
    /// its server certificate, relative to the sources file.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    /// Seconds each request may take (default 300).
    pub timeout_seconds: Option<u64>,
}

/// An authorised connection to one mailbox.
struct Mailbox<'a> {
    config: &'a MeshConfig,
    client: reqwest::Client,
    password: String,
    shared_key: String,
    shown: String,
}

/// The headers of one inbox message that say what it is.
#[derive(Debug)]
struct Message {
    id: String,
    workflow: String,
    file_name: String,
    from: String,
}

#[derive(Deserialize)]
struct InboxPage {
    messages: Vec<String>,
    #[serde(default)]
    links: std::collections::HashMap<String, String>,
}

impl MeshConfig {
    /// The file name the run's extract is sent as.
    pub fn name_for(&self, key: &RunKey) -> String {
        self.name
            .replace("{provider}", &key.provider)
            .replace("{period}", &key.period.to_string())
            .replace("{collection}", &key.collection)
    }

    async fn open(&self, base: &Path) -> anyhow::Result<Mailbox<'_>> {
        let password = secret(
            &self.password_env,
            &self.password_file,
            base,
            "the MESH mailbox password",
        )?
        .context("a mesh source names its mailbox password with password_env or password_file")?;
        let shared_key = secret(
            &self.shared_key_env,
            &self.shared_key_file,
            base,
            "the MESH shared key",
        )?
        .context(
            "a mesh source names the MESH shared key with shared_key_env or shared_key_file",
        )?;
        let mut client = reqwest::Client::builder()
            .timeout(Duration::from_secs(self.timeout_seconds.unwrap_or(300)))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("tally/", env!("CARGO_PKG_VERSION")));
        let read = |f: &PathBuf| {
            std::fs::read(base.join(f))
                .with_context(|| format!("cannot read {}", base.join(f).display()))
        };
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert)?;
                pem.push(b'\n');
                pem.extend(read(key)?);
                client = client.identity(
                    reqwest::Identity::from_pem(&pem)
                        .context("the MESH client certificate and key are not PEM")?,
                );
            }
            (None, None) => {}
            _ => bail!("give the MESH client certificate and its key together"),
        }
        if let Some(ca) = &self.ca_file {
            client = client.add_root_certificate(
                reqwest::Certificate::from_pem(&read(ca)?)
                    .context("the MESH CA certificate is not PEM")?,
            );
        }
        Ok(Mailbox {
            config: self,
            client: client.build()?,
            password,
            shared_key,
            shown: redact(self.url.trim_end_matches('/')),
        })
    }

    pub async fn fetch(&self, key: &RunKey, base: &Path, work: &Path) -> anyhow::Result<Fetched> {
        let name = self.name_for(key);
        let Some(format) = Format::from_name(&name) else {
            bail!(
                "the mesh source's file name \"{name}\" is not a kind of file Tally reads; name extracts {}",
                super::READABLE
            );
        };
        let mailbox = self.open(base).await?;
        let mut ours = Vec::new();
        let mut elsewhere = Vec::new();
        for id in mailbox.inbox().await? {
            let message = mailbox.head(&id).await?;
            if !message.file_name.eq_ignore_ascii_case(&name) {
                continue;
            }
            if message.workflow == self.workflow_id {
                ours.push(message);
            } else {
                elsewhere.push(message);
            }
        }
        // MESH lists an inbox in the order the messages arrived: the last is the newest.
        let Some(newest) = ours.last() else {
            if let Some(m) = elsewhere.first() {
                bail!(
                    "MESH message {} from {} is named {} but was sent under workflow {}, not {}; \
                     it was left in the inbox and nothing was landed",
                    m.id,
                    m.from,
                    m.file_name,
                    m.workflow,
                    self.workflow_id
                );
            }
            bail!(
                "no MESH message named {name} under workflow {} in mailbox {} yet",
                self.workflow_id,
                self.mailbox
            );
        };
        std::fs::create_dir_all(work)?;
        let path = work.join(format!(
            "{}_{}_{}.mesh",
            key.collection, key.provider, key.period
        ));
        if let Err(e) = mailbox.download(&newest.id, &path).await {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Fetched {
            path,
            format,
            temporary: true,
            receipt: Some(Receipt::Mesh(ours.iter().map(|m| m.id.clone()).collect())),
            etag: None,
        })
    }

    /// Acknowledges the messages a landing dealt with.
    pub async fn acknowledge(&self, ids: &[String], base: &Path) -> anyhow::Result<()> {
        let mailbox = self.open(base).await?;
        for id in ids {
            mailbox.acknowledge(id).await?;
        }
        Ok(())
    }
}

impl Mailbox<'_> {
    fn authorization(&self) -> String {
        authorization(&self.config.mailbox, &self.password, &self.shared_key)
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "{}/messageexchange/{}{tail}",
            self.config.url.trim_end_matches('/'),
            self.config.mailbox
        )
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let response = request
            .header("authorization", self.authorization())
            .header("accept", "application/vnd.mesh.v2+json")
            .header(
                "mex-clientversion",
                concat!("tally/", env!("CARGO_PKG_VERSION")),
            )
            .header("mex-osname", std::env::consts::OS)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", describe(&e)))
            .with_context(|| format!("MESH at {}: {what}", self.shown))?;
        let status = response.status();
        if status == StatusCode::FORBIDDEN {
            bail!(
                "MESH at {} refused {what} (403): check the mailbox id, password and shared key",
                self.shown
            );
        }
        if !(status.is_success()) {
            bail!("MESH at {}: {what} answered {status}", self.shown);
        }
        Ok(response)
    }

    /// Every message id in the inbox, page by page.
    async fn inbox(&self) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut next = self.url("/inbox?max_results=500");
        for _ in 0..MOST_PAGES {
            let body = self
                .send(self.client.get(&next), "listing the inbox")
                .await?
                .bytes()
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe(&e)))
                .context("MESH: listing the inbox")?;
            let page: InboxPage = serde_json::from_slice(&body)
                .context("the MESH inbox listing is not the JSON MESH sends")?;
            ids.extend(page.messages);
            match page.links.get("next") {
                Some(link) if link.starts_with('/') => {
                    next = format!("{}{link}", self.config.url.trim_end_matches('/'))
                }
                _ => return Ok(ids),
            }
        }
        bail!("the MESH inbox has more than {MOST_PAGES} pages; clear it before pulling again")
    }

    async fn head(&self, id: &str) -> anyhow::Result<Message> {
        let id = plain(id)?;
        let response = self
            .send(
                self.client.head(self.url(&format!("/inbox/{id}"))),
                &format!("reading message {id}"),
            )
            .await?;
        let header = |h: &str| {
            response
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        Ok(Message {
            id: id.to_owned(),
            workflow: header("mex-workflowid"),
            file_name: header("mex-filename"),
            from: header("mex-from"),
        })
    }

    /// Downloads every chunk of a message into `path`, in order.
    async fn download(&self, id: &str, path: &Path) -> anyhow::Result<()> {
        let id = plain(id)?;
        let mut file = std::fs::File::create(path)?;
        let mut bytes = 0u64;
        let mut chunk = 1u32;
        let mut expected = 1u32;
        loop {
            let tail = if chunk == 1 {
                format!("/inbox/{id}")
            } else {
                format!("/inbox/{id}/{chunk}")
            };
            let what = format!("downloading message {id} chunk {chunk}");
            let mut response = self.send(self.client.get(self.url(&tail)), &what).await?;
            let status = response.status();
            let header = |h: &str| {
                response
                    .headers()
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            // A compressed body would be taken for the extract itself: refuse it, and leave
            // the message for a later pull (it is not acknowledged).
            if header("content-encoding").is_some_and(|e| !e.eq_ignore_ascii_case("identity")) {
                bail!(
                    "MESH message {id} came compressed, which Tally does not read yet; it was left in the inbox"
                );
            }
            let range = header("mex-chunk-range");
            let parsed = range.as_deref().and_then(|r| {
                let (n, of) = r.split_once(':')?;
                Some((
                    n.trim().parse::<u32>().ok()?,
                    of.trim().parse::<u32>().ok()?,
                ))
            });
            let total = match (status, parsed) {
                (_, Some((n, of))) if n == chunk && of >= 1 => of,
                (StatusCode::OK, None) if chunk == 1 => 1,
                _ => bail!(
                    "MESH: {what}: the answer was {status} with chunk range {:?}; the download was stopped and nothing landed",
                    range.unwrap_or_default()
                ),
            };
            if chunk == 1 {
                expected = total;
            } else if total != expected {
                bail!("MESH: {what}: the chunk count changed from {expected} to {total}");
            }
            while let Some(part) = response
                .chunk()
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe(&e)))
                .with_context(|| format!("MESH: {what}: the body was cut short"))?
            {
                bytes += part.len() as u64;
                if bytes > MOST_BYTES {
                    bail!("MESH message {id} is larger than {} GiB", MOST_BYTES >> 30);
                }
                file.write_all(&part)?;
            }
            if chunk >= expected {
                break;
            }
            chunk += 1;
        }
        file.sync_all()?;
        Ok(())
    }

    async fn acknowledge(&self, id: &str) -> anyhow::Result<()> {
        let id = plain(id)?;
        self.send(
            self.client
                .put(self.url(&format!("/inbox/{id}/status/acknowledged"))),
            &format!("acknowledging message {id}"),
        )
        .await?;
        Ok(())
    }
}

/// The `NHSMESH` authorisation header for one request to `mailbox`'s API: a fresh nonce each
/// time, so the count is always 1.
pub fn authorization(mailbox: &str, password: &str, shared_key: &str) -> String {
    let nonce = uuid::Uuid::new_v4();
    let count = 1;
    let timestamp = chrono::Utc::now().format("%Y%m%d%H%M");
    let mut mac = Hmac::<Sha256>::new_from_slice(shared_key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("{mailbox}:{nonce}:{count}:{password}:{timestamp}").as_bytes());
    let hash = hex::encode(mac.finalize().into_bytes());
    format!("NHSMESH {mailbox}:{nonce}:{count}:{timestamp}:{hash}")
}

/// A message id from the inbox listing, checked before it goes into a URL path.
fn plain(id: &str) -> anyhow::Result<&str> {
    if id.is_empty()
        || id.len() > 100
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("MESH listed a message id that is not plain letters and digits: {id:?}");
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_reach_another_path_are_refused() {
        assert!(plain("20260101120000000_ABC123").is_ok());
        assert!(plain("../outbox").is_err());
        assert!(plain("a/b").is_err());
        assert!(plain("").is_err());
    }
}
