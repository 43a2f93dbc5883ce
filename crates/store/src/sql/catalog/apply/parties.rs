//! Developers and their apps in a document: checked with their document paths
//! (`developers[1].apps[0].callback_urls[2]: ...`), matched by e-mail and by app name within
//! the developer, created/updated/status-changed, and pruned with their credentials.

use super::{Current, Run, Seen};
use crate::StoreError;
use crate::apply::{AppDoc, ChangeOp, DeveloperDoc};
use crate::management::{AppDetail, DeveloperDetail};
use crate::secret::new_id;
use crate::sql::SqlConn;
use crate::sql::catalog::validate::Problems;
use crate::sql::catalog::{Record, apps, credentials, developers, docs};

/// Checks every developer and app; returns them normalised (lower-cased e-mails, trimmed
/// names).
pub(super) fn check(p: &mut Problems, devs: &[DeveloperDoc]) -> Vec<DeveloperDoc> {
    let mut seen = Seen::default();
    let mut out = Vec::with_capacity(devs.len());
    for (i, d) in devs.iter().enumerate() {
        p.set_prefix(format!("developers[{i}]."));
        let spec = developers::check_into(p, &d.spec);
        if !spec.email.is_empty() {
            seen.check(p, "email", "developers", i, &spec.email);
        }
        let mut names = Seen::default();
        let list = format!("developers[{i}].apps");
        let mut owned = Vec::with_capacity(d.apps.len());
        for (j, a) in d.apps.iter().enumerate() {
            p.set_prefix(format!("{list}[{j}]."));
            let spec = apps::check_into(p, &a.spec);
            names.check(p, "name", &list, j, &spec.name);
            owned.push(AppDoc {
                spec,
                status: a.status,
            });
        }
        out.push(DeveloperDoc {
            spec,
            status: d.status,
            apps: owned,
        });
    }
    out
}

/// Brings the listed developers and their apps to the document's state; with `prune`,
/// deletes their unlisted apps and every unlisted developer (cascading to apps and
/// credentials).
pub(super) async fn developers<C: SqlConn + ?Sized>(
    run: &mut Run,
    conn: &mut C,
    devs: &[DeveloperDoc],
    current: &Current,
) -> Result<(), StoreError> {
    for d in devs {
        let email = d.spec.email.as_str();
        let id = match current
            .developers
            .iter()
            .find(|c| c.developer.email == email)
        {
            None => create_developer(run, conn, d).await?,
            Some(before) => {
                update_developer(run, conn, d, before).await?;
                before.developer.id.clone()
            }
        };
        let owned: Vec<&AppDetail> = current
            .apps
            .iter()
            .filter(|a| a.app.developer_id == id)
            .collect();
        for a in &d.apps {
            match owned.iter().find(|o| o.app.name == a.spec.name) {
                None => create_app(run, conn, email, &id, a).await?,
                Some(before) => update_app(run, conn, email, a, before).await?,
            }
        }
        if run.prune {
            for gone in owned
                .iter()
                .filter(|o| !d.apps.iter().any(|a| a.spec.name == o.app.name))
            {
                run.delete_app(conn, email, gone).await?;
            }
        }
    }
    if run.prune {
        for gone in current
            .developers
            .iter()
            .filter(|c| !devs.iter().any(|d| d.spec.email == c.developer.email))
        {
            delete_developer(run, conn, gone, current).await?;
        }
    }
    Ok(())
}

async fn create_developer<C: SqlConn + ?Sized>(
    run: &mut Run,
    conn: &mut C,
    d: &DeveloperDoc,
) -> Result<String, StoreError> {
    let id = new_id("dev")?;
    let created = developers::insert_row(conn, &id, &d.spec, crate::model::creation_time()).await?;
    run.records
        .push(Record::create("developer", &id, docs::developer(&created)));
    if let Some(status) = d.status.filter(|s| *s != created.developer.status) {
        let after = developers::set_status_row(conn, &id, status, run.now).await?;
        run.records.push(status_record(
            "developer",
            &id,
            docs::developer(&created),
            docs::developer(&after),
        ));
    }
    run.change(ChangeOp::Create, "developer", &d.spec.email, Vec::new());
    Ok(id)
}

async fn update_developer<C: SqlConn + ?Sized>(
    run: &mut Run,
    conn: &mut C,
    d: &DeveloperDoc,
    before: &DeveloperDetail,
) -> Result<(), StoreError> {
    let id = before.developer.id.as_str();
    let mut fields = Vec::new();
    if before.developer.name != d.spec.name {
        fields.push("name");
    }
    if before.attributes != d.spec.attributes {
        fields.push("attributes");
    }
    let mut state = before.clone();
    if !fields.is_empty() {
        let after = developers::update_row(conn, id, &d.spec, run.now).await?;
        run.records.push(Record::change(
            "update",
            "developer",
            id,
            Some(docs::developer(&state)),
            Some(docs::developer(&after)),
        ));
        state = after;
    }
    if let Some(status) = d.status.filter(|s| *s != state.developer.status) {
        let after = developers::set_status_row(conn, id, status, run.now).await?;
        run.records.push(status_record(
            "developer",
            id,
            docs::developer(&state),
            docs::developer(&after),
        ));
        fields.push("status");
    }
    if !fields.is_empty() {
        run.change(ChangeOp::Update, "developer", &d.spec.email, fields);
    }
    Ok(())
}

async fn create_app<C: SqlConn + ?Sized>(
    run: &mut Run,
    conn: &mut C,
    email: &str,
    developer_id: &str,
    a: &AppDoc,
) -> Result<(), StoreError> {
    let id = new_id("app")?;
    let created = apps::insert_row(
        conn,
        &id,
        developer_id,
        &a.spec,
        crate::model::creation_time(),
    )
    .await?;
    run.records
        .push(Record::create("app", &id, docs::app(&created)));
    if let Some(status) = a.status.filter(|s| *s != created.app.status) {
        let after = apps::set_status_row(conn, &id, status, run.now).await?;
        run.records.push(status_record(
            "app",
            &id,
            docs::app(&created),
            docs::app(&after),
        ));
    }
    run.change(
        ChangeOp::Create,
        "app",
        format!("{email}/{}", a.spec.name),
        Vec::new(),
    );
    Ok(())
}

async fn update_app<C: SqlConn + ?Sized>(
    run: &mut Run,
    conn: &mut C,
    email: &str,
    a: &AppDoc,
    before: &AppDetail,
) -> Result<(), StoreError> {
    let id = before.app.id.as_str();
    let mut fields = Vec::new();
    if before.callback_urls != a.spec.callback_urls {
        fields.push("callback_urls");
    }
    if before.attributes != a.spec.attributes {
        fields.push("attributes");
    }
    let mut state = before.clone();
    if !fields.is_empty() {
        let after = apps::update_row(conn, before, &a.spec, run.now).await?;
        run.records.push(Record::change(
            "update",
            "app",
            id,
            Some(docs::app(&state)),
            Some(docs::app(&after)),
        ));
        state = after;
    }
    if let Some(status) = a.status.filter(|s| *s != state.app.status) {
        let after = apps::set_status_row(conn, id, status, run.now).await?;
        run.records.push(status_record(
            "app",
            id,
            docs::app(&state),
            docs::app(&after),
        ));
        fields.push("status");
    }
    if !fields.is_empty() {
        run.change(
            ChangeOp::Update,
            "app",
            format!("{email}/{}", a.spec.name),
            fields,
        );
    }
    Ok(())
}

/// Deletes a developer, listing the developer, each app and each credential that go.
async fn delete_developer<C: SqlConn + ?Sized>(
    run: &mut Run,
    conn: &mut C,
    gone: &DeveloperDetail,
    current: &Current,
) -> Result<(), StoreError> {
    let email = gone.developer.email.as_str();
    run.change(ChangeOp::Delete, "developer", email, Vec::new());
    for app in current
        .apps
        .iter()
        .filter(|a| a.app.developer_id == gone.developer.id)
    {
        run.change(
            ChangeOp::Delete,
            "app",
            format!("{email}/{}", app.app.name),
            Vec::new(),
        );
        for cred in credentials::of_app(conn, &app.app.id).await? {
            run.change(ChangeOp::Delete, "credential", cred.key.prefix, Vec::new());
        }
    }
    let records = developers::delete_rows(conn, gone).await?;
    run.records.extend(records);
    Ok(())
}

fn status_record(
    entity: &'static str,
    id: &str,
    before: serde_json::Value,
    after: serde_json::Value,
) -> Record {
    Record::change("set-status", entity, id, Some(before), Some(after))
}
