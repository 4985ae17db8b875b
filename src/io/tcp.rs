//! SIP over TCP (RFC 3261 §18): the listener and the connections we open ourselves;
//! each connection then runs [`super::stream::connection`] under the stream limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::stream::{Channel, Counts, Origin, RefusalLog, StreamEvent, StreamLimits, connection};
use crate::sip::{Peer, Transport};

pub async fn accept_loop(
    listener: TcpListener,
    events: mpsc::UnboundedSender<StreamEvent>,
    limits: StreamLimits,
    counts: Arc<Counts>,
) {
    let mut refusals = RefusalLog::default();
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let peer = Peer {
                    transport: Transport::Tcp,
                    addr,
                };
                let place = match counts.admit(addr.ip(), &limits) {
                    Ok(p) => p,
                    Err(reason) => {
                        refusals.refused(peer, reason);
                        drop(stream);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(
                    stream,
                    peer,
                    events.clone(),
                    limits,
                    place,
                    mpsc::unbounded_channel(),
                    Origin::Accepted,
                ));
            }
            Err(e) => {
                // Out of descriptors (EMFILE) or similar: back off instead of spinning.
                tracing::warn!("TCP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Opens a TCP connection to `addr` within `limits.handshake` (RFC 3261 §18.1.1: a
/// request to a peer we have no connection with opens one).
pub async fn connect(addr: SocketAddr, within: Duration) -> Result<TcpStream, String> {
    match tokio::time::timeout(within, TcpStream::connect(addr)).await {
        Err(_) => Err(format!("no TCP connection to {addr} within {within:?}")),
        Ok(Err(e)) => Err(format!("cannot connect to {addr}: {e}")),
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

/// Opens a SIP/TCP connection to `peer` and runs it; `channel` already queues what the
/// core sent meanwhile.
pub async fn open(
    peer: Peer,
    events: mpsc::UnboundedSender<StreamEvent>,
    limits: StreamLimits,
    counts: Arc<Counts>,
    channel: Channel,
) {
    let place = match counts.admit(peer.addr.ip(), &limits) {
        Ok(p) => p,
        Err(reason) => {
            let _ = events.send(StreamEvent::ConnectFailed {
                peer,
                reason: format!("{reason} reached (tcp_max_connections / tcp_max_per_source)"),
            });
            return;
        }
    };
    match connect(peer.addr, limits.handshake).await {
        Ok(stream) => {
            connection(stream, peer, events, limits, place, channel, Origin::Opened).await;
        }
        Err(reason) => {
            let _ = events.send(StreamEvent::ConnectFailed { peer, reason });
        }
    }
}

/// Raises this process's open-file limit to its hard limit and returns how many SIP/TCP
/// connections fit while keeping `reserve` descriptors for RTP sockets, the database,
/// recordings and the admin API: signalling can then never stop calls being answered.
pub fn descriptor_budget(reserve: usize, wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    if !got {
        return wanted;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::info!(
                from = lim.rlim_cur,
                to = lim.rlim_max,
                "raised the open-file limit (RLIMIT_NOFILE) to its hard limit"
            );
            lim.rlim_cur = lim.rlim_max;
        }
    }
    let available = usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX);
    let budget = available.saturating_sub(reserve).max(16);
    if budget < wanted {
        tracing::warn!(
            limit = available,
            reserve,
            "only {budget} SIP/TCP connections fit in the open-file limit after keeping \
             {reserve} for RTP and files (tcp_max_connections = {wanted}); raise the hard \
             limit (LimitNOFILE= in the systemd unit) for more"
        );
    }
    budget.min(wanted)
}
