//! `WSGITrustedProxies` entries: an IPv4 or IPv6 address or network, and the address test,
//! with APR's `apr_ipsubnet_create` / `apr_ipsubnet_test` meaning (what mod_wsgi uses).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address or network. Plain bytes (no `u128`, which is 16-byte aligned) so that it can be
/// kept in Apache's pool memory (8-byte aligned) inside the per-directory configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    /// Network address, masked; an IPv4 one in the first 4 bytes.
    net: [u8; 16],
    mask: [u8; 16],
    v6: bool,
}

fn masked(a: [u8; 16], m: [u8; 16]) -> [u8; 16] {
    std::array::from_fn(|i| a[i] & m[i])
}

fn prefix_mask(bits: u32) -> [u8; 16] {
    std::array::from_fn(|i| {
        let have = bits.saturating_sub(8 * i as u32).min(8);
        if have == 0 { 0 } else { 0xffu8 << (8 - have) }
    })
}

fn v4_bytes(a: Ipv4Addr) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&a.octets());
    b
}

/// A partial IPv4 network as `apr_ipsubnet_create` takes it without a mask: `10`, `10.1`,
/// `10.1.2` (each part 0-255) are 10.0.0.0/8, 10.1.0.0/16, 10.1.2.0/24.
fn partial_v4(s: &str) -> Option<Subnet> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut net = [0u8; 16];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        net[i] = p.parse::<u8>().ok()?;
    }
    Some(Subnet { net, mask: prefix_mask(8 * parts.len() as u32), v6: false })
}

impl Subnet {
    /// Parses `addr`, `addr/bits` or (IPv4) `addr/dotted.netmask`, or a partial IPv4 network
    /// (`10.1`). `Err` is the configuration error message. As in APR a prefix of 0 bits is
    /// refused (trusting every address is what leaving `WSGITrustedProxies` out does).
    pub fn parse(s: &str) -> Result<Subnet, String> {
        let bad = |why: &str| format!("WSGITrustedProxies: '{s}' is not an IP address or network ({why})");
        let (ip, mask) = match s.split_once('/') {
            Some((ip, m)) => (ip, Some(m)),
            None => (s, None),
        };
        let (addr, v6) = if let Ok(a) = ip.parse::<Ipv4Addr>() {
            (v4_bytes(a), false)
        } else if let Ok(a) = ip.parse::<Ipv6Addr>() {
            (a.octets(), true)
        } else if mask.is_none() {
            return partial_v4(ip).ok_or_else(|| bad("expected e.g. 10.0.0.5, 192.168.0.0/16 or 2001:db8::/32"));
        } else {
            return Err(bad("expected e.g. 10.0.0.5, 192.168.0.0/16 or 2001:db8::/32"));
        };
        let max = if v6 { 128 } else { 32 };
        let mask = match mask {
            None => prefix_mask(max),
            Some(m) if !m.is_empty() && m.bytes().all(|c| c.is_ascii_digit()) => match m.parse::<u32>() {
                Ok(bits) if bits >= 1 && bits <= max => prefix_mask(bits),
                _ => return Err(bad(&format!("the prefix length must be 1 to {max}"))),
            },
            Some(m) => match m.parse::<Ipv4Addr>() {
                Ok(dotted) if !v6 => v4_bytes(dotted),
                _ => return Err(bad("bad netmask")),
            },
        };
        Ok(Subnet { net: masked(addr, mask), mask, v6 })
    }

    /// `ip` is in this network. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, a dual-stack
    /// listener) matches IPv4 networks, never IPv6 ones (as `apr_ipsubnet_test`).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (bytes, v6) = match ip {
            IpAddr::V4(a) => (v4_bytes(a), false),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => (v4_bytes(v4), false),
                None => (a.octets(), true),
            },
        };
        v6 == self.v6 && masked(bytes, self.mask) == self.net
    }
}

/// An address as a peer or an `X-Forwarded-For` element gives it: a plain IPv4 or IPv6 address
/// (an IPv6 zone `%eth0` is ignored). Anything else (a host name, a port, brackets) is `None`:
/// no DNS lookups are made for a request.
pub fn parse_ip(s: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(s).ok()?;
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(a));
    }
    let s = if s.contains(':') { s.split_once('%').map_or(s, |(a, _)| a) } else { s };
    s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// `ip` is in one of `subnets`.
pub fn trusted(subnets: &[Subnet], ip: IpAddr) -> bool {
    subnets.iter().any(|n| n.contains(ip))
}
