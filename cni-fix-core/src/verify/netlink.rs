//! The few rtnetlink requests verify makes itself, over a socket of the calling thread's
//! network namespace: bring a link up, add a dummy link, and list links and addresses.

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// A link as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    /// Its index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its kind (`bridge`, `veth`, `dummy`, …), when it has one.
    pub kind: Option<String>,
}

/// A route netlink socket in the namespace of the thread that opened it.
pub(crate) struct Rtnl {
    socket: Socket,
    seq: u32,
}

impl Rtnl {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Rtnl> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl { socket, seq: 0 })
    }

    /// Send one request and collect the messages of its answer, until its ACK or the end of
    /// its dump.
    fn request(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut answers = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "empty netlink message",
                    ));
                }
                offset += len;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => match e.code {
                        Some(_) => return Err(e.to_io()),
                        None => return Ok(answers),
                    },
                    NetlinkPayload::Done(_) => return Ok(answers),
                    // A dump ends with its Done message; any other request with its ACK.
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    _ => {}
                }
            }
        }
    }

    /// Bring the link with this index up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK)
            .map(drop)
    }

    /// Add a link that stands in for a host device, up: a dummy, or where the kernel has no
    /// dummy driver, one end of a veth pair whose other end is `peer`. Returns the kind made.
    pub fn add_stand_in(&mut self, name: &str, peer: &str) -> io::Result<&'static str> {
        let new = |name: &str, info: Vec<LinkInfo>| {
            // Created down: a veth end cannot open before its peer exists (ENOTCONN).
            let mut m = LinkMessage::default();
            m.attributes.push(LinkAttribute::IfName(name.to_string()));
            m.attributes.push(LinkAttribute::LinkInfo(info));
            m
        };
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        let dummy = new(name, vec![LinkInfo::Kind(InfoKind::Dummy)]);
        match self.request(RouteNetlinkMessage::NewLink(dummy), flags) {
            Ok(_) => {
                let index = self.index_of(name)?;
                self.set_up(index)?;
                return Ok("dummy");
            }
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
            Err(e) => return Err(e),
        }
        let peer = new(peer, Vec::new());
        let veth = new(
            name,
            vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
            ],
        );
        self.request(RouteNetlinkMessage::NewLink(veth), flags)?;
        let index = self.index_of(name)?;
        self.set_up(index)?;
        Ok("veth")
    }

    /// The index of the link named `name`.
    pub fn index_of(&mut self, name: &str) -> io::Result<u32> {
        self.links()?
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.index)
            .ok_or_else(|| io::Error::other(format!("no link named {name}")))
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let answers = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => Some(link),
                _ => None,
            })
            .map(|link| {
                let mut name = String::new();
                let mut kind = None;
                for a in &link.attributes {
                    match a {
                        LinkAttribute::IfName(n) => name = n.clone(),
                        LinkAttribute::LinkInfo(infos) => {
                            for i in infos {
                                if let LinkInfo::Kind(k) = i {
                                    kind = Some(k.to_string());
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Link {
                    index: link.header.index,
                    name,
                    kind,
                }
            })
            .collect())
    }

    /// Every address of the namespace, as `(link index, address/prefix)`.
    pub fn addresses(&mut self) -> io::Result<Vec<(u32, String)>> {
        let answers = self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            })
            .filter_map(|a| {
                let ip: IpAddr = a.attributes.iter().find_map(|at| match at {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })?;
                Some((a.header.index, format!("{ip}/{}", a.header.prefix_len)))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root: in a namespace of its own thread, make a stand-in link and find it up.
    #[test]
    fn makes_a_stand_in_link() {
        if !rustix::process::geteuid().is_root() {
            panic!("this test needs root (CI runs as root)");
        }
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let mut r = Rtnl::open().unwrap();
            let kind = r.add_stand_in("eth9", "cni-fix-peer0").unwrap();
            let links = r.links().unwrap();
            let eth9 = links.iter().find(|l| l.name == "eth9").unwrap();
            assert_eq!(eth9.kind.as_deref(), Some(kind));
            assert!(
                r.add_stand_in("eth9", "cni-fix-peer1").is_err(),
                "names are exclusive"
            );
        })
        .join()
        .unwrap();
    }
}
