/* test_libvirt_xml.c - unit tests for src/vm/libvirt_xml.c: libvirt
 * domain definitions read as untrusted input.  The fixtures in
 * data/libvirt/ are real `virsh dumpxml` output (regen.sh); each maps to
 * what tern carries, leaves out or refuses, and malformed or hostile
 * XML is refused with a message naming what is wrong.
 * Usage: test_libvirt_xml DATA_DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "libvirt_xml.h"
#include "test.h"
#include "util.h"

static const char *data_dir;

/* Parse data_dir/file into *d; the return code. */
static int
parse_file(const char *file, struct lv_domain *d, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", data_dir, file);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (file_read_all(path, LV_XML_MAX, &buf, &len) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(2);
	}
	return lv_domain_parse(buf, len, d, err);
}

static bool
has_note(char *const *list, size_t n, const char *needle)
{
	for (size_t i = 0; i < n && i < LV_NOTES_MAX; i++)
		if (strstr(list[i], needle))
			return true;
	return false;
}

#define LEFT_HAS(d, s) ASSERT_TRUE(has_note((d).left_out, (d).n_left_out, s))
#define REFUSED_HAS(d, s) ASSERT_TRUE(has_note((d).refused, (d).n_refused, s))

static void
test_kernel_boot(void)
{
	struct lv_domain d;
	struct err err = { 0 };

	ASSERT_EQ(parse_file("kernel_boot.xml", &d, &err), 0);
	ASSERT_STREQ(d.name, "guest1");
	ASSERT_STREQ(d.uuid, "1b6a3c8e-8f0c-4a57-9d3e-2f1a2b3c4d5e");
	ASSERT_EQ(d.memory_mib, 256);
	ASSERT_EQ(d.cpus, 2);
	ASSERT_STREQ(d.machine, "pc-q35-7.2");
	ASSERT_STREQ(d.kernel, "/srv/guest/bzImage");
	ASSERT_STREQ(d.initrd, "/srv/guest/initrd.cpio.gz");
	ASSERT_STREQ(d.cmdline, "console=ttyS0 quiet");
	ASSERT_TRUE(!d.disk_boot);
	ASSERT_EQ(d.n_disks, 1);
	ASSERT_STREQ(d.disks[0].target, "vda");
	ASSERT_STREQ(d.disks[0].path, "/srv/pool/guest1.qcow2");
	ASSERT_TRUE(!d.disks[0].raw);
	ASSERT_EQ(d.n_nics, 1);
	ASSERT_STREQ(d.nics[0].mac, "52:54:00:aa:bb:cc");
	ASSERT_STREQ(d.nics[0].source, "sw0");
	ASSERT_EQ(d.n_refused, 0);
	LEFT_HAS(d, "serial pty");
	LEFT_HAS(d, "channel unix");
	LEFT_HAS(d, "memballoon virtio");
	LEFT_HAS(d, "controller virtio-serial");
	LEFT_HAS(d, "cpu mode");
	LEFT_HAS(d, "on_crash");
	lv_domain_done(&d);
}

static void
test_disk_boot(void)
{
	struct lv_domain d;
	struct err err = { 0 };

	ASSERT_EQ(parse_file("disk_boot.xml", &d, &err), 0);
	ASSERT_STREQ(d.name, "web2");
	ASSERT_EQ(d.memory_mib, 1024);
	ASSERT_EQ(d.cpus, 4);
	ASSERT_TRUE(d.disk_boot);
	ASSERT_TRUE(d.kernel == NULL);
	ASSERT_EQ(d.n_disks, 2);
	ASSERT_TRUE(!d.disks[0].raw);
	ASSERT_TRUE(d.disks[1].raw);
	ASSERT_STREQ(d.disks[1].target, "vdc");
	ASSERT_STREQ(d.disks[1].path, "/var/lib/libvirt/images/web2-data.img");
	ASSERT_EQ(d.n_nics, 1);
	ASSERT_STREQ(d.nics[0].mac, "52:54:00:0a:0b:0c");
	ASSERT_STREQ(d.nics[0].source, "default");
	ASSERT_EQ(d.n_refused, 0);
	LEFT_HAS(d, "currentMemory 512 MiB");
	LEFT_HAS(d, "graphics vnc");
	LEFT_HAS(d, "video virtio");
	LEFT_HAS(d, "sound ich9");
	LEFT_HAS(d, "rng virtio");
	LEFT_HAS(d, "input tablet");
	LEFT_HAS(d, "controller usb");
	LEFT_HAS(d, "features");
	lv_domain_done(&d);
}

/* Everything that changes what the guest sees is refused, every one
 * listed, in one parse. */
static void
test_refused(void)
{
	struct lv_domain d;
	struct err err = { 0 };
	char list[240];

	ASSERT_EQ(parse_file("refused.xml", &d, &err), 0);
	REFUSED_HAS(d, "disk sda: bus sata");
	REFUSED_HAS(d, "disk hdc: a cdrom");
	REFUSED_HAS(d, "model e1000");
	REFUSED_HAS(d, "hostdev pci");
	REFUSED_HAS(d, "filesystem mount");
	REFUSED_HAS(d, "memoryBacking");
	ASSERT_EQ(d.n_disks, 0);
	ASSERT_EQ(d.n_nics, 0);
	lv_notes_join(d.refused, d.n_refused, list, sizeof(list));
	ASSERT_CONTAINS(list, "bus sata");
	ASSERT_CONTAINS(list, "hostdev");
	lv_domain_done(&d);
}

static void
test_i440fx(void)
{
	struct lv_domain d;
	struct err err = { 0 };

	ASSERT_EQ(parse_file("i440fx.xml", &d, &err), 0);
	ASSERT_STREQ(d.machine, "pc");
	ASSERT_STREQ(d.kernel, "/srv/guest/bzImage");
	ASSERT_TRUE(d.initrd == NULL);
	ASSERT_STREQ(d.cmdline, "console=ttyS0");
	ASSERT_EQ(d.n_refused, 0);
	lv_domain_done(&d);
}

/* The message parsing text gives (rc < 0), or "" when it parses. */
static const char *
parse_text(const char *text, int *ret_code)
{
	static struct err err;
	struct lv_domain d;
	int r;

	memset(&err, 0, sizeof(err));
	r = lv_domain_parse(text, strlen(text), &d, &err);
	lv_domain_done(&d);
	*ret_code = r;
	return r == 0 ? "" : err.msg;
}

#define MIN_OS "<os><type arch='x86_64' machine='q35'>hvm</type>" \
	"<kernel>/k</kernel></os>"
#define DOM(body) "<domain type='kvm'>" body "</domain>"

static void
test_malformed(void)
{
	int rc = 0;

	ASSERT_CONTAINS(parse_text("<domain type='kvm'><name>x</name>", &rc),
	    "not well formed: line 1");
	ASSERT_EQ(rc, -EINVAL);
	ASSERT_CONTAINS(parse_text("", &rc), "not well formed");
	ASSERT_CONTAINS(parse_text("<vm><name>x</name></vm>", &rc),
	    "not a libvirt domain (its root is <vm>)");
	ASSERT_CONTAINS(parse_text(DOM("<memory>65536</memory><vcpu>1</vcpu>"
	    MIN_OS), &rc), "no <name>");
	ASSERT_CONTAINS(parse_text(DOM("<name>x</name><vcpu>1</vcpu>" MIN_OS),
	    &rc), "no <memory>");
	ASSERT_CONTAINS(parse_text(DOM("<name>x</name><memory unit='parsec'>1"
	    "</memory><vcpu>1</vcpu>" MIN_OS), &rc), "unit 'parsec'");
	ASSERT_CONTAINS(parse_text(DOM("<name>x</name><memory>-5</memory>"
	    "<vcpu>1</vcpu>" MIN_OS), &rc), "<memory> '-5'");
	ASSERT_CONTAINS(parse_text(DOM("<name>x</name><memory unit='TiB'>2"
	    "</memory><vcpu>1</vcpu>" MIN_OS), &rc), "at most");
	ASSERT_CONTAINS(parse_text(DOM("<name>x</name><memory>65536</memory>"
	    "<vcpu>0</vcpu>" MIN_OS), &rc), "<vcpu> '0'");
	ASSERT_CONTAINS(parse_text(DOM("<name> </name><memory>65536"
	    "</memory><vcpu>1</vcpu>" MIN_OS), &rc), "<name> must be 1 to");
	ASSERT_STREQ(parse_text(DOM("<name>x y</name><memory>65536"
	    "</memory><vcpu>1</vcpu>" MIN_OS), &rc), "");
	ASSERT_CONTAINS(parse_text(DOM("<name>x</name><uuid>nope</uuid>"
	    "<memory>65536</memory><vcpu>1</vcpu>" MIN_OS), &rc),
	    "<uuid> 'nope'");
	ASSERT_CONTAINS(parse_text(DOM("<name>x</name><memory>65536</memory>"
	    "<vcpu>1</vcpu><os><type>hvm</type><initrd>/i</initrd></os>"),
	    &rc), "no kernel");
	ASSERT_CONTAINS(parse_text(DOM("<name>x</name><memory>65536</memory>"
	    "<vcpu>1</vcpu><os><kernel>relative</kernel></os>"), &rc),
	    "absolute path");
	ASSERT_EQ(rc, -EINVAL);
}

/* Entities and DTDs are never expanded or fetched: refused. */
static void
test_hostile(void)
{
	_cleanup_free_ char *big = NULL, *deep = NULL;
	char *p;
	int rc = 0;

	ASSERT_CONTAINS(parse_text("<!DOCTYPE d [<!ENTITY a \"aaaa\">"
	    "<!ENTITY b \"&a;&a;&a;&a;&a;\">]>" DOM("<name>&b;</name>"), &rc),
	    "DOCTYPE");
	ASSERT_CONTAINS(parse_text("<!DOCTYPE d [<!ENTITY x SYSTEM "
	    "\"file:///etc/passwd\">]>" DOM("<name>&x;</name>"), &rc),
	    "DOCTYPE");
	ASSERT_CONTAINS(parse_text("<!DOCTYPE domain SYSTEM "
	    "\"http://127.0.0.1:9/x.dtd\">" DOM("<name>x</name>"), &rc),
	    "DOCTYPE");
	ASSERT_CONTAINS(parse_text(DOM("<name>&undefined;</name>"), &rc),
	    "not well formed");
	ASSERT_EQ(rc, -EINVAL);
	deep = xmalloc(64 * 7 + 64);
	p = deep + sprintf(deep, "<domain>");
	for (int i = 0; i < 30; i++)
		p += sprintf(p, "<a>");
	for (int i = 0; i < 30; i++)
		p += sprintf(p, "</a>");
	sprintf(p, "</domain>");
	ASSERT_CONTAINS(parse_text(deep, &rc), "nests deeper");
	big = xmalloc(LV_XML_MAX + 2);
	memset(big, ' ', LV_XML_MAX + 1);
	big[LV_XML_MAX + 1] = '\0';
	ASSERT_CONTAINS(parse_text(big, &rc), "larger than");
	ASSERT_EQ(rc, -EFBIG);
}

/* What the parser refuses or leaves out in small cases. */
static void
test_devices(void)
{
	int rc = 0;
	struct lv_domain d;
	struct err err = { 0 };
	const char *x = DOM("<name>x</name><memory unit='MiB'>64</memory>"
	    "<vcpu current='1'>2</vcpu><os><type>hvm</type>"
	    "<loader>/ovmf</loader></os><numatune/><devices>"
	    "<disk type='block' device='disk'><driver type='raw'/>"
	    "<source dev='/dev/sdb'/><target dev='vdb' bus='virtio'/></disk>"
	    "<disk type='file' device='disk'><source file='/a.img'/>"
	    "<target dev='vdc' bus='virtio'/></disk>"
	    "<interface type='user'><model type='virtio'/></interface>"
	    "<interface type='bridge'><source bridge='sw0'/></interface>"
	    "<tpm model='tpm-crb'/><frobnicator/></devices>");

	ASSERT_EQ(lv_domain_parse(x, strlen(x), &d, &err), 0);
	REFUSED_HAS(d, "vcpu current");
	REFUSED_HAS(d, "os loader");
	REFUSED_HAS(d, "numatune");
	REFUSED_HAS(d, "disk vdb: type block");
	REFUSED_HAS(d, "disk vdc: format not given");
	REFUSED_HAS(d, "type user");
	REFUSED_HAS(d, "model not given");
	REFUSED_HAS(d, "tpm");
	REFUSED_HAS(d, "frobnicator");
	lv_domain_done(&d);
	(void)rc;
}

static void
test_notes_join(void)
{
	char *list[] = { "aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc",
		"dddddddddd" };
	char buf[48];

	lv_notes_join(list, 4, buf, sizeof(buf));
	ASSERT_STREQ(buf, "aaaaaaaaaa; bbbbbbbbbb; and 2 more");
	lv_notes_join(list, 2, buf, sizeof(buf));
	ASSERT_STREQ(buf, "aaaaaaaaaa; bbbbbbbbbb");
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_libvirt_xml DATA_DIR\n");
		return 2;
	}
	data_dir = argv[1];
	RUN_TEST(test_kernel_boot);
	RUN_TEST(test_disk_boot);
	RUN_TEST(test_refused);
	RUN_TEST(test_i440fx);
	RUN_TEST(test_malformed);
	RUN_TEST(test_hostile);
	RUN_TEST(test_devices);
	RUN_TEST(test_notes_join);
	return TEST_REPORT();
}
