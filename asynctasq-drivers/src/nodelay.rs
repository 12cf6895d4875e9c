//! `TCP_NODELAY` on the connections to a SQL server, until sqlx sets it again.
//!
//! sqlx-core 0.9.0 stopped setting `TCP_NODELAY` on its sockets (sqlx#4335;
//! fixed upstream by sqlx#4336, not yet released). Over TCP, a statement
//! whose message leaves the client in two writes (a 20 KB insert, say) then
//! waits on Nagle's algorithm for the server's delayed ACK: ~40 ms per
//! statement instead of ~1 ms. sqlx gives no access to its socket, so this
//! module finds the sockets through the process's own file descriptors
//! (`/proc/self/fd`), keeps the TCP ones whose peer is the database's port,
//! and sets the option on them. It runs in the `after_connect` hook of every
//! pool the drivers build (right after a connection opens, before its first
//! statement), after the listener connects, and over a pool that an
//! application hands to a driver ([`Adopted`]): that pool has no hook of
//! ours, so the driver treats it at adoption and again whenever it has
//! grown by the time the driver next uses it.
//!
//! Linux only; elsewhere [`set_on_connections_to`] does nothing. **Delete this
//! module when a sqlx release sets `TCP_NODELAY` again.**

use std::sync::atomic::{AtomicU32, Ordering};

/// Sets `TCP_NODELAY` on every TCP socket of this process connected to a
/// peer on `port` that does not have it yet. Returns how many it changed.
///
/// Sockets to the database's port belong to database clients (ours, the
/// application's); for them the option is what the client library meant to
/// set. Errors (a descriptor closed meanwhile, no `/proc`) are ignored: the
/// connection then only keeps sqlx's default.
pub(crate) fn set_on_connections_to(port: u16) -> usize {
    #[cfg(target_os = "linux")]
    {
        linux::set_on_connections_to(port)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = port;
        0
    }
}

/// `pool` with an `after_connect` hook that treats each connection it opens
/// to `port`, before the connection's first statement. (A pool has one such
/// hook: a pool that needs its own calls [`set_on_connections_to`] in it.)
pub(crate) fn on_connect<DB: sqlx::Database>(
    pool: sqlx::pool::PoolOptions<DB>,
    port: u16,
) -> sqlx::pool::PoolOptions<DB> {
    pool.after_connect(move |_, _| {
        set_on_connections_to(port);
        Box::pin(async { Ok(()) })
    })
}

/// The connections of a pool the application built (it has no hook of
/// ours) as the pool opens them: all those open at adoption, then, before
/// each use by the driver, the new ones whenever the pool has grown since the
/// last use. A new connection's first statement may still wait once; a
/// connection the pool closes and replaces between two uses is treated at
/// the next growth.
#[derive(Debug)]
pub(crate) struct Adopted {
    port: u16,
    /// The pool's size at the last check.
    size: AtomicU32,
}

impl Adopted {
    /// Treats the connections to `port` open now; `size` is the pool's size.
    pub(crate) fn new(port: u16, size: u32) -> Self {
        set_on_connections_to(port);
        Adopted {
            port,
            size: AtomicU32::new(size),
        }
    }

    /// Call with the pool's current size before using it: treats the
    /// connections to the port when the pool has grown since the last call.
    /// One atomic swap when it has not.
    pub(crate) fn check(&self, size: u32) {
        if size > self.size.swap(size, Ordering::Relaxed) {
            set_on_connections_to(self.port);
        }
    }
}

/// `pool`, checked first when it was adopted from the application (see
/// [`Adopted::check`]): what a driver's statements run on.
pub(crate) fn checked<'a, DB: sqlx::Database>(
    adopted: &Option<Adopted>,
    pool: &'a sqlx::Pool<DB>,
) -> &'a sqlx::Pool<DB> {
    if let Some(adopted) = adopted {
        adopted.check(pool.size());
    }
    pool
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::{BorrowedFd, RawFd};

    use socket2::{SockRef, Type};

    pub(super) fn set_on_connections_to(port: u16) -> usize {
        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
            return 0;
        };
        entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let target = std::fs::read_link(entry.path()).ok()?;
                // Only sockets: `socket:[inode]`.
                if !target
                    .as_os_str()
                    .as_encoded_bytes()
                    .starts_with(b"socket:")
                {
                    return None;
                }
                entry.file_name().to_str()?.parse::<RawFd>().ok()
            })
            .filter(|&fd| set_if_peer_port(fd, port))
            .count()
    }

    /// Sets `TCP_NODELAY` on `fd` when it is a TCP stream to `port` without it.
    #[allow(unsafe_code)]
    fn set_if_peer_port(fd: RawFd, port: u16) -> bool {
        // SAFETY: `fd` was listed in /proc/self/fd as a socket a moment ago,
        // and the borrow lives only for the few syscalls below, which never
        // close it. Were it closed meanwhile, the calls fail with EBADF; were
        // its number reused, the checks below apply to the new descriptor
        // (ENOTSOCK for a file, the peer-port check for a socket).
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = SockRef::from(&fd);
        let is_tcp_stream = socket.r#type().is_ok_and(|t| t == Type::STREAM)
            && socket
                .peer_addr()
                .ok()
                .and_then(|addr| addr.as_socket())
                .is_some_and(|addr| addr.port() == port);
        is_tcp_stream
            && socket.tcp_nodelay().is_ok_and(|on| !on)
            && socket.set_tcp_nodelay(true).is_ok()
    }

    #[cfg(test)]
    mod tests {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};

        use super::*;

        #[test]
        fn sets_nodelay_on_sockets_to_the_port_only() {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let other = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let unrelated = TcpStream::connect(other.local_addr().unwrap()).unwrap();
            let (mut served, _) = listener.accept().unwrap();
            assert!(!client.nodelay().unwrap());

            assert_eq!(set_on_connections_to(port), 1, "only the client socket");
            assert!(client.nodelay().unwrap());
            assert!(!unrelated.nodelay().unwrap(), "another peer port");
            assert!(
                !served.nodelay().unwrap(),
                "the accepted side's peer is the client's port"
            );
            assert_eq!(set_on_connections_to(port), 0, "already set");

            // The socket still works.
            (&client).write_all(b"ping").unwrap();
            let mut buf = [0u8; 4];
            served.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ping");
        }

        #[test]
        fn an_adopted_pool_is_treated_when_it_grows() {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let open = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let adopted = crate::nodelay::Adopted::new(port, 1);
            assert!(open.nodelay().unwrap(), "treated at adoption");

            let opened_later = TcpStream::connect(("127.0.0.1", port)).unwrap();
            adopted.check(1);
            assert!(!opened_later.nodelay().unwrap(), "same size: no scan");
            adopted.check(2);
            assert!(opened_later.nodelay().unwrap(), "grown: treated");

            // A connection replaced after a shrink is treated at the regrowth.
            drop(opened_later);
            adopted.check(1);
            let replacement = TcpStream::connect(("127.0.0.1", port)).unwrap();
            adopted.check(2);
            assert!(replacement.nodelay().unwrap());
        }
    }
}
