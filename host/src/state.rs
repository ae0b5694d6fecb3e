//! Durable state in sled: installed plugins, tenants, enablements, flows, cursors
//! and runs, one tree each, values as JSON. Owns keys, encoding and transactions;
//! knows nothing of wasmtime.
//!
//! An enablement's secrets never reach the database in clear: they are sealed
//! with a key of their own from the [`Keyring`], which is destroyed when the
//! enablement is disabled or its secrets are replaced.
//!
//! A batch's cursor advance, its retry entries, dead letters, id-map links, the
//! inbox entries it delivered and run counters commit in one transaction ([`State::commit`]) and are flushed before
//! the batch counts as done.

use crate::capability::attempts::Attempt;
use crate::capability::secret::Secret;
use crate::delivery::{AuditEntry, DeadLetter, Retry};
use crate::flow::{Flow, Run};
use crate::inbox::InboxEntry;
use crate::keys::{Keyring, Sealed};
use crate::limits::LimitOverrides;
use crate::plugin::Installed;
use crate::tenant::{Enablement, Tenant};
use anyhow::Context as _;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sled::Transactional;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Entries per tree, by tree name.
pub type TreeCounts = Vec<(&'static str, usize)>;

/// The state database.
#[derive(Debug, Clone)]
pub struct State {
    db: sled::Db,
    keys: Keyring,
    /// Every write holds it shared, a backup exclusively: a backup taken while
    /// a server runs is the state of one instant (see [`State::dump`]).
    /// Recursive reads, so a write inside a write never waits for a backup
    /// that waits for the outer one.
    gate: Arc<parking_lot::RwLock<()>>,
    plugins: sled::Tree,
    tenants: sled::Tree,
    enablements: sled::Tree,
    flows: sled::Tree,
    cursors: sled::Tree,
    runs: sled::Tree,
    plugin_versions: sled::Tree,
    /// Trusted publishers, by key id.
    publishers: sled::Tree,
    /// Whose each plugin name is.
    plugin_names: sled::Tree,
    retries: sled::Tree,
    dead_letters: sled::Tree,
    /// Dead-letter ids by tenant (`tenant \0 id`), so that a tenant's listing
    /// never reads other tenants' letters.
    dead_letters_by_tenant: sled::Tree,
    delivered: sled::Tree,
    /// Write attempts of deliveries to destinations that ask about them
    /// (`tenant \0 plugin \0 idempotency key`), until one succeeds.
    attempts: sled::Tree,
    idmap: sled::Tree,
    /// Who may write each id-map namespace of a tenant: the plugin that first
    /// linked in it, and those the operator shared it with.
    idmap_owners: sled::Tree,
    audit: sled::Tree,
    /// Records webhooks brought in, per flow that takes them, until a run of that
    /// flow has delivered them (see [`crate::inbox`]).
    inbox: sled::Tree,
    /// Counters for ids (runs, dead letters, audit entries): dense and increasing
    /// across restarts, unlike sled's `generate_id`, which skips ahead at each open.
    counters: sled::Tree,
}

/// Everything one delivered batch changes, committed at once by [`State::commit`].
#[derive(Debug, Default)]
pub struct Commit {
    /// The source cursor after the batch, if it moves.
    pub cursor: Option<(String, String)>,
    /// Retry entries to write (keyed by record key), and record keys whose entry
    /// is done (delivered or dead-lettered).
    pub retries: Vec<Retry>,
    pub retries_done: Vec<String>,
    /// New dead letters; their ids are assigned in the transaction.
    pub dead_letters: Vec<DeadLetter>,
    /// Record key -> version last delivered.
    pub delivered: Vec<(String, crate::record::Version)>,
    /// Id-map links (namespace, source id, target id).
    pub links: Vec<(String, String, String)>,
    /// Inbox entries of the run's flow that this batch delivered (or queued or
    /// dead-lettered): they leave the inbox with the batch.
    pub inbox_done: Vec<u64>,
    /// Recorded write attempts (destination plugin, idempotency key) whose
    /// delivery succeeded: they are forgotten.
    pub attempts_done: Vec<(String, String)>,
    /// Recorded write attempts whose last call answered this error.
    pub attempts_answered: Vec<(String, String, crate::GuestError)>,
}

impl Commit {
    /// The bytes this commit makes the database hold: what a run's storage cap
    /// counts.
    pub fn size(&self) -> u64 {
        let mut size = 0usize;
        size += self.retries.iter().map(|r| encode(r).len()).sum::<usize>();
        size += self
            .dead_letters
            .iter()
            .map(|d| encode(d).len())
            .sum::<usize>();
        size += self
            .delivered
            .iter()
            .map(|(k, v)| k.len() + encode(v).len())
            .sum::<usize>();
        size += self
            .links
            .iter()
            .map(|(n, s, t)| 2 * (n.len() + s.len() + t.len()))
            .sum::<usize>();
        size as u64
    }
}

/// What a command says when another process holds the data folder.
fn in_use(dir: &Path) -> String {
    format!(
        "the state database in {} is in use by another `tenon` process (a running `tenon serve`?): \
         stop it first, or send this command to it with `tenon --server URL ...`",
        dir.display()
    )
}

fn is_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

/// Removes the snapshot files sled 0.34 left unfinished (`snap.*.generating`,
/// often empty) when a process died or the disk filled while writing one:
/// sled would read such a file as the newest snapshot and refuse to open
/// ("Read corrupted data"). A snapshot is only an index of the log, which
/// holds everything, so the state opens whole without it. Only done while no
/// other process has the database open (its lock is free), since that process
/// could be writing the file right now.
fn remove_unfinished_snapshots(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // a new folder: sled creates it
    };
    let unfinished: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snap.") && n.ends_with(".generating"))
        })
        .collect();
    if unfinished.is_empty() {
        return Ok(());
    }
    let db = match std::fs::File::open(dir.join("db")) {
        Ok(db) => Some(db),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("could not open {}", dir.join("db").display())));
        }
    };
    if let Some(db) = &db
        && rustix::fs::flock(db, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
    {
        anyhow::bail!(in_use(dir));
    }
    for path in unfinished {
        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        std::fs::remove_file(&path)
            .with_context(|| format!("could not remove {}", path.display()))?;
        tracing::warn!(
            file = %path.display(),
            bytes,
            "Removed an unfinished state snapshot left by a process that stopped while writing it; the state opens from its log"
        );
    }
    // The lock goes with the file, before sled takes it.
    drop(db);
    Ok(())
}

/// Joins key parts with a NUL byte, which no identifier contains.
fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("state values serialise to JSON")
}

fn decode<T: DeserializeOwned>(tree: &str, k: &[u8], bytes: &[u8]) -> anyhow::Result<T> {
    serde_json::from_slice(bytes)
        .with_context(|| format!("corrupt entry `{}` in tree `{tree}`", show_key(k)))
}

/// A state key as an error names it: its parts joined by `/` when it is text,
/// else its bytes in hex (ids are big-endian numbers).
pub fn show_key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(text) if !text.chars().any(|c| c.is_control() && c != '\0') => text.replace('\0', "/"),
        _ => format!("0x{}", crate::record::hex(k)),
    }
}

/// An enablement as the database holds it: its secrets sealed.
#[derive(Serialize, Deserialize)]
struct StoredEnablement {
    tenant: String,
    plugin: String,
    config: BTreeMap<String, String>,
    grants: Vec<crate::capability::http::Grant>,
    limits: LimitOverrides,
    #[serde(default, skip_serializing_if = "LimitOverrides::is_empty")]
    operator_limits: LimitOverrides,
    enabled_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Sealed>,
    /// Secrets in clear, as versions before sealing wrote them: read once at
    /// open, then sealed (see [`State::open`]).
    #[serde(default, skip_serializing)]
    secrets: BTreeMap<String, String>,
}

/// Who may write an id-map namespace of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceOwner {
    pub namespace: String,
    /// The plugin that linked in it first.
    pub owner: String,
    /// Plugins the operator shared it with.
    #[serde(default)]
    pub shared: Vec<String>,
}

impl State {
    /// Opens (or creates) the database in `dir`, its secrets sealed with the
    /// keys of `keys`.
    pub fn open(dir: &Path, keys: Keyring) -> anyhow::Result<State> {
        remove_unfinished_snapshots(dir)?;
        let db = sled::Config::new().path(dir).open().map_err(|e| {
            if is_lock_error(&e) {
                anyhow::anyhow!(in_use(dir))
            } else {
                anyhow::Error::new(e).context(format!(
                    "could not open the state database in {}",
                    dir.display()
                ))
            }
        })?;
        let tree = |name: &str| {
            db.open_tree(name)
                .with_context(|| format!("could not open tree `{name}`"))
        };
        Ok(State {
            plugins: tree("plugins")?,
            tenants: tree("tenants")?,
            enablements: tree("enablements")?,
            flows: tree("flows")?,
            cursors: tree("cursors")?,
            runs: tree("runs")?,
            plugin_versions: tree("plugin_versions")?,
            publishers: tree("publishers")?,
            plugin_names: tree("plugin_names")?,
            retries: tree("retries")?,
            dead_letters: tree("dead_letters")?,
            dead_letters_by_tenant: tree("dead_letters_by_tenant")?,
            delivered: tree("delivered")?,
            attempts: tree("attempts")?,
            idmap: tree("idmap")?,
            idmap_owners: tree("idmap_owners")?,
            audit: tree("audit")?,
            inbox: tree("inbox")?,
            counters: tree("counters")?,
            db,
            keys,
            gate: Arc::default(),
        })
        .and_then(State::seal_secrets)
        .and_then(State::index_dead_letters)
    }

    /// Every tree, by name, in a fixed order.
    fn trees(&self) -> [(&'static str, &sled::Tree); 19] {
        [
            ("plugins", &self.plugins),
            ("plugin_versions", &self.plugin_versions),
            ("publishers", &self.publishers),
            ("plugin_names", &self.plugin_names),
            ("tenants", &self.tenants),
            ("enablements", &self.enablements),
            ("flows", &self.flows),
            ("cursors", &self.cursors),
            ("runs", &self.runs),
            ("retries", &self.retries),
            ("dead_letters", &self.dead_letters),
            ("dead_letters_by_tenant", &self.dead_letters_by_tenant),
            ("delivered", &self.delivered),
            ("attempts", &self.attempts),
            ("idmap", &self.idmap),
            ("idmap_owners", &self.idmap_owners),
            ("audit", &self.audit),
            ("inbox", &self.inbox),
            ("counters", &self.counters),
        ]
    }

    /// Hands every entry of every tree to `each`, tree by tree: what a backup
    /// holds. The state of one instant: writes of this process wait until it
    /// returns, and the folder's lock keeps other processes out.
    pub fn dump(
        &self,
        mut each: impl FnMut(&str, &[u8], &[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let _quiet = self.gate.write();
        for (name, tree) in self.trees() {
            for entry in tree.iter() {
                let (k, v) = entry.with_context(|| format!("could not read tree `{name}`"))?;
                each(name, &k, &v)?;
            }
        }
        Ok(())
    }

    /// Whether no tree holds anything.
    pub fn is_empty(&self) -> bool {
        self.trees().iter().all(|(_, tree)| tree.is_empty())
    }

    /// Writes one entry a backup held (not flushed: [`State::flush`] after
    /// the last). Refused for a tree the state does not have.
    pub fn load(&self, tree: &str, k: &[u8], v: &[u8]) -> anyhow::Result<()> {
        let (_, target) = self
            .trees()
            .into_iter()
            .find(|(name, _)| *name == tree)
            .with_context(|| format!("the backup names a tree `{tree}` the state does not have"))?;
        target
            .insert(k, v)
            .with_context(|| format!("could not write tree `{tree}`"))?;
        Ok(())
    }

    /// The folder of the keys that seal secrets.
    pub fn keys_dir(&self) -> &Path {
        self.keys.dir()
    }

    /// Reads every entry of every tree as its type, and opens every sealed
    /// secret: what `tenon state check` reports. Returns the entries per tree
    /// and each problem found (tree, key, cause); changes nothing.
    pub fn check(&self) -> anyhow::Result<(TreeCounts, Vec<String>)> {
        fn as_type<T: DeserializeOwned>(tree: &str, k: &[u8], v: &[u8]) -> anyhow::Result<()> {
            decode::<T>(tree, k, v).map(drop)
        }
        fn id(tree: &str, k: &[u8], v: &[u8]) -> anyhow::Result<()> {
            match v.len() {
                8 => Ok(()),
                n => anyhow::bail!(
                    "corrupt entry `{}` in tree `{tree}`: {n} bytes where an id takes 8",
                    show_key(k)
                ),
            }
        }
        type Check = fn(&str, &[u8], &[u8]) -> anyhow::Result<()>;
        let checks: [Check; 19] = [
            as_type::<Installed>,
            as_type::<Installed>,
            as_type::<crate::publishers::Publisher>,
            as_type::<crate::publishers::NameOwner>,
            as_type::<Tenant>,
            as_type::<StoredEnablement>,
            as_type::<Flow>,
            as_type::<String>,
            as_type::<Run>,
            as_type::<Retry>,
            as_type::<DeadLetter>,
            id,
            as_type::<crate::record::Version>,
            as_type::<Attempt>,
            as_type::<String>,
            as_type::<NamespaceOwner>,
            as_type::<AuditEntry>,
            as_type::<InboxEntry>,
            id,
        ];
        let mut counts = Vec::new();
        let mut problems = Vec::new();
        for ((name, tree), check) in self.trees().into_iter().zip(checks) {
            let mut entries = 0;
            for entry in tree.iter() {
                match entry {
                    Ok((k, v)) => {
                        entries += 1;
                        if let Err(e) = check(name, &k, &v) {
                            problems.push(format!("{e:#}"));
                        }
                    }
                    Err(e) => {
                        problems.push(format!("could not read tree `{name}`: {e}"));
                        break;
                    }
                }
            }
            counts.push((name, entries));
        }
        for entry in self.enablements.iter().flatten() {
            if let Ok(stored) = serde_json::from_slice::<StoredEnablement>(&entry.1)
                && let Some(sealed) = &stored.sealed
                && let Err(e) = self.keys.unseal(&stored.tenant, &stored.plugin, sealed)
            {
                problems.push(format!(
                    "the sealed secrets of {}/{} do not open: {e:#}",
                    stored.tenant, stored.plugin
                ));
            }
        }
        Ok((counts, problems))
    }

    /// Builds the by-tenant index of dead letters stored before it existed.
    fn index_dead_letters(self) -> anyhow::Result<State> {
        if !self.dead_letters_by_tenant.is_empty() || self.dead_letters.is_empty() {
            return Ok(self);
        }
        for entry in self.dead_letters.iter() {
            let (k, v) = entry.context("could not read tree `dead_letters`")?;
            let letter: DeadLetter = decode("dead_letters", &k, &v)?;
            self.dead_letters_by_tenant
                .insert(letter_index(&letter.tenant, letter.id), &k)
                .context("could not write tree `dead_letters_by_tenant`")?;
        }
        self.flush()?;
        Ok(self)
    }

    /// Seals secrets that older versions stored in clear, and destroys secret
    /// keys no enablement uses (left by a crash between sealing new secrets and
    /// destroying the old key).
    fn seal_secrets(self) -> anyhow::Result<State> {
        let mut in_use = BTreeSet::new();
        for entry in self.enablements.iter() {
            let (k, v) = entry.context("could not read tree `enablements`")?;
            let stored: StoredEnablement = decode("enablements", &k, &v)?;
            if !stored.secrets.is_empty() {
                tracing::warn!(tenant = %stored.tenant, plugin = %stored.plugin, "Secrets stored in clear by an older version sealed now; their old values may remain in the database's log until it compacts: rotate them, and bind each to its hosts (tenon enable ... --secret-host)");
                let secrets = stored
                    .secrets
                    .iter()
                    .map(|(name, value)| {
                        (name.clone(), Secret::for_hosts(value.clone(), Vec::new()))
                    })
                    .collect();
                let enablement = self.unsealed(stored, Some(secrets))?;
                let sealed = self.stored(&enablement)?;
                if let Some(s) = &sealed.sealed {
                    in_use.insert(s.key.clone());
                }
                self.enablements
                    .insert(k, encode(&sealed))
                    .context("could not write tree `enablements`")?;
            } else if let Some(s) = &stored.sealed {
                in_use.insert(s.key.clone());
            }
        }
        self.flush()?;
        let shredded = self.keys.shred_all_but(&in_use)?;
        if shredded > 0 {
            tracing::info!(keys = shredded, "Destroyed secret keys no enablement uses");
        }
        Ok(self)
    }

    /// The database form of an enablement: its secrets sealed with a new key.
    fn stored(&self, e: &Enablement) -> anyhow::Result<StoredEnablement> {
        let sealed = if e.secrets.is_empty() {
            None
        } else {
            Some(self.keys.seal(&e.tenant, &e.plugin, &encode(&e.secrets))?)
        };
        Ok(StoredEnablement {
            tenant: e.tenant.clone(),
            plugin: e.plugin.clone(),
            config: e.config.clone(),
            grants: e.grants.clone(),
            limits: e.limits,
            operator_limits: e.operator_limits,
            enabled_at: e.enabled_at,
            sealed,
            secrets: BTreeMap::new(),
        })
    }

    /// An enablement from its database form, with `secrets`, or its sealed
    /// secrets opened.
    fn unsealed(
        &self,
        stored: StoredEnablement,
        secrets: Option<BTreeMap<String, Secret>>,
    ) -> anyhow::Result<Enablement> {
        let secrets = match (secrets, &stored.sealed) {
            (Some(secrets), _) => secrets,
            (None, Some(sealed)) => {
                let plain = self.keys.unseal(&stored.tenant, &stored.plugin, sealed)?;
                decode(
                    "enablements (sealed secrets)",
                    format!("{}/{}", stored.tenant, stored.plugin).as_bytes(),
                    &plain,
                )?
            }
            (None, None) => BTreeMap::new(),
        };
        Ok(Enablement {
            tenant: stored.tenant,
            plugin: stored.plugin,
            config: stored.config,
            secrets,
            grants: stored.grants,
            limits: stored.limits,
            operator_limits: stored.operator_limits,
            enabled_at: stored.enabled_at,
        })
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.db.flush().map_err(|e| {
            anyhow::anyhow!(
                "could not write the state database to disk: {}",
                storage_cause(&e)
            )
        })?;
        Ok(())
    }

    fn get<T: DeserializeOwned>(
        tree: &sled::Tree,
        name: &str,
        k: &[u8],
    ) -> anyhow::Result<Option<T>> {
        let value = tree
            .get(k)
            .with_context(|| format!("could not read key `{}` of tree `{name}`", show_key(k)))?;
        value.map(|v| decode(name, k, &v)).transpose()
    }

    /// Held by every write for its duration (see [`State::gate`]).
    fn writing(&self) -> parking_lot::RwLockReadGuard<'_, ()> {
        self.gate.read_recursive()
    }

    fn put<T: Serialize>(
        &self,
        tree: &sled::Tree,
        name: &str,
        k: &[u8],
        value: &T,
    ) -> anyhow::Result<()> {
        let _writing = self.writing();
        tree.insert(k, encode(value))
            .with_context(|| format!("could not write tree `{name}`"))?;
        self.flush()
    }

    fn remove(&self, tree: &sled::Tree, name: &str, k: &[u8]) -> anyhow::Result<bool> {
        let _writing = self.writing();
        let old = tree
            .remove(k)
            .with_context(|| format!("could not write tree `{name}`"))?;
        self.flush()?;
        Ok(old.is_some())
    }

    fn scan<T: DeserializeOwned>(
        tree: &sled::Tree,
        name: &str,
        prefix: &[u8],
    ) -> anyhow::Result<Vec<T>> {
        tree.scan_prefix(prefix)
            .map(|entry| {
                let (k, v) = entry.with_context(|| {
                    format!("could not read tree `{name}` at `{}`", show_key(prefix))
                })?;
                decode(name, &k, &v)
            })
            .collect()
    }

    // Plugins.

    pub fn plugin(&self, id: &str) -> anyhow::Result<Option<Installed>> {
        Self::get(&self.plugins, "plugins", id.as_bytes())
    }
    pub fn plugins(&self) -> anyhow::Result<Vec<Installed>> {
        Self::scan(&self.plugins, "plugins", b"")
    }
    /// Stores a plugin as the current version of its id, keeping every
    /// version, and binds its name to `owner` when given; in one transaction.
    pub fn put_plugin(
        &self,
        plugin: &Installed,
        owner: Option<&crate::publishers::NameOwner>,
    ) -> anyhow::Result<()> {
        let _writing = self.writing();
        let version_key = key(&[&plugin.id, &plugin.version]);
        let value = encode(plugin);
        (&self.plugin_versions, &self.plugins, &self.plugin_names)
            .transaction(|(versions, plugins, names)| {
                versions.insert(version_key.as_slice(), value.as_slice())?;
                plugins.insert(plugin.id.as_bytes(), value.as_slice())?;
                if let Some(owner) = owner {
                    names.insert(plugin.id.as_bytes(), encode(owner))?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("could not store plugin `{}`: {e:?}", plugin.id))?;
        self.flush()
    }
    /// A version of a plugin installed at some time.
    pub fn plugin_version(&self, id: &str, version: &str) -> anyhow::Result<Option<Installed>> {
        Self::get(
            &self.plugin_versions,
            "plugin_versions",
            &key(&[id, version]),
        )
    }
    /// Every version of a plugin ever installed, oldest installation first.
    pub fn plugin_versions(&self, id: &str) -> anyhow::Result<Vec<Installed>> {
        let mut versions: Vec<Installed> =
            Self::scan(&self.plugin_versions, "plugin_versions", &key(&[id, ""]))?;
        versions.sort_by_key(|v| v.installed_at);
        Ok(versions)
    }
    /// Makes an installed version the current one, without touching its record in
    /// `plugin_versions`.
    pub fn set_current_plugin(&self, plugin: &Installed) -> anyhow::Result<()> {
        self.put(&self.plugins, "plugins", plugin.id.as_bytes(), plugin)
    }
    pub fn remove_plugin(&self, id: &str) -> anyhow::Result<bool> {
        let _writing = self.writing();
        self.remove(&self.plugins, "plugins", id.as_bytes())
    }

    // Publishers and plugin names.

    pub fn publishers(&self) -> anyhow::Result<Vec<crate::publishers::Publisher>> {
        Self::scan(&self.publishers, "publishers", b"")
    }
    pub fn put_publisher(&self, p: &crate::publishers::Publisher) -> anyhow::Result<()> {
        self.put(&self.publishers, "publishers", p.id.as_bytes(), p)
    }
    pub fn remove_publisher(&self, id: &str) -> anyhow::Result<bool> {
        let _writing = self.writing();
        self.remove(&self.publishers, "publishers", id.as_bytes())
    }
    pub fn name_owner(&self, plugin: &str) -> anyhow::Result<Option<crate::publishers::NameOwner>> {
        Self::get(&self.plugin_names, "plugin_names", plugin.as_bytes())
    }
    pub fn name_owners(&self) -> anyhow::Result<Vec<crate::publishers::NameOwner>> {
        Self::scan(&self.plugin_names, "plugin_names", b"")
    }

    // Tenants.

    pub fn tenant(&self, id: &str) -> anyhow::Result<Option<Tenant>> {
        Self::get(&self.tenants, "tenants", id.as_bytes())
    }
    pub fn tenants(&self) -> anyhow::Result<Vec<Tenant>> {
        Self::scan(&self.tenants, "tenants", b"")
    }
    pub fn put_tenant(&self, tenant: &Tenant) -> anyhow::Result<()> {
        self.put(&self.tenants, "tenants", tenant.id.as_bytes(), tenant)
    }

    // Enablements.

    pub fn enablement(&self, tenant: &str, plugin: &str) -> anyhow::Result<Option<Enablement>> {
        Self::get::<StoredEnablement>(&self.enablements, "enablements", &key(&[tenant, plugin]))?
            .map(|stored| self.unsealed(stored, None))
            .transpose()
    }
    /// All enablements, or a tenant's.
    pub fn enablements(&self, tenant: Option<&str>) -> anyhow::Result<Vec<Enablement>> {
        let prefix = tenant.map(|t| key(&[t, ""])).unwrap_or_default();
        Self::scan::<StoredEnablement>(&self.enablements, "enablements", &prefix)?
            .into_iter()
            .map(|stored| self.unsealed(stored, None))
            .collect()
    }
    /// Stores an enablement, its secrets sealed with a new key; the key of the
    /// secrets it replaces is destroyed once the new ones are on disk.
    pub fn put_enablement(&self, e: &Enablement) -> anyhow::Result<()> {
        let k = key(&[&e.tenant, &e.plugin]);
        let before: Option<StoredEnablement> = Self::get(&self.enablements, "enablements", &k)?;
        let stored = self.stored(e)?;
        self.put(&self.enablements, "enablements", &k, &stored)?;
        if let Some(old) = before.and_then(|b| b.sealed) {
            self.keys.shred(&old.key)?;
        }
        Ok(())
    }
    /// Removes an enablement and destroys the key of its secrets.
    pub fn remove_enablement(&self, tenant: &str, plugin: &str) -> anyhow::Result<bool> {
        let _writing = self.writing();
        let k = key(&[tenant, plugin]);
        let before: Option<StoredEnablement> = Self::get(&self.enablements, "enablements", &k)?;
        let removed = self.remove(&self.enablements, "enablements", &k)?;
        if let Some(old) = before.and_then(|b| b.sealed) {
            self.keys.shred(&old.key)?;
        }
        Ok(removed)
    }

    // Flows.

    pub fn flow(&self, tenant: &str, name: &str) -> anyhow::Result<Option<Flow>> {
        Self::get(&self.flows, "flows", &key(&[tenant, name]))
    }
    pub fn flows(&self, tenant: Option<&str>) -> anyhow::Result<Vec<Flow>> {
        let prefix = tenant.map(|t| key(&[t, ""])).unwrap_or_default();
        Self::scan(&self.flows, "flows", &prefix)
    }
    pub fn put_flow(&self, flow: &Flow) -> anyhow::Result<()> {
        self.put(
            &self.flows,
            "flows",
            &key(&[&flow.tenant, &flow.name]),
            flow,
        )
    }

    // Cursors.

    /// Where the flow's next read of `stream` starts.
    pub fn cursor(&self, tenant: &str, flow: &str, stream: &str) -> anyhow::Result<Option<String>> {
        Self::get(&self.cursors, "cursors", &key(&[tenant, flow, stream]))
    }

    /// Sets (or with `None` forgets) where the flow's next read of `stream`
    /// starts; returns the cursor it replaced.
    pub fn put_cursor(
        &self,
        tenant: &str,
        flow: &str,
        stream: &str,
        cursor: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let k = key(&[tenant, flow, stream]);
        let before = self.cursor(tenant, flow, stream)?;
        match cursor {
            Some(cursor) => self.put(&self.cursors, "cursors", &k, &cursor)?,
            None => {
                self.remove(&self.cursors, "cursors", &k)?;
            }
        }
        Ok(before)
    }

    /// Removes a flow and what only it uses: its cursors, retry queue, inbox
    /// and the versions it delivered. Runs and dead letters stay, as history.
    pub fn remove_flow(&self, tenant: &str, flow: &str) -> anyhow::Result<()> {
        let _writing = self.writing();
        let prefix = key(&[tenant, flow, ""]);
        for (tree, name) in [
            (&self.cursors, "cursors"),
            (&self.retries, "retries"),
            (&self.inbox, "inbox"),
            (&self.delivered, "delivered"),
        ] {
            for entry in tree.scan_prefix(&prefix).keys() {
                let k = entry.with_context(|| format!("could not read tree `{name}`"))?;
                tree.remove(&k)
                    .with_context(|| format!("could not write tree `{name}`"))?;
            }
        }
        self.flows
            .remove(key(&[tenant, flow]))
            .context("could not write tree `flows`")?;
        self.flush()
    }

    // Runs.

    /// A new run id, from 1, increasing across restarts.
    pub fn next_run_id(&self) -> anyhow::Result<u64> {
        let _writing = self.writing();
        let next = self
            .counters
            .update_and_fetch(b"run", |old| Some(increment(old).to_vec()))
            .context("could not allocate a run id")?;
        Ok(counter(next.as_deref()))
    }

    /// Marks runs left `running` by a host that stopped mid-run as interrupted;
    /// called when the host opens, as only one process can hold the database.
    pub fn interrupt_stale_runs(&self) -> anyhow::Result<usize> {
        let _writing = self.writing();
        let mut stale = Vec::new();
        for entry in self.runs.iter() {
            let (k, v) = entry.context("could not read tree `runs`")?;
            let run: Run = decode("runs", &k, &v)?;
            if run.status == crate::flow::RunStatus::Running {
                stale.push(run);
            }
        }
        for mut run in stale.iter().cloned() {
            run.status = crate::flow::RunStatus::Interrupted;
            run.error =
                Some("the host stopped during this run; what it committed stays committed".into());
            self.runs
                .insert(run.id.to_be_bytes(), encode(&run))
                .context("could not write tree `runs`")?;
        }
        if !stale.is_empty() {
            self.flush()?;
        }
        Ok(stale.len())
    }
    pub fn run(&self, id: u64) -> anyhow::Result<Option<Run>> {
        Self::get(&self.runs, "runs", &id.to_be_bytes())
    }
    /// Runs, newest first, optionally of one tenant and flow.
    pub fn runs(
        &self,
        tenant: Option<&str>,
        flow: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<Run>> {
        let mut runs = Vec::new();
        for entry in self.runs.iter().rev() {
            let (k, v) = entry.context("could not read tree `runs`")?;
            let run: Run = decode("runs", &k, &v)?;
            if tenant.is_some_and(|t| t != run.tenant) || flow.is_some_and(|f| f != run.flow) {
                continue;
            }
            runs.push(run);
            if runs.len() == limit {
                break;
            }
        }
        Ok(runs)
    }
    pub fn put_run(&self, run: &Run) -> anyhow::Result<()> {
        self.put(&self.runs, "runs", &run.id.to_be_bytes(), run)
    }

    // Retries, dead letters, delivered versions.

    /// A flow's retry queue, by record key.
    pub fn retries(&self, tenant: &str, flow: &str) -> anyhow::Result<Vec<Retry>> {
        Self::scan(&self.retries, "retries", &key(&[tenant, flow, ""]))
    }
    pub fn retry(&self, tenant: &str, flow: &str, record: &str) -> anyhow::Result<Option<Retry>> {
        Self::get(&self.retries, "retries", &key(&[tenant, flow, record]))
    }
    pub fn dead_letter(&self, id: u64) -> anyhow::Result<Option<DeadLetter>> {
        Self::get(&self.dead_letters, "dead_letters", &id.to_be_bytes())
    }
    /// Dead letters, oldest first, optionally of one tenant (and flow).
    pub fn dead_letters(
        &self,
        tenant: Option<&str>,
        flow: Option<&str>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<DeadLetter>> {
        let first = after.saturating_add(1);
        let ids: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = match tenant {
            Some(t) => Box::new(
                self.dead_letters_by_tenant
                    .range(letter_index(t, first)..letter_index(t, u64::MAX)),
            ),
            None => Box::new(self.dead_letters.range(first.to_be_bytes()..)),
        };
        let mut letters = Vec::new();
        for entry in ids {
            if letters.len() >= limit {
                break;
            }
            let (k, v) = entry.context("could not read the dead letters")?;
            let letter: DeadLetter = match tenant {
                Some(_) => match Self::get(&self.dead_letters, "dead_letters", &v)? {
                    Some(letter) => letter,
                    None => continue,
                },
                None => decode("dead_letters", &k, &v)?,
            };
            if flow.is_none_or(|f| f == letter.flow) {
                letters.push(letter);
            }
        }
        Ok(letters)
    }
    pub fn put_dead_letter(&self, letter: &DeadLetter) -> anyhow::Result<()> {
        self.put(
            &self.dead_letters,
            "dead_letters",
            &letter.id.to_be_bytes(),
            letter,
        )
    }
    /// Removes a dead letter and writes its audit entry, with what a successful
    /// replay delivered (versions, id-map links), in one transaction.
    pub fn remove_dead_letter(
        &self,
        letter: &DeadLetter,
        mut audit: AuditEntry,
        delivered: Commit,
    ) -> anyhow::Result<AuditEntry> {
        let _writing = self.writing();
        let (tenant, flow) = (letter.tenant.as_str(), letter.flow.as_str());
        let entry = (
            &self.dead_letters,
            &self.dead_letters_by_tenant,
            &self.audit,
            &self.delivered,
            &self.idmap,
            &self.counters,
            &self.attempts,
        )
            .transaction(
                |(letters, index, log, versions, idmap, counters, attempts)| {
                    letters.remove(&letter.id.to_be_bytes())?;
                    index.remove(letter_index(tenant, letter.id))?;
                    for (plugin, idempotency_key) in &delivered.attempts_done {
                        attempts.remove(key(&[tenant, plugin, idempotency_key]))?;
                    }
                    for (record, version) in &delivered.delivered {
                        versions.insert(key(&[tenant, flow, record]), encode(version))?;
                    }
                    for (ns, source, target) in &delivered.links {
                        link_in(idmap, tenant, ns, source, target)?;
                    }
                    let mut audit = audit.clone();
                    audit.id = next_in(counters, b"audit")?;
                    log.insert(&audit.id.to_be_bytes(), encode(&audit))?;
                    Ok::<_, sled::transaction::ConflictableTransactionError<()>>(audit)
                },
            )
            .map_err(|e| anyhow::anyhow!("could not remove dead letter {}: {e:?}", letter.id))?;
        audit = entry;
        self.flush()?;
        Ok(audit)
    }

    /// The version of `record` last delivered by the flow.
    pub fn delivered(
        &self,
        tenant: &str,
        flow: &str,
        record: &str,
    ) -> anyhow::Result<Option<crate::record::Version>> {
        Self::get(&self.delivered, "delivered", &key(&[tenant, flow, record]))
    }

    /// Records that a `write` call of `plugin` is about to carry the deliveries
    /// with these idempotency keys, flushed before it returns (so that a crash
    /// during the call leaves the attempt known), and returns what was known of
    /// earlier attempts, by key.
    pub fn begin_attempts(
        &self,
        tenant: &str,
        plugin: &str,
        keys: &[&str],
        now: u64,
    ) -> anyhow::Result<HashMap<String, Attempt>> {
        let _writing = self.writing();
        let mut earlier = HashMap::new();
        let mut batch = sled::Batch::default();
        for idempotency_key in keys {
            let k = key(&[tenant, plugin, idempotency_key]);
            let known: Option<Attempt> = Self::get(&self.attempts, "attempts", &k)?;
            let calls = known.as_ref().map_or(0, |a| a.calls);
            batch.insert(
                k,
                encode(&Attempt {
                    calls: calls.saturating_add(1),
                    last_at_ms: now,
                    answer: None,
                }),
            );
            if let Some(known) = known {
                earlier.insert((*idempotency_key).to_owned(), known);
            }
        }
        self.attempts
            .apply_batch(batch)
            .context("could not write tree `attempts`")?;
        self.flush()?;
        Ok(earlier)
    }

    /// What is known of earlier write attempts of one delivery.
    pub fn attempt(
        &self,
        tenant: &str,
        plugin: &str,
        idempotency_key: &str,
    ) -> anyhow::Result<Option<Attempt>> {
        Self::get(
            &self.attempts,
            "attempts",
            &key(&[tenant, plugin, idempotency_key]),
        )
    }

    // Inbox.

    /// Stores records for the flows that take them, each entry with a new id, in
    /// one transaction, flushed before it returns: once this returns, they are
    /// delivered even if the process dies right after.
    pub fn put_inbox(&self, entries: Vec<InboxEntry>) -> anyhow::Result<Vec<u64>> {
        let _writing = self.writing();
        let ids = (&self.inbox, &self.counters)
            .transaction(|(inbox, counters)| {
                let mut ids = Vec::new();
                for entry in &entries {
                    let mut entry = entry.clone();
                    entry.id = next_in(counters, b"inbox")?;
                    inbox.insert(
                        inbox_key(&entry.tenant, &entry.flow, entry.id),
                        encode(&entry),
                    )?;
                    ids.push(entry.id);
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(ids)
            })
            .map_err(|e| anyhow::anyhow!("could not write the inbox: {e:?}"))?;
        self.flush()?;
        Ok(ids)
    }

    /// The oldest `limit` inbox entries of a flow, oldest first.
    pub fn inbox(&self, tenant: &str, flow: &str, limit: usize) -> anyhow::Result<Vec<InboxEntry>> {
        self.inbox
            .scan_prefix(key(&[tenant, flow, ""]))
            .take(limit)
            .map(|entry| {
                let (k, v) = entry.context("could not read tree `inbox`")?;
                decode("inbox", &k, &v)
            })
            .collect()
    }

    // Audit.

    pub fn audit(&self, mut entry: AuditEntry) -> anyhow::Result<AuditEntry> {
        let _writing = self.writing();
        let next = self
            .counters
            .update_and_fetch(b"audit", |old| Some(increment(old).to_vec()))
            .context("could not allocate an audit id")?;
        entry.id = counter(next.as_deref());
        self.put(&self.audit, "audit", &entry.id.to_be_bytes(), &entry)?;
        Ok(entry)
    }
    pub fn audit_log(&self) -> anyhow::Result<Vec<AuditEntry>> {
        Self::scan(&self.audit, "audit", b"")
    }

    // Id map.

    /// Links `source` to `target` in a tenant's namespace, replacing earlier
    /// links of either id, both directions at once.
    pub fn link(
        &self,
        tenant: &str,
        namespace: &str,
        source: &str,
        target: &str,
    ) -> anyhow::Result<()> {
        let _writing = self.writing();
        let links = [(namespace.to_owned(), source.to_owned(), target.to_owned())];
        self.idmap
            .transaction(|map| {
                for (ns, s, t) in &links {
                    link_in(map, tenant, ns, s, t)?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("could not write the id map: {e:?}"))?;
        self.flush()
    }
    pub fn resolve(
        &self,
        tenant: &str,
        namespace: &str,
        source: &str,
    ) -> anyhow::Result<Option<String>> {
        Self::get(
            &self.idmap,
            "idmap",
            &key(&[tenant, namespace, "s", source]),
        )
    }
    pub fn reverse(
        &self,
        tenant: &str,
        namespace: &str,
        target: &str,
    ) -> anyhow::Result<Option<String>> {
        Self::get(
            &self.idmap,
            "idmap",
            &key(&[tenant, namespace, "t", target]),
        )
    }
    /// Who may write `namespace` of `tenant`, if any plugin linked in it yet.
    pub fn namespace_owner(
        &self,
        tenant: &str,
        namespace: &str,
    ) -> anyhow::Result<Option<NamespaceOwner>> {
        Self::get(
            &self.idmap_owners,
            "idmap_owners",
            &key(&[tenant, namespace]),
        )
    }
    /// A tenant's namespaces with their owners.
    pub fn namespace_owners(&self, tenant: &str) -> anyhow::Result<Vec<NamespaceOwner>> {
        Self::scan(&self.idmap_owners, "idmap_owners", &key(&[tenant, ""]))
    }
    /// Makes `plugin` the owner of `namespace` unless another plugin is; returns
    /// the owner entry in force.
    pub fn claim_namespace(
        &self,
        tenant: &str,
        namespace: &str,
        plugin: &str,
    ) -> anyhow::Result<NamespaceOwner> {
        let _writing = self.writing();
        let k = key(&[tenant, namespace]);
        let mine = NamespaceOwner {
            namespace: namespace.to_owned(),
            owner: plugin.to_owned(),
            shared: Vec::new(),
        };
        let swapped = self
            .idmap_owners
            .compare_and_swap(&k, None as Option<&[u8]>, Some(encode(&mine)))
            .context("could not write tree `idmap_owners`")?;
        match swapped {
            Ok(()) => {
                self.flush()?;
                Ok(mine)
            }
            Err(current) => decode(
                "idmap_owners",
                &k,
                &current.current.context("an owner entry vanished")?,
            ),
        }
    }
    /// Records who may write `namespace` of `tenant`.
    pub fn put_namespace_owner(&self, tenant: &str, owner: &NamespaceOwner) -> anyhow::Result<()> {
        self.put(
            &self.idmap_owners,
            "idmap_owners",
            &key(&[tenant, &owner.namespace]),
            owner,
        )
    }
    /// A tenant's links, as (namespace, source id, target id), optionally of one namespace.
    pub fn links(
        &self,
        tenant: &str,
        namespace: Option<&str>,
    ) -> anyhow::Result<Vec<(String, String, String)>> {
        let prefix = match namespace {
            Some(ns) => key(&[tenant, ns, "s", ""]),
            None => key(&[tenant, ""]),
        };
        let mut links = Vec::new();
        for entry in self.idmap.scan_prefix(prefix) {
            let (k, v) = entry.context("could not read tree `idmap`")?;
            let parts: Vec<&[u8]> = k.split(|b| *b == 0).collect();
            if let [_, ns, b"s", source] = parts.as_slice() {
                let target: String = decode("idmap", &k, &v)?;
                links.push((
                    String::from_utf8_lossy(ns).into_owned(),
                    String::from_utf8_lossy(source).into_owned(),
                    target,
                ));
            }
        }
        Ok(links)
    }

    /// Commits what one batch of run `run` changed (see [`Commit`]) with the run's
    /// counters, in one transaction, then flushes. Until this returns the batch is
    /// not done: after a crash the next run reads it again, and the idempotency
    /// keys make the repeat harmless.
    pub fn commit(&self, run: &Run, commit: Commit) -> anyhow::Result<Vec<u64>> {
        let _writing = self.writing();
        let run_value = encode(run);
        let tenant = run.tenant.as_str();
        let flow = run.flow.as_str();
        let result = (
            &self.cursors,
            &self.runs,
            &self.retries,
            &self.dead_letters,
            &self.dead_letters_by_tenant,
            &self.delivered,
            &self.idmap,
            &self.counters,
            &self.inbox,
            &self.attempts,
        )
            .transaction(
                |(
                    cursors,
                    runs,
                    retries,
                    letters,
                    index,
                    delivered,
                    idmap,
                    counters,
                    inbox,
                    attempts,
                )| {
                    if let Some((stream, cursor)) = &commit.cursor {
                        cursors.insert(key(&[tenant, flow, stream]), encode(cursor))?;
                    }
                    for record in &commit.retries_done {
                        retries.remove(key(&[tenant, flow, record]))?;
                    }
                    for retry in &commit.retries {
                        retries.insert(key(&[tenant, flow, &retry.envelope.key]), encode(retry))?;
                    }
                    let mut ids = Vec::new();
                    for letter in &commit.dead_letters {
                        let mut letter = letter.clone();
                        letter.id = next_in(counters, b"dead_letter")?;
                        letters.insert(&letter.id.to_be_bytes(), encode(&letter))?;
                        index.insert(letter_index(tenant, letter.id), &letter.id.to_be_bytes())?;
                        ids.push(letter.id);
                    }
                    for (record, version) in &commit.delivered {
                        delivered.insert(key(&[tenant, flow, record]), encode(version))?;
                    }
                    for (ns, source, target) in &commit.links {
                        link_in(idmap, tenant, ns, source, target)?;
                    }
                    for id in &commit.inbox_done {
                        inbox.remove(inbox_key(tenant, flow, *id))?;
                    }
                    for (plugin, idempotency_key) in &commit.attempts_done {
                        attempts.remove(key(&[tenant, plugin, idempotency_key]))?;
                    }
                    for (plugin, idempotency_key, error) in &commit.attempts_answered {
                        let k = key(&[tenant, plugin, idempotency_key]);
                        if let Some(mut attempt) = attempts
                            .get(&k)?
                            .and_then(|v| serde_json::from_slice::<Attempt>(&v).ok())
                        {
                            attempt.answer = Some(error.clone());
                            attempts.insert(k, encode(&attempt))?;
                        }
                    }
                    runs.insert(&run.id.to_be_bytes(), run_value.as_slice())?;
                    Ok::<_, sled::transaction::ConflictableTransactionError<()>>(ids)
                },
            )
            .map_err(|e| anyhow::anyhow!("could not commit the batch of run {}: {e:?}", run.id))?;
        self.flush()?;
        Ok(result)
    }
}

/// The key of an inbox entry: tenant, flow, then the id in big-endian bytes, so a
/// flow's entries scan in arrival order.
fn inbox_key(tenant: &str, flow: &str, id: u64) -> Vec<u8> {
    let mut k = key(&[tenant, flow, ""]);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The key of a dead letter in the by-tenant index: tenant, NUL, the id in
/// big-endian bytes, so a tenant's letters scan in id order.
fn letter_index(tenant: &str, id: u64) -> Vec<u8> {
    let mut k = key(&[tenant, ""]);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The counter value stored in `bytes` (0 if none).
fn counter(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

fn increment(old: Option<&[u8]>) -> [u8; 8] {
    (counter(old) + 1).to_be_bytes()
}

/// The next value of counter `name`, inside a transaction.
fn next_in(
    counters: &sled::transaction::TransactionalTree,
    name: &[u8],
) -> Result<u64, sled::transaction::UnabortableTransactionError> {
    let next = counter(counters.get(name)?.as_deref()) + 1;
    counters.insert(name, &next.to_be_bytes())?;
    Ok(next)
}

/// Writes one id-map link inside a transaction, dropping the links it replaces.
fn link_in(
    map: &sled::transaction::TransactionalTree,
    tenant: &str,
    namespace: &str,
    source: &str,
    target: &str,
) -> Result<(), sled::transaction::UnabortableTransactionError> {
    let forward = key(&[tenant, namespace, "s", source]);
    let backward = key(&[tenant, namespace, "t", target]);
    if let Some(old_target) = map.get(&forward)? {
        let old_target: String = serde_json::from_slice(&old_target).unwrap_or_default();
        map.remove(key(&[tenant, namespace, "t", &old_target]))?;
    }
    if let Some(old_source) = map.get(&backward)? {
        let old_source: String = serde_json::from_slice(&old_source).unwrap_or_default();
        map.remove(key(&[tenant, namespace, "s", &old_source]))?;
    }
    map.insert(forward, encode(&target))?;
    map.insert(backward, encode(&source))?;
    Ok(())
}

/// The state database as the host holds it. After one failed write (a full
/// disk) sled 0.34 refuses every further one until the database is opened
/// again; [`Shared::check`] notices that, lets go of the database, and
/// [`Shared::recover`] opens it again once every old handle is gone and the
/// disk takes writes. Meanwhile every operation gets an error that says why.
#[derive(Debug, Clone)]
pub struct Shared {
    dir: PathBuf,
    keys: Keyring,
    current: Arc<RwLock<Option<State>>>,
    /// Why the state cannot be written now, if it cannot.
    failure: Arc<Mutex<Option<String>>>,
}

impl Shared {
    /// Opens the database in `dir` (see [`State::open`]) and marks the runs a
    /// stopped host left running as interrupted; returns how many there were.
    pub fn open(dir: &Path, keys: Keyring) -> anyhow::Result<(Shared, usize)> {
        let state = State::open(dir, keys.clone())?;
        let interrupted = state.interrupt_stale_runs()?;
        Ok((
            Shared {
                dir: dir.to_owned(),
                keys,
                current: Arc::new(RwLock::new(Some(state))),
                failure: Arc::default(),
            },
            interrupted,
        ))
    }

    /// The database, unless it failed and is not open again yet.
    pub fn get(&self) -> anyhow::Result<State> {
        if let Some(state) = &*self.current.read().unwrap_or_else(|e| e.into_inner()) {
            return Ok(state.clone());
        }
        anyhow::bail!(
            "the state database in {} cannot be written ({}); the host opens it again as soon as it can",
            self.dir.display(),
            self.failure().unwrap_or_else(|| "it failed".into())
        )
    }

    /// Why the state cannot be written now, if it cannot.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the database still takes writes: after sled failed one, it
    /// refuses every flush. On failure the database is let go of (so that it
    /// can be opened again) and the cause kept for [`Shared::failure`].
    pub fn check(&self) -> Result<(), String> {
        let state = self.get().map_err(|e| format!("{e:#}"))?;
        // sled 0.34 can hang every thread that writes once a write failed
        // for lack of space: the host stops writing before that happens.
        if let Some(free) = free_bytes(&self.dir)
            && free < MIN_FREE_BYTES
        {
            let cause = format!(
                "the disk is full: {} KiB free where the state is, under the {} MiB the host keeps free for it",
                free / 1024,
                MIN_FREE_BYTES >> 20
            );
            let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
            if failure.is_none() {
                tracing::error!(cause = %cause, "The state database cannot be written; runs and webhooks wait until it can");
            }
            *failure = Some(cause.clone());
            return Err(cause);
        }
        match state.db.flush() {
            Ok(_) => {
                self.failure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                Ok(())
            }
            Err(e) => {
                let cause = storage_cause(&e);
                tracing::error!(cause = %cause, "The state database cannot be written; runs and webhooks wait until it can");
                *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(cause.clone());
                self.current
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                Err(cause)
            }
        }
    }

    /// Opens the database again after [`Shared::check`] let go of it: only
    /// once nothing holds the old one (its lock is free) and a write reaches
    /// the disk. Runs the failure left `running` are marked interrupted.
    /// Returns whether the database is open.
    pub fn recover(&self) -> bool {
        if self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return true;
        }
        let opened = State::open(&self.dir, self.keys.clone()).and_then(|state| {
            state
                .counters
                .insert(b"probe", &now_bytes())
                .context("could not write the state database")?;
            state.flush()?;
            let interrupted = state.interrupt_stale_runs()?;
            Ok((state, interrupted))
        });
        match opened {
            Ok((state, interrupted)) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(state);
                self.failure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                tracing::info!(
                    interrupted,
                    "The state database is open again; runs the failure cut short are marked interrupted"
                );
                true
            }
            Err(e) => {
                tracing::debug!(error = %format!("{e:#}"), "The state database cannot be opened again yet");
                false
            }
        }
    }
}

/// Free space the host keeps on the state's file system: with less, it
/// writes nothing more (see [`Shared::check`]).
pub const MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes an unprivileged writer may still use on the file system of `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let stats = rustix::fs::statvfs(dir).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// What a storage error says, with "the disk is full" when it is ENOSPC.
fn storage_cause(e: &sled::Error) -> String {
    match e {
        sled::Error::Io(io) if is_disk_full(io) => format!("the disk is full: {io}"),
        other => other.to_string(),
    }
}

fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

fn now_bytes() -> [u8; 8] {
    crate::host::now_ms().to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_names_the_tree_key_and_cause_of_a_damaged_entry_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keyring::open(&dir.path().join("keys")).unwrap();
        let state = State::open(&dir.path().join("state"), keys).unwrap();
        let acme: Tenant =
            serde_json::from_value(serde_json::json!({"id": "acme", "created_at": 0})).unwrap();
        state.put_tenant(&acme).unwrap();
        let (trees, problems) = state.check().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert!(trees.contains(&("tenants", 1)), "{trees:?}");

        state
            .tenants
            .insert("globex", b"{not json".as_slice())
            .unwrap();
        let (_, problems) = state.check().unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("corrupt entry `globex` in tree `tenants`")
                && problems[0].contains("key must be a string"),
            "{problems:?}"
        );
        assert_eq!(state.tenants.len(), 2, "a check changes nothing");
    }
}
