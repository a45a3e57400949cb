//! How a notification leaves Tally: over SMTP (lettre), written to a folder as an `.eml`
//! file (the demo's), or not at all when neither is set up.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Mail;

/// Who messages are from unless the settings say.
const FROM: &str = "Tally <tally@localhost>";

/// How long one message may take to hand to the SMTP server.
const TIMEOUT: Duration = Duration::from_secs(20);

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        /// Where, for messages: the URL as configured.
        shown: String,
    },
    Folder {
        dir: PathBuf,
        from: Mailbox,
    },
    Off,
}

impl Mailer {
    /// The mailer the settings describe: SMTP when a URL is given, else a folder, else off.
    pub fn of(mail: &Mail) -> anyhow::Result<Mailer> {
        let from: Mailbox = mail
            .from
            .as_deref()
            .unwrap_or(FROM)
            .parse()
            .with_context(|| {
                format!(
                    "mail_from: \"{}\" is not an address like \"Tally <tally@example.nhs.uk>\"",
                    mail.from.as_deref().unwrap_or_default()
                )
            })?;
        if let Some(url) = &mail.smtp_url {
            let parsed = url::Url::parse(url)
                .ok()
                .filter(|u| u.scheme() == "smtp" && u.host_str().is_some())
                .with_context(|| {
                    format!("smtp_url: \"{url}\" is not a URL like smtp://127.0.0.1:25")
                })?;
            let host = parsed.host_str().unwrap_or_default().to_owned();
            let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(parsed.port().unwrap_or(25))
                .timeout(Some(TIMEOUT))
                .build();
            return Ok(Mailer::Smtp {
                transport,
                from,
                shown: format!(
                    "{}:{}",
                    parsed.host_str().unwrap_or_default(),
                    parsed.port().unwrap_or(25)
                ),
            });
        }
        Ok(match &mail.dir {
            Some(dir) => Mailer::Folder {
                dir: dir.clone(),
                from,
            },
            None => Mailer::Off,
        })
    }

    pub fn is_off(&self) -> bool {
        matches!(self, Mailer::Off)
    }

    /// Sends one plain-text message to every address in `to`; `name` names its file when
    /// written to a folder.
    pub async fn send(
        &self,
        to: &[String],
        subject: &str,
        body: &str,
        name: &str,
    ) -> anyhow::Result<()> {
        let from = match self {
            Mailer::Off => return Ok(()),
            Mailer::Smtp { from, .. } | Mailer::Folder { from, .. } => from.clone(),
        };
        let mut message = Message::builder().from(from).subject(subject);
        for address in to {
            let mailbox: Mailbox = address
                .parse()
                .with_context(|| format!("\"{address}\" is not an e-mail address"))?;
            message = message.to(mailbox);
        }
        let message = message
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .context("building the message")?;
        match self {
            Mailer::Smtp {
                transport, shown, ..
            } => {
                transport
                    .send(message)
                    .await
                    .with_context(|| format!("the SMTP server at {shown} did not take it"))?;
            }
            Mailer::Folder { dir, .. } => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let safe: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let path = dir.join(format!("{safe}.eml"));
                std::fs::write(&path, message.formatted())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            Mailer::Off => {}
        }
        Ok(())
    }
}
