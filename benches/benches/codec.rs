//! Criterion micro-benchmarks of the wire path: the envelope codec
//! (`Envelope::encode` / `Envelope::decode`) and argument encoding
//! (`PendingDispatch::envelope()` of `#[task]` functions with plain
//! arguments and with a sea-orm model argument).
//!
//! ```console
//! $ cargo bench -p asynctasq-bench --bench codec
//! ```

use std::hint::black_box;

use asynctasq::Envelope;
use asynctasq::core::args::Snapshot;
use asynctasq::task;
use criterion::{Criterion, criterion_group, criterion_main};

mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub email: String,
        pub name: String,
        #[sea_orm(column_type = "Text")]
        pub bio: String,
        pub plan: String,
        pub login_count: i32,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub owner: String,
        pub balance_cents: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A few plain arguments.
#[task(queue = "emails", max_attempts = 5)]
async fn send_welcome(to: String, name: String, attempt_limit: u32, tags: Vec<String>) {
    black_box((to, name, attempt_limit, tags));
}

/// A model argument (a model without serde: it travels as a reference).
#[task(queue = "billing")]
async fn charge(account: account::Model, cents: i64) {
    black_box((account, cents));
}

/// A model sent whole, as a snapshot.
#[task(queue = "emails")]
async fn greet_snapshot(user: Snapshot<user::Model>) {
    black_box(user);
}

fn sample_user() -> user::Model {
    user::Model {
        id: 42,
        email: "ada@example.com".into(),
        name: "Ada Lovelace".into(),
        bio: "Mathematician and writer, known for her work on the Analytical Engine. ".repeat(4),
        plan: "team".into(),
        login_count: 1815,
        created_at: chrono::DateTime::from_timestamp(1_760_000_000, 0).unwrap(),
    }
}

fn plain_job() -> asynctasq::PendingDispatch<send_welcome> {
    send_welcome(
        "ada@example.com".into(),
        "Ada".into(),
        5,
        vec!["signup".into(), "newsletter".into()],
    )
}

fn codec(c: &mut Criterion) {
    let envelope = plain_job().envelope().unwrap();
    let bytes = envelope.encode().unwrap();
    c.bench_function("envelope/encode", |b| {
        b.iter(|| black_box(&envelope).encode().unwrap())
    });
    c.bench_function("envelope/decode", |b| {
        b.iter(|| Envelope::decode(black_box(&bytes)).unwrap())
    });

    let plain = plain_job();
    c.bench_function("args/envelope plain (4 args)", |b| {
        b.iter(|| black_box(&plain).envelope().unwrap())
    });
    let account = account::Model {
        id: 7,
        owner: "ada".into(),
        balance_cents: 12_345,
    };
    let model = charge(account, 1999);
    c.bench_function("args/envelope model reference", |b| {
        b.iter(|| black_box(&model).envelope().unwrap())
    });
    let snapshot = greet_snapshot(Snapshot(sample_user()));
    c.bench_function("args/envelope model snapshot", |b| {
        b.iter(|| black_box(&snapshot).envelope().unwrap())
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
