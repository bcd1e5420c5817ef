//! Pure types and rules of the product: no storage, no transport.

pub mod catalog;
pub mod citizen;
pub mod consent;
pub mod names;
pub mod principal;
pub mod threshold;
pub mod time;
