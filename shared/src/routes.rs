//! The route table: which function serves which method and path. The same
//! table is in `Cargo.toml` (`cargo lambda watch` router) and, later, in
//! `template.yaml`; tests compare them.

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path template in `{param}` syntax.
    pub path: &'static str,
    /// Function (binary) name.
    pub function: &'static str,
}

const fn route(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function,
    }
}

/// Every API route of the contract served by a function.
pub const ROUTES: &[Route] = &[
    route("POST", "/api/v1/avatars", "upload"),
    route("POST", "/api/v1/avatars/uploads", "upload"),
    route("GET", "/api/v1/avatars/{avatar_id}", "get"),
    route("GET", "/api/v1/users/{user_id}/avatar", "get"),
    route("GET", "/api/v1/avatars/{avatar_id}/metadata", "metadata"),
    route("GET", "/api/v1/users/{user_id}/avatars", "metadata"),
    route("DELETE", "/api/v1/avatars/{avatar_id}", "delete"),
    route("DELETE", "/api/v1/users/{user_id}/avatar", "delete"),
    route("GET", "/health", "metadata"),
    route("GET", "/api/v1/openapi.json", "metadata"),
    route("POST", "/web/upload", "upload"),
];

/// One static web page or asset: a `GET` path and the object key in the
/// web bucket (`WEB_BUCKET`) that answers it. `{file}` in both stands for
/// one path segment of an asset name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebRoute {
    /// Path template in `{param}` syntax.
    pub path: &'static str,
    /// Object key in the web bucket.
    pub key: &'static str,
}

/// The static pages (contract, "Web interface"): served from the web
/// bucket, never by a function. Locally the gateway reads the bucket; in AWS
/// the HTTP API proxies these paths to it.
pub const WEB_ROUTES: &[WebRoute] = &[
    WebRoute {
        path: "/web/upload",
        key: "upload.html",
    },
    WebRoute {
        path: "/web/gallery/{user_id}",
        key: "gallery.html",
    },
    WebRoute {
        path: "/web/config.json",
        key: "config.json",
    },
    WebRoute {
        path: "/web/assets/{file}",
        key: "assets/{file}",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn cargo_lambda_router_table_matches() {
        let manifest = include_str!("../../Cargo.toml");
        let doc: toml::Table = toml::from_str(manifest).unwrap();
        let router = doc["workspace"]["metadata"]["lambda"]["watch"]["router"]
            .as_table()
            .unwrap();
        let mut in_toml = BTreeSet::new();
        for (path, entries) in router {
            for entry in entries.as_array().unwrap() {
                in_toml.insert((
                    entry["method"].as_str().unwrap().to_owned(),
                    path.clone(),
                    entry["function"].as_str().unwrap().to_owned(),
                ));
            }
        }
        let in_code: BTreeSet<_> = ROUTES
            .iter()
            .map(|r| {
                (
                    r.method.to_owned(),
                    r.path.to_owned(),
                    r.function.to_owned(),
                )
            })
            .collect();
        assert_eq!(in_toml, in_code);
    }

    #[test]
    fn openapi_operations_match_the_route_table() {
        let spec: serde_json::Value = serde_json::from_str(crate::api::OPENAPI_JSON).unwrap();
        let mut in_spec = BTreeSet::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                in_spec.insert((method.to_uppercase(), path.clone()));
            }
        }
        let in_code: BTreeSet<_> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .chain(
                WEB_ROUTES
                    .iter()
                    .map(|r| ("GET".to_owned(), r.path.to_owned())),
            )
            .collect();
        assert_eq!(in_spec, in_code);
    }
}
