//! Everything the suite prints and writes.

pub mod json;
pub mod ratios;
pub mod svg;
pub mod table;
