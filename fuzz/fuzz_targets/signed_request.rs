//! Meta's `signed_request` parser must never panic, and must accept only
//! what carries a valid signature under the secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signed_request::{sign, verify_signed_request};

const SECRET: &[u8] = b"fuzzing-app-secret";

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    // Arbitrary text: an answer either way, never a panic.
    if let Ok(request) = verify_signed_request(input, SECRET) {
        // Whatever passes was signed with the secret; another secret fails.
        assert!(verify_signed_request(input, b"another-secret").is_err());
        assert!(!request.user_id.is_empty());
    }
    // The same text as a payload, properly signed, round-trips when it is a
    // usable object and is refused cleanly otherwise.
    if let Ok(payload) = serde_json::from_str::<serde_json::Value>(input) {
        let signed = sign(&payload, SECRET);
        let _ = verify_signed_request(&signed, SECRET);
    }
});
