//! The XML stream over its transports: WebSocket (RFC 7395) and TCP (STARTTLS, direct TLS).
