/* err.h - the error parameter: a negative errno plus a message for a person.
 * Set at most once and only on failure; callees never read it; NULL is
 * allowed wherever a struct err * is taken. */
#pragma once

#include <errno.h>
#include <stdbool.h>

struct err {
	int code;		/* negative errno, 0 while unset */
	char msg[240];
};

/* Record code and message in err (unless err is NULL or already set) and
 * return code, so that callers can write `return err_set(err, ...)`. */
int err_set(struct err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* err_set() with ": <strerror(-code)>" appended. */
int err_setf_errno(struct err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline bool
err_is_set(const struct err *err)
{
	return err && err->code != 0;
}
