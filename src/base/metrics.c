/* metrics.c - the counters and gauges registry (metrics.h).  Samples are
 * few (tens), so lookups are linear; label sets are kept as the text
 * written between the braces, escaped once when the sample is made. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

struct metric_sample {
	char *labels;		/* `a="x",b="y"`, escaped; "" for none */
	int64_t value;
};

struct metric_family {
	char *name;
	char *help;
	enum metric_type type;
	struct metric_sample *samples;
	size_t n_samples;
};

/* Invariant: family names are unique; within a family label texts are. */
struct metrics {
	char *const_labels;	/* escaped, "" for none */
	struct metric_family *fams;
	size_t n_fams;
};

static const char *const metric_type_names[METRIC__COUNT] = {
	[METRIC_COUNTER] = "counter", [METRIC_GAUGE] = "gauge",
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = xzalloc(sizeof(*m));

	m->const_labels = xstrdup("");
	return m;
}

struct metrics *
metrics_free(struct metrics *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_fams; i++) {
		struct metric_family *f = &m->fams[i];

		for (size_t j = 0; j < f->n_samples; j++)
			free(f->samples[j].labels);
		free(f->samples);
		free(f->name);
		free(f->help);
	}
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

void
metrics_declare(struct metrics *m, const char *name, enum metric_type type,
    const char *help)
{
	struct metric_family *f;

	if (family_find(m, name))
		return;
	m->fams = xrealloc(m->fams, (m->n_fams + 1) * sizeof(*m->fams));
	f = &m->fams[m->n_fams++];
	*f = (struct metric_family){ .name = xstrdup(name),
		.help = xstrdup(help), .type = type };
}

/* The sample of f with labels, made at 0 when create and absent. */
static struct metric_sample *
sample_find(struct metric_family *f, const char *const *labels, bool create)
{
	_cleanup_free_ char *t = labels_text("", labels);
	struct metric_sample *s;

	for (size_t i = 0; i < f->n_samples; i++)
		if (streq(f->samples[i].labels, t))
			return &f->samples[i];
	if (!create)
		return NULL;
	f->samples = xrealloc(f->samples, (f->n_samples + 1) *
	    sizeof(*f->samples));
	s = &f->samples[f->n_samples++];
	*s = (struct metric_sample){ .labels = TAKE_PTR(t) };
	return s;
}

void
metrics_add(struct metrics *m, const char *name, const char *const *labels,
    int64_t delta)
{
	struct metric_family *f = family_find(m, name);

	assert(f);		/* declared first: a typo is a bug */
	if (!f)
		return;
	assert(f->type != METRIC_COUNTER || delta >= 0);
	sample_find(f, labels, true)->value += delta;
}

void
metrics_set(struct metrics *m, const char *name, const char *const *labels,
    int64_t v)
{
	struct metric_family *f = family_find(m, name);

	assert(f);
	if (!f)
		return;
	sample_find(f, labels, true)->value = v;
}

int64_t
metrics_get(const struct metrics *m, const char *name,
    const char *const *labels)
{
	struct metric_family *f = family_find(m, name);
	struct metric_sample *s = f ? sample_find(f, labels, false) : NULL;

	return s ? s->value : 0;
}

static void
family_write(FILE *out, const char *cl, const struct metric_family *f)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
	    f->name, metric_type_names[f->type]);
	for (size_t i = 0; i < f->n_samples; i++) {
		const struct metric_sample *s = &f->samples[i];
		const char *sep = *cl && *s->labels ? "," : "";

		if (*cl || *s->labels)
			fprintf(out, "%s{%s%s%s} %lld\n", f->name, cl, sep,
			    s->labels, (long long)s->value);
		else
			fprintf(out, "%s %lld\n", f->name,
			    (long long)s->value);
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
