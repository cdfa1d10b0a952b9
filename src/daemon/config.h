/* config.h - ternd's settings: a "key = value" file (default
 * /etc/tern/ternd.conf, missing is fine unless named explicitly), then
 * command-line flags, which win.  Keys are the long flag names. */
#pragma once

#include <stdbool.h>

#include "err.h"
#include "host.h"

struct daemon_opts {
	struct host_config cfg;
	bool foreground;
	bool debug;
};

/* Fill o from argv (and the config file it names).  Returns 0, 1 when
 * --help or --version was answered (exit 0), or -EINVAL with err set. */
int config_load(int argc, char **argv, struct daemon_opts *o,
    struct err *err);
void config_done(struct daemon_opts *o);
/* Parse one "key = value" text (a whole file) into o; the fuzz target
 * drives this. */
int config_parse_text(const char *text, const char *origin,
    struct daemon_opts *o, struct err *err);
