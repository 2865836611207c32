//! A store trait implemented once for both backends: [`on_both!`] turns one list of methods,
//! each "run this shared code over a [`crate::sql::Db`] in a read or a write transaction",
//! into the trait's impl for [`crate::sqlite::SqliteStore`] and for
//! [`crate::postgres::PgStore`].
//!
//! The backends differ in where the code runs, and only there: SQLite runs it on one of the
//! store's threads (so what it reads must be owned and `'static`: [`Carry`]), PostgreSQL in
//! the caller's task, on a pooled connection, again after a serialization failure. Before
//! this, every method was written twice with only that wrapping between the copies.
//!
//! ```ignore
//! on_both! {
//!     impl AppStore;
//!     read fn app_settings(account_id: i64) -> Result<Option<AppSettings>> =
//!         |db| apps::settings(db, account_id);
//! }
//! ```
//!
//! Modes: `read` (a read-only transaction), `read_one` (one statement on an index: on
//! PostgreSQL a pooled connection with no `BEGIN`/`COMMIT`, on SQLite a reader connection in
//! the caller's thread, see `SqliteStore::read_inline`), `write`, and `relaxed` (a write of the queue's own
//! bookkeeping, which SQLite commits without waiting for the disk; see
//! `SqliteStore::write_relaxed`, and PostgreSQL with `synchronous_commit=off`, see
//! `PgStore::relaxed_client`). Items that are not such a method go, verbatim, in an
//! optional `items { … }` block (both impls), or `sqlite { … }` / `postgres { … }` (one):
//! before the methods, in any order. A method that runs different code on each backend (the
//! delivery queue's hot path) is such an item, once in each backend's block.
//!
//! Where only the way a method's work is run differs, a mode names both: `relaxed_single`
//! and `write_single` are SQLite's `relaxed` or `write` and, on PostgreSQL, `single` (one
//! statement on its own, autocommit, run again after a serialization failure: as
//! `PgStore::single_relaxed`, on the durable pool for `write_single`), for the job runner's
//! claims, renewals and ends.

/// What an argument becomes to cross into SQLite's store thread ([`Carry::carry`], owned and
/// `'static`), and how the shared code sees it again there ([`Carry::view`]): a `&str`
/// travels as a `String` and is read as a `&str`; a number travels as itself.
pub(crate) trait Carry {
    type Own: Send + 'static;
    type View<'v>
    where
        Self: 'v;
    fn carry(self) -> Self::Own;
    fn view(own: &Self::Own) -> Self::View<'_>;
}

/// A borrowed argument travels as its owned form and is read as a borrow of it again.
impl<T> Carry for &T
where
    T: ?Sized + ToOwned,
    T::Owned: Send + 'static,
{
    type Own = T::Owned;
    type View<'v>
        = &'v T
    where
        Self: 'v;
    fn carry(self) -> T::Owned {
        self.to_owned()
    }
    fn view(own: &T::Owned) -> &T {
        std::borrow::Borrow::borrow(own)
    }
}

impl<T> Carry for Option<&T>
where
    T: ?Sized + ToOwned,
    T::Owned: Send + 'static,
{
    type Own = Option<T::Owned>;
    type View<'v>
        = Option<&'v T>
    where
        Self: 'v;
    fn carry(self) -> Option<T::Owned> {
        self.map(ToOwned::to_owned)
    }
    fn view(own: &Option<T::Owned>) -> Option<&T> {
        own.as_ref().map(std::borrow::Borrow::borrow)
    }
}

/// Values that travel as themselves: `copy` ones are read as themselves, `owned` ones by
/// reference.
macro_rules! carry_self {
    ($how:ident: $($t:ty),* $(,)?) => {$(
        impl Carry for $t {
            type Own = $t;
            type View<'v> = carry_self!(@view $how 'v $t)
            where
                Self: 'v;
            fn carry(self) -> $t {
                self
            }
            fn view(own: &$t) -> Self::View<'_> {
                carry_self!(@read $how own)
            }
        }
    )*};
    (@view copy $v:lifetime $t:ty) => { $t };
    (@view owned $v:lifetime $t:ty) => { &$v $t };
    (@read copy $own:ident) => { *$own };
    (@read owned $own:ident) => { $own };
}

carry_self!(copy:
    i64,
    i32,
    u32,
    u64,
    usize,
    bool,
    Option<i64>,
    crate::opwh::Kind
);
// The small stores' arguments (`crate::shared::{event_types, jobs, stream, ops, portal}`).
carry_self!(copy: crate::jobs::JobKind);
carry_self!(owned:
    datahooks_domain::event_types::EventTypeInput,
    crate::jobs::NewJob,
    crate::jobs::JobEnd,
    crate::stream::Forwarded,
    Vec<(crate::ops::SealedSecrets, crate::ops::SealedSecrets)>,
);

carry_self!(owned:
    crate::apps::AppSettings,
    String,
    Option<String>,
    Vec<String>,
    Option<Vec<String>>,
    serde_json::Value,
    serde_json::Map<String, serde_json::Value>,
    crate::webhooks::EndpointInput,
    Option<crate::webhooks::AttemptResult>,
    Option<(u16, Vec<u8>)>,
);

// The arguments of [`crate::Store`] (`shared/store_impl.rs`).
carry_self!(copy:
    datahooks_domain::model::Role,
    datahooks_domain::access::Access,
    crate::Page
);
carry_self!(owned:
    datahooks_domain::settings::DatasetSettings,
    crate::CloneSpec,
    Vec<datahooks_domain::inputs::NewSample>,
    datahooks_domain::inputs::SamplePatch,
    datahooks_domain::inputs::LabelInput,
    datahooks_domain::inputs::IssueInput,
);

impl Carry for crate::NewWebSession<'_> {
    type Own = crate::sessions::OwnedWebSession;
    type View<'v>
        = crate::NewWebSession<'v>
    where
        Self: 'v;
    fn carry(self) -> Self::Own {
        crate::sessions::OwnedWebSession::of(&self)
    }
    fn view(own: &Self::Own) -> crate::NewWebSession<'_> {
        own.as_new()
    }
}

/// See the module's documentation.
macro_rules! on_both {
    // The blocks are taken off the front one rule at a time: in a single pattern, the word
    // `sqlite` before a block could as well be a method's mode (`$mode:ident`), which
    // `macro_rules!` refuses as ambiguous.
    (impl $trait:path; $($rest:tt)*) => {
        $crate::both::on_both!(@blocks [$trait] [] [] []; $($rest)*);
    };
    (@blocks [$trait:path] [$($c:tt)*] [$($l:tt)*] [$($p:tt)*];
        items { $($x:tt)* } $($rest:tt)*) => {
        $crate::both::on_both!(@blocks [$trait] [$($c)* $($x)*] [$($l)*] [$($p)*]; $($rest)*);
    };
    (@blocks [$trait:path] [$($c:tt)*] [$($l:tt)*] [$($p:tt)*];
        sqlite { $($x:tt)* } $($rest:tt)*) => {
        $crate::both::on_both!(@blocks [$trait] [$($c)*] [$($l)* $($x)*] [$($p)*]; $($rest)*);
    };
    (@blocks [$trait:path] [$($c:tt)*] [$($l:tt)*] [$($p:tt)*];
        postgres { $($x:tt)* } $($rest:tt)*) => {
        $crate::both::on_both!(@blocks [$trait] [$($c)*] [$($l)*] [$($p)* $($x)*]; $($rest)*);
    };
    (@blocks [$trait:path] [$($c:tt)*] [$($l:tt)*] [$($p:tt)*]; $($methods:tt)*) => {
        $crate::both::on_both!(@impl sqlite [$trait] [$($c)* $($l)*] $($methods)*);
        $crate::both::on_both!(@impl pg [$trait] [$($c)* $($p)*] $($methods)*);
    };

    // One backend's impl: each method carries its arguments (to SQLite's thread, where they
    // must be owned), sees them again inside, and runs its body in its mode's transaction.
    (
        @impl $backend:ident [$trait:path] [$($items:tt)*]
        $(
            $mode:ident fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty =
                |$db:ident| $body:expr;
        )*
    ) => {
        #[async_trait::async_trait]
        impl $trait for $crate::both::on_both!(@store $backend) {
            $($items)*
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    $(let $arg = <$ty as $crate::both::Carry>::carry($arg);)*
                    $crate::both::on_both!(@run $backend $mode self, $db, {
                        $(let $arg = <$ty as $crate::both::Carry>::view(&$arg);)*
                    }, $body)
                }
            )*
        }
    };

    (@store sqlite) => { $crate::sqlite::SqliteStore };
    (@store pg) => { $crate::postgres::PgStore };

    // SQLite: the body's future is ready at once on the store's thread (`block_now`).
    (@run sqlite $mode:ident $s:ident, $db:ident, {$($views:tt)*}, $body:expr) => {
        $crate::both::on_both!(@sqlite $mode $s, move |tx| {
            $($views)*
            let $db = &$crate::sqlite::Lite(tx);
            $crate::sql::block_now($body)?
        })
    };
    // PostgreSQL: the body runs in the caller's task.
    (@run pg $mode:ident $s:ident, $db:ident, {$($views:tt)*}, $body:expr) => {
        $crate::both::on_both!(@pg $mode $s, $db, {
            $($views)*
            $body.await
        })
    };

    (@sqlite read $s:ident, $f:expr) => { $s.read($f).await };
    (@sqlite read_one $s:ident, $f:expr) => { $s.read_inline($f).await };
    (@sqlite write $s:ident, $f:expr) => { $s.write($f).await };
    (@sqlite relaxed $s:ident, $f:expr) => { $s.write_relaxed($f).await };

    (@pg read $s:ident, $db:ident, $b:block) => {
        $crate::postgres::read_tx!($s, |tx| {
            let $db = &$crate::postgres::Pg(&tx);
            $b
        })
    };
    (@pg read_one $s:ident, $db:ident, $b:block) => {
        $crate::postgres::read_one!($s, |c| {
            let $db = &$crate::postgres::Pg(c);
            $b
        })
    };
    (@pg write $s:ident, $db:ident, $b:block) => {
        $crate::postgres::write_tx!($s, |tx| {
            let $db = &$crate::postgres::Pg(&tx);
            $b
        })
    };
    (@pg relaxed $s:ident, $db:ident, $b:block) => {
        $crate::postgres::write_tx!(relaxed $s, |tx| {
            let $db = &$crate::postgres::Pg(&tx);
            $b
        })
    };

    (@sqlite relaxed_single $s:ident, $f:expr) => { $s.write_relaxed($f).await };
    (@sqlite write_single $s:ident, $f:expr) => { $s.write($f).await };
    (@pg relaxed_single $($rest:tt)*) => { $crate::both::on_both!(@pg single relaxed_client $($rest)*) };
    (@pg write_single $($rest:tt)*) => { $crate::both::on_both!(@pg single client $($rest)*) };
    // `PgStore::single_relaxed` as a block, on either pool: its closure must be `Fn`, and a
    // body that borrows the carried arguments could move them into its future only once.
    (@pg single $client:ident $s:ident, $db:ident, $b:block) => {
        $crate::postgres::retry_busy!({
            let client = $s.$client().await?;
            let $db = &$crate::postgres::Pg(&client);
            $b
        })
    };
}

pub(crate) use on_both;
