//! Taking over from Dovecot: the UIDLs, sizes and order Dovecot 2.3 serves from its
//! `dovecot-uidlist` (the fixture in tests/data).

use crate::common::{at, data, ids, login, retrieve_all, Site};
use pop3_plugin_api::{Mailbox, MessageInfo};
use serde_json::json;
use std::fs;

/// UIDVALIDITY 1795722265 of the fixture, as 8 hex digits.
const V: &str = "6b088c19";

/// The fixture's messages plus one Dovecot has not listed yet, in a maildir of user `plain`.
fn dovecot_site() -> Site {
    let site = Site::new();
    site.deliver("plain", "cur/1700000000.M1P1.mx,S=100,W=103:2,S", b"one\n");
    site.deliver("plain", "new/1700000100.M2P2.mx", b"two\n");
    site.deliver("plain", "cur/1700000200.M3P3.mx:2,", b"three\n");
    site.deliver("plain", "cur/1700000300.M4P4.mx:2,RS", b"four\n");
    site.deliver("plain", "cur/1700000400.M5P5.mx:2,S", b"five\n");
    site.deliver("plain", "cur/1700000500.M6P6.mx:2,S", b"six\n");
    site.deliver(
        "plain",
        "new/1600000000.M0P0.mx",
        b"not in the uidlist yet\n",
    );
    fs::copy(
        data("dovecot-uidlist"),
        site.maildir("plain").join("dovecot-uidlist"),
    )
    .unwrap();
    site
}

fn sizes(list: &[MessageInfo]) -> Vec<Option<u64>> {
    list.iter().map(|m| m.size).collect()
}

#[test]
fn uidls_order_and_sizes_are_dovecots() {
    let site = dovecot_site();
    let list = login(&site.backend(), "plain").unwrap().list().unwrap();
    let expected = [
        // O1 (POP3 order from a migration) first, with its P (POP3 UIDL) field.
        "migrated-uidl-5".to_string(),
        // Then by UID: %08x of the UID and the UIDVALIDITY, lower-case hex as Dovecot prints it.
        format!("00000001{V}"),
        format!("00000002{V}"),
        // An empty P field means the base name.
        "1700000200.M3P3.mx".to_string(),
        format!("0000000c{V}"),
        // Recorded with its :2,S flags; matched by base name.
        format!("0000000e{V}"),
        // Unknown to the uidlist: the file-name rule, after the known messages.
        "1600000000.M0P0.mx".to_string(),
    ];
    assert_eq!(ids(&list), expected);
    // W= in the name, W in the uidlist (both taken as given), else unknown until measured.
    assert_eq!(
        sizes(&list),
        [None, Some(103), Some(60), None, Some(9), None, None]
    );
}

#[test]
fn the_uidls_stay_after_a_session_moves_and_flags_messages() {
    let site = dovecot_site();
    let backend = site.backend();
    let mut mailbox = login(&backend, "plain").unwrap();
    let first = mailbox.list().unwrap();
    retrieve_all(&mut mailbox, &first, 2).unwrap();
    mailbox.delete(&[at(&first, 0)]).unwrap();
    drop(mailbox);
    assert!(site.files("plain", "new").is_empty());
    assert!(site
        .files("plain", "cur")
        .contains(&"1700000100.M2P2.mx:2,S".to_string()));

    let again = login(&backend, "plain").unwrap().list().unwrap();
    assert_eq!(ids(&again), ids(&first)[1..]);
}

#[test]
fn filename_mode_ignores_the_uidlist() {
    let site = dovecot_site();
    let list = login(&site.backend_with(json!({"uidl": "filename"})), "plain")
        .unwrap()
        .list()
        .unwrap();
    assert_eq!(
        ids(&list),
        [
            "1600000000.M0P0.mx",
            "1700000000.M1P1.mx,S=100,W=103",
            "1700000100.M2P2.mx",
            "1700000200.M3P3.mx",
            "1700000300.M4P4.mx",
            "1700000400.M5P5.mx",
            "1700000500.M6P6.mx"
        ]
    );
}

#[test]
fn dovecot_mode_without_a_uidlist_falls_back_to_file_names() {
    let site = dovecot_site();
    fs::remove_file(site.maildir("plain").join("dovecot-uidlist")).unwrap();
    let list = login(&site.backend_with(json!({"uidl": "dovecot"})), "plain")
        .unwrap()
        .list()
        .unwrap();
    assert_eq!(list[0].id, "1600000000.M0P0.mx");
    assert_eq!(list.len(), 7);
}

#[test]
fn an_unreadable_uidlist_header_falls_back_to_file_names() {
    let site = dovecot_site();
    fs::write(
        site.maildir("plain").join("dovecot-uidlist"),
        "9 V1 N1\n1 :1700000100.M2P2.mx\n",
    )
    .unwrap();
    let list = login(&site.backend(), "plain").unwrap().list().unwrap();
    assert!(list
        .iter()
        .all(|m| !m.id.ends_with(V) && !m.id.ends_with("00000001")));
    assert_eq!(list[1].id, "1700000000.M1P1.mx,S=100,W=103");
}
