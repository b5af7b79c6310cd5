//! SASL mechanisms (server side): PLAIN, SCRAM-SHA-1, SCRAM-SHA-256.
