//! The sentence encoder behind the semantic signal, run off the async runtime's worker threads
//! with a bounded number of encodings at once, so a burst of routing never stalls lookups.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Why an encoding task did not finish.
#[derive(Debug, thiserror::Error)]
#[error("routing task failed: {0}")]
pub struct TaskError(String);

/// The encoder and the permits that bound its use.
#[derive(Clone)]
pub struct Encoders {
    encoder: Option<pocket_encoder::Encoder>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Encoders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoders")
            .field("loaded", &self.encoder.is_some())
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

/// The default number of encodings at once: all cores but one, at least one.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

impl Encoders {
    /// Loads the encoder's compiled-in weights (blocking: call it off the async threads). Without
    /// an encoder routing runs on the other signals; the failure is logged.
    pub fn load(concurrency: usize) -> Self {
        let encoder = match pocket_encoder::Encoder::new() {
            Ok(encoder) => Some(encoder),
            Err(error) => {
                tracing::error!(%error, "sentence encoder failed to load; routing runs without the semantic signal");
                None
            }
        };
        Self {
            encoder,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// Encodes one text where the caller already is off the async threads; `None` without an
    /// encoder or when it refuses the text.
    pub fn encode_blocking(&self, text: &str) -> Option<Vec<f32>> {
        let encoder = self.encoder.as_ref()?;
        match encoder.embed(&[text]) {
            Ok(mut vectors) => vectors.pop(),
            Err(error) => {
                tracing::warn!(%error, "the need could not be encoded; routing without the semantic signal");
                None
            }
        }
    }

    /// Encodes many texts (for regenerating the shipped vectors), blocking.
    pub fn encode_all(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, TaskError> {
        let encoder = self
            .encoder
            .as_ref()
            .ok_or_else(|| TaskError("the sentence encoder is not loaded".to_owned()))?;
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(256) {
            out.extend(encoder.embed(chunk).map_err(|e| TaskError(e.to_string()))?);
        }
        Ok(out)
    }

    /// Runs `work` on a blocking thread once a permit is free, handing it these encoders.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Encoders) -> T + Send + 'static,
    ) -> Result<T, TaskError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| TaskError(e.to_string()))?;
        let encoders = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&encoders)
        })
        .await
        .map_err(|e| TaskError(e.to_string()))
    }
}
