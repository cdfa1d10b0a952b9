/* metrics.c - the counters, gauges and histograms registry (metrics.h).
 * A host with a thousand VMs has thousands of samples per family, so each
 * family indexes its samples by a hash of their label text (open
 * addressing, rebuilt when it fills or samples are dropped); label sets
 * are kept as the text written between the braces, escaped once when the
 * sample is made.  Never logs. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

struct metric_sample {
	char *labels;		/* `a="x",b="y"`, escaped; "" for none */
	double value;		/* a histogram's: its sum */
	uint64_t *buckets;	/* histogram: n_les + 1 counts, each its own */
};

struct metric_family {
	char *name;
	char *help;
	enum metric_type type;
	struct metric_sample *samples;
	size_t n_samples, cap_samples;
	uint32_t *index;	/* sample number + 1, 0 empty; n_index slots */
	size_t n_index;		/* a power of two > 2 * n_samples, or 0 */
	double les[METRICS_MAX_BUCKETS];
	size_t n_les;
};

/* Invariant: family names are unique; within a family label texts are;
 * every sample is in its family's index. */
struct metrics {
	char *const_labels;	/* escaped, "" for none */
	struct metric_family *fams;
	size_t n_fams;
};

static const char *const metric_type_names[METRIC__COUNT] = {
	[METRIC_COUNTER] = "counter", [METRIC_GAUGE] = "gauge",
	[METRIC_HISTOGRAM] = "histogram",
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = xzalloc(sizeof(*m));

	m->const_labels = xstrdup("");
	return m;
}

static void
family_done(struct metric_family *f)
{
	for (size_t j = 0; j < f->n_samples; j++) {
		free(f->samples[j].labels);
		free(f->samples[j].buckets);
	}
	free(f->samples);
	free(f->index);
	free(f->name);
	free(f->help);
}

struct metrics *
metrics_free(struct metrics *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_fams; i++)
		family_done(&m->fams[i]);
	free(m->fams);
	free(m->const_labels);
	free(m);
	return NULL;
}

struct metrics *
metrics_default(void)
{
	static struct metrics *m;

	if (!m)
		m = metrics_new();
	return m;
}

/* Append name="value" to f, escaping the value as the format asks
 * (backslash, double quote, newline). */
static void
label_write(FILE *f, const char *name, const char *value)
{
	fprintf(f, "%s=\"", name);
	for (const char *c = value; *c; c++) {
		if (*c == '\\' || *c == '"')
			fputc('\\', f);
		if (*c == '\n')
			fputs("\\n", f);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

static char *
labels_text(const char *prefix, const char *const *labels)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	fputs(prefix, f);
	for (size_t i = 0; labels && labels[i]; i += 2) {
		assert(labels[i + 1]);
		if (i > 0 || *prefix)
			fputc(',', f);
		label_write(f, labels[i], labels[i + 1]);
	}
	fclose(f);
	return buf;
}

void
metrics_const_label(struct metrics *m, const char *name, const char *value)
{
	const char *const l[] = { name, value, NULL };
	char *t = labels_text(m->const_labels, l);

	free(m->const_labels);
	m->const_labels = t;
}

static struct metric_family *
family_find(const struct metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n_fams; i++)
		if (streq(m->fams[i].name, name))
			return &m->fams[i];
	return NULL;
}

static struct metric_family *
family_add(struct metrics *m, const char *name, enum metric_type type,
    const char *help)
{
	struct metric_family *f;

	m->fams = xrealloc(m->fams, (m->n_fams + 1) * sizeof(*m->fams));
	f = &m->fams[m->n_fams++];
	*f = (struct metric_family){ .name = xstrdup(name),
		.help = xstrdup(help), .type = type };
	return f;
}

void
metrics_declare(struct metrics *m, const char *name, enum metric_type type,
    const char *help)
{
	assert(type != METRIC_HISTOGRAM);	/* needs its buckets */
	if (!family_find(m, name))
		family_add(m, name, type, help);
}

void
metrics_declare_histogram(struct metrics *m, const char *name,
    const char *help, const double *les, size_t n)
{
	struct metric_family *f;

	assert(n >= 1 && n <= METRICS_MAX_BUCKETS);
	if (family_find(m, name))
		return;
	f = family_add(m, name, METRIC_HISTOGRAM, help);
	for (size_t i = 0; i < n; i++) {
		assert(i == 0 || les[i] > les[i - 1]);
		f->les[i] = les[i];
	}
	f->n_les = n;
}

/* FNV-1a of a label text. */
static uint32_t
labels_hash(const char *t)
{
	uint32_t h = 2166136261u;

	for (; *t; t++)
		h = (h ^ (unsigned char)*t) * 16777619u;
	return h;
}

/* The index slot of label text t in f: its sample's, or the empty one
 * where it would go.  f->n_index > 0. */
static uint32_t *
index_slot(const struct metric_family *f, const char *t)
{
	size_t mask = f->n_index - 1, i = labels_hash(t) & mask;

	while (f->index[i] &&
	    !streq(f->samples[f->index[i] - 1].labels, t))
		i = (i + 1) & mask;
	return &f->index[i];
}

static void
index_rebuild(struct metric_family *f)
{
	size_t n = 16;

	while (n <= 2 * f->n_samples)
		n *= 2;
	free(f->index);
	f->index = xzalloc(n * sizeof(*f->index));
	f->n_index = n;
	for (size_t i = 0; i < f->n_samples; i++)
		*index_slot(f, f->samples[i].labels) = (uint32_t)i + 1;
}

/* The sample of f with labels, made at 0 when create and absent. */
static struct metric_sample *
sample_find(struct metric_family *f, const char *const *labels, bool create)
{
	_cleanup_free_ char *t = labels_text("", labels);
	struct metric_sample *s;
	uint32_t *slot;

	if (f->n_index) {
		slot = index_slot(f, t);
		if (*slot)
			return &f->samples[*slot - 1];
	}
	if (!create)
		return NULL;
	if (f->n_samples == f->cap_samples) {
		f->cap_samples = f->cap_samples ? 2 * f->cap_samples : 8;
		f->samples = xrealloc(f->samples, f->cap_samples *
		    sizeof(*f->samples));
	}
	s = &f->samples[f->n_samples++];
	*s = (struct metric_sample){ .labels = TAKE_PTR(t) };
	if (f->type == METRIC_HISTOGRAM)
		s->buckets = xzalloc((f->n_les + 1) * sizeof(*s->buckets));
	if (2 * f->n_samples >= f->n_index)
		index_rebuild(f);
	else
		*index_slot(f, s->labels) = (uint32_t)f->n_samples;
	return s;
}

/* Declared family name of a type other than histogram (a typo is a bug);
 * NULL only if asserts are off. */
static struct metric_family *
family_scalar(struct metrics *m, const char *name)
{
	struct metric_family *f = family_find(m, name);

	assert(f && f->type != METRIC_HISTOGRAM);
	return f && f->type != METRIC_HISTOGRAM ? f : NULL;
}

void
metrics_add(struct metrics *m, const char *name, const char *const *labels,
    int64_t delta)
{
	struct metric_family *f = family_scalar(m, name);

	if (!f)
		return;
	assert(f->type != METRIC_COUNTER || delta >= 0);
	sample_find(f, labels, true)->value += (double)delta;
}

void
metrics_setf(struct metrics *m, const char *name, const char *const *labels,
    double v)
{
	struct metric_family *f = family_scalar(m, name);

	if (f)
		sample_find(f, labels, true)->value = v;
}

void
metrics_set(struct metrics *m, const char *name, const char *const *labels,
    int64_t v)
{
	metrics_setf(m, name, labels, (double)v);
}

void
metrics_observe(struct metrics *m, const char *name,
    const char *const *labels, double v)
{
	struct metric_family *f = family_find(m, name);
	struct metric_sample *s;
	size_t b = 0;

	assert(f && f->type == METRIC_HISTOGRAM);
	if (!f || f->type != METRIC_HISTOGRAM)
		return;
	s = sample_find(f, labels, true);
	while (b < f->n_les && v > f->les[b])
		b++;
	s->buckets[b]++;	/* b == n_les: only +Inf */
	s->value += v;
}

/* Whether label text t holds the pair p (`name="value"`, escaped) as a
 * whole: at its start or after a comma, and ending it or a comma.  An
 * escaped value cannot hold `"` unescaped, so no value fakes a pair. */
static bool
labels_have(const char *t, const char *p)
{
	size_t n = strlen(p);

	for (const char *c = strstr(t, p); c; c = strstr(c + 1, p))
		if ((c == t || c[-1] == ',') && (c[n] == ',' || !c[n]))
			return true;
	return false;
}

static size_t
family_drop(struct metric_family *f, const char *pair)
{
	size_t k = 0, n = f->n_samples;

	for (size_t i = 0; i < n; i++) {
		struct metric_sample *s = &f->samples[i];

		if (labels_have(s->labels, pair)) {
			free(s->labels);
			free(s->buckets);
		} else {
			f->samples[k++] = *s;	/* keeps the order */
		}
	}
	f->n_samples = k;
	if (k != n)
		index_rebuild(f);
	return n - k;
}

size_t
metrics_drop(struct metrics *m, const char *name, const char *value)
{
	const char *const l[] = { name, value, NULL };
	_cleanup_free_ char *pair = labels_text("", l);
	size_t n = 0;

	for (size_t i = 0; i < m->n_fams; i++)
		n += family_drop(&m->fams[i], pair);
	return n;
}

void
metrics_remove(struct metrics *m, const char *name,
    const char *const *labels)
{
	struct metric_family *f = family_find(m, name);
	struct metric_sample *s = f ? sample_find(f, labels, false) : NULL;
	size_t i;

	if (!s)
		return;
	i = (size_t)(s - f->samples);
	free(s->labels);
	free(s->buckets);
	memmove(s, s + 1, (f->n_samples - i - 1) * sizeof(*s));
	f->n_samples--;
	index_rebuild(f);
}

void
metrics_clear(struct metrics *m, const char *name)
{
	struct metric_family *f = family_find(m, name);

	if (!f)
		return;
	for (size_t i = 0; i < f->n_samples; i++) {
		free(f->samples[i].labels);
		free(f->samples[i].buckets);
	}
	f->n_samples = 0;
	index_rebuild(f);
}

void
metrics_zero(struct metrics *m, const char *name)
{
	struct metric_family *f = family_scalar(m, name);

	for (size_t i = 0; f && i < f->n_samples; i++)
		f->samples[i].value = 0;
}

static uint64_t
sample_count(const struct metric_family *f, const struct metric_sample *s)
{
	uint64_t n = 0;

	for (size_t b = 0; b <= f->n_les; b++)
		n += s->buckets[b];
	return n;
}

int64_t
metrics_get(const struct metrics *m, const char *name,
    const char *const *labels)
{
	struct metric_family *f = family_find(m, name);
	struct metric_sample *s = f ? sample_find(f, labels, false) : NULL;

	if (!s)
		return 0;
	if (f->type == METRIC_HISTOGRAM)
		return (int64_t)sample_count(f, s);
	return (int64_t)s->value;
}

size_t
metrics_n_samples(const struct metrics *m, const char *name)
{
	struct metric_family *f = family_find(m, name);

	return f ? f->n_samples : 0;
}

/* One line: NAMESUFFIX{cl,labels[,le="LE"]} VALUE.  Numbers with %.15g
 * stay exact for integers below 2^53 and print 0.1 as 0.1. */
static void
line_write(FILE *out, const char *name, const char *suffix, const char *cl,
    const char *labels, const char *le, double v)
{
	bool any = *cl || *labels || le;

	fprintf(out, "%s%s%s%s%s%s", name, suffix, any ? "{" : "", cl,
	    *cl && *labels ? "," : "", labels);
	if (le)
		fprintf(out, "%sle=\"%s\"", *cl || *labels ? "," : "", le);
	fprintf(out, "%s %.15g\n", any ? "}" : "", v);
}

static void
histogram_write(FILE *out, const char *cl, const struct metric_family *f,
    const struct metric_sample *s)
{
	uint64_t cum = 0;
	char le[32];

	for (size_t b = 0; b < f->n_les; b++) {
		cum += s->buckets[b];
		snprintf(le, sizeof(le), "%.15g", f->les[b]);
		line_write(out, f->name, "_bucket", cl, s->labels, le,
		    (double)cum);
	}
	cum += s->buckets[f->n_les];
	line_write(out, f->name, "_bucket", cl, s->labels, "+Inf",
	    (double)cum);
	line_write(out, f->name, "_sum", cl, s->labels, NULL, s->value);
	line_write(out, f->name, "_count", cl, s->labels, NULL, (double)cum);
}

static void
family_write(FILE *out, const char *cl, const struct metric_family *f)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
	    f->name, metric_type_names[f->type]);
	for (size_t i = 0; i < f->n_samples; i++) {
		const struct metric_sample *s = &f->samples[i];

		if (f->type == METRIC_HISTOGRAM)
			histogram_write(out, cl, f, s);
		else
			line_write(out, f->name, "", cl, s->labels, NULL,
			    s->value);
	}
}

char *
metrics_text(const struct metrics *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	if (!out)
		abort();
	for (size_t i = 0; i < m->n_fams; i++)
		family_write(out, m->const_labels, &m->fams[i]);
	fclose(out);
	return buf;
}
