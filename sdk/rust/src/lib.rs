//! waitressd-sdk (being written)
pub mod sys;
