//! single-window: a no-wrong-door gRPC service through which government agencies share a
//! catalogue of services and standards (and, as the product grows, records, forms, routing and
//! handoffs).

pub mod catalog;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod proto;
pub mod store;
