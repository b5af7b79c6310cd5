#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palaver_xmpp::fuzzing::sasl(data));
