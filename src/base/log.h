/* log.h - one line per event on stderr, with a <N> syslog priority prefix
 * that journald understands, facts as name=value.  base, loop, qmp and store
 * never log above debug; vm, api and daemon decide, and log once. */
#pragma once

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6,
		 LOG_LVL_DEBUG = 7 };

void log_set_level(enum log_level level);
void log_set_prefix(const char *prefix);	/* e.g. the host name */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
