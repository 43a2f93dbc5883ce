//! [`CatalogApply`](crate::CatalogApply) for every SQL backend: a whole document in one write
//! transaction, built from the same row helpers as the single-entity writes (so `apply` and
//! the admin API cannot disagree about what a change does).
//!
//! Steps, in this order because later ones depend on earlier ones:
//! 1. check every entry's fields and duplicate identities, before any transaction, each
//!    problem at its document path (`products[2].paths[0]: ...`);
//! 2. in the transaction, read the catalog and check references (a product's environments
//!    must exist after the apply);
//! 3. create/update environments, then products (which list environments), then developers
//!    and their apps (pruning apps a listed developer no longer has);
//! 4. with `prune`: delete developers, then products (their credential associations may have
//!    gone with the developers), then environments (products may have listed them);
//! 5. commit with every audit record and one change-log row, or roll back for a dry run.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use super::validate::Problems;
use super::{Record, apps, credentials, developers, docs, environments, finish, products};
use crate::StoreError;
use crate::apply::{ApplyOptions, CatalogChange, CatalogDocument, ChangeOp};
use crate::management::{Actor, AppDetail, DeveloperDetail, Environment, Product, ProductSpec};
use crate::model::creation_time;
use crate::sql::SqlConn;
use crate::sql::backend::Backend;

mod export;
mod parties;

pub(crate) use export::export;

pub(crate) async fn apply<B: Backend>(
    b: &B,
    actor: &Actor,
    document: &CatalogDocument,
    options: ApplyOptions,
) -> Result<Vec<CatalogChange>, StoreError> {
    let desired = check(document)?;
    let now = SystemTime::now();
    let mut tx = b.begin_write().await?;
    let current = Current::read(&mut *tx).await?;
    check_references(&desired, &current, options.prune)?;
    let mut run = Run {
        prune: options.prune,
        now,
        changes: Vec::new(),
        records: Vec::new(),
    };
    if let Some(envs) = &desired.environments {
        run.environments(&mut *tx, envs, &current.environments)
            .await?;
    }
    if let Some(list) = &desired.products {
        run.products(&mut *tx, list, &current.products).await?;
    }
    if let Some(devs) = &desired.developers {
        parties::developers(&mut run, &mut *tx, devs, &current).await?;
    }
    if options.prune {
        if let Some(list) = &desired.products {
            let keep: BTreeSet<&str> = list.iter().map(|p| p.name.as_str()).collect();
            run.prune_products(&mut *tx, &current.products, &keep)
                .await?;
        }
        if let Some(envs) = &desired.environments {
            let keep: BTreeSet<&str> = envs.iter().map(|e| e.name.as_str()).collect();
            run.prune_environments(&mut *tx, &current.environments, &keep)
                .await?;
        }
    }
    if options.dry_run || run.records.is_empty() {
        // Dropping the transaction rolls it back: a dry run has done exactly the work (and
        // met exactly the conflicts) a real apply would, and leaves no trace.
        return Ok(run.changes);
    }
    finish(b, tx, actor, run.records, now).await?;
    Ok(run.changes)
}

/// The catalog as it is when the transaction starts.
pub(super) struct Current {
    pub(super) environments: Vec<Environment>,
    pub(super) products: Vec<Product>,
    pub(super) developers: Vec<DeveloperDetail>,
    pub(super) apps: Vec<AppDetail>,
}

impl Current {
    async fn read<C: SqlConn + ?Sized>(conn: &mut C) -> Result<Self, StoreError> {
        Ok(Current {
            environments: environments::all(conn).await?,
            products: products::all(conn).await?,
            developers: developers::all(conn).await?,
            apps: apps::all(conn).await?,
        })
    }
}

/// The work done so far: the change list for the caller and the audit records to commit.
pub(super) struct Run {
    pub(super) prune: bool,
    pub(super) now: SystemTime,
    pub(super) changes: Vec<CatalogChange>,
    pub(super) records: Vec<Record>,
}

impl Run {
    pub(super) fn change(
        &mut self,
        op: ChangeOp,
        entity: &'static str,
        name: impl Into<String>,
        fields: Vec<&'static str>,
    ) {
        self.changes.push(CatalogChange {
            op,
            entity,
            name: name.into(),
            fields,
        });
    }

    async fn environments<C: SqlConn + ?Sized>(
        &mut self,
        conn: &mut C,
        envs: &[crate::EnvironmentDoc],
        current: &[Environment],
    ) -> Result<(), StoreError> {
        for e in envs {
            match current.iter().find(|c| c.name == e.name) {
                None => {
                    let created =
                        environments::insert(conn, &e.name, &e.description, creation_time())
                            .await?
                            .ok_or_else(|| {
                                StoreError::Conflict(format!(
                                    "environment {:?} already exists",
                                    e.name
                                ))
                            })?;
                    self.records.push(Record::create(
                        "environment",
                        &e.name,
                        docs::environment(&created),
                    ));
                    self.change(ChangeOp::Create, "environment", &e.name, Vec::new());
                }
                Some(before) if before.description != e.description => {
                    let after =
                        environments::update_row(conn, &e.name, &e.description, self.now).await?;
                    self.records.push(Record::change(
                        "update",
                        "environment",
                        &e.name,
                        Some(docs::environment(before)),
                        Some(docs::environment(&after)),
                    ));
                    self.change(
                        ChangeOp::Update,
                        "environment",
                        &e.name,
                        vec!["description"],
                    );
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    async fn products<C: SqlConn + ?Sized>(
        &mut self,
        conn: &mut C,
        list: &[crate::ProductDoc],
        current: &[Product],
    ) -> Result<(), StoreError> {
        for p in list {
            match current.iter().find(|c| c.name == p.name) {
                None => {
                    let created =
                        products::insert_row(conn, &p.name, &p.spec, creation_time()).await?;
                    self.records
                        .push(Record::create("product", &p.name, docs::product(&created)));
                    self.change(ChangeOp::Create, "product", &p.name, Vec::new());
                }
                Some(before) if before.spec != p.spec => {
                    let fields = product_fields(&before.spec, &p.spec);
                    let after = products::update_row(conn, &p.name, &p.spec, self.now).await?;
                    self.records.push(Record::change(
                        "update",
                        "product",
                        &p.name,
                        Some(docs::product(before)),
                        Some(docs::product(&after)),
                    ));
                    self.change(ChangeOp::Update, "product", &p.name, fields);
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Deletes an app with its credentials, listing each in the change list.
    pub(super) async fn delete_app<C: SqlConn + ?Sized>(
        &mut self,
        conn: &mut C,
        email: &str,
        app: &AppDetail,
    ) -> Result<(), StoreError> {
        self.change(
            ChangeOp::Delete,
            "app",
            format!("{email}/{}", app.app.name),
            Vec::new(),
        );
        for cred in credentials::of_app(conn, &app.app.id).await? {
            self.change(ChangeOp::Delete, "credential", cred.key.prefix, Vec::new());
        }
        let records = apps::delete_rows(conn, app).await?;
        self.records.extend(records);
        Ok(())
    }

    async fn prune_products<C: SqlConn + ?Sized>(
        &mut self,
        conn: &mut C,
        current: &[Product],
        keep: &BTreeSet<&str>,
    ) -> Result<(), StoreError> {
        for p in current.iter().filter(|p| !keep.contains(p.name.as_str())) {
            products::delete_row(conn, &p.name).await?;
            self.records
                .push(Record::delete("product", &p.name, docs::product(p)));
            self.change(ChangeOp::Delete, "product", &p.name, Vec::new());
        }
        Ok(())
    }

    async fn prune_environments<C: SqlConn + ?Sized>(
        &mut self,
        conn: &mut C,
        current: &[Environment],
        keep: &BTreeSet<&str>,
    ) -> Result<(), StoreError> {
        for e in current.iter().filter(|e| !keep.contains(e.name.as_str())) {
            environments::delete_row(conn, &e.name).await?;
            self.records
                .push(Record::delete("environment", &e.name, docs::environment(e)));
            self.change(ChangeOp::Delete, "environment", &e.name, Vec::new());
        }
        Ok(())
    }
}

/// The fields (document spelling) in which two product specs differ.
fn product_fields(a: &ProductSpec, b: &ProductSpec) -> Vec<&'static str> {
    let mut fields = Vec::new();
    macro_rules! compare {
        ($($field:ident => $name:literal),+) => {
            $(if a.$field != b.$field { fields.push($name); })+
        };
    }
    compare!(
        display_name => "display_name",
        description => "description",
        apis => "apis",
        paths => "paths",
        methods => "methods",
        environments => "environments",
        scopes => "scopes",
        quota => "quota",
        approval => "approval",
        attributes => "attributes"
    );
    fields
}

/// Step 1: every entry's fields and duplicate identities; returns the normalised document
/// (canonical paths, lower-cased e-mails, trimmed names) that later steps compare with.
fn check(doc: &CatalogDocument) -> Result<CatalogDocument, StoreError> {
    let mut p = Problems::default();
    let mut out = CatalogDocument::default();
    if let Some(envs) = &doc.environments {
        let mut seen = Seen::default();
        for (i, e) in envs.iter().enumerate() {
            p.set_prefix(format!("environments[{i}]."));
            environments::check_into(&mut p, &e.name, &e.description);
            seen.check(&mut p, "name", "environments", i, &e.name);
        }
        out.environments = Some(envs.clone());
    }
    if let Some(list) = &doc.products {
        let mut seen = Seen::default();
        let mut checked = Vec::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            p.set_prefix(format!("products[{i}]."));
            let spec = products::check_into(&mut p, Some(&entry.name), &entry.spec);
            seen.check(&mut p, "name", "products", i, &entry.name);
            checked.push(crate::ProductDoc {
                name: entry.name.clone(),
                spec,
            });
        }
        out.products = Some(checked);
    }
    if let Some(devs) = &doc.developers {
        out.developers = Some(parties::check(&mut p, devs));
    }
    p.set_prefix("");
    p.finish()?;
    Ok(out)
}

/// Remembers identities already seen in one list, to report duplicates.
#[derive(Default)]
pub(super) struct Seen(HashMap<String, usize>);

impl Seen {
    /// Records `key` at `list[index]`; a repeat is reported at `field`.
    pub(super) fn check(
        &mut self,
        p: &mut Problems,
        field: &str,
        list: &str,
        index: usize,
        key: &str,
    ) {
        match self.0.get(key) {
            Some(first) => p.push(
                field,
                format_args!("duplicate of {list}[{first}] ({key:?})"),
            ),
            None => {
                self.0.insert(key.to_owned(), index);
            }
        }
    }
}

/// Step 2: every environment a listed product names must exist once the apply is done.
fn check_references(
    doc: &CatalogDocument,
    current: &Current,
    prune: bool,
) -> Result<(), StoreError> {
    let Some(list) = &doc.products else {
        return Ok(());
    };
    let listed: Option<BTreeSet<&str>> = doc
        .environments
        .as_ref()
        .map(|envs| envs.iter().map(|e| e.name.as_str()).collect());
    let stored: BTreeSet<&str> = current
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let mut p = Problems::default();
    for (i, entry) in list.iter().enumerate() {
        for (j, env) in entry.spec.environments.iter().enumerate() {
            let in_doc = listed.as_ref().is_some_and(|l| l.contains(env.as_str()));
            let pruned = prune && listed.is_some();
            if in_doc || (stored.contains(env.as_str()) && !pruned) {
                continue;
            }
            let at = format!("products[{i}].environments[{j}]");
            if stored.contains(env.as_str()) {
                p.push(
                    at,
                    format_args!(
                        "environment {env:?} is not in the document's environments, so prune would delete it"
                    ),
                );
            } else {
                p.push(at, format_args!("unknown environment {env:?}"));
            }
        }
    }
    p.finish()
}
