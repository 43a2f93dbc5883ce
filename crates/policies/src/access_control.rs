//! `access-control`: lets only clients from allowed networks reach the API, and shuts out denied
//! networks (known abusers, internal ranges exposed by mistake).
//!
//! Runs in the request phase on `ctx.client_ip`, the address after trusted-proxy rules, so a
//! spoofed `X-Forwarded-For` cannot talk its way in. `deny` wins over `allow`; when `allow` is
//! non-empty, an address must match it. IPv4-mapped IPv6 clients (`::ffff:192.0.2.1`, as seen on
//! dual-stack sockets) are matched as IPv4, so an IPv4 rule cannot be bypassed through IPv6.
//! Rejects with 403 `access.denied`.
//!
//! Lists are merged at compile time into sorted, disjoint address ranges, so a lookup is a binary
//! search whatever the list length.

use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use portcullis_core::GatewayError;
use portcullis_policy::{Decision, Exchange, Phase, Policy};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};

const KIND: &str = "access-control";

/// Config of `access-control`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct AccessControlConfig {
    /// Networks allowed in, as IPs or CIDRs (`192.0.2.0/24`, `2001:db8::/32`, `198.51.100.7`).
    /// When non-empty, every other address is refused.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Networks refused, as IPs or CIDRs. Checked first: a denied address is refused even when
    /// it is also allowed.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// The compiled policy.
#[derive(Debug)]
pub struct AccessControl {
    allow: AddrSet,
    deny: AddrSet,
}

/// A set of addresses as sorted, disjoint, inclusive ranges per family.
#[derive(Debug, Default)]
struct AddrSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

// === impl AccessControlConfig ===

impl PolicyConfig for AccessControlConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        let mut errors = Vec::new();
        if ctx.phase == Phase::Response {
            errors.push(CompileError::at(
                "",
                "access-control guards requests; place it in a request list",
            ));
        }
        if self.allow.is_empty() && self.deny.is_empty() {
            errors.push(CompileError::at(
                "",
                "give at least one network in allow or deny",
            ));
        }
        let allow = AddrSet::parse("allow", &self.allow, &mut errors);
        let deny = AddrSet::parse("deny", &self.deny, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(AccessControl { allow, deny }))
    }
}

// === impl AccessControl ===

impl AccessControl {
    /// Whether `ip` may pass.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        !self.deny.contains(ip) && (self.allow.is_empty() || self.allow.contains(ip))
    }
}

#[async_trait]
impl Policy for AccessControl {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        if self.permits(ex.ctx.client_ip) {
            Ok(Decision::Continue)
        } else {
            Err(GatewayError::access_denied().with_detail("the client address is not allowed"))
        }
    }
}

// === impl AddrSet ===

impl AddrSet {
    /// Parses `entries` (reporting each bad one at `field[i]`) and merges them into ranges.
    fn parse(field: &str, entries: &[String], errors: &mut Vec<CompileError>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match parse_net(entry) {
                Some(IpNet::V4(net)) => {
                    v4.push((net.network().to_bits(), net.broadcast().to_bits()))
                }
                Some(IpNet::V6(net)) => {
                    v6.push((net.network().to_bits(), net.broadcast().to_bits()))
                }
                None => errors.push(CompileError::at(
                    format!("{field}[{i}]"),
                    format!("invalid IP or CIDR '{entry}'"),
                )),
            }
        }
        Self {
            v4: merge(v4),
            v6: merge(v6),
        }
    }

    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// `ip` must already be canonical (IPv4-mapped addresses turned into IPv4).
    fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(ip) => in_ranges(&self.v4, ip.to_bits()),
            IpAddr::V6(ip) => in_ranges(&self.v6, ip.to_bits()),
        }
    }
}

/// An IP (a single-address network) or a CIDR; host bits are ignored (`10.1.2.3/8` is
/// `10.0.0.0/8`). IPv4-mapped IPv6 networks become IPv4, matching how clients are compared.
fn parse_net(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    let net = IpNet::from_str(entry)
        .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
        .ok()?
        .trunc();
    Some(match net {
        IpNet::V6(v6) => ipv4_mapped(v6).map_or(net, IpNet::V4),
        v4 => v4,
    })
}

fn ipv4_mapped(net: Ipv6Net) -> Option<Ipv4Net> {
    const MAPPED_PREFIX: u8 = 96;
    let v4 = Ipv6Addr::to_ipv4_mapped(&net.network())?;
    let len = net.prefix_len().checked_sub(MAPPED_PREFIX)?;
    Ipv4Net::new(v4, len).ok()
}

/// Sorts inclusive ranges and merges overlapping or adjacent ones, so that a binary search
/// finds the only candidate.
fn merge<T: Ord + Copy + Successor>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if last.1.successor().is_none_or(|next| start <= next) => {
                last.1 = last.1.max(end);
            }
            _ => merged.push((start, end)),
        }
    }
    merged.shrink_to_fit();
    merged
}

fn in_ranges<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    // The first range starting after `x` is at `i`; only the one before can contain `x`.
    let i = ranges.partition_point(|&(start, _)| start <= x);
    i > 0 && x <= ranges[i - 1].1
}

/// The next integer, if any (for merging adjacent ranges without overflow).
trait Successor: Sized {
    fn successor(self) -> Option<Self>;
}

impl Successor for u32 {
    fn successor(self) -> Option<Self> {
        self.checked_add(1)
    }
}

impl Successor for u128 {
    fn successor(self) -> Option<Self> {
        self.checked_add(1)
    }
}

#[cfg(test)]
mod tests;
