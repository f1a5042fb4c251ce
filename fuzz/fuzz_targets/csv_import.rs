//! The recipient-list import reads any bytes without panicking, and what it
//! reports adds up: every data row is a recipient, a rejected row or a
//! duplicate, and every recipient is a distinct, lower-cased address.
#![no_main]

use std::collections::HashSet;

use app::domain::recipients::{ImportError, parse_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_csv(data) {
        Ok(list) => {
            assert_eq!(
                list.recipients.len() + list.rejected.len() + list.duplicates,
                list.rows,
                "every row is counted once"
            );
            let mut seen = HashSet::new();
            for recipient in &list.recipients {
                let address = recipient.email.as_str();
                assert_eq!(address, address.to_lowercase());
                assert!(seen.insert(address.to_owned()), "{address} twice");
                assert!(recipient.name.chars().count() <= 200);
            }
        }
        Err(ImportError::NotUtf8) => assert!(std::str::from_utf8(data).is_err()),
        Err(_) => {}
    }
});
