/* fuzz_altip.c - fuzz the alternate IP's checks (src/vm/
 * altip_parse.c): the text comes from an operator, the JSON from a
 * primary over the network (PUT /v1/replica/vms/UUID/settings), and what
 * passes is written into a shell script the guest runs.  The first byte
 * picks text or JSON.  Whatever text is accepted must pass the JSON check
 * too; whatever JSON is accepted must give a script holding nothing but
 * what the script itself writes and the checked values (no quote, $,
 * backquote, backslash, newline or redirection of their own). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "altip_parse.h"
#include "util.h"

#define OPT "--failover-ip"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The script's characters other than those of checked values: our own
 * quotes around each nameserver and our redirections. */
static void
script_text_check(const json_t *cfg)
{
	char *s = altip_script(cfg, "eth0");
	size_t quotes = 0, n_dns = json_array_size(json_object_get(cfg,
	    "dns"));

	if (!s)
		abort();
	for (const char *p = s; *p; p++) {
		if (strchr("$`\\\n\"|&<(){}", *p))
			abort();
		quotes += *p == '\'';
	}
	if (quotes != 2 * n_dns)
		abort();
	free(s);
}

/* An accepted address is hex digits, dots and colons only. */
static void
addr_check(const json_t *v)
{
	const char *a = json_string_value(v);

	if (v && (!a || !*a || a[strspn(a, "0123456789abcdefABCDEF:.")]))
		abort();
}

/* What an accepted cfg gives: addresses of their characters only and
 * a script of nothing else. */
static void
script_check(const json_t *cfg)
{
	json_t *d;
	size_t i;

	addr_check(json_object_get(cfg, "addr"));
	addr_check(json_object_get(cfg, "gw"));
	json_array_foreach(json_object_get(cfg, "dns"), i, d)
		addr_check(d);
	script_text_check(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *nic = NULL;
	json_t *cfg = NULL;

	if (size < 1)
		return 0;
	text = xzalloc(size);
	memcpy(text, data + 1, size - 1);
	if (data[0] & 1) {
		cfg = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
		if (cfg && altip_check(OPT, "nic0", cfg, NULL) == 0)
			script_check(cfg);
	} else if (altip_parse(OPT, text, &nic, &cfg, NULL) == 0) {
		if (!json_is_null(cfg)) {
			if (altip_check(OPT, nic, cfg, NULL) < 0)
				abort();
			script_check(cfg);
		}
	}
	json_decref(cfg);
	free(nic);
	free(text);
	return 0;
}
