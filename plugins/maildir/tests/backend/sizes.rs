//! Sizes known without reading messages: `,W=` in names, and the size cache.
//!
//! Message files never change in a maildir, so a test can prove that a size did not come from
//! reading a file by changing the file behind the backend's back: a size that was read would
//! follow the change, a remembered one does not.

use crate::common::{at, login, Site};
use pop3_plugin_api::{Mailbox, SizeCounter};
use serde_json::json;
use std::fs;

const CACHE: &str = "pop3host-sizes";

#[test]
fn sizes_in_names_are_used_without_measuring() {
    let site = Site::new();
    // Dovecot's W= is the CRLF size; the content here deliberately disagrees, to show where the
    // number comes from.
    site.deliver("plain", "cur/1700000001.M1.h,S=4,W=1234:2,S", b"abc\n");
    let list = login(&site.backend(), "plain").unwrap().list().unwrap();
    assert_eq!(list[0].size, Some(1234));
}

fn measured_site() -> (Site, Vec<u64>) {
    let site = Site::new();
    let contents: [&[u8]; 3] = [b"one\n", b"two\nlines\n", b"three without newline"];
    for (i, content) in contents.iter().enumerate() {
        site.deliver("plain", &format!("new/170000000{i}.M{i}.h"), content);
    }
    let sizes = contents.iter().map(|c| SizeCounter::size_of(c)).collect();
    (site, sizes)
}

/// Overwrites every message of `plain` with content of another size.
fn change_contents_behind_the_backs(site: &Site) {
    for name in site.files("plain", "new") {
        fs::write(
            site.maildir("plain").join("new").join(name),
            b"different content\n",
        )
        .unwrap();
    }
}

#[test]
fn measured_sizes_are_cached_and_a_second_login_reads_no_message() {
    let (site, sizes) = measured_site();
    let backend = site.backend();
    let mut mailbox = login(&backend, "plain").unwrap();
    let list = mailbox.list().unwrap();
    assert!(list.iter().all(|m| m.size.is_none()));
    for (index, size) in sizes.iter().enumerate() {
        assert_eq!(mailbox.size(at(&list, index)).unwrap(), Some(*size));
    }
    assert!(
        site.maildir("plain").join(CACHE).is_file(),
        "written once every size is known"
    );
    drop(mailbox);

    change_contents_behind_the_backs(&site);
    let list = login(&backend, "plain").unwrap().list().unwrap();
    let listed: Vec<Option<u64>> = list.iter().map(|m| m.size).collect();
    assert_eq!(listed, sizes.iter().copied().map(Some).collect::<Vec<_>>());
}

#[test]
fn a_partly_measured_session_saves_what_it_measured_when_dropped() {
    let (site, sizes) = measured_site();
    let backend = site.backend();
    let mut mailbox = login(&backend, "plain").unwrap();
    let list = mailbox.list().unwrap();
    mailbox.size(at(&list, 1)).unwrap();
    drop(mailbox);
    let list = login(&backend, "plain").unwrap().list().unwrap();
    assert_eq!(
        (list[0].size, list[1].size, list[2].size),
        (None, Some(sizes[1]), None)
    );
}

#[test]
fn a_corrupt_cache_is_ignored_and_rebuilt() {
    let (site, sizes) = measured_site();
    let cache = site.maildir("plain").join(CACHE);
    fs::write(&cache, "pop3host-sizes 1 3\n5 1700000000.M0.h\nbroken\n").unwrap();
    let backend = site.backend();
    let mut mailbox = login(&backend, "plain").unwrap();
    let list = mailbox.list().unwrap();
    assert!(
        list.iter().all(|m| m.size.is_none()),
        "nothing trusted from a corrupt cache"
    );
    for index in 0..list.len() {
        mailbox.size(at(&list, index)).unwrap();
    }
    drop(mailbox);
    let list = login(&backend, "plain").unwrap().list().unwrap();
    assert_eq!(
        list.iter().map(|m| m.size.unwrap()).collect::<Vec<_>>(),
        sizes
    );
}

#[test]
fn deleted_messages_leave_the_cache() {
    let (site, _) = measured_site();
    let backend = site.backend();
    let mut mailbox = login(&backend, "plain").unwrap();
    let list = mailbox.list().unwrap();
    for index in 0..list.len() {
        mailbox.size(at(&list, index)).unwrap();
    }
    mailbox.delete(&[at(&list, 0)]).unwrap();
    drop(mailbox);
    let cache = fs::read_to_string(site.maildir("plain").join(CACHE)).unwrap();
    assert!(
        cache.starts_with("pop3host-sizes 1 2\n") && !cache.contains("M0.h"),
        "{cache}"
    );
}

#[test]
fn the_cache_can_be_turned_off() {
    let (site, _) = measured_site();
    let mut mailbox = login(&site.backend_with(json!({"size_cache": false})), "plain").unwrap();
    let list = mailbox.list().unwrap();
    for index in 0..list.len() {
        mailbox.size(at(&list, index)).unwrap();
    }
    drop(mailbox);
    assert!(!site.maildir("plain").join(CACHE).exists());
}
