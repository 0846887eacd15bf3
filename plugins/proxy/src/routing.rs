//! Which upstream serves a user: their own route, else their domain's (`@example.org`), else
//! the default. User names match exactly, since upstream servers differ on case; domains
//! match without regard to case, as DNS does.

use crate::endpoint::Endpoint;
use std::collections::HashMap;

pub struct Routes {
    default: Endpoint,
    users: HashMap<String, Endpoint>,
    /// Lowercase, without the `@`.
    domains: HashMap<String, Endpoint>,
}

impl Routes {
    pub fn new(default: Endpoint) -> Self {
        Self {
            default,
            users: HashMap::new(),
            domains: HashMap::new(),
        }
    }

    /// Adds the route of `key`: `@domain` for a domain, anything else for one user name
    /// (which may itself contain an `@`).
    pub fn add(&mut self, key: &str, endpoint: Endpoint) -> Result<(), String> {
        if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err("expected a user name or @domain".into());
        }
        let (table, name) = match key.strip_prefix('@') {
            Some("") => return Err("expected a domain after @".into()),
            Some(domain) => (&mut self.domains, domain.to_ascii_lowercase()),
            None => (&mut self.users, key.to_string()),
        };
        if table.insert(name, endpoint).is_some() {
            return Err("another route has the same domain".into());
        }
        Ok(())
    }

    /// The upstream for the user name a client logged in with.
    pub fn find(&self, user: &str) -> &Endpoint {
        let domain = || {
            let (_, domain) = user.rsplit_once('@')?;
            self.domains.get(&domain.to_ascii_lowercase())
        };
        self.users
            .get(user)
            .or_else(domain)
            .unwrap_or(&self.default)
    }

    /// The upstream of users without a route of their own or of their domain.
    pub fn default_route(&self) -> &Endpoint {
        &self.default
    }

    /// Every upstream, the default first.
    pub fn iter(&self) -> impl Iterator<Item = &Endpoint> {
        let routes = self.users.values().chain(self.domains.values());
        std::iter::once(&self.default).chain(routes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{Address, Security};

    fn endpoint(host: &str) -> Endpoint {
        Endpoint {
            address: Address::parse(host, 110).unwrap(),
            security: Security::Plain,
            strip_domain: false,
        }
    }

    fn routes() -> Routes {
        let mut routes = Routes::new(endpoint("default"));
        routes.add("carol", endpoint("carol-host")).unwrap();
        routes
            .add("boss@example.org", endpoint("boss-host"))
            .unwrap();
        routes.add("@Example.ORG", endpoint("org-host")).unwrap();
        routes
            .add("@sub.example.org", endpoint("sub-host"))
            .unwrap();
        routes
    }

    fn host(routes: &Routes, user: &str) -> String {
        routes.find(user).address.host.clone()
    }

    #[test]
    fn a_user_route_wins_over_the_domain_and_the_default_catches_the_rest() {
        let routes = routes();
        assert_eq!(routes.iter().count(), 5);
        assert_eq!(routes.default_route().address.host, "default");
        assert_eq!(host(&routes, "carol"), "carol-host");
        assert_eq!(
            host(&routes, "Carol"),
            "default",
            "user names match exactly"
        );
        assert_eq!(host(&routes, "boss@example.org"), "boss-host");
        assert_eq!(host(&routes, "dave@example.org"), "org-host");
        assert_eq!(
            host(&routes, "dave@EXAMPLE.org"),
            "org-host",
            "domains ignore case"
        );
        assert_eq!(host(&routes, "dave@sub.example.org"), "sub-host");
        assert_eq!(
            host(&routes, "dave@other.example.org"),
            "default",
            "no wildcard"
        );
        assert_eq!(
            host(&routes, "a@b@example.org"),
            "org-host",
            "the last @ counts"
        );
        assert_eq!(host(&routes, "alice"), "default");
        assert_eq!(host(&routes, "alice@example.net"), "default");
    }

    #[test]
    fn bad_keys_are_refused() {
        let mut routes = routes();
        assert!(routes.add("", endpoint("x")).is_err());
        assert!(routes.add("@", endpoint("x")).is_err());
        assert!(routes.add("a b", endpoint("x")).is_err());
        let err = routes.add("@example.org", endpoint("x")).unwrap_err();
        assert!(err.contains("same domain"), "{err}");
    }
}
