//! Plain (non-model) argument types: each round-trips through a real
//! handler, and travels in the msgpack form that docs/orm.md documents.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

use asynctasq::__private::rmpv::Value;
use asynctasq::{JobContext, JobId, Registry, Task, task};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde_bytes::ByteBuf;

#[derive(Debug, Clone, PartialEq)]
struct Received {
    at: DateTime<Utc>,
    day: NaiveDate,
    local: NaiveDateTime,
    id: uuid::Uuid,
    price: Decimal,
    tags: HashSet<String>,
    ordered: BTreeSet<u32>,
    blob: ByteBuf,
    raw: Vec<u8>,
    counts: BTreeMap<String, i64>,
    maybe: Option<i8>,
}

static RECEIVED: Mutex<Option<Received>> = Mutex::new(None);

#[task]
#[allow(clippy::too_many_arguments)]
async fn every_plain_type(
    at: DateTime<Utc>,
    day: NaiveDate,
    local: NaiveDateTime,
    id: uuid::Uuid,
    price: Decimal,
    tags: HashSet<String>,
    ordered: BTreeSet<u32>,
    blob: ByteBuf,
    raw: Vec<u8>,
    counts: BTreeMap<String, i64>,
    maybe: Option<i8>,
) {
    *RECEIVED.lock().unwrap() = Some(Received {
        at,
        day,
        local,
        id,
        price,
        tags,
        ordered,
        blob,
        raw,
        counts,
        maybe,
    });
}

#[tokio::test]
async fn plain_values_round_trip_in_their_documented_forms() {
    let sent = Received {
        at: "2026-11-22T10:15:30.123456Z".parse().unwrap(),
        day: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
        local: "2026-11-22T10:15:30".parse().unwrap(),
        id: "0190f3a2-7c1e-7abc-8def-0123456789ab".parse().unwrap(),
        price: "1234.5600".parse().unwrap(),
        tags: HashSet::from(["a".to_string(), "b".to_string()]),
        ordered: BTreeSet::from([3, 1, 2]),
        blob: ByteBuf::from(vec![0u8, 1, 255]),
        raw: vec![7, 8],
        counts: BTreeMap::from([("x".to_string(), -1)]),
        maybe: None,
    };
    let s = sent.clone();
    let job = every_plain_type(
        s.at, s.day, s.local, s.id, s.price, s.tags, s.ordered, s.blob, s.raw, s.counts, s.maybe,
    );
    let args = job.envelope().unwrap().args;
    let form = |name: &str| -> Value {
        args.as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(form("at"), Value::from("2026-11-22T10:15:30.123456Z"));
    assert_eq!(form("day"), Value::from("2026-11-22"));
    assert_eq!(form("local"), Value::from("2026-11-22T10:15:30"));
    assert_eq!(form("id"), Value::Binary(sent.id.as_bytes().to_vec()));
    assert_eq!(form("price"), Value::from("1234.5600"));
    assert!(matches!(form("tags"), Value::Array(ref a) if a.len() == 2));
    assert_eq!(
        form("ordered"),
        Value::Array(vec![1.into(), 2.into(), 3.into()])
    );
    assert_eq!(form("blob"), Value::Binary(vec![0, 1, 255]));
    assert_eq!(form("raw"), Value::Array(vec![7.into(), 8.into()]));
    assert_eq!(form("counts"), Value::Map(vec![("x".into(), (-1).into())]));
    assert_eq!(form("maybe"), Value::Nil);

    let registry = Registry::from_inventory().unwrap();
    let handler = registry.get(every_plain_type::NAME).unwrap().handler;
    let context = JobContext {
        id: JobId::new(),
        task: every_plain_type::NAME.into(),
        queue: "default".into(),
        attempt: 1,
        max_attempts: 1,
        args,
        db: None,
        cancellation: asynctasq::Cancellation::never(),
    };
    handler(context).await.unwrap();
    assert_eq!(RECEIVED.lock().unwrap().clone(), Some(sent));
}
