/* err.c - the error parameter.  Never logs; never reads an err it did not
 * set. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static int
err_vset(struct err *err, int code, bool with_errno, const char *fmt,
    va_list ap)
{
	size_t n;

	if (!err || err->code != 0)
		return code;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	n = strlen(err->msg);
	if (with_errno && n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
		    strerror(-code));
	return code;
}

int
err_set(struct err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, false, fmt, ap);
	va_end(ap);
	return code;
}

int
err_setf_errno(struct err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, true, fmt, ap);
	va_end(ap);
	return code;
}
