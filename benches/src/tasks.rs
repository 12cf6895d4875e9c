//! The tasks the scenarios dispatch, real `#[task]` functions run by a real
//! `asynctasq::Worker`, and the process-wide recorders their handlers write to.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use asynctasq::core::args::Snapshot;
use asynctasq::task;

/// Microseconds since the Unix epoch (the wall clock, so that a timestamp
/// taken by a producer means the same thing to a worker in any process).
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Jobs the handlers have run since the last [`reset`].
static RAN: AtomicU64 = AtomicU64::new(0);

/// When the first handler since the last [`reset`] started, as nanoseconds
/// after [`base`] plus one (0 = none yet).
static FIRST_START: AtomicU64 = AtomicU64::new(0);

/// Dispatch → handler-start latencies in microseconds, with the handler's
/// start time (µs since the epoch).
static LATENCIES: Mutex<Vec<(i64, i64)>> = Mutex::new(Vec::new());

fn base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Clears the recorders before a scenario.
pub fn reset() {
    base();
    RAN.store(0, Ordering::SeqCst);
    FIRST_START.store(0, Ordering::SeqCst);
    LATENCIES.lock().expect("latency recorder").clear();
}

/// Jobs run since the last [`reset`].
pub fn ran() -> u64 {
    RAN.load(Ordering::SeqCst)
}

/// Takes the recorded `(latency µs, handler start µs)` pairs.
pub fn take_latencies() -> Vec<(i64, i64)> {
    std::mem::take(&mut *LATENCIES.lock().expect("latency recorder"))
}

fn started() {
    if FIRST_START.load(Ordering::Relaxed) == 0 {
        let since = u64::try_from(base().elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        let _ = FIRST_START.compare_exchange(0, since + 1, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// The no-op job of the drain and backlog scenarios: it only counts itself.
#[task(name = "bench.noop", max_attempts = 1)]
pub async fn noop(n: u64) {
    started();
    std::hint::black_box(n);
    RAN.fetch_add(1, Ordering::Relaxed);
}

/// Carries its dispatch time; records dispatch → handler-start latency.
#[task(name = "bench.stamp", max_attempts = 1)]
pub async fn stamp(sent_micros: i64) {
    let now = now_micros();
    started();
    LATENCIES
        .lock()
        .expect("latency recorder")
        .push((now - sent_micros, now));
    RAN.fetch_add(1, Ordering::Relaxed);
}

/// The columns of the benchmark's customer table, as one sea-orm entity
/// module body; `$attr` adds derives to the model.
macro_rules! customer_entity {
    ($(#[$attr:meta])*) => {
        use sea_orm::entity::prelude::*;

        /// A customer row.
        $(#[$attr])*
        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "bench_customers")]
        pub struct Model {
            /// Primary key.
            #[sea_orm(primary_key)]
            pub id: i32,
            /// Public id.
            pub public_id: Uuid,
            /// Login email.
            pub email: String,
            /// Full name.
            pub full_name: String,
            /// Company.
            pub company: String,
            /// Self-description.
            #[sea_orm(column_type = "Text")]
            pub bio: String,
            /// Street address.
            pub street: String,
            /// City.
            pub city: String,
            /// ISO country code.
            pub country: String,
            /// Phone number.
            pub phone: String,
            /// Billing plan.
            pub plan: String,
            /// Support notes.
            #[sea_orm(column_type = "Text", nullable)]
            pub notes: Option<String>,
            /// Active account.
            pub is_active: bool,
            /// Logins so far.
            pub login_count: i32,
            /// Lifetime value score.
            pub score: f64,
            /// Created.
            pub created_at: ChronoDateTimeUtc,
            /// Last updated.
            pub updated_at: ChronoDateTimeUtc,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

/// A realistic application table: a customer with 17 columns, several of
/// them free text. The model derives `Serialize`/`Deserialize`, as many
/// applications' models do (and as `Snapshot` needs).
pub mod customer {
    customer_entity!(#[derive(serde::Serialize, serde::Deserialize)]);
}

/// The same table, through a model that does not derive serde.
pub mod customer_ref {
    customer_entity!();
}

use customer_ref::Model as Customer;

/// One model argument, sent as a reference and re-fetched by the worker.
#[task(name = "bench.orm.one", max_attempts = 1)]
pub async fn orm_one(a: Customer) {
    std::hint::black_box(a);
}

/// One model argument whose model also derives serde.
#[task(name = "bench.orm.serde_model", max_attempts = 1)]
pub async fn orm_serde_model(a: customer::Model) {
    std::hint::black_box(a);
}

/// The same model sent whole, as a snapshot.
#[task(name = "bench.orm.snapshot", max_attempts = 1)]
pub async fn orm_snapshot(a: Snapshot<customer::Model>) {
    std::hint::black_box(a);
}

/// Four model arguments.
#[task(name = "bench.orm.four", max_attempts = 1)]
pub async fn orm_four(a: Customer, b: Customer, c: Customer, d: Customer) {
    std::hint::black_box((a, b, c, d));
}

/// Sixteen model arguments.
#[allow(clippy::too_many_arguments)]
#[task(name = "bench.orm.sixteen", max_attempts = 1)]
pub async fn orm_sixteen(
    a: Customer,
    b: Customer,
    c: Customer,
    d: Customer,
    e: Customer,
    f: Customer,
    g: Customer,
    h: Customer,
    i: Customer,
    j: Customer,
    k: Customer,
    l: Customer,
    m: Customer,
    n: Customer,
    o: Customer,
    p: Customer,
) {
    std::hint::black_box((a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p));
}

/// A product of the orm-drain workload.
pub mod product {
    use sea_orm::entity::prelude::*;

    /// A product row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "bench_products")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// Stock-keeping unit.
        pub sku: String,
        /// Name.
        pub name: String,
        /// Price.
        pub price_cents: i64,
        /// In stock.
        pub stock: i32,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An order of the orm-drain workload.
pub mod order {
    use sea_orm::entity::prelude::*;

    /// An order row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "bench_orders")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// Who ordered.
        pub customer_id: i32,
        /// What.
        pub product_id: i32,
        /// How many.
        pub quantity: i32,
        /// Total.
        pub total_cents: i64,
        /// Order status.
        pub status: String,
        /// Placed.
        pub created_at: ChronoDateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// orm-drain: one customer, as a model reference.
#[task(name = "bench.orm_drain.one_model", max_attempts = 1)]
pub async fn drain_one_model(customer: customer::Model) {
    std::hint::black_box(customer);
}

/// orm-drain: customer, product and order, as model references.
#[task(name = "bench.orm_drain.three_models", max_attempts = 1)]
pub async fn drain_three_models(
    customer: customer::Model,
    product: product::Model,
    order: order::Model,
) {
    std::hint::black_box((customer, product, order));
}

/// orm-drain: one customer, by value.
#[task(name = "bench.orm_drain.one_value", max_attempts = 1)]
pub async fn drain_one_value(customer: Snapshot<customer::Model>) {
    std::hint::black_box(customer);
}

/// orm-drain: customer, product and order, by value.
#[task(name = "bench.orm_drain.three_values", max_attempts = 1)]
pub async fn drain_three_values(
    customer: Snapshot<customer::Model>,
    product: Snapshot<product::Model>,
    order: Snapshot<order::Model>,
) {
    std::hint::black_box((customer, product, order));
}
