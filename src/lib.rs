//! single-window: a no-wrong-door gRPC service through which government agencies share a
//! catalogue of services, service standards and life events, and citizen records under consent
//! with a verifiable access log, and route a citizen's need to the right services and agencies
//! with the reasons; forms and handoffs build on them.

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod clock;
pub mod commands;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod feedback;
pub mod feeds;
pub mod forms;
pub mod grpc;
pub mod health;
pub mod proto;
pub mod records;
pub mod requests;
pub mod routing;
pub mod secrets;
pub mod shutdown;
pub mod simulate;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod transport;
pub mod web;
