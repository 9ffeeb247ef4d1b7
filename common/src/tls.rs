//! TLS set-up: one process-wide rustls crypto provider (ring), installed before any TLS client
//! (the Kraken WebSocket, reqwest) is built. Idempotent, so tests can call it freely.

/// Installs ring as rustls' default provider unless one is installed already.
pub fn install_crypto_provider() {
    // Err means another provider is already installed, which is exactly what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
