//! The gRPC surface: the call stack every call passes through (`calls`), one file per proto
//! service, the codec, the request decoding and paging helpers, the domain-to-proto conversions,
//! and the single error-to-status mapping.

pub mod calls;
pub mod catalog;
pub mod citizens;
pub mod codec;
pub(crate) mod convert;
pub mod feedback;
pub mod forms;
pub mod page_token;
pub(crate) mod request;
pub mod requests;
pub mod routing;
pub mod status;

pub use request::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
