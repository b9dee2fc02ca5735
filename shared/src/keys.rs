//! The S3 object key layout, defined in exactly one place: `avatar-domain`'s
//! [`keys`](avatar_domain::keys) module, re-exported here.

pub use avatar_domain::keys::*;
