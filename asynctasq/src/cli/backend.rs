//! Backend resolution: which backend a command talks to (`--url`, the
//! client configured in code, `ASYNCTASQ_URL`), and connecting to it with a
//! message that says where the URL came from.

use anyhow::Context as _;
use asynctasq_core::{Client, Config};

/// Where the commands find the backend, resolved by precedence.
#[derive(Debug)]
pub(crate) enum Backend {
    /// `--url` on the command line (other settings from the environment).
    Flag(Config),
    /// The global client set by `asynctasq::init` in the program.
    Code(Client),
    /// `ASYNCTASQ_URL`, or the default when it is unset.
    Env(Config),
}

impl Backend {
    /// Fails when an `ASYNCTASQ_*` variable that applies cannot be read
    /// (`ASYNCTASQ_AUTO_MIGRATE=maybe`); with a client configured in code,
    /// the environment is not read.
    pub(super) fn resolve(flag_url: Option<String>) -> anyhow::Result<Self> {
        if let Some(url) = flag_url {
            let mut config = Config::from_env()?;
            config.url = url;
            return Ok(Backend::Flag(config));
        }
        if let Some(client) = asynctasq_core::try_global() {
            return Ok(Backend::Code(client));
        }
        Ok(Backend::Env(Config::from_env()?))
    }

    /// The backend for messages, without credentials.
    pub(crate) fn describe(&self) -> String {
        match self {
            Backend::Flag(c) | Backend::Env(c) => redact_url(&c.url),
            Backend::Code(client) => format!(
                "the {} backend configured in code (asynctasq::init)",
                client.driver().name()
            ),
        }
    }

    /// Connects, creating the schema when the configuration says so.
    pub(crate) async fn client(&self) -> anyhow::Result<Client> {
        match self {
            Backend::Code(client) => Ok(client.clone()),
            Backend::Flag(config) | Backend::Env(config) => self.connect(config).await,
        }
    }

    /// Connects without creating the schema (for `migrate`, which does it itself).
    pub(crate) async fn client_without_migrating(&self) -> anyhow::Result<Client> {
        match self {
            Backend::Code(client) => Ok(client.clone()),
            Backend::Flag(config) | Backend::Env(config) => {
                self.connect(&config.clone().auto_migrate(false)).await
            }
        }
    }

    async fn connect(&self, config: &Config) -> anyhow::Result<Client> {
        let hint = match self {
            Backend::Flag(_) => "check the URL given with --url",
            _ if std::env::var_os("ASYNCTASQ_URL").is_some_and(|v| !v.is_empty()) => {
                "check the ASYNCTASQ_URL environment variable, or pass --url"
            }
            _ => "this is the default URL; set ASYNCTASQ_URL or pass --url to choose the backend",
        };
        Client::connect(config)
            .await
            .with_context(|| format!("cannot connect to {} ({hint})", redact_url(&config.url)))
    }
}

/// The one redactor ([`asynctasq_core::url::redact`]), for the commands.
pub(crate) use asynctasq_core::url::redact as redact_url;
