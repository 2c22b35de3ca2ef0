//! The evidence store's rules (issue 6). So far: which files are accepted
//! ([`file_type`], SEC-56) and how a user's file name is shown and sent back
//! ([`file_name`], SEC-57).

pub mod file_name;
pub mod file_type;
