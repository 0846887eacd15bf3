//! What the soak counts: one list of counters, summed over the clients and reported in
//! the order given.

/// Defines [`Counters`] from `field => "report name"` pairs, so that a counter is named once.
macro_rules! counters {
    ($($field:ident => $name:literal,)*) => {
        #[derive(Default, Clone, Copy)]
        pub(super) struct Counters {
            $(pub(super) $field: u64,)*
        }

        impl Counters {
            pub(super) fn add(&mut self, other: &Counters) {
                $(self.$field += other.$field;)*
            }

            /// Every counter with its name in the report, in order.
            pub(super) fn rows(&self) -> Vec<(&'static str, u64)> {
                vec![$(($name, self.$field),)*]
            }
        }
    };
}

counters! {
    sessions => "sessions",
    commands => "commands",
    ok_replies => "ok_replies",
    err_replies => "err_replies",
    retrs => "retrs",
    retr_octets => "retr_octets",
    tops => "tops",
    quits => "quits",
    drops => "drops",
    deleted => "messages_deleted",
    in_use => "in_use_retries",
    in_use_after_quit => "in_use_after_quit",
    closed_after_overlong => "closed_after_overlong_line",
    final_users => "final_users_checked",
    final_messages => "final_messages",
}
