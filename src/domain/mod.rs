//! Pure types and rules of the product: no storage, no transport.

pub mod access;
pub mod calendar;
pub mod catalog;
pub mod citizen;
pub mod codes;
pub mod consent;
pub mod drivers;
pub mod due;
pub mod feedback;
pub mod form;
pub mod handoff;
pub mod names;
pub mod principal;
pub mod report;
pub mod request;
pub mod routing;
pub mod threshold;
pub mod time;
pub mod warnings;
