//! Message bytes: exact, streamed, and robust against files that move or cannot be read.

use crate::common::{at, login, retrieve_all, Site};
use pop3_plugin_api::{Mailbox, ResponseCode, SizeCounter};
use std::fs;
use std::io::Read;

/// Messages that trip up POP3 servers, each as the file holds it.
fn awkward_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let mut long_line = b"Subject: long\n\n".to_vec();
    long_line.extend(std::iter::repeat_n(b'x', 3000));
    long_line.push(b'\n');
    vec![
        (
            "1700000001.dots.h",
            b"Subject: dots\n\n.\n..\n.x\n...\nend\n".to_vec(),
        ),
        ("1700000002.long.h", long_line),
        (
            "1700000003.8bit.h",
            b"Subject: =?x?q?8bit?=\n\nGr\xfc\xdfe \xe4\xf6\x00NUL\n".to_vec(),
        ),
        (
            "1700000004.open.h",
            b"Subject: open\n\nno newline at the end".to_vec(),
        ),
        (
            "1700000005.crlf.h",
            b"Subject: crlf\r\n\r\nline\r\n.\r\n".to_vec(),
        ),
        (
            "1700000006.mixed.h",
            b"Subject: mixed\r\n\nbare\rcr\n\r\nend\r".to_vec(),
        ),
        ("1700000007.empty.h", Vec::new()),
    ]
}

#[test]
fn awkward_messages_come_back_byte_for_byte_with_exact_sizes() {
    let site = Site::new();
    let corpus = awkward_corpus();
    for (name, content) in &corpus {
        site.deliver("plain", &format!("new/{name}"), content);
    }
    let mut mailbox = login(&site.backend(), "plain").unwrap();
    let list = mailbox.list().unwrap();
    assert_eq!(list.len(), corpus.len());
    for (index, (name, content)) in corpus.iter().enumerate() {
        assert_eq!(list[index].id, *name);
        assert_eq!(
            list[index].size, None,
            "no W= in the name: not known before measuring"
        );
        assert_eq!(
            mailbox.size(at(&list, index)).unwrap(),
            Some(SizeCounter::size_of(content)),
            "{name}"
        );
        assert_eq!(
            &retrieve_all(&mut mailbox, &list, index).unwrap(),
            content,
            "{name}"
        );
    }
}

#[test]
fn a_20_megabyte_message_streams() {
    const LINE: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxy\n";
    const LINES: usize = 200_000;
    let mut content = b"Subject: big\n\n".to_vec();
    for _ in 0..LINES {
        content.extend_from_slice(LINE);
    }
    let site = Site::new();
    site.deliver("plain", "new/1700000000.big.h", &content);
    let expected_size = SizeCounter::size_of(&content);
    drop(content);

    let mut mailbox = login(&site.backend(), "plain").unwrap();
    let list = mailbox.list().unwrap();
    assert_eq!(mailbox.size(at(&list, 0)).unwrap(), Some(expected_size));
    let mut reader = mailbox.retrieve(at(&list, 0)).unwrap();
    let (mut total, mut lines) = (0u64, 0usize);
    let mut chunk = [0u8; 8192];
    loop {
        let n = reader.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
        lines += chunk[..n].iter().filter(|&&b| b == b'\n').count();
    }
    assert_eq!(lines, LINES + 2);
    assert_eq!(total + lines as u64, expected_size, "every LF becomes CRLF");
}

#[test]
fn top_reads_the_message_without_making_it_seen() {
    let site = Site::new();
    site.deliver("plain", "new/1700000000.top.h", b"Subject: t\n\nbody\n");
    let mut mailbox = login(&site.backend(), "plain").unwrap();
    let list = mailbox.list().unwrap();
    let mut bytes = Vec::new();
    mailbox
        .top(at(&list, 0), 0)
        .unwrap()
        .expect("a reader")
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(bytes, b"Subject: t\n\nbody\n");
    mailbox.delete(&[]).unwrap();
    assert_eq!(site.files("plain", "cur"), ["1700000000.top.h:2,"]);
}

#[test]
fn renamed_messages_are_found_and_vanished_ones_are_a_plain_error() {
    let site = Site::new();
    site.deliver("plain", "new/1700000001.moved.h", b"moved\n");
    site.deliver("plain", "cur/1700000002.flagged.h:2,", b"flagged\n");
    site.deliver("plain", "new/1700000003.gone.h", b"gone\n");
    site.deliver("plain", "new/1700000004.stays.h", b"stays\n");
    let mut mailbox = login(&site.backend(), "plain").unwrap();
    let list = mailbox.list().unwrap();

    let path = |name: &str| site.path("plain", name);
    fs::rename(
        path("new/1700000001.moved.h"),
        path("cur/1700000001.moved.h:2,S"),
    )
    .unwrap();
    fs::rename(
        path("cur/1700000002.flagged.h:2,"),
        path("cur/1700000002.flagged.h:2,RS"),
    )
    .unwrap();
    fs::remove_file(path("new/1700000003.gone.h")).unwrap();

    assert_eq!(retrieve_all(&mut mailbox, &list, 0).unwrap(), b"moved\n");
    assert_eq!(mailbox.size(at(&list, 1)).unwrap(), Some(9));
    let err = mailbox.retrieve(at(&list, 2)).err().unwrap();
    assert_eq!(err.code, ResponseCode::NONE, "{err}");
    // Listed with size 0 rather than failing the login (the host needs every size).
    assert_eq!(mailbox.size(at(&list, 2)).unwrap(), Some(0));
    assert_eq!(
        retrieve_all(&mut mailbox, &list, 3).unwrap(),
        b"stays\n",
        "the session goes on"
    );

    // Deleting a message that is already gone counts as done; the moved ones are deleted where they are now.
    mailbox
        .delete(&[at(&list, 0), at(&list, 1), at(&list, 2)])
        .unwrap();
    assert_eq!(site.files("plain", "cur"), ["1700000004.stays.h:2,S"]);
}

/// Unix only: a file's mode says who reads it (Windows' ACLs are not set from std).
#[cfg(unix)]
#[test]
fn an_unreadable_file_fails_alone() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let site = Site::new();
    site.deliver("plain", "cur/1700000001.ok.h:2,", b"ok\n");
    let locked = site.deliver("plain", "cur/1700000002.locked.h:2,", b"secret\n");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let mut mailbox = login(&site.backend(), "plain").unwrap();
    let list = mailbox.list().unwrap();
    assert_eq!(list.len(), 2);
    if fs::File::open(&locked).is_ok() {
        // Running as root, permissions do not stop reading: a symlink, put there after the
        // listing (which skips symlinks), is refused at open.
        fs::remove_file(&locked).unwrap();
        symlink("1700000001.ok.h:2,", &locked).unwrap();
    }
    let err = mailbox.retrieve(at(&list, 1)).err().unwrap();
    assert!(
        matches!(
            err.code,
            ResponseCode::NONE | ResponseCode::SYS_TEMP | ResponseCode::SYS_PERM
        ),
        "{err}"
    );
    assert_eq!(
        mailbox.size(at(&list, 1)).unwrap(),
        Some(0),
        "listed, so that the login serves the others"
    );
    assert_eq!(retrieve_all(&mut mailbox, &list, 0).unwrap(), b"ok\n");
}
