//! QUIT (the UPDATE state) and the absence of it.

use crate::common::{at, login, retrieve_all, Site};
use pop3_plugin_api::{Mailbox, ResponseCode};
use serde_json::json;
use std::fs;

fn four_messages() -> Site {
    let site = Site::new();
    site.deliver("plain", "new/1700000001.new-read.h", b"1\n");
    site.deliver("plain", "new/1700000002.new-unread.h", b"2\n");
    site.deliver("plain", "cur/1700000003.cur-read.h:2,FR", b"3\n");
    site.deliver("plain", "cur/1700000004.doomed.h:2,S", b"4\n");
    site
}

#[test]
fn nothing_changes_without_quit() {
    let site = four_messages();
    let before = (site.files("plain", "new"), site.files("plain", "cur"));
    let mut mailbox = login(&site.backend(), "plain").unwrap();
    let list = mailbox.list().unwrap();
    for index in 0..list.len() {
        retrieve_all(&mut mailbox, &list, index).unwrap();
    }
    drop(mailbox);
    assert_eq!(
        (site.files("plain", "new"), site.files("plain", "cur")),
        before
    );
}

#[test]
fn quit_removes_marked_messages_and_records_what_was_read() {
    let site = four_messages();
    let mut mailbox = login(&site.backend(), "plain").unwrap();
    let list = mailbox.list().unwrap();
    retrieve_all(&mut mailbox, &list, 0).unwrap();
    retrieve_all(&mut mailbox, &list, 2).unwrap();
    mailbox.delete(&[at(&list, 3)]).unwrap();
    drop(mailbox);
    assert!(site.files("plain", "new").is_empty());
    assert_eq!(
        site.files("plain", "cur"),
        [
            "1700000001.new-read.h:2,S",
            "1700000002.new-unread.h:2,",
            "1700000003.cur-read.h:2,FRS"
        ]
    );
}

#[test]
fn no_flag_updates_only_removes() {
    let site = four_messages();
    let mut mailbox = login(
        &site.backend_with(json!({"no_flag_updates": true})),
        "plain",
    )
    .unwrap();
    let list = mailbox.list().unwrap();
    retrieve_all(&mut mailbox, &list, 0).unwrap();
    mailbox.delete(&[at(&list, 3)]).unwrap();
    assert_eq!(
        site.files("plain", "new"),
        ["1700000001.new-read.h", "1700000002.new-unread.h"]
    );
    assert_eq!(site.files("plain", "cur"), ["1700000003.cur-read.h:2,FR"]);
}

#[test]
fn removals_that_fail_are_counted_after_trying_all() {
    let site = four_messages();
    let mut mailbox = login(&site.backend(), "plain").unwrap();
    let list = mailbox.list().unwrap();
    // A directory cannot be unlinked: swap one message file for a non-empty directory.
    let stuck = site.path("plain", "cur/1700000003.cur-read.h:2,FR");
    fs::remove_file(&stuck).unwrap();
    fs::create_dir(&stuck).unwrap();
    fs::write(stuck.join("inside"), b"x").unwrap();
    let err = mailbox.delete(&[at(&list, 2), at(&list, 3)]).unwrap_err();
    assert_eq!(err.code, ResponseCode::SYS_TEMP);
    assert!(err.message.starts_with("1 of 2 "), "{}", err.message);
    assert!(
        !site.path("plain", "cur/1700000004.doomed.h:2,S").exists(),
        "the other removal still happened"
    );
}
