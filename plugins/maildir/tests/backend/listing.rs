//! What a session sees: which files, in which order, under which UIDLs.

use crate::common::{ids, login, Site};
use pop3_plugin_api::Mailbox;
use serde_json::json;
use std::fs;

#[test]
fn delivery_order_and_what_is_not_a_message() {
    let site = Site::new();
    site.deliver("plain", "new/1700000300.M3.h", b"3\n");
    site.deliver("plain", "cur/1700000100.M1.h:2,S", b"1\n");
    site.deliver("plain", "new/1700000200.M2b.h", b"2b\n");
    site.deliver("plain", "cur/1700000200.M2a.h:2,", b"2a\n");
    site.deliver("plain", "new/900000000.M0.h", b"0\n");
    site.deliver("plain", "tmp/1700000050.T.h", b"in delivery\n");
    site.deliver("plain", "new/.1700000060.hidden", b"dotfile\n");
    site.deliver("plain", "cur/:2,S", b"no base name\n");
    fs::create_dir(site.maildir("plain").join("cur/1700000070.dir")).unwrap();

    let mut mailbox = login(&site.backend(), "plain").unwrap();
    let list = mailbox.list().unwrap();
    assert_eq!(
        ids(&list),
        [
            "900000000.M0.h",
            "1700000100.M1.h",
            "1700000200.M2a.h",
            "1700000200.M2b.h",
            "1700000300.M3.h"
        ]
    );
    assert_eq!(
        mailbox.list().unwrap(),
        list,
        "list is a snapshot: the same when asked again"
    );
}

#[test]
fn uidls_survive_logins_flag_changes_and_the_move_to_cur() {
    let site = Site::new();
    site.deliver("plain", "new/1700000001.M1.h", b"one\n");
    site.deliver("plain", "new/1700000002.M2.h,S=4,W=5", b"two\n");
    site.deliver("plain", "cur/1700000003.M3.h:2,F", b"three\n");
    let backend = site.backend();

    let first = login(&backend, "plain").unwrap().list().unwrap();
    let again = login(&backend, "plain").unwrap().list().unwrap();
    assert_eq!(first, again);

    // A session that reads message 1 and quits: new/ moves to cur/, 1 gets Seen.
    let mut mailbox = login(&backend, "plain").unwrap();
    let list = mailbox.list().unwrap();
    mailbox.retrieve(crate::common::at(&list, 0)).unwrap();
    mailbox.delete(&[]).unwrap();
    drop(mailbox);
    assert_eq!(site.files("plain", "new"), Vec::<String>::new());

    // Another client flags message 3.
    fs::rename(
        site.path("plain", "cur/1700000003.M3.h:2,F"),
        site.path("plain", "cur/1700000003.M3.h:2,FRS"),
    )
    .unwrap();

    let after = login(&backend, "plain").unwrap().list().unwrap();
    assert_eq!(ids(&after), ids(&first));
}

#[test]
fn base_names_that_are_not_valid_uidls_are_hashed() {
    let site = Site::new();
    let long = format!("1700000001.{}.h", "x".repeat(80));
    site.deliver("plain", &format!("new/{long}"), b"long\n");
    site.deliver("plain", "new/1700000002.with space.h", b"space\n");
    let backend = site.backend();
    let list = login(&backend, "plain").unwrap().list().unwrap();
    for message in &list {
        assert_eq!(message.id.len(), 32, "{}", message.id);
        assert!(message.id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_ne!(list[0].id, list[1].id);
    assert_eq!(login(&backend, "plain").unwrap().list().unwrap(), list);
}

#[test]
fn a_missing_maildir_is_an_empty_mailbox() {
    let site = Site::new();
    let mut mailbox = login(&site.backend(), "plain").unwrap();
    assert!(mailbox.list().unwrap().is_empty());
    mailbox.delete(&[]).unwrap();
    assert!(
        !site.maildir("plain").exists(),
        "nothing is created without \"create\""
    );
}

#[test]
fn create_makes_the_maildir() {
    let site = Site::new();
    let mut mailbox = login(&site.backend_with(json!({"create": true})), "plain").unwrap();
    assert!(mailbox.list().unwrap().is_empty());
    for sub in ["cur", "new", "tmp"] {
        assert!(site.maildir("plain").join(sub).is_dir(), "{sub}");
    }
}
