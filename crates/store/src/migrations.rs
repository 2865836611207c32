//! Each backend's migrations, in order (the list `build.rs` makes from `migrations/both`,
//! `migrations/sqlite` and `migrations/postgres`): a database records how many it has.

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
