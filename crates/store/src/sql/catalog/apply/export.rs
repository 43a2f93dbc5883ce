//! The catalog as a document: every section, each sorted by identity (names, e-mails, app
//! names) so that exports of the same state are identical and diff well in git.

use crate::StoreError;
use crate::apply::{AppDoc, CatalogDocument, DeveloperDoc, EnvironmentDoc, ProductDoc};
use crate::management::{AppSpec, DeveloperSpec};
use crate::sql::backend::Backend;
use crate::sql::catalog::{apps, developers, environments, products};

pub(crate) async fn export<B: Backend>(b: &B) -> Result<CatalogDocument, StoreError> {
    let mut conn = b.read_conn().await?;
    let mut envs = environments::all(&mut *conn).await?;
    envs.sort_by(|a, b| a.name.cmp(&b.name));
    // `all` orders products by name already.
    let list = products::all(&mut *conn).await?;
    let mut devs = developers::all(&mut *conn).await?;
    devs.sort_by(|a, b| a.developer.email.cmp(&b.developer.email));
    let mut owned = apps::all(&mut *conn).await?;
    owned.sort_by(|a, b| a.app.name.cmp(&b.app.name));
    Ok(CatalogDocument {
        environments: Some(
            envs.into_iter()
                .map(|e| EnvironmentDoc {
                    name: e.name,
                    description: e.description,
                })
                .collect(),
        ),
        products: Some(
            list.into_iter()
                .map(|p| ProductDoc {
                    name: p.name,
                    spec: p.spec,
                })
                .collect(),
        ),
        developers: Some(
            devs.into_iter()
                .map(|d| DeveloperDoc {
                    apps: owned
                        .iter()
                        .filter(|a| a.app.developer_id == d.developer.id)
                        .map(|a| AppDoc {
                            spec: AppSpec {
                                name: a.app.name.clone(),
                                callback_urls: a.callback_urls.clone(),
                                attributes: a.attributes.clone(),
                            },
                            status: Some(a.app.status),
                        })
                        .collect(),
                    status: Some(d.developer.status),
                    spec: DeveloperSpec {
                        email: d.developer.email,
                        name: d.developer.name,
                        attributes: d.attributes,
                    },
                })
                .collect(),
        ),
    })
}
