/* metrics.c - GET /metrics: the process's metrics registry
 * (src/base/metrics.h) in Prometheus' text format.  The modules that own
 * the facts keep the registry up to date; this only renders it, and must
 * never count anything itself. */
#include <stdlib.h>

#include "api.h"
#include "metrics.h"
#include "util.h"

int
api_metrics(struct api *a, struct http_req *req, char **p, struct err *e)
{
	_cleanup_free_ char *text = metrics_text(metrics_default());

	(void)a;
	(void)p;
	(void)e;
	http_reply_text(req, 200, "text/plain; version=0.0.4", text);
	return 0;
}
