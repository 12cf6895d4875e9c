//! The worker binary of the models-database tests: the asynctasq CLI with
//! one task that takes a sea-orm model (and none of the chaos tasks).

use asynctasq::task;

/// The app's table of users.
mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub email: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Takes a model: the worker re-fetches the row from its models database.
#[task(name = "models.welcome", queue = "models")]
async fn welcome(user: user::Model, plan: String) {
    println!("welcome {} to {plan}", user.email);
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    asynctasq::cli::run().await
}
