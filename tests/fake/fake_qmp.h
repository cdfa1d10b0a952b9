/* fake_qmp.h - a scripted fake QEMU monitor (QMP) or guest agent (QGA) for
 * unit tests.  It listens on a unix socket in a fresh temporary directory,
 * runs on the test's own loop (same thread, so runs are deterministic), and
 * follows a script built before or while the loop runs.  It never aborts a
 * test: everything unexpected is recorded as a mismatch for the test to
 * assert on (and printed to stderr as "fake_qmp: ...").
 *
 * A script is a list of steps, run in order once a client is connected:
 *
 *   fake_qmp_greeting()   send QEMU 7.2's {"QMP":{...}} greeting
 *   fake_qmp_handshake()  greeting + expect qmp_capabilities + reply {}
 *   fake_qmp_expect()     wait for the next command; check its name and,
 *                         optionally, that its "arguments" contain a JSON
 *                         subset; returns a handle for replying to it
 *   fake_qmp_reply()      {"return": ..., "id": <that command's id>}
 *   fake_qmp_error()      {"error": {"class","desc"}, "id": ...}
 *   fake_qmp_event()      {"timestamp":..., "event": ..., "data": ...}
 *   fake_qmp_raw()        any bytes, verbatim (garbage, split lines, 0xFF)
 *   fake_qmp_wait()       pause the script (the client's timeouts run)
 *   fake_qmp_hangup()     close the connection once output is flushed; the
 *                         script goes on with the next client that connects
 *   fake_qga_expect_sync() / fake_qga_reply_sync() / fake_qga_sync()
 *
 * A command the client sends is consumed by the next expect step; until the
 * script reaches one it waits in a queue.  Replies to a handle may come in
 * any order (out-of-order replies).  Not replying is "staying silent".
 * A command that does not match: answered by a standing rule from
 * fake_qmp_always() if there is one, else recorded as a mismatch (and the
 * expect step is consumed).  After the last step: rules, or mismatches.
 *
 * Flavours.  FAKE_QMP_QEMU writes "\r\n" line ends as QEMU does and echoes
 * "id".  FAKE_QMP_QGA mimics qemu-ga 7.2: no greeting, "\n" line ends, and
 * for every 0xFF byte received it answers at once with
 *   {"error": {"class": "GenericError",
 *              "desc": "JSON parse error, stray '\uFFFD'"}}
 * The guest-sync-delimited reply is "\xff{"return": <id>}\n".
 *
 * Typical use:
 *     fake_qmp_new(l, FAKE_QMP_QEMU, &f);
 *     fake_qmp_handshake(f);
 *     int h = fake_qmp_expect(f, "query-status", NULL);
 *     fake_qmp_reply(f, h, "{\"status\":\"running\",\"running\":true}");
 *     ... qmp_connect(l, fake_qmp_path(f), ...); run the loop ...
 *     ASSERT_TRUE(fake_qmp_is_done(f));
 *     ASSERT_EQ(fake_qmp_n_mismatches(f), 0);
 *     f = fake_qmp_free(f);
 *
 * Script-building functions abort() on programmer errors (bad JSON text,
 * a handle that is not an expect step): those are bugs in the test. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct fake_qmp;

enum fake_qmp_flavour { FAKE_QMP_QEMU, FAKE_QMP_QGA, FAKE_QMP__COUNT };

#define FAKE_LAST (-1)		/* handle: the most recent expect step */

/* Create the listening socket <tmpdir>/qmp.sock on loop l. */
int fake_qmp_new(struct loop *l, enum fake_qmp_flavour flavour,
    struct fake_qmp **ret_f);
/* NULL-safe; closes everything, removes the socket and directory; closes
 * received fds not taken.  Returns NULL. */
struct fake_qmp *fake_qmp_free(struct fake_qmp *f);
const char *fake_qmp_path(const struct fake_qmp *f);

void fake_qmp_greeting(struct fake_qmp *f);
void fake_qmp_handshake(struct fake_qmp *f);
/* args_subset: JSON text of an object whose members must all appear (with
 * equal values; objects compared recursively as subsets) in the command's
 * "arguments"; NULL checks nothing.  Returns the handle of the step. */
int fake_qmp_expect(struct fake_qmp *f, const char *command,
    const char *args_subset);
/* fake_qmp_expect() that also requires an fd passed with the command
 * (SCM_RIGHTS); get it with fake_qmp_take_fd(). */
int fake_qmp_expect_fd(struct fake_qmp *f, const char *command,
    const char *args_subset);
void fake_qmp_reply(struct fake_qmp *f, int handle, const char *ret_json);
void fake_qmp_error(struct fake_qmp *f, int handle, const char *cls,
    const char *desc);
/* data_json may be NULL (no "data" member, like STOP). */
void fake_qmp_event(struct fake_qmp *f, const char *name,
    const char *data_json);
void fake_qmp_raw(struct fake_qmp *f, const void *buf, size_t len);
void fake_qmp_wait(struct fake_qmp *f, uint64_t ms);
void fake_qmp_hangup(struct fake_qmp *f);
/* Standing rule: answer command with {"return": ret_json} whenever it
 * arrives where the script does not expect it. */
void fake_qmp_always(struct fake_qmp *f, const char *command,
    const char *ret_json);

/* QGA: expect 0xFF + guest-sync-delimited (a mismatch without the 0xFF);
 * then send its 0xFF-prefixed reply; fake_qga_sync() does both. */
void fake_qga_expect_sync(struct fake_qmp *f);
void fake_qga_reply_sync(struct fake_qmp *f);
void fake_qga_sync(struct fake_qmp *f);

/* Every step has run. */
bool fake_qmp_is_done(const struct fake_qmp *f);
int fake_qmp_n_mismatches(const struct fake_qmp *f);
/* The first mismatch, or NULL. */
const char *fake_qmp_mismatch(const struct fake_qmp *f);
/* Complete lines received so far (sync lines included). */
unsigned fake_qmp_n_received(const struct fake_qmp *f);
unsigned fake_qmp_n_connects(const struct fake_qmp *f);
bool fake_qmp_is_connected(const struct fake_qmp *f);
/* The last fd received with a command, now the caller's; -1 if none. */
int fake_qmp_take_fd(struct fake_qmp *f);
