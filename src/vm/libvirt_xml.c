/* libvirt_xml.c - a libvirt domain definition read as untrusted input
 * (see libvirt_xml.h).  libxml2 parses without the network, without
 * entity substitution and without loading a DTD; a document with a
 * DOCTYPE or an entity is refused outright, as is one nested deeper
 * than a domain ever is.  Never logs, never touches a file. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "libvirt_xml.h"
#include "util.h"

#define LV_DEPTH_MAX 16

/* Elements under <domain> tern reads, or leaves out without harm to the
 * guest's data or identity (tern gives the VM its own of these). */
static const char *const top_left_out[] = { "title", "description",
	"metadata", "features", "clock", "on_poweroff", "on_reboot",
	"on_crash", "on_lockfailure", "pm", "resource", "seclabel",
	"cputune", "iothreads", "blkiotune", "memtune", "keywrap", "perf",
	"sysinfo", "idmap", "throttlegroups", NULL };
/* Devices likewise: tern's own console, agent channel, controllers. */
static const char *const dev_left_out[] = { "emulator", "controller",
	"input", "graphics", "video", "sound", "memballoon", "serial",
	"console", "channel", "rng", "panic", "watchdog", "hub",
	"redirdev", "audio", "parallel", NULL };

static bool
in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (streq(list[i], s))
			return true;
	return false;
}

static void
note(char **list, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
note(char **list, size_t *n, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (*n < LV_NOTES_MAX) {
		va_start(ap, fmt);
		if (vasprintf(&s, fmt, ap) < 0)
			abort();
		va_end(ap);
		list[*n] = s;
	}
	(*n)++;
}

#define LEFT(d, ...) note((d)->left_out, &(d)->n_left_out, __VA_ARGS__)
#define REFUSE(d, ...) note((d)->refused, &(d)->n_refused, __VA_ARGS__)

static const char *
ename(const xmlNode *n)
{
	return (const char *)n->name;
}

static bool
is_elem(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && streq(ename(n), name);
}

/* An attribute's value (a copy, caller frees), NULL when absent. */
static char *
attr(const xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetNoNsProp((xmlNode *)n, (const xmlChar *)name);
	char *s;

	if (!v)
		return NULL;
	s = xstrdup((const char *)v);
	xmlFree(v);
	return s;
}

static bool
attr_is(const xmlNode *n, const char *name, const char *want)
{
	_cleanup_free_ char *v = attr(n, name);

	return v && streq(v, want);
}

/* The element's text without surrounding white space (a copy). */
static char *
text(const xmlNode *n)
{
	xmlChar *v = xmlNodeGetContent((xmlNode *)n);
	const char *s = v ? (const char *)v : "";
	size_t len;
	char *out;

	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	out = xmalloc(len + 1);
	memcpy(out, s, len);
	out[len] = '\0';
	xmlFree(v);
	return out;
}

static xmlNode *
child(const xmlNode *n, const char *name)
{
	for (xmlNode *c = n->children; c; c = c->next)
		if (is_elem(c, name))
			return c;
	return NULL;
}

static bool
path_ok(const char *p)
{
	return p && p[0] == '/' && strlen(p) <= LV_PATH_MAX;
}

/* The bytes a libvirt unit stands for (libvirt's scaled integers),
 * 0 when the unit is unknown. */
static uint64_t
unit_bytes(const char *unit)
{
	static const struct { const char *name; uint64_t bytes; } units[] = {
		{ "b", 1 }, { "bytes", 1 }, { "KB", 1000 }, { "k", 1024 },
		{ "KiB", 1024 }, { "MB", 1000000 }, { "M", 1 << 20 },
		{ "MiB", 1 << 20 }, { "GB", 1000000000 }, { "G", 1 << 30 },
		{ "GiB", 1 << 30 }, { "TB", 1000000000000ULL },
		{ "T", 1ULL << 40 }, { "TiB", 1ULL << 40 },
	};

	if (!unit)
		return 1024;	/* libvirt's default for memory: KiB */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (streq(units[i].name, unit))
			return units[i].bytes;
	return 0;
}

/* <memory unit='U'>N</memory> in MiB (rounded up), range-checked. */
static int
parse_memory(const xmlNode *n, uint64_t *ret_mib, struct err *err)
{
	_cleanup_free_ char *unit = attr(n, "unit");
	_cleanup_free_ char *v = text(n);
	uint64_t mul = unit_bytes(unit), num, max;
	char *end;

	if (!mul)
		return err_set(err, -EINVAL, "<%s> unit '%.16s' is not a "
		    "libvirt unit (KiB, MiB, GiB...)", ename(n), unit);
	errno = 0;
	num = strtoull(v, &end, 10);
	max = ((uint64_t)VM_MEMORY_MIB_MAX << 20) / mul;
	if (!*v || *end || errno || !isdigit((unsigned char)v[0]) ||
	    num > max)
		return err_set(err, -EINVAL, "<%s> '%.32s' is not a size of "
		    "at most %d MiB", ename(n), v, VM_MEMORY_MIB_MAX);
	*ret_mib = (num * mul + (1 << 20) - 1) >> 20;
	if (*ret_mib < VM_MEMORY_MIB_MIN)
		return err_set(err, -EINVAL, "<%s> is below tern's minimum of "
		    "%d MiB", ename(n), VM_MEMORY_MIB_MIN);
	return 0;
}

static int
parse_vcpu(const xmlNode *n, struct lv_domain *d, struct err *err)
{
	_cleanup_free_ char *v = text(n);
	_cleanup_free_ char *cur = attr(n, "current");
	char *end;
	long c;

	errno = 0;
	c = strtol(v, &end, 10);
	if (!*v || *end || errno || c < VM_CPUS_MIN || c > VM_CPUS_MAX)
		return err_set(err, -EINVAL, "<vcpu> '%.32s' is not a count of "
		    "%d to %d", v, VM_CPUS_MIN, VM_CPUS_MAX);
	d->cpus = c;
	if (cur && strtol(cur, NULL, 10) != c)
		REFUSE(d, "vcpu current='%.16s' of %ld (tern has no vCPU "
		    "hotplug)", cur, c);
	return 0;
}

static int
parse_identity(const xmlNode *dom, struct lv_domain *d, struct err *err)
{
	xmlNode *n = child(dom, "name"), *u = child(dom, "uuid");
	_cleanup_free_ char *uuid = u ? text(u) : NULL;

	if (!n)
		return err_set(err, -EINVAL, "the domain has no <name>");
	d->name = text(n);
	if (!d->name[0] || strlen(d->name) > LV_NAME_MAX)
		return err_set(err, -EINVAL, "<name> must be 1 to %d bytes",
		    LV_NAME_MAX);
	if (uuid && !uuid_is_valid(uuid))
		return err_set(err, -EINVAL, "<uuid> '%.40s' is not a UUID",
		    uuid);
	for (size_t i = 0; uuid && uuid[i]; i++)
		d->uuid[i] = tolower((unsigned char)uuid[i]);
	return 0;
}

static int
parse_size(const xmlNode *dom, struct lv_domain *d, struct err *err)
{
	xmlNode *m = child(dom, "memory"), *cm = child(dom, "currentMemory");
	xmlNode *v = child(dom, "vcpu");
	uint64_t cur = 0;
	int r;

	if (!m || !v)
		return err_set(err, -EINVAL, "the domain has no <%s>",
		    m ? "vcpu" : "memory");
	if ((r = parse_memory(m, &d->memory_mib, err)) < 0 ||
	    (cm && (r = parse_memory(cm, &cur, err)) < 0) ||
	    (r = parse_vcpu(v, d, err)) < 0)
		return r;
	if (cm && cur != d->memory_mib)
		LEFT(d, "currentMemory %" PRIu64 " MiB (the balloon's target: "
		    "the VM gets its full %" PRIu64 " MiB)", cur,
		    d->memory_mib);
	return 0;
}

/* <os>: type's machine, kernel/initrd/cmdline or boot from disk. */
static int
parse_os_child(const xmlNode *c, struct lv_domain *d, struct err *err)
{
	const char *nm = ename(c);
	char **slot = streq(nm, "kernel") ? &d->kernel :
	    streq(nm, "initrd") ? &d->initrd :
	    streq(nm, "cmdline") ? &d->cmdline : NULL;

	if (slot) {
		free(*slot);
		*slot = text(c);
		if (slot != &d->cmdline && !path_ok(*slot))
			return err_set(err, -EINVAL, "<os><%s> must be an "
			    "absolute path", nm);
		if (slot == &d->cmdline && strlen(*slot) > VM_CMDLINE_MAX)
			return err_set(err, -EINVAL, "<os><cmdline> is longer "
			    "than %d bytes", VM_CMDLINE_MAX);
	} else if (streq(nm, "type")) {
		_cleanup_free_ char *arch = attr(c, "arch");
		_cleanup_free_ char *t = text(c);

		free(d->machine);
		d->machine = attr(c, "machine");
		if ((arch && !streq(arch, "x86_64")) || !streq(t, "hvm"))
			REFUSE(d, "os type %.16s arch %.16s (tern runs x86_64 "
			    "hvm)", t, arch ? arch : "?");
	} else if (streq(nm, "boot")) {
		if (!attr_is(c, "dev", "hd"))
			REFUSE(d, "boot from a device other than a disk");
	} else if (streq(nm, "loader") || streq(nm, "nvram") ||
	    streq(nm, "dtb") || streq(nm, "firmware")) {
		REFUSE(d, "os %s (tern boots with SeaBIOS)", nm);
	} else if (streq(nm, "bootmenu") || streq(nm, "smbios") ||
	    streq(nm, "bios") || streq(nm, "acpi")) {
		LEFT(d, "os %s", nm);
	} else {
		REFUSE(d, "os %.32s (unknown to tern)", nm);
	}
	return 0;
}

static int
parse_os(const xmlNode *dom, struct lv_domain *d, struct err *err)
{
	xmlNode *os = child(dom, "os");
	_cleanup_free_ char *fw = os ? attr(os, "firmware") : NULL;
	int r;

	if (!os)
		return err_set(err, -EINVAL, "the domain has no <os>");
	if (fw && !streq(fw, "bios"))
		REFUSE(d, "os firmware '%.16s' (tern boots with SeaBIOS)", fw);
	for (xmlNode *c = os->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    (r = parse_os_child(c, d, err)) < 0)
			return r;
	if ((d->initrd || d->cmdline) && !d->kernel)
		return err_set(err, -EINVAL, "<os> has an initrd or cmdline "
		    "but no kernel");
	d->disk_boot = !d->kernel;
	return 0;
}

/* <disk type='file' device='disk'> on bus virtio, qcow2 or raw. */
static void
parse_disk_parts(const xmlNode *n, struct lv_disk *k, const char *tgt,
    struct lv_domain *d)
{
	for (xmlNode *c = n->children; c; c = c->next) {
		const char *nm = ename(c);

		if (c->type != XML_ELEMENT_NODE || streq(nm, "driver") ||
		    streq(nm, "source") || streq(nm, "target") ||
		    streq(nm, "address") || streq(nm, "alias"))
			continue;
		if (streq(nm, "boot")) {
			_cleanup_free_ char *o = attr(c, "order");

			k->boot_order = o ? strtoul(o, NULL, 10) : 0;
		} else if (streq(nm, "backingStore")) {
			if (c->children || xmlHasProp(c, (const xmlChar *)"type"))
				REFUSE(d, "disk %s: a backing chain", tgt);
		} else if (streq(nm, "readonly") || streq(nm, "shareable") ||
		    streq(nm, "transient") || streq(nm, "encryption") ||
		    streq(nm, "mirror") || streq(nm, "auth")) {
			REFUSE(d, "disk %s: %s", tgt, nm);
		} else {
			LEFT(d, "disk %s: %.32s", tgt, nm);
		}
	}
}

static void
parse_disk(const xmlNode *n, struct lv_domain *d)
{
	_cleanup_free_ char *type = attr(n, "type"), *dev = attr(n, "device");
	xmlNode *t = child(n, "target"), *drv = child(n, "driver");
	xmlNode *src = child(n, "source");
	_cleanup_free_ char *tgt = t ? attr(t, "dev") : NULL;
	_cleanup_free_ char *bus = t ? attr(t, "bus") : NULL;
	_cleanup_free_ char *fmt = drv ? attr(drv, "type") : NULL;
	_cleanup_free_ char *file = src ? attr(src, "file") : NULL;
	const char *name = tgt && strlen(tgt) < 16 &&
	    name_is_valid(tgt) ? tgt : "?";
	size_t before = d->n_refused;
	struct lv_disk *k;

	if (streq(name, "?"))
		REFUSE(d, "disk: no target dev name (vda, vdb...)");
	if (!dev || !streq(dev, "disk"))
		REFUSE(d, "disk %s: a %.16s", name, dev ? dev : "device");
	else if (!type || !streq(type, "file"))
		REFUSE(d, "disk %s: type %.16s (tern's disks are files)",
		    name, type ? type : "?");
	if (!bus || !streq(bus, "virtio"))
		REFUSE(d, "disk %s: bus %.16s (tern's disks are virtio)",
		    name, bus ? bus : "?");
	if (!fmt || (!streq(fmt, "qcow2") && !streq(fmt, "raw")))
		REFUSE(d, "disk %s: format %.16s (qcow2 or raw)", name,
		    fmt ? fmt : "not given");
	if (!path_ok(file))
		REFUSE(d, "disk %s: no absolute source file", name);
	if (d->n_disks == VM_MAX_DISKS)
		REFUSE(d, "disk %s: more than %d disks", name, VM_MAX_DISKS);
	if (d->n_refused != before)
		return;
	k = &d->disks[d->n_disks++];
	snprintf(k->target, sizeof(k->target), "%s", name);
	k->path = TAKE_PTR(file);
	k->raw = streq(fmt, "raw");
	parse_disk_parts(n, k, name, d);
}

static bool
mac_ok(const char *m)
{
	if (!m || strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
			return false;
	/* a unicast address: the first octet's low bit clear */
	return (strtoul(m, NULL, 16) & 1) == 0;
}

static void
parse_nic_parts(const xmlNode *n, const char *what, struct lv_domain *d)
{
	for (xmlNode *c = n->children; c; c = c->next) {
		const char *nm = ename(c);

		if (c->type != XML_ELEMENT_NODE || streq(nm, "mac") ||
		    streq(nm, "source") || streq(nm, "model") ||
		    streq(nm, "target") || streq(nm, "address") ||
		    streq(nm, "alias"))
			continue;
		if (streq(nm, "boot") || streq(nm, "rom"))
			REFUSE(d, "interface %s: %s (network boot)", what, nm);
		else
			LEFT(d, "interface %s: %.32s", what, nm);
	}
}

static void
parse_interface(const xmlNode *n, struct lv_domain *d)
{
	_cleanup_free_ char *type = attr(n, "type");
	xmlNode *m = child(n, "mac"), *src = child(n, "source");
	xmlNode *model = child(n, "model");
	_cleanup_free_ char *mac = m ? attr(m, "address") : NULL;
	_cleanup_free_ char *mt = model ? attr(model, "type") : NULL;
	bool bridge = type && streq(type, "bridge");
	_cleanup_free_ char *sw = src ? attr(src, bridge ? "bridge" :
	    "network") : NULL;
	const char *what = mac_ok(mac) ? mac : type ? type : "?";
	size_t before = d->n_refused;
	struct lv_nic *k;

	if (!bridge && !(type && streq(type, "network")))
		REFUSE(d, "interface %.20s: type %.16s (bridge or network)",
		    what, type ? type : "?");
	else if (!sw || !name_is_valid(sw))
		REFUSE(d, "interface %.20s: no valid source %s", what,
		    bridge ? "bridge" : "network");
	if (!mt || !streq(mt, "virtio"))
		REFUSE(d, "interface %.20s: model %.16s (tern's NICs are "
		    "virtio)", what, mt ? mt : "not given");
	if (mac && !mac_ok(mac))
		REFUSE(d, "interface: mac '%.20s' is not a unicast MAC", mac);
	if (d->n_nics == VM_MAX_NICS)
		REFUSE(d, "interface %.20s: more than %d NICs", what,
		    VM_MAX_NICS);
	if (d->n_refused != before)
		return;
	k = &d->nics[d->n_nics++];
	for (size_t i = 0; mac && i < 17; i++)
		k->mac[i] = tolower((unsigned char)mac[i]);
	k->source = TAKE_PTR(sw);
	parse_nic_parts(n, what, d);
}

static void
parse_devices(const xmlNode *dom, struct lv_domain *d)
{
	xmlNode *devs = child(dom, "devices");

	for (xmlNode *c = devs ? devs->children : NULL; c; c = c->next) {
		const char *nm = ename(c);
		_cleanup_free_ char *type = NULL;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (streq(nm, "disk")) {
			parse_disk(c, d);
			continue;
		}
		if (streq(nm, "interface")) {
			parse_interface(c, d);
			continue;
		}
		if (streq(nm, "video"))
			type = child(c, "model") ? attr(child(c, "model"),
			    "type") : NULL;
		else
			type = attr(c, streq(nm, "memballoon") ||
			    streq(nm, "rng") || streq(nm, "sound") ?
			    "model" : "type");
		if (in_list(dev_left_out, nm))
			LEFT(d, "%s%s%.24s", nm, type ? " " : "",
			    type ? type : "");
		else
			REFUSE(d, "%.32s%s%.24s", nm, type ? " " : "",
			    type ? type : "");
	}
}

/* Everything else under <domain>: left out, or refused. */
static void
parse_rest(const xmlNode *dom, struct lv_domain *d)
{
	_cleanup_free_ char *type = attr(dom, "type");

	if (!type || (!streq(type, "kvm") && !streq(type, "qemu")))
		REFUSE(d, "domain type %.16s (tern runs QEMU/KVM)",
		    type ? type : "?");
	for (xmlNode *c = dom->children; c; c = c->next) {
		const char *nm = ename(c);

		if (c->type != XML_ELEMENT_NODE || streq(nm, "name") ||
		    streq(nm, "uuid") || streq(nm, "memory") ||
		    streq(nm, "currentMemory") || streq(nm, "vcpu") ||
		    streq(nm, "os") || streq(nm, "devices"))
			continue;
		if (streq(nm, "cpu"))
			child(c, "numa") ? REFUSE(d, "cpu numa (NUMA "
			    "topology)") : LEFT(d, "cpu mode and model "
			    "(tern picks the VM's CPU model)");
		else if (in_list(top_left_out, nm))
			LEFT(d, "%s", nm);
		else if (streq(nm, "memoryBacking"))
			REFUSE(d, "memoryBacking (hugepages or shared memory)");
		else if (streq(nm, "numatune"))
			REFUSE(d, "numatune (NUMA pinning)");
		else
			REFUSE(d, "%.32s", nm);
	}
}

/* No DOCTYPE, no entity anywhere, no deeper than LV_DEPTH_MAX. */
static int
check_tree(const xmlDoc *doc, const xmlNode *n, int depth, struct err *err)
{
	if (doc->intSubset || doc->extSubset)
		return err_set(err, -EINVAL, "the domain XML has a DOCTYPE: a "
		    "domain definition has none");
	if (depth > LV_DEPTH_MAX)
		return err_set(err, -EINVAL, "the domain XML nests deeper "
		    "than %d elements", LV_DEPTH_MAX);
	for (; n; n = n->next) {
		int r;

		if (n->type == XML_ENTITY_REF_NODE ||
		    n->type == XML_ENTITY_DECL)
			return err_set(err, -EINVAL, "the domain XML uses an "
			    "entity: a domain definition has none");
		if (n->type == XML_ELEMENT_NODE &&
		    (r = check_tree(doc, n->children, depth + 1, err)) < 0)
			return r;
	}
	return 0;
}

static int
parse_doc(const char *buf, size_t len, xmlDoc **ret, struct err *err)
{
	xmlParserCtxt *ctx = xmlNewParserCtxt();
	const xmlError *e;
	xmlDoc *doc;

	if (!ctx)
		return err_set(err, -ENOMEM, "out of memory");
	doc = xmlCtxtReadMemory(ctx, buf, (int)len, "domain.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOCDATA);
	e = xmlCtxtGetLastError(ctx);
	if (!doc || !ctx->wellFormed) {
		int r = err_set(err, -EINVAL, "the domain XML is not well "
		    "formed: line %d: %.120s", e ? e->line : 0,
		    e && e->message ? e->message : "parse error");

		/* libxml2's message ends in a newline */
		if (err && err->msg[0] && err->msg[strlen(err->msg) - 1] ==
		    '\n')
			err->msg[strlen(err->msg) - 1] = '\0';
		xmlFreeDoc(doc);
		xmlFreeParserCtxt(ctx);
		return r;
	}
	xmlFreeParserCtxt(ctx);
	*ret = doc;
	return 0;
}

int
lv_domain_parse(const char *buf, size_t len, struct lv_domain *ret,
    struct err *err)
{
	xmlDoc *doc = NULL;
	xmlNode *dom;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (len > LV_XML_MAX)
		return err_set(err, -EFBIG, "the domain XML is larger than "
		    "%d bytes", LV_XML_MAX);
	if ((r = parse_doc(buf, len, &doc, err)) < 0)
		return r;
	dom = xmlDocGetRootElement(doc);
	if ((r = check_tree(doc, dom, 0, err)) < 0)
		goto out;
	if (!dom || !streq(ename(dom), "domain") || dom->ns) {
		r = err_set(err, -EINVAL, "the XML is not a libvirt domain "
		    "(its root is <%.32s>): give the output of 'virsh "
		    "dumpxml DOMAIN'", dom ? ename(dom) : "nothing");
		goto out;
	}
	if ((r = parse_identity(dom, ret, err)) < 0 ||
	    (r = parse_size(dom, ret, err)) < 0 ||
	    (r = parse_os(dom, ret, err)) < 0)
		goto out;
	parse_devices(dom, ret);
	parse_rest(dom, ret);
out:
	xmlFreeDoc(doc);
	return r;
}

void
lv_domain_done(struct lv_domain *d)
{
	for (size_t i = 0; i < d->n_disks; i++)
		free(d->disks[i].path);
	for (size_t i = 0; i < d->n_nics; i++)
		free(d->nics[i].source);
	for (size_t i = 0; i < d->n_left_out && i < LV_NOTES_MAX; i++)
		free(d->left_out[i]);
	for (size_t i = 0; i < d->n_refused && i < LV_NOTES_MAX; i++)
		free(d->refused[i]);
	free(d->name);
	free(d->machine);
	free(d->kernel);
	free(d->initrd);
	free(d->cmdline);
	memset(d, 0, sizeof(*d));
}

void
lv_notes_join(char *const *list, size_t n, char *buf, size_t size)
{
	size_t used = 0, i;

	if (size)
		buf[0] = '\0';
	for (i = 0; i < n && i < LV_NOTES_MAX; i++) {
		/* room for this note and a trailing "; and NN more" */
		size_t need = strlen(list[i]) + (i ? 2 : 0);

		if (used + need + 16 >= size)
			break;
		used += snprintf(buf + used, size - used, "%s%s", i ? "; " :
		    "", list[i]);
	}
	if (i < n && size > used)
		snprintf(buf + used, size - used, "%sand %zu more",
		    i ? "; " : "", n - i);
}
