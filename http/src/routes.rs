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
    /// Whether the route acts for a user (README "Security"): its handler
    /// takes the acting user, the OpenAPI operation has a `security`
    /// requirement, and on AWS the JWT authorizer guards it. Reads are
    /// public.
    pub identity: bool,
}

const fn route(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function,
        identity: false,
    }
}

const fn acting(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        identity: true,
        ..route(method, path, function)
    }
}

/// Every API route of the contract served by a function.
pub const ROUTES: &[Route] = &[
    acting("POST", "/api/v1/avatars", "upload"),
    acting("POST", "/api/v1/avatars/uploads", "upload"),
    route("GET", "/api/v1/avatars/{avatar_id}", "get"),
    route("GET", "/api/v1/users/{user_id}/avatar", "get"),
    route("GET", "/api/v1/avatars/{avatar_id}/metadata", "metadata"),
    route("GET", "/api/v1/users/{user_id}/avatars", "metadata"),
    acting("DELETE", "/api/v1/avatars/{avatar_id}", "delete"),
    acting("DELETE", "/api/v1/users/{user_id}/avatar", "delete"),
    route("GET", "/health", "metadata"),
    route("GET", "/api/v1/openapi.json", "metadata"),
    acting("POST", "/web/upload", "upload"),
];

/// The function that serves `method path` (a route template), if any.
pub fn function_for(method: &str, path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .find(|r| r.method == method && r.path == path)
        .map(|r| r.function)
}

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
        path: "/web/docs",
        key: "docs.html",
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

    /// Every `(METHOD, path)` the code serves: the functions' routes and
    /// the web pages.
    fn routes_in_code() -> BTreeSet<(String, String)> {
        ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .chain(
                WEB_ROUTES
                    .iter()
                    .map(|r| ("GET".to_owned(), r.path.to_owned())),
            )
            .collect()
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
        assert_eq!(in_spec, routes_in_code());
    }

    #[test]
    fn openapi_security_marks_the_routes_that_act_for_a_user() {
        let spec: serde_json::Value = serde_json::from_str(crate::api::OPENAPI_JSON).unwrap();
        let mut in_spec = BTreeSet::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op.get("security").is_some() {
                    in_spec.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let in_code: BTreeSet<_> = ROUTES
            .iter()
            .filter(|r| r.identity)
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(in_spec, in_code);
    }

    /// `(METHOD, path) -> statuses` of the OpenAPI document.
    fn openapi_statuses() -> BTreeSet<(String, String, u16)> {
        let spec: serde_json::Value = serde_json::from_str(crate::api::OPENAPI_JSON).unwrap();
        let mut out = BTreeSet::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for status in op["responses"].as_object().unwrap().keys() {
                    out.insert((method.to_uppercase(), path.clone(), status.parse().unwrap()));
                }
            }
        }
        out
    }

    /// The same from `docs/api.md`: each route is a heading
    /// ``### `METHOD /path` `` followed by a table whose rows start with
    /// `| status |`.
    fn documented_statuses(doc: &str) -> BTreeSet<(String, String, u16)> {
        let mut out = BTreeSet::new();
        let mut route: Option<(String, String)> = None;
        for line in doc.lines() {
            if let Some(heading) = line.strip_prefix("### `") {
                let (method, path) = heading.trim_end_matches('`').split_once(' ').unwrap();
                route = Some((method.to_owned(), path.to_owned()));
                // A route without a status table still counts as documented.
                out.insert((method.to_owned(), path.to_owned(), 0));
            } else if line.starts_with("## ") {
                route = None;
            } else if let (Some((method, path)), Some(row)) = (&route, line.strip_prefix("| ")) {
                if let Some(Ok(status)) = row.split(' ').next().map(str::parse::<u16>) {
                    out.insert((method.clone(), path.clone(), status));
                }
            }
        }
        out
    }

    #[test]
    fn the_api_page_documents_every_route_and_status() {
        let doc = include_str!("../../docs/api.md");
        let documented = documented_statuses(doc);
        let routes: BTreeSet<_> = documented
            .iter()
            .map(|(m, p, _)| (m.clone(), p.clone()))
            .collect();
        assert_eq!(
            routes,
            routes_in_code(),
            "docs/api.md routes vs the route table"
        );
        let documented: BTreeSet<_> = documented.into_iter().filter(|r| r.2 != 0).collect();
        assert_eq!(
            documented,
            openapi_statuses(),
            "docs/api.md statuses vs http/openapi.json"
        );
    }

    #[test]
    fn the_api_page_parser_reads_headings_and_rows() {
        let doc =
            "## Upload\n\n### `POST /a`\n\ntext | 999 not a row\n\n| status | when |\n|---|---|\n\
                   | 201 | made |\n| 400 | bad |\n\n## Other\n\n| 500 | outside a route |\n";
        let got = documented_statuses(doc);
        let want: BTreeSet<_> = [0, 201, 400]
            .into_iter()
            .map(|s| ("POST".to_owned(), "/a".to_owned(), s))
            .collect();
        assert_eq!(got, want);
    }
}
