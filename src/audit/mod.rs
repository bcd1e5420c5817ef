//! The verifiable access log's mathematics: a Merkle tree (`merkle`) over access events, and
//! signed checkpoints of it (`checkpoint`) that a citizen or auditor keeps and verifies offline.

pub mod checkpoint;
pub mod export;
pub mod merkle;
