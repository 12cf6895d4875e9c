//! sea-orm models as arguments: they travel as references and are re-fetched.

use std::fmt::Debug;

use sea_orm::sea_query::extension::postgres::PgFunc;
use sea_orm::sea_query::{Expr, ExprTrait, FromValueTuple, IntoValueTuple, Value};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult, Iterable,
    ModelTrait, PrimaryKeyToColumn, PrimaryKeyTrait,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::loader::ModelBatch;
use super::{Arg, ArgError, ArgFuture, Codec, decode_value, encode_value};
use crate::error::Result;
use crate::task::JobContext;

/// The value `orm` carries in every model reference.
const ORM: &str = "sea-orm";

/// The primary key type of an entity.
pub(crate) type PkOf<E> = <<E as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType;

/// The name a model's entity has on the wire: `schema.table`, or `table`
/// when the entity has no schema.
///
/// ```
/// # mod user {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "users", schema_name = "app")]
/// #     pub struct Model { #[sea_orm(primary_key)] pub id: i32 }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// assert_eq!(asynctasq_core::args::entity_class::<user::Entity>(), "app.users");
/// ```
pub fn entity_class<E: EntityTrait>() -> String {
    let entity = E::default();
    match entity.schema_name() {
        Some(schema) => format!("{schema}.{}", entity.table_name()),
        None => entity.table_name().to_string(),
    }
}

/// A model reference as it travels.
#[derive(Serialize, Deserialize)]
struct Reference<K> {
    orm: String,
    class: String,
    pk: K,
}

/// References to many models of one entity, as they travel.
#[derive(Serialize, Deserialize)]
struct References<K> {
    orm: String,
    class: String,
    pks: Vec<K>,
}

/// Wraps a model (or any value) so that it travels whole, as a snapshot of
/// dispatch time, instead of as a reference re-fetched at execution time.
///
/// ```
/// use asynctasq_core::args::Snapshot;
///
/// #[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
/// struct Invoice { id: i32, total_cents: i64 }
///
/// let snapshot = Snapshot(Invoice { id: 1, total_cents: 1999 });
/// assert_eq!(snapshot.into_inner().total_cents, 1999);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Snapshot<T>(pub T);

impl<T> Snapshot<T> {
    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Snapshot<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A sea-orm model whose entity can be fetched by primary key.
///
/// Blanket-implemented; it only names the bounds once.
pub trait FetchableModel:
    ModelTrait<Entity = Self::E> + FromQueryResult + Send + Sync + 'static
{
    /// The model's entity.
    type E: EntityTrait<Model = Self>;
}

impl<M> FetchableModel for M
where
    M: ModelTrait + FromQueryResult + Send + Sync + 'static,
    M::Entity: EntityTrait<Model = M>,
{
    type E = M::Entity;
}

fn pk_of<M: FetchableModel>(model: &M) -> PkOf<M::E> {
    // Safe: the value tuple comes from the model itself, so arity and types match.
    <PkOf<M::E> as FromValueTuple>::from_value_tuple(model.get_primary_key_value())
}

fn database<'a>(
    ctx: &'a JobContext,
    name: &'static str,
) -> Result<&'a DatabaseConnection, ArgError> {
    ctx.db.as_ref().ok_or(ArgError::NoDatabase { name })
}

fn check_class<E: EntityTrait>(name: &'static str, orm: &str, found: &str) -> Result<(), ArgError> {
    let expected = entity_class::<E>();
    if orm != ORM || found != expected {
        return Err(ArgError::ClassMismatch {
            name,
            expected: format!("{ORM}:{expected}"),
            found: format!("{orm}:{found}"),
        });
    }
    Ok(())
}

/// The rows of `pks`, in their order, through the worker's [`ModelBatch`]
/// (batched with the other jobs of the claim); a missing row fails.
async fn fetch<M>(
    db: &DatabaseConnection,
    name: &'static str,
    pks: Vec<PkOf<M::E>>,
) -> Result<Vec<M>, ArgError>
where
    M: FetchableModel,
    PkOf<M::E>: Clone + Debug + Send + Sync,
{
    let rows = ModelBatch::load::<M>(db, pks.clone())
        .await
        .map_err(|message| ArgError::Database { name, message })?;
    rows.into_iter()
        .zip(pks)
        .map(|(row, pk)| {
            row.ok_or_else(|| ArgError::ModelNotFound {
                class: entity_class::<M::E>(),
                pk: format!("{pk:?}"),
            })
        })
        .collect()
}

/// The row of `pk` (see [`fetch`]).
async fn fetch_one<M>(
    db: &DatabaseConnection,
    name: &'static str,
    pk: PkOf<M::E>,
) -> Result<M, ArgError>
where
    M: FetchableModel,
    PkOf<M::E>: Clone + Debug + Send + Sync,
{
    let mut rows = fetch::<M>(db, name, vec![pk]).await?;
    Ok(rows.pop().expect("one row per key"))
}

/// The codec of a sea-orm model: it travels as a reference
/// `{orm, class, pk}` and is fetched fresh by primary key.
pub trait ModelArg<T> {
    /// The codec.
    fn codec(&self) -> Codec<T>;
}

impl<M> ModelArg<M> for &Arg<M>
where
    M: FetchableModel,
    PkOf<M::E>: Serialize + DeserializeOwned + Clone + Debug + Sync,
{
    fn codec(&self) -> Codec<M> {
        Codec {
            encode: encode_one::<M>,
            decode: decode_one::<M>,
            fetches_model: true,
        }
    }
}

fn encode_one<M>(name: &'static str, model: &M) -> Result<rmpv::Value>
where
    M: FetchableModel,
    PkOf<M::E>: Serialize,
{
    let reference = Reference {
        orm: ORM.to_string(),
        class: entity_class::<M::E>(),
        pk: pk_of(model),
    };
    encode_value(name, &reference)
}

fn decode_one<'a, M>(ctx: &'a JobContext, name: &'static str) -> ArgFuture<'a, M>
where
    M: FetchableModel,
    PkOf<M::E>: DeserializeOwned + Clone + Debug + Sync,
{
    Box::pin(async move {
        let r: Reference<PkOf<M::E>> = decode_value(&ctx.args, name)?;
        check_class::<M::E>(name, &r.orm, &r.class)?;
        fetch_one::<M>(database(ctx, name)?, name, r.pk).await
    })
}

/// The codec of an `Option` of a sea-orm model (`None` travels as nil).
pub trait OptionModelArg<T> {
    /// The codec.
    fn codec(&self) -> Codec<T>;
}

impl<M> OptionModelArg<Option<M>> for &Arg<Option<M>>
where
    M: FetchableModel,
    PkOf<M::E>: Serialize + DeserializeOwned + Clone + Debug + Sync,
{
    fn codec(&self) -> Codec<Option<M>> {
        Codec {
            encode: encode_option::<M>,
            decode: decode_option::<M>,
            fetches_model: true,
        }
    }
}

fn encode_option<M>(name: &'static str, value: &Option<M>) -> Result<rmpv::Value>
where
    M: FetchableModel,
    PkOf<M::E>: Serialize,
{
    match value {
        None => Ok(rmpv::Value::Nil),
        Some(model) => encode_one(name, model),
    }
}

fn decode_option<'a, M>(ctx: &'a JobContext, name: &'static str) -> ArgFuture<'a, Option<M>>
where
    M: FetchableModel,
    PkOf<M::E>: DeserializeOwned + Clone + Debug + Sync,
{
    Box::pin(async move {
        let r: Option<Reference<PkOf<M::E>>> = decode_value(&ctx.args, name)?;
        let Some(r) = r else { return Ok(None) };
        check_class::<M::E>(name, &r.orm, &r.class)?;
        fetch_one::<M>(database(ctx, name)?, name, r.pk)
            .await
            .map(Some)
    })
}

/// The codec of a `Vec` of sea-orm models: the keys travel, and the rows
/// come back with one `IN` query (per 512 keys, shared with the other jobs
/// of the claim), in the original order.
pub trait VecModelArg<T> {
    /// The codec.
    fn codec(&self) -> Codec<T>;
}

impl<M> VecModelArg<Vec<M>> for &Arg<Vec<M>>
where
    M: FetchableModel,
    PkOf<M::E>: Serialize + DeserializeOwned + Clone + Debug + Sync,
{
    fn codec(&self) -> Codec<Vec<M>> {
        Codec {
            encode: encode_many::<M>,
            decode: decode_many::<M>,
            fetches_model: true,
        }
    }
}

// A codec encodes `&T`, and `T` is `Vec<M>` here.
#[allow(clippy::ptr_arg)]
fn encode_many<M>(name: &'static str, models: &Vec<M>) -> Result<rmpv::Value>
where
    M: FetchableModel,
    PkOf<M::E>: Serialize,
{
    let references = References {
        orm: ORM.to_string(),
        class: entity_class::<M::E>(),
        pks: models.iter().map(pk_of).collect(),
    };
    encode_value(name, &references)
}

fn decode_many<'a, M>(ctx: &'a JobContext, name: &'static str) -> ArgFuture<'a, Vec<M>>
where
    M: FetchableModel,
    PkOf<M::E>: DeserializeOwned + Clone + Debug + Sync,
{
    Box::pin(async move {
        let r: References<PkOf<M::E>> = decode_value(&ctx.args, name)?;
        check_class::<M::E>(name, &r.orm, &r.class)?;
        if r.pks.is_empty() {
            return Ok(Vec::new());
        }
        fetch::<M>(database(ctx, name)?, name, r.pks).await
    })
}

/// `(k1 = a AND k2 = b) OR (…)` for every key; a single-column key becomes
/// `k IN (…)`, or on Postgres `k = ANY($1)`: one array parameter, so one
/// statement text (prepared once per connection, its plan kept) whatever
/// the number of keys.
pub(crate) fn any_of_keys<E: EntityTrait>(backend: DbBackend, keys: &[PkOf<E>]) -> Condition
where
    PkOf<E>: Clone,
{
    let columns: Vec<E::Column> = E::PrimaryKey::iter().map(|k| k.into_column()).collect();
    if let [column] = columns.as_slice() {
        let values: Vec<Value> = keys
            .iter()
            .flat_map(|k| k.clone().into_value_tuple().into_iter())
            .collect();
        if let (DbBackend::Postgres, Some(first)) = (backend, values.first()) {
            let array = Value::Array(first.array_type(), Some(Box::new(values)));
            return Condition::all()
                .add(Expr::col(column.as_column_ref()).eq(PgFunc::any(Expr::val(array))));
        }
        return Condition::all().add(column.is_in(values));
    }
    keys.iter().fold(Condition::any(), |any, key| {
        let all = columns
            .iter()
            .zip(key.clone().into_value_tuple())
            .fold(Condition::all(), |all, (c, v)| all.add(c.eq(v)));
        any.add(all)
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::{QueryFilter, QueryTrait};

    use super::*;

    mod item {
        use sea_orm::entity::prelude::*;
        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "items")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
        }
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    }

    fn fetch_sql(backend: DbBackend, keys: &[i32]) -> String {
        item::Entity::find()
            .filter(any_of_keys::<item::Entity>(backend, keys))
            .build(backend)
            .sql
    }

    #[test]
    fn postgres_binds_single_column_keys_as_one_array() {
        let select = r#"SELECT "items"."id" FROM "items" WHERE "items"."id""#;
        assert_eq!(
            fetch_sql(DbBackend::Postgres, &[1, 2, 3]),
            format!("{select} = ANY($1)")
        );
        assert_eq!(
            fetch_sql(DbBackend::Postgres, &[1, 2, 3, 4, 5]),
            format!("{select} = ANY($1)"),
            "one statement text whatever the number of keys"
        );
        assert_eq!(
            fetch_sql(DbBackend::Sqlite, &[1, 2, 3]),
            format!("{select} IN (?, ?, ?)")
        );
    }
}
