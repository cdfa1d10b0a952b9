/* fuzz_qmp.c - libFuzzer target for the QMP/QGA stream parser: framing,
 * JSON, greeting/handshake, id and FIFO matching, QGA sync.  Drives a
 * socketless q through qmp_feed(); must never touch the network or time.
 *
 * Input layout: byte 0 picks how the rest is cut into reads (0: one read;
 * N: reads of N bytes), the rest is what the peer sends.  Each input runs in
 * both modes.  The line limit is lowered to 4096 so that inputs of fuzzer
 * size reach the "line too long" paths.  The QGA sync id is fixed at 12345
 * so the corpus can answer it: "\xff{"return": 12345}\n". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qmp_block.h"
#include "qmp_internal.h"

#define FUZZ_MAX_LINE 4096
#define FUZZ_SYNC_ID 12345

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct loop *fuzz_loop;

static void
on_reply(struct qmp *q, json_t *ret, const struct err *err, void *data)
{
	(void)q;
	(void)data;
	/* Touch what a caller would, the block queries' readers too. */
	if (err) {
		(void)qmp_err_desc(err);
	} else {
		struct qmp_block_job bj[4];
		const char *file;

		free(json_dumps(ret, JSON_ENCODE_ANY));
		(void)qmp_block_jobs_read(ret, bj, 4);
		(void)qmp_block_disk_node(ret, "vda", &file);
	}
}

static void
on_event(struct qmp *q, const char *name, json_t *data, void *ud)
{
	(void)q;
	(void)ud;
	(void)strlen(name);
	free(json_dumps(data, JSON_ENCODE_ANY));
}

static void
on_state(struct qmp *q, int state, void *ud)
{
	(void)ud;
	if (state == QMP_CLOSED)
		(void)qmp_close_reason(q, NULL);
}

/* Feed the stream, "writing" whatever q queues after each read, which
 * completes no-reply commands and lets QGA resync. */
static void
run(enum qmp_mode mode, const uint8_t *data, size_t size)
{
	size_t step = size > 0 && data[0] ? data[0] : SIZE_MAX;
	struct qmp *q;
	size_t len;

	if (qmp_new_detached(fuzz_loop, mode, FUZZ_SYNC_ID, on_event,
	    on_state, NULL, &q) < 0)
		return;
	qmp_set_max_line(q, FUZZ_MAX_LINE);
	(void)qmp_send(q, "query-status", NULL, 0, on_reply, NULL);
	(void)qmp_send_noreply(q, "guest-shutdown", NULL, 0, on_reply, NULL);
	(void)qmp_send(q, "query-version", json_object(), 0, on_reply, NULL);
	(void)qmp_send(q, "guest-ping", NULL, 0, on_reply, NULL);
	data += size > 0;
	size -= size > 0;
	free(qmp_take_output(q, &len));
	while (size > 0) {
		size_t n = size < step ? size : step;

		if (qmp_feed(q, data, n) < 0)
			break;
		free(qmp_take_output(q, &len));
		data += n;
		size -= n;
	}
	qmp_free(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fuzz_loop && loop_new(&fuzz_loop) < 0)
		abort();
	run(QMP_MODE_QMP, data, size);
	run(QMP_MODE_QGA, data, size);
	return 0;
}
