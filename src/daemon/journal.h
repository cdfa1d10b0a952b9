/* journal.h - ternd's log lines as structured journald entries when its
 * stderr is the journal (run by systemd), and its sd_notify messages. */
#pragma once

#include <stdbool.h>

/* True when stderr is the journal stream systemd gave us: $JOURNAL_STREAM
 * ("DEV:INODE") names stderr's device and inode (systemd.exec(5)). */
bool journal_stderr_is_journal(void);
/* When journal_stderr_is_journal(), send the log lines to journald with
 * sd_journal_send (PRIORITY, MESSAGE, SYSLOG_IDENTIFIER=ternd, TERN_HOST,
 * TERN_VM, TERN_JOB); otherwise leave them on stderr.  Returns whether
 * the journal is used. */
bool journal_log_setup(void);
/* sd_notify() a "STATUS=..." line (printf format); nothing happens
 * without $NOTIFY_SOCKET. */
void journal_notify_status(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
