#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palaver_api::fuzzing::rest_params(data));
