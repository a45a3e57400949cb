//! Questions providers ask DAP about collections, and DAP's answers: the checks the pages
//! and the API share. A provider asks only about a collection it owes or that is coming for
//! it; a question or answer is plain words of a readable length.

use chrono::{DateTime, Utc};

use super::Registry;

/// The longest question or answer taken: a page of text.
pub const MOST_CHARS: usize = 4000;

/// Why a question or answer was not taken.
#[derive(Debug, thiserror::Error)]
pub enum EnquiryError {
    #[error("ask about a collection you owe or that is coming")]
    NotAsked,
    #[error("the {0} is empty or too short to read")]
    TooShort(&'static str),
    #[error("the {0} is longer than {MOST_CHARS} characters")]
    TooLong(&'static str),
    #[error("the {0} holds control characters")]
    Control(&'static str),
    #[error("that question has been answered already, or there is no such question")]
    Answered,
}

/// Plain words: something to read, not too long, no control characters but line breaks.
fn words(what: &'static str, text: &str) -> Result<String, EnquiryError> {
    let t = text.trim();
    if t.chars().count() < 5 {
        return Err(EnquiryError::TooShort(what));
    }
    if t.chars().count() > MOST_CHARS {
        return Err(EnquiryError::TooLong(what));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(EnquiryError::Control(what));
    }
    Ok(t.replace("\r\n", "\n"))
}

impl Registry {
    /// Records `provider`'s question about `collection`, asked by `by`: its id, and the
    /// collection's title.
    pub async fn ask(
        &self,
        provider: &str,
        collection: &str,
        by: &str,
        question: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<(i64, String)> {
        let kind = self
            .providers()
            .await?
            .iter()
            .find(|p| p.code.as_str() == provider)
            .map(|p| p.kind);
        // In force or coming, and asked of this provider's kind.
        let Some(l) = self.licensed(at).await?.into_iter().find(|l| {
            l.def.slug.as_str() == collection
                && kind.is_some_and(|k| l.def.respondents.kinds.contains(&k))
        }) else {
            return Err(EnquiryError::NotAsked.into());
        };
        let question = words("question", question)?;
        let id = self
            .store()
            .ask(l.def.slug.as_str(), provider, by, &question, at)
            .await?;
        Ok((id, l.def.title))
    }

    /// Records DAP's answer to question `id`, published as the collection's FAQ when
    /// `publish`.
    pub async fn answer(
        &self,
        id: i64,
        answer: &str,
        by: &str,
        publish: bool,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let answer = words("answer", answer)?;
        if !self.store().answer(id, &answer, by, publish, at).await? {
            return Err(EnquiryError::Answered.into());
        }
        Ok(())
    }
}
