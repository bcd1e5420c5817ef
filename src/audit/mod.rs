//! The verifiable access log's mathematics: a Merkle tree (`merkle`) over access events, whose
//! checkpoints a citizen or auditor keeps and verifies offline.

pub mod merkle;
