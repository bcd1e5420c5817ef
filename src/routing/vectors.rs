//! Service vectors for the semantic signal, computed when the catalogue data or the routing
//! knowledge changes and shipped with them (`data/routing/vectors.bin`), never at start or per
//! query.
//!
//! Each vector is keyed by a hash of the exact text it encodes, and the file by the encoder's full
//! model identity: a service whose text changed, or a different encoder, finds no vector and goes
//! without the semantic signal (counted and logged) until `single-window catalog vectors`
//! regenerates the file.
//!
//! Format (little-endian): `SWVEC1\n`, u32 identity length, the identity (JSON), u32 dimensions,
//! u32 count, then per vector an 8-byte text key, an f32 scale and `dimensions` i8 components
//! (the vector is `scale * component`).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::knowledge::ServiceKnowledge;
use crate::domain::catalog::Service;

const MAGIC: &[u8] = b"SWVEC1\n";

/// The vectors shipped with the binary.
pub const BUILTIN: &[u8] = include_bytes!("../../data/routing/vectors.bin");

/// Why a vector file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("vector file: {0}")]
pub struct VectorFileError(&'static str);

/// The key of a text: the first 8 bytes of its SHA-256.
pub fn key(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The encoder's full model identity, as the file records it.
pub fn model_identity() -> String {
    serde_json::to_string(&pocket_encoder::model_info()).unwrap_or_default()
}

/// The texts of a service that get a vector, in one language: its name with the first sentence of
/// its description, then each phrasing of how people ask for it. The encoder is English-only;
/// French texts are encoded too, because a French need is closer to French texts than to English
/// ones even under an English encoder (shared word pieces).
pub fn texts_in(
    service: &Service,
    knowledge: Option<&ServiceKnowledge>,
    french: bool,
) -> Vec<String> {
    let (name, description) = if french {
        (&service.name.fr, &service.description.fr)
    } else {
        (&service.name.en, &service.description.en)
    };
    let description = first_sentence(description);
    let mut texts = vec![if description.is_empty() {
        name.clone()
    } else {
        format!("{name}. {description}")
    }];
    if let Some(k) = knowledge {
        let phrasings = if french {
            &k.phrasings.fr
        } else {
            &k.phrasings.en
        };
        texts.extend(phrasings.iter().filter(|p| !p.trim().is_empty()).cloned());
    }
    texts.retain(|t| !t.trim().is_empty());
    texts
}

/// Every text of a service that gets a vector, English then French.
pub fn texts(service: &Service, knowledge: Option<&ServiceKnowledge>) -> Vec<String> {
    let mut all = texts_in(service, knowledge, false);
    all.extend(texts_in(service, knowledge, true));
    all
}

fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    let end = text
        .match_indices(". ")
        .map(|(i, _)| i)
        .next()
        .unwrap_or(text.len());
    text[..end].trim_end_matches('.')
}

/// A quantised vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    pub scale: f32,
    pub components: Vec<i8>,
}

impl Quantized {
    /// Quantises a unit vector to 8 bits with one scale.
    pub fn of(vector: &[f32]) -> Self {
        let max = vector.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        Self {
            scale,
            components: vector
                .iter()
                .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
                .collect(),
        }
    }

    /// Dot product with a full-precision vector.
    pub fn dot(&self, other: &[f32]) -> f32 {
        self.components
            .iter()
            .zip(other)
            .map(|(c, o)| f32::from(*c) * o)
            .sum::<f32>()
            * self.scale
    }
}

/// A vector file read into memory.
#[derive(Debug, Default)]
pub struct VectorTable {
    pub identity: String,
    pub dimensions: usize,
    pub vectors: HashMap<u64, Quantized>,
}

impl VectorTable {
    /// Reads a file written by [`VectorTable::write`].
    pub fn parse(bytes: &[u8]) -> Result<Self, VectorFileError> {
        let mut rest = bytes
            .strip_prefix(MAGIC)
            .ok_or(VectorFileError("not a vector file"))?;
        let mut take = |n: usize| -> Result<&[u8], VectorFileError> {
            if rest.len() < n {
                return Err(VectorFileError("truncated"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let identity_len = u32_of(take(4)?);
        let identity = String::from_utf8(take(identity_len)?.to_vec())
            .map_err(|_| VectorFileError("identity is not UTF-8"))?;
        let dimensions = u32_of(take(4)?);
        let count = u32_of(take(4)?);
        let mut vectors = HashMap::with_capacity(count);
        for _ in 0..count {
            let key_bytes = take(8)?;
            let mut k = [0u8; 8];
            k.copy_from_slice(key_bytes);
            let s = take(4)?;
            let scale = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            let components = take(dimensions)?.iter().map(|b| *b as i8).collect();
            vectors.insert(u64::from_le_bytes(k), Quantized { scale, components });
        }
        if !rest.is_empty() {
            return Err(VectorFileError("trailing bytes"));
        }
        Ok(Self {
            identity,
            dimensions,
            vectors,
        })
    }

    /// The file's bytes, vectors in order of key so the same vectors give the same file.
    pub fn write(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
        out.extend(len(self.identity.len()));
        out.extend(self.identity.as_bytes());
        out.extend(len(self.dimensions));
        out.extend(len(self.vectors.len()));
        let mut keys: Vec<&u64> = self.vectors.keys().collect();
        keys.sort();
        for k in keys {
            let v = &self.vectors[k];
            out.extend(k.to_le_bytes());
            out.extend(v.scale.to_le_bytes());
            out.extend(v.components.iter().map(|c| *c as u8));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_reads_back_what_it_wrote() {
        let mut table = VectorTable {
            identity: "test-model".to_owned(),
            dimensions: 3,
            vectors: HashMap::new(),
        };
        table
            .vectors
            .insert(key("a"), Quantized::of(&[0.6, -0.8, 0.0]));
        table
            .vectors
            .insert(key("b"), Quantized::of(&[1.0, 0.0, 0.0]));
        let again = VectorTable::parse(&table.write()).expect("parses");
        assert_eq!(again.identity, "test-model");
        assert_eq!(again.vectors, table.vectors);
        let dot = again.vectors[&key("a")].dot(&[0.6, -0.8, 0.0]);
        assert!((dot - 1.0).abs() < 0.01, "{dot}");
        assert!(VectorTable::parse(&table.write()[..20]).is_err());
    }

    #[test]
    fn the_description_contributes_its_first_sentence() {
        assert_eq!(first_sentence("Pays benefits. Then more."), "Pays benefits");
        assert_eq!(first_sentence("One sentence."), "One sentence");
    }
}
