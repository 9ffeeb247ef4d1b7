//! A TCP proxy to put between a service and a real dependency, so a test can make the
//! dependency vanish at an exact moment: now ([`TcpProxy::cut`]), or when a given byte pattern
//! passes from client to server ([`TcpProxy::cut_on`]), e.g. in the middle of a transaction.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Default)]
struct State {
    /// Refuse new connections and drop open ones.
    down: bool,
    /// Go down when the client sends these bytes (they are not forwarded).
    trigger: Option<Vec<u8>>,
}

#[derive(Clone)]
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    generation: Arc<watch::Sender<u64>>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let proxy = TcpProxy {
            addr,
            state: Arc::new(Mutex::new(State::default())),
            generation: Arc::new(watch::channel(0).0),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if p.state.lock().unwrap().down {
                    continue; // dropped: connection refused in effect
                }
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                tokio::spawn(p.clone().pipe(client, server));
            }
        });
        proxy
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.state.lock().unwrap().down = true;
        self.generation.send_modify(|g| *g += 1);
    }

    /// Goes down the moment the client sends `pattern`.
    pub fn cut_on(&self, pattern: &[u8]) {
        self.state.lock().unwrap().trigger = Some(pattern.to_vec());
    }

    pub fn restore(&self) {
        let mut s = self.state.lock().unwrap();
        s.down = false;
        s.trigger = None;
    }

    async fn pipe(self, mut client: TcpStream, mut server: TcpStream) {
        let mut gen = self.generation.subscribe();
        let (mut cr, mut cw) = client.split();
        let (mut sr, mut sw) = server.split();
        let mut up = [0u8; 16 * 1024];
        let mut down = [0u8; 16 * 1024];
        loop {
            tokio::select! {
                _ = gen.changed() => return,
                n = cr.read(&mut up) => {
                    let Ok(n) = n else { return };
                    if n == 0 { return }
                    let hit = {
                        let s = self.state.lock().unwrap();
                        s.trigger.as_ref().is_some_and(|t| up[..n].windows(t.len()).any(|w| w == t.as_slice()))
                    };
                    if hit {
                        self.cut();
                        return;
                    }
                    if sw.write_all(&up[..n]).await.is_err() { return }
                }
                n = sr.read(&mut down) => {
                    let Ok(n) = n else { return };
                    if n == 0 { return }
                    if cw.write_all(&down[..n]).await.is_err() { return }
                }
            }
        }
    }
}
